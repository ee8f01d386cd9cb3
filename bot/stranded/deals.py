"""Open deals whose playbook or stage the files no longer have."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select

from bot.stranded.base import (
    FEW,
    NAMES_SHOWN,
    NEAR,
    Check,
    names_listed,
    nearest_stage,
    plural,
)
from playbooks import nearest
from playbooks.schema import Playbook
from storage.models import (
    CriterionStatus,
    Deal,
    DealStatus,
)


class DealChecks(Check):
    # -- deals whose playbook or stage is gone ----------------------------------------------------------

    def deals(self) -> list[tuple[str, int, list[str]]]:
        groups = self.db.execute(
            select(Deal.organization_id, Deal.playbook_id, Deal.stage_id, func.count())
            .where(Deal.status == DealStatus.OPEN)
            .group_by(Deal.organization_id, Deal.playbook_id, Deal.stage_id)
            .order_by(Deal.organization_id, Deal.playbook_id, Deal.stage_id)
        ).all()
        lost_playbooks: dict[tuple[int, str], list[tuple[str, int]]] = defaultdict(list)
        out: list[tuple[str, int, list[str]]] = []
        for organization_id, playbook_id, stage_id, count in groups:
            playbook = self.playbooks.get(playbook_id)
            if playbook is None:
                lost_playbooks[(organization_id, playbook_id)].append((stage_id, count))
            elif playbook.stage(stage_id) is None:
                out.append(
                    (
                        self.org(organization_id),
                        0,
                        self.stranded_stage(organization_id, playbook, stage_id, count),
                    )
                )
        for (organization_id, playbook_id), stages in lost_playbooks.items():
            out.append(
                (self.org(organization_id), 0, self.stranded_playbook(organization_id, playbook_id, stages))
            )
        return out

    def deal_names(self, organization_id: int, playbook_id: str, stage_id: str | None = None) -> list[str]:
        query = select(Deal.name).where(
            Deal.organization_id == organization_id,
            Deal.playbook_id == playbook_id,
            Deal.status == DealStatus.OPEN,
        )
        if stage_id is not None:
            query = query.where(Deal.stage_id == stage_id)
        return list(self.db.scalars(query.order_by(Deal.name).limit(NAMES_SHOWN)))

    def confirmed_at(self, organization_id: int, playbook_id: str, stage_id: str) -> int:
        """Confirmations the stranded deals hold at their stranded stage (a move leaves them behind)."""
        return (
            self.db.scalar(
                select(func.count())
                .select_from(CriterionStatus)
                .join(Deal, Deal.id == CriterionStatus.deal_id)
                .where(
                    Deal.organization_id == organization_id,
                    Deal.playbook_id == playbook_id,
                    Deal.stage_id == stage_id,
                    Deal.status == DealStatus.OPEN,
                    CriterionStatus.stage_id == stage_id,
                    CriterionStatus.confirmed.is_(True),
                )
            )
            or 0
        )

    def stranded_stage(
        self, organization_id: int, playbook: Playbook, stage_id: str, count: int
    ) -> list[str]:
        names = self.deal_names(organization_id, playbook.id, stage_id)
        confirmed = self.confirmed_at(organization_id, playbook.id, stage_id)
        deals = plural(count, "open deal")
        lines = [
            f"organization \"{self.org(organization_id)}\": {deals} at stage '{stage_id}' of playbook "
            f"'{playbook.id}', which that playbook no longer has: {names_listed(names, count)}"
        ]
        near = nearest_stage(stage_id, [playbook])
        kept = f" and their {plural(confirmed, 'confirmation')} at that stage" if confirmed else ""
        left = (
            f" (their {plural(confirmed, 'confirmation')} at '{stage_id}' stay with the old id)"
            if confirmed
            else ""
        )
        target = f'"{near[1].name}"' if near else "STAGE"
        example = f"`move {names[0]} to {near[1].name if near else 'STAGE'}`"
        if near:
            stage = near[1]
            lines.append(
                f"nearest current stage: \"{stage.name}\" (id '{stage.id}'). If that is the same stage renamed, "
                f"keep its id: put back `id: {stage_id}` on it and change only `name:` (the deals{kept} "
                "stay where they are; an alias alone does not move deals already stored)"
            )
        else:
            current = ", ".join(f'"{s.name}"' for s in playbook.stages)
            lines.append(
                f"no current stage looks like it (stages of '{playbook.id}': {current}); to keep the deals "
                f"where they are, keep a stage with `id: {stage_id}`"
            )
        way = "otherwise move them" if near else "or move them"
        chat = f"in chat {example}, one deal at a time"
        csv = (
            f"a deals CSV re-import with stage {target} for these deals (rows match by crm_id or name; "
            "`python -m bot import deals FILE.csv`)"
        )
        lines.append(f"{way}{left}: {chat}, or {csv}" if count <= FEW else f"{way}{left}: {csv}, or {chat}")
        return lines

    def stranded_playbook(
        self, organization_id: int, playbook_id: str, stages: list[tuple[str, int]]
    ) -> list[str]:
        count = sum(n for _, n in stages)
        names = self.deal_names(organization_id, playbook_id)
        at = ", ".join(f"'{stage}' {n}" for stage, n in stages)
        lines = [
            f'organization "{self.org(organization_id)}": {plural(count, "open deal")} of playbook '
            f"'{playbook_id}', which no checked playbook has (stages: {at}): {names_listed(names, count)}"
        ]
        near = max(
            ((nearest.score(playbook_id, p.id, p.name), p) for p in self.playbooks.values()),
            key=lambda t: t[0],
            default=None,
        )
        if near and near[0] >= NEAR:
            lines.append(
                f"nearest current playbook: \"{near[1].name}\" (id '{near[1].id}'). If that is the same "
                f"playbook renamed, keep its id: put back `id: {playbook_id}` and change only `name:`"
            )
        else:
            lines.append(f"to keep the deals where they are, keep a playbook with `id: {playbook_id}`")
        lines.append(
            "or move them: a deals CSV re-import whose playbook and stage columns name a current playbook and "
            "stage (rows match by crm_id or name; `python -m bot import deals FILE.csv`); a move in chat "
            "stays within a deal's own playbook"
        )
        return lines
