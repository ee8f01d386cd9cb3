"""An opt-in team leaderboard for knowledge checks, ranked by mastery, not volume.

**Leaderboard.** Off until enablement turns it on for the organization ("leaderboard on",
`settings.leaderboard`). A rep sees their team (the reps with the same manager), a manager their own reps,
ranked by mastery, not volume: the mean FSRS retrievability now of the questions each rep has answered
(how likely they are to get each one right today), so answering more does not rank anyone higher, only
remembering does. Ties go by name; reps with no answers come last, without a rank. Top 10, plus the asker's
own line. A rep may say "hide me from the leaderboard" (`preferences.leaderboard_hidden`) to appear to
others as "a teammate".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fsrs import Card
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.messages import Reply
from bot.text import fold
from handlers.common import Turn
from storage.models import Organization, Person, QuizQuestion, ReviewCard, Role

LEADERBOARD = "leaderboard"  # Organization.settings: True when enablement turned the leaderboard on
HIDDEN = "leaderboard_hidden"  # Person.preferences: True when the rep appears as "a teammate"
TOP = 10
# Mastery is recall expected this far ahead: any card is near 100% just after it was answered, right or
# wrong, so recall "now" would rank whoever answered last; three weeks out only what was learned holds up.
MASTERY_HORIZON = timedelta(days=21)


# -- the team leaderboard ------------------------------------------------------------------------------


@dataclass
class Standing:
    person_id: int
    name: str
    hidden: bool
    questions: int = 0
    recall: float = 0.0  # mean retrievability now of the questions answered
    rank: int | None = None

    @property
    def percent(self) -> int:
        return round(100 * self.recall)


def is_on(organization: Organization) -> bool:
    return bool((organization.settings or {}).get(LEADERBOARD))


def _enablement_names(turn: Turn) -> list[str]:
    return list(
        turn.db.scalars(
            select(Person.name)
            .where(
                Person.organization_id == turn.organization.id,
                Person.role == Role.ENABLEMENT,
                Person.active.is_(True),
            )
            .order_by(Person.name)
            .limit(3)
        )
    )


def switch(turn: Turn, on: bool) -> Reply:
    """ "leaderboard on" / "leaderboard off": enablement decides for the whole organization."""
    if turn.person.role != Role.ENABLEMENT:
        return turn.render(
            "replies/leaderboard.j2#switch_is_for_enablement",
            kind="refusal",
            enablement=_enablement_names(turn),
        )
    was = is_on(turn.organization)
    turn.organization.settings = {**(turn.organization.settings or {}), LEADERBOARD: on}
    return turn.render("replies/leaderboard.j2#turned", on=on, already=was == on)


def hide(turn: Turn, hidden: bool) -> Reply:
    """ "hide me from the leaderboard" / "show me on the leaderboard": the rep's own choice, kept whether or
    not the leaderboard is on."""
    turn.person.preferences = {**(turn.person.preferences or {}), HIDDEN: hidden}
    return turn.render(
        "replies/leaderboard.j2#visibility", hidden=hidden, leaderboard_on=is_on(turn.organization)
    )


def _team(turn: Turn) -> list[Person] | None:
    """The reps ranked together for the asker: a rep's teammates (same manager), a manager's own reps."""
    me = turn.person
    boss = me.id if me.role == Role.MANAGER else me.manager_id
    if boss is None:
        return None
    return list(
        turn.db.scalars(
            select(Person).where(
                Person.organization_id == me.organization_id,
                Person.manager_id == boss,
                Person.role == Role.REP,
                Person.active.is_(True),
            )
        )
    )


def standings(db: Session, organization: Organization, reps: list[Person], now: datetime) -> list[Standing]:
    """Reps ranked by mean retrievability now of the (live) questions they have answered; ties by name;
    reps with no answers last, unranked, by name."""
    from handlers.learning import retrievability
    from handlers.quizzes.queue import scheduler_for

    scheduler = scheduler_for(organization)
    by_id = {p.id: Standing(p.id, p.name, bool((p.preferences or {}).get(HIDDEN))) for p in reps}
    rows = db.execute(
        select(ReviewCard.person_id, ReviewCard.card)
        .join(QuizQuestion, QuizQuestion.id == ReviewCard.question_id)
        .where(ReviewCard.person_id.in_(list(by_id)), QuizQuestion.active.is_(True))
    ).all()
    totals: dict[int, float] = {}
    for person_id, data in rows:
        card = Card.from_dict(data)
        if card.last_review is None:
            continue  # asked but never answered
        standing = by_id[person_id]
        standing.questions += 1
        totals[person_id] = totals.get(person_id, 0.0) + retrievability(
            scheduler, card, now + MASTERY_HORIZON
        )
    for person_id, total in totals.items():
        by_id[person_id].recall = total / by_id[person_id].questions
    ranked = sorted(
        (s for s in by_id.values() if s.questions), key=lambda s: (-s.percent, fold(s.name), s.person_id)
    )
    for place, standing in enumerate(ranked, start=1):
        standing.rank = place
    unranked = sorted(
        (s for s in by_id.values() if not s.questions), key=lambda s: (fold(s.name), s.person_id)
    )
    return ranked + unranked


def show(turn: Turn) -> Reply:
    me = turn.person
    if not is_on(turn.organization):
        if me.role == Role.ENABLEMENT:
            return turn.render("replies/leaderboard.j2#off_for_enablement")
        return turn.render("replies/leaderboard.j2#off", enablement=_enablement_names(turn))
    if me.role == Role.ENABLEMENT:
        return turn.render("replies/leaderboard.j2#per_team_only")
    team = _team(turn)
    if not team:
        return turn.render(
            "replies/leaderboard.j2#no_reports"
            if me.role == Role.MANAGER
            else "replies/leaderboard.j2#not_on_a_team"
        )
    everyone = standings(turn.db, turn.organization, team, turn.now())
    top = everyone[:TOP]
    own = next((s for s in everyone[TOP:] if s.person_id == me.id), None)
    return turn.render(
        "leaderboard.j2",
        top=top,
        own=own,
        me_id=me.id,
        more=len(everyone) - len(top) - (1 if own else 0),
        manager=me.name if me.role == Role.MANAGER else (me.manager.name if me.manager else ""),
        asker_is_rep=me.role == Role.REP,
        hidden=bool((me.preferences or {}).get(HIDDEN)),
    )
