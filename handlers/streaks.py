"""Motivation without pressure: a rep's knowledge-check streak, and an opt-in team leaderboard by mastery.

**Streak.** The working days in a row on which the rep answered a knowledge check, counted back from today
in their own time zone. A day counts only if it is one of the rep's working days and not a public holiday
where they work (`bot.localtime.Availability`, the same rule every proactive flow uses); a day on which the
rep's knowledge checks were paused ("pause quizzes until ...") is skipped when it has no answer, so a
vacation never breaks a streak. Today does not break it before the day is over. Derived from the review log;
nothing is stored but the pauses themselves (`preferences.quiz_pauses`, [first day, last day] pairs written
when a rep pauses or resumes knowledge checks in chat, because the person's `quiz_paused_until` only says
when the current pause ends).

**Leaderboard.** Off until enablement turns it on for the organization ("leaderboard on",
`settings.leaderboard`). A rep sees their team (the reps with the same manager), a manager their own reps,
ranked by mastery, not volume: the mean FSRS retrievability now of the questions each rep has answered
(how likely they are to get each one right today), so answering more does not rank anyone higher, only
remembering does. Ties go by name; reps with no answers come last, without a rank. Top 10, plus the asker's
own line. A rep may say "hide me from the leaderboard" (`preferences.leaderboard_hidden`) to appear to
others as "a teammate".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from fsrs import Card
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.localtime import Availability, local_at
from bot.messages import Reply, Section
from bot.models import Organization, Person, QuizQuestion, ReviewCard, ReviewLog, Role
from bot.text import fold
from handlers import availability
from handlers.common import Turn

LEADERBOARD = "leaderboard"  # Organization.settings: True when enablement turned the leaderboard on
HIDDEN = "leaderboard_hidden"  # Person.preferences: True when the rep appears as "a teammate"
PAUSES = "quiz_pauses"  # Person.preferences: [[first ISO day, last ISO day], ...] of quiz pauses
KEPT_PAUSES = 50  # the latest pauses kept (a year of weekly pauses is far more than anyone needs)
TOP = 10
FIRST_WINDOW_DAYS = 42  # answers read at first; a longer streak reads further back
LONGEST_DAYS = 5 * 366  # a streak is never counted back further than this


# -- streaks ------------------------------------------------------------------------------------------


def _paused_spans(person: Person, today: date) -> list[tuple[date, date]]:
    """Days on which the person's knowledge checks were (or are) paused, as inclusive spans."""
    prefs = person.preferences or {}
    spans = []
    for entry in prefs.get(PAUSES) or []:
        try:
            first, last = (date.fromisoformat(str(d)) for d in entry)
        except (TypeError, ValueError):
            continue  # a hand-edited value: ignore it rather than fail the answer
        spans.append((first, last))
    until = prefs.get("quiz_paused_until")
    try:
        end = date.fromisoformat(str(until)) if until else None
    except ValueError:
        end = None
    if end is not None and end > today:  # the current pause, even if it was set before pauses were kept
        spans.append((today, end - timedelta(days=1)))
    return spans


def _answered_days(db: Session, person: Person, since: datetime, tz) -> set[date]:  # type: ignore[no-untyped-def]
    """The local days (in `tz`) on which the person answered a knowledge check since `since`."""
    times = db.scalars(
        select(ReviewLog.reviewed_at)
        .join(ReviewCard, ReviewCard.id == ReviewLog.card_id)
        .where(ReviewCard.person_id == person.id, ReviewLog.reviewed_at >= since)
    )
    return {t.astimezone(tz).date() for t in times}


def streak(db: Session, person: Person, now: datetime) -> int:
    """Working days in a row, back from today in the person's time zone, with a knowledge check answered.

    A working day (their week, no public holiday where they work) with an answer adds one; one without an
    answer ends the streak, unless it is today (not over yet) or their knowledge checks were paused that
    day. Days off and holidays are stepped over, answered or not."""
    available = Availability.of(person)
    today = now.astimezone(available.tz).date()
    spans = _paused_spans(person, today)
    first = db.scalar(
        select(func.min(ReviewLog.reviewed_at))
        .join(ReviewCard, ReviewCard.id == ReviewLog.card_id)
        .where(ReviewCard.person_id == person.id)
    )
    if first is None:
        return 0
    first_day = first.astimezone(available.tz).date()
    window = FIRST_WINDOW_DAYS
    while True:
        start = max(today - timedelta(days=window), first_day, today - timedelta(days=LONGEST_DAYS))
        answered = _answered_days(db, person, local_at(start, time(0), available.tz), available.tz)
        count, day = 0, today
        while day >= start:
            if available.working(day):
                if day in answered:
                    count += 1
                elif day != today and not any(a <= day <= b for a, b in spans):
                    return count  # a working day missed
            day -= timedelta(days=1)
        if start in (first_day, today - timedelta(days=LONGEST_DAYS)):
            return count  # nothing answered before `start`: the streak cannot go further back
        window *= 4


def with_streak(turn: Turn, reply: Reply) -> Reply:
    """An answer's reply with the rep's streak under it ("🔥 5-day streak") when there is one."""
    days = streak(turn.db, turn.person, turn.now())
    if days < 1:
        return reply
    return dataclasses.replace(reply, sections=reply.sections + (Section(f"🔥 {days}-day streak"),))


def _today(turn: Turn) -> date:
    return turn.now().astimezone(Availability.of(turn.person).tz).date()


def _keep_pause(person: Person, first: date, last: date) -> None:
    prefs = dict(person.preferences or {})
    kept = [list(p) for p in prefs.get(PAUSES) or [] if isinstance(p, list | tuple) and len(p) == 2]
    kept.append([first.isoformat(), last.isoformat()])
    prefs[PAUSES] = kept[-KEPT_PAUSES:]
    person.preferences = prefs


def pause_quizzes(turn: Turn, until_words: str) -> Reply:
    """ "pause quizzes until ..." (handlers.availability), remembering the paused days for the streak."""
    before = (turn.person.preferences or {}).get("quiz_paused_until")
    reply = availability.pause_quizzes(turn, until_words)
    until = (turn.person.preferences or {}).get("quiz_paused_until")
    if reply.kind != "error" and until and until != before:
        _keep_pause(turn.person, _today(turn), date.fromisoformat(until) - timedelta(days=1))
    return reply


def resume_quizzes(turn: Turn) -> Reply:
    """ "resume quizzes" (handlers.availability): the pause ends today (today is still excused)."""
    today = _today(turn)
    reply = availability.resume_quizzes(turn)
    prefs = dict(turn.person.preferences or {})
    spans = [list(p) for p in prefs.get(PAUSES) or [] if isinstance(p, list | tuple) and len(p) == 2]
    for span in spans:
        if str(span[0]) <= today.isoformat() < str(span[1]):
            span[1] = today.isoformat()  # ISO days compare as text
    if spans:
        prefs[PAUSES] = spans
        turn.person.preferences = prefs
    return reply


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


def _enablement_names(turn: Turn) -> str:
    names = list(
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
    return f" ({', '.join(names)})" if names else ""


def switch(turn: Turn, on: bool) -> Reply:
    """ "leaderboard on" / "leaderboard off": enablement decides for the whole organization."""
    if turn.person.role != Role.ENABLEMENT:
        return turn.render(
            "message.j2",
            kind="refusal",
            text=f"Turning the team leaderboard on or off is for enablement{_enablement_names(turn)}; "
            "ask them if your team would like it.",
        )
    was = is_on(turn.organization)
    turn.organization.settings = {**(turn.organization.settings or {}), LEADERBOARD: on}
    if on:
        text = (
            "The team leaderboard is on" + (" already" if was else "") + ". Reps and managers can say "
            '"leaderboard" to see their team ranked by mastery (how much of what they were asked they '
            'still remember), not by how many questions they answered. Reps can say "hide me from the '
            'leaderboard" to appear as "a teammate". Say "leaderboard off" to turn it off.'
        )
    else:
        text = (
            "The team leaderboard is off" + (" already" if not was else "") + ": nobody sees a ranking. "
            'Streaks stay. Say "leaderboard on" to turn it on again.'
        )
    return turn.render("message.j2", text=text)


def hide(turn: Turn, hidden: bool) -> Reply:
    """ "hide me from the leaderboard" / "show me on the leaderboard": the rep's own choice, kept whether or
    not the leaderboard is on."""
    turn.person.preferences = {**(turn.person.preferences or {}), HIDDEN: hidden}
    if hidden:
        text = (
            'Done: on the leaderboard your teammates see you as "a teammate", never your name. '
            'You still see your own place. Say "show me on the leaderboard" to change it back.'
        )
    else:
        text = 'Done: your teammates see your name on the leaderboard. Say "hide me from the leaderboard" to hide it.'
    if not is_on(turn.organization):
        text += " (The leaderboard is off in your organization at the moment.)"
    return turn.render("message.j2", text=text)


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
    from handlers.quizzes import scheduler_for

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
        totals[person_id] = totals.get(person_id, 0.0) + retrievability(scheduler, card, now)
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
            text = 'The team leaderboard is off. Say "leaderboard on" to let every team see theirs.'
        else:
            text = (
                "The team leaderboard is off in your organization. Enablement"
                f'{_enablement_names(turn)} can turn it on by saying "leaderboard on". '
                'Your own streak and topics are under "my progress".'
            )
        return turn.render("message.j2", text=text)
    if me.role == Role.ENABLEMENT:
        return turn.render(
            "message.j2",
            text="The leaderboard ranks each manager's team for its reps and manager. "
            'For the whole organization, say "quiz report".',
        )
    team = _team(turn)
    if not team:
        why = (
            "No reps report to you yet, so there is no team to rank."
            if me.role == Role.MANAGER
            else "You are not on a manager's team yet, so there is no team to rank. "
            'Your own progress is under "my progress".'
        )
        return turn.render("message.j2", text=why)
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
