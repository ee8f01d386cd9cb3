"""Each person's overview (Slack App Home; "home" anywhere): own deals, the team, or the organization."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, or_, select

from bot.confirmations import confirmed_criteria
from bot.messages import Button, Reply
from handlers.coaching.queries import due_reps
from handlers.common import Turn, deal_playbook_stage, team_ids, visible_deals
from storage.models import DealStageChange, Person, ReviewCard, Role

SKIPPED_GATE_WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class Progress:
    name: str
    open_deals: int
    confirmed: int
    total: int
    skipped_gates: int


def show(turn: Turn, _value: str = "") -> Reply:
    deals = visible_deals(turn.db, turn.person)
    mine = [d for d in deals if d.owner_id == turn.person.id]
    rows = []
    for deal in mine:
        found = deal_playbook_stage(turn, deal)
        total = len(found[1].exit_criteria) if found else 0
        rows.append(
            (deal, found[1].name if found else deal.stage_id, len(confirmed_criteria(turn.db, deal)), total)
        )
    team: list[Progress] = []
    stages: dict[str, int] = defaultdict(int)
    coaching_due = None
    if turn.person.role == Role.MANAGER:
        team = _team_progress(turn, deals)
        coaching_due = [d.rep.name for d in due_reps(turn.ctx, turn.db, turn.person, turn.now())]
    if turn.person.role == Role.ENABLEMENT:
        for deal in deals:
            found = deal_playbook_stage(turn, deal)
            stages[f"{found[0].name}: {found[1].name}" if found else deal.stage_id] += 1
    quiz_due = turn.db.scalar(
        select(func.count(ReviewCard.id)).where(
            ReviewCard.person_id == turn.person.id,
            or_(ReviewCard.pending_since.is_not(None), ReviewCard.due <= turn.now()),
        )
    )
    buttons = (Button("Quiz me", "quiz.next", "", style="primary"),) if quiz_due else ()
    return turn.render(
        "home.j2",
        buttons=buttons,
        rows=rows,
        team=team,
        stages=dict(sorted(stages.items())),
        total_deals=len(deals),
        coaching_due=coaching_due,
        quiz_due=quiz_due,
    )


def _team_progress(turn: Turn, deals) -> list[Progress]:
    reports = turn.db.scalars(
        select(Person).where(Person.id.in_(team_ids(turn.db, turn.person))).order_by(Person.name)
    ).all()
    since = turn.now() - SKIPPED_GATE_WINDOW
    progress = []
    for rep in reports:
        owned = [d for d in deals if d.owner_id == rep.id]
        confirmed = total = 0
        for deal in owned:
            found = deal_playbook_stage(turn, deal)
            if found:
                total += len(found[1].exit_criteria)
                confirmed += len(confirmed_criteria(turn.db, deal) & {c.id for c in found[1].exit_criteria})
        skipped = turn.db.scalars(
            select(DealStageChange.skipped_criteria).where(
                DealStageChange.deal_id.in_([d.id for d in owned]), DealStageChange.changed_at >= since
            )
        ).all()
        progress.append(Progress(rep.name, len(owned), confirmed, total, sum(1 for s in skipped if s)))
    return progress
