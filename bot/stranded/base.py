"""What every stranding check shares: the database and playbooks compared, how names are listed,
and the current stage or criterion nearest to an old id.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select

from playbooks import nearest
from playbooks.schema import ExitCriterion, Playbook, Stage
from storage.models import (
    Organization,
)

NAMES_SHOWN = 3  # deal names (or question ids) quoted per warning; the rest are counted
NEAR = 70  # score (playbooks.nearest) from which an old id is said to look like a current stage or criterion
FEW = 5  # up to this many deals, moving them one by one in chat is the easy way


def names_listed(names: list[str], total: int) -> str:
    shown = ", ".join(names[:NAMES_SHOWN])
    return shown if total <= NAMES_SHOWN else f"{shown} and {total - NAMES_SHOWN} more"


def plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else (plural or word + 's')}"


def nearest_stage(old_id: str, playbooks: Iterable[Playbook]) -> tuple[Playbook, Stage] | None:
    """The current stage whose name, id or alias is closest to an old stage id (None below NEAR)."""
    best: tuple[float, Playbook, Stage] | None = None
    for playbook in playbooks:
        for stage in playbook.stages:
            score = nearest.score(old_id, stage.name, stage.id, *stage.aliases)
            if score >= NEAR and (best is None or score > best[0]):
                best = (score, playbook, stage)
    return (best[1], best[2]) if best else None


def nearest_criterion(old_id: str, old_text: str, stage: Stage) -> ExitCriterion | None:
    best: tuple[float, ExitCriterion] | None = None
    for criterion in stage.exit_criteria:
        score = max(
            nearest.score(old_id, criterion.id),
            nearest.score(old_text, criterion.text) if old_text else 0,
        )
        if score >= NEAR and (best is None or score > best[0]):
            best = (score, criterion)
    return best[1] if best else None


class Check:
    """The database and the playbooks the checks compare (each concern adds its checks)."""

    def __init__(self, connection: Connection, playbooks: list[Playbook]):
        self.db = connection
        self.playbook_list = list(playbooks)
        self.notes: list[list[str]] = []
        self.playbooks = {p.id: p for p in playbooks}
        self.stage_ids = {s.id for p in playbooks for s in p.stages}
        self.organizations = dict(self.db.execute(select(Organization.id, Organization.name)).all())

    def org(self, organization_id: int) -> str:
        return self.organizations.get(organization_id) or f"#{organization_id}"
