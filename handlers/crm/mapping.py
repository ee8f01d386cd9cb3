"""CRM deals in one neutral shape, and the playbook stage each CRM stage means.

The mapping lives in the playbook YAML (`crm_stages:` per stage, `crm_pipeline:` per playbook). A CRM
stage no playbook names is never guessed: the sync reports it, with what to add where.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from playbooks.loader import PlaybookLibrary
from playbooks.schema import Playbook, Stage


class CrmError(Exception):
    """The CRM could not be read (authentication, network, limits after retries): the run stops there."""


@dataclass(frozen=True)
class CrmDeal:
    """One CRM opportunity or deal, as read (strings as the CRM spells them)."""

    crm_id: str
    name: str
    stage: str  # Salesforce StageName, HubSpot dealstage (an id)
    owner_email: str | None
    amount: Decimal | None = None
    close_date: date | None = None
    closed: bool = False
    won: bool = False
    deleted: bool = False
    pipeline: str = ""  # Salesforce record type name, HubSpot pipeline id
    stage_label: str = ""  # HubSpot stage label, when known
    pipeline_label: str = ""
    modified: str = ""  # the CRM's last-modified stamp, in its own format


@dataclass(frozen=True)
class BadRecord:
    """A record the CRM sent that cannot be read (an amount that is not a number, ...): reported, skipped."""

    crm_id: str
    reason: str


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


class StageMap:
    """Which playbook serves a CRM pipeline, and which of its stages a CRM stage means."""

    def __init__(self, library: PlaybookLibrary):
        self.library = library
        self.named = {_key(p.crm_pipeline): p for p in library.playbooks if p.crm_pipeline.strip()}
        self.default = [p for p in library.playbooks if not p.crm_pipeline.strip()]

    def playbooks_for(self, deal: CrmDeal) -> list[Playbook]:
        for name in (deal.pipeline, deal.pipeline_label):
            if name and _key(name) in self.named:
                return [self.named[_key(name)]]
        return self.default

    def stage_for(self, deal: CrmDeal) -> tuple[Playbook, Stage] | None:
        wanted = {_key(v) for v in (deal.stage, deal.stage_label) if v}
        for playbook in self.playbooks_for(deal):
            for stage in playbook.stages:
                if wanted & {_key(v) for v in stage.crm_stages}:
                    return playbook, stage
        return None

    def unmapped_hint(self, deal: CrmDeal, system: str) -> str:
        """What to write where, so this CRM stage means a playbook stage."""
        playbooks = self.playbooks_for(deal)
        shown = deal.stage if not deal.stage_label else f"{deal.stage_label} ({deal.stage})"
        where = f" of pipeline '{deal.pipeline_label or deal.pipeline}'" if deal.pipeline else ""
        if not playbooks:
            return (
                f"{system} stage '{shown}'{where}: no playbook serves this pipeline; add "
                f"`crm_pipeline: {deal.pipeline_label or deal.pipeline}` to a playbook"
            )
        names = ", ".join(f"{p.id} ({p.source or 'playbook'})" for p in playbooks)
        return (
            f"{system} stage '{shown}'{where} is in no playbook's crm_stages: add "
            f"'{deal.stage_label or deal.stage}' to `crm_stages:` of the stage it means in {names}"
        )
