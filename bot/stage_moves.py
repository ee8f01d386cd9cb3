"""Recording a deal's move to another stage, wherever it comes from (chat, CSV re-import, CRM sync).

Moving forward while exit criteria of the stage left are unconfirmed is a skipped gate: the move keeps
the ids of those criteria, so coaching, summaries and the weekly digest see the same history.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot.confirmations import confirmed_criteria
from playbooks.schema import ExitCriterion, Playbook
from storage.models import Deal, DealStageChange


def skipped_gates(
    db: Session,
    deal: Deal,
    playbook: Playbook,
    to_stage_id: str,
    *,
    from_stage_id: str | None = None,
    from_playbook_id: str | None = None,
) -> list[ExitCriterion]:
    """Exit criteria of the stage left (the deal's current one unless given) still unconfirmed, when the
    deal moves forward within one playbook to `to_stage_id`; a move back or to another playbook skips none."""
    from_stage_id = from_stage_id or deal.stage_id
    if (from_playbook_id or deal.playbook_id) != playbook.id:
        return []
    previous = playbook.stage(from_stage_id)
    target = playbook.stage(to_stage_id)
    if previous is None or target is None:
        return []
    if playbook.position(target.id) <= playbook.position(previous.id):
        return []
    done = confirmed_criteria(db, deal, previous.id)
    return [c for c in previous.exit_criteria if c.id not in done]


def record_stage_change(
    db: Session,
    deal: Deal,
    playbook: Playbook,
    to_stage_id: str,
    *,
    now: datetime,
    actor_id: int | None = None,
) -> tuple[DealStageChange, list[ExitCriterion]]:
    """Move the deal to `to_stage_id` of `playbook` and add its stage history row (flushed, so it has an id)."""
    skipped = skipped_gates(db, deal, playbook, to_stage_id)
    change = DealStageChange(
        organization_id=deal.organization_id,
        deal_id=deal.id,
        from_stage_id=deal.stage_id,
        to_stage_id=to_stage_id,
        changed_by_id=actor_id,
        skipped_criteria=[c.id for c in skipped],
        changed_at=now,
    )
    db.add(change)
    deal.playbook_id = playbook.id
    deal.stage_id = to_stage_id
    deal.stage_entered_at = now
    db.flush()
    return change, skipped
