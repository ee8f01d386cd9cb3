"""Confirmations of exit criteria a stage no longer has."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.stranded.base import (
    NAMES_SHOWN,
    Check,
    names_listed,
    nearest_criterion,
    plural,
)
from storage.models import (
    CriterionEvent,
    CriterionStatus,
    Deal,
    DealStatus,
)


class ConfirmationChecks(Check):
    # -- confirmations of criteria a stage no longer has ------------------------------------------------

    def confirmations(self) -> list[tuple[str, int, list[str]]]:
        groups = self.db.execute(
            select(
                CriterionStatus.organization_id,
                CriterionStatus.playbook_id,
                CriterionStatus.stage_id,
                CriterionStatus.criterion_id,
                func.count(),
                func.max(CriterionStatus.event_id),
            )
            .join(Deal, Deal.id == CriterionStatus.deal_id)
            .where(CriterionStatus.confirmed.is_(True), Deal.status == DealStatus.OPEN)
            .group_by(
                CriterionStatus.organization_id,
                CriterionStatus.playbook_id,
                CriterionStatus.stage_id,
                CriterionStatus.criterion_id,
            )
            .order_by(CriterionStatus.organization_id, CriterionStatus.stage_id, CriterionStatus.criterion_id)
        ).all()
        out = []
        for organization_id, playbook_id, stage_id, criterion_id, count, event_id in groups:
            playbook = self.playbooks.get(playbook_id)
            stage = playbook.stage(stage_id) if playbook else None
            if stage is None or stage.criterion(criterion_id) is not None:
                continue  # a missing stage or playbook is reported with its deals
            old_text = self.db.scalar(
                select(CriterionEvent.criterion_text).where(CriterionEvent.id == event_id)
            )
            names = list(
                self.db.scalars(
                    select(Deal.name)
                    .join(CriterionStatus, CriterionStatus.deal_id == Deal.id)
                    .where(
                        CriterionStatus.organization_id == organization_id,
                        CriterionStatus.stage_id == stage_id,
                        CriterionStatus.criterion_id == criterion_id,
                        CriterionStatus.confirmed.is_(True),
                        Deal.status == DealStatus.OPEN,
                    )
                    .order_by(Deal.name)
                    .limit(NAMES_SHOWN)
                )
            )
            said = f' ("{old_text}")' if old_text else ""
            lines = [
                f'organization "{self.org(organization_id)}": {plural(count, "confirmation")} of exit criterion '
                f"'{criterion_id}'{said} at stage '{stage_id}' of playbook '{playbook_id}' no longer "
                f"{'counts' if count == 1 else 'count'}: the stage has no such criterion "
                f"({plural(count, 'open deal')}: {names_listed(names, count)})"
            ]
            near = nearest_criterion(criterion_id, old_text or "", stage)
            if near:
                lines.append(
                    f"nearest current criterion: '{near.id}' (\"{near.text}\"). If it is the same criterion, "
                    f"keep its id: put back `id: {criterion_id}` (changing only its text is safe)"
                )
            lines.append(
                "otherwise these deals confirm the stage's current criteria anew; the confirmations stay in "
                "`python -m bot export confirmations`"
            )
            out.append((self.org(organization_id), 1, lines))
        return out
