"""The owner's direct message when the CRM moves their deal: the new stage's card and the gates left open.

Queued by the sync (one per deal and stage change) and written here just before it is sent, from the data
as it is then: criteria confirmed in the meantime are no longer listed as open, and a deal that has moved
again or closed since gets no message for this change (the newer change has its own).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy.orm import Session

from bot.confirmations import confirmed_criteria
from bot.context import AppContext
from bot.messages import Reply, Request
from handlers.common import Turn
from handlers.deals.cards import deal_card
from storage.models import Deal, DealStageChange, DealStatus, Organization, OutboxMessage, Person, Workspace


def compose_stage_change(ctx: AppContext, db: Session, person: Person, message: OutboxMessage, now: datetime) -> Reply | None:
    change = db.get(DealStageChange, int(message.payload.get("change", 0)))
    deal = db.get(Deal, change.deal_id) if change is not None else None
    if change is None or deal is None or deal.owner_id != person.id:
        return None
    if deal.status != DealStatus.OPEN or deal.stage_id != change.to_stage_id:
        return None
    playbook = ctx.playbooks.get(deal.playbook_id)
    stage = playbook.stage(deal.stage_id) if playbook else None
    if playbook is None or stage is None:
        return None
    previous = playbook.stage(change.from_stage_id or "")
    still_open = set(change.skipped_criteria or [])
    if previous is not None and still_open:
        still_open -= confirmed_criteria(db, deal, previous.id)
    skipped = [c for c in previous.exit_criteria if c.id in still_open] if previous is not None else []
    workspace = db.get(Workspace, message.workspace_id)
    organization = db.get(Organization, person.organization_id)
    if workspace is None or organization is None:
        return None
    turn = Turn(ctx, db, Request(workspace_id=workspace.id, person_id=person.id), person, workspace, organization)
    intro = turn.render(
        "crm_stage_changed.j2",
        deal=deal,
        stage=stage,
        previous=previous,
        playbook=playbook,
        skipped=skipped,
        system=str(message.payload.get("system") or "the CRM"),
    )
    card = deal_card(turn, deal)
    return replace(
        card,
        text=intro.text,
        header=intro.header,
        sections=intro.sections + ((replace(card.sections[0], title=card.header),) if card.sections else ()) + card.sections[1:],
        context=card.context,
    )
