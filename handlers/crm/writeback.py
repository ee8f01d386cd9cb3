"""Optional write-back (off by default, `crm connect ... --write-back`): a rep's confirmation of exit
criteria becomes a note on the CRM record (HubSpot: a note associated with the deal; Salesforce: a
completed Task on the Opportunity) with criterion, buyer and evidence.

It is queued in the outbox in the same transaction as the confirmation (platform `crm`, one message per
confirmation event), and sent by the outbox job like any message, so a CRM outage only delays it: 429 and
5xx are retried with the outbox's back-off, a refusal (4xx) becomes a dead letter `outbox status` lists.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.context import AppContext
from bot.delivery import RetryLater, Undeliverable
from bot.messages import Reply
from handlers.crm.mapping import CrmError
from handlers.crm.sync import SYSTEMS, client_for
from storage.db import insert_or_ignore
from storage.models import CrmConnection, Deal, OutboxMessage, OutboxStatus, Person, Platform


def queue_confirmations(db: Session, deal: Deal, confirmations: list[dict[str, Any]], now: datetime) -> int:
    """Queue one CRM note per confirmation (CriterionEvent values) when the organization writes back."""
    if not deal.crm_id or not confirmations:
        return 0
    connection = db.scalar(
        select(CrmConnection).where(CrmConnection.organization_id == deal.organization_id, CrmConnection.enabled.is_(True))
    )
    if connection is None or not connection.settings.get("write_back"):
        return 0
    actor = db.get(Person, confirmations[0].get("actor_id")) if confirmations[0].get("actor_id") else None
    queued = 0
    for event in confirmations:
        lines = [f"Exit criterion confirmed ({event['stage_id']}): {event.get('criterion_text') or event['criterion_id']}"]
        buyer = ", ".join(v for v in (event.get("buyer_name"), event.get("buyer_role")) if v)
        if buyer:
            lines.append(f"Confirmed by the buyer: {buyer}")
        if event.get("evidence"):
            lines.append(f"Evidence: {event['evidence']}")
        if actor is not None:
            lines.append(f"Recorded in chat by {actor.name} <{actor.email}>")
        note = Reply(text="\n".join(lines), header=f"Exit criterion confirmed: {event.get('criterion_text') or event['criterion_id']}"[:250])
        queued += insert_or_ignore(
            db,
            OutboxMessage,
            {
                "idempotency_key": f"crm-note:{event['idempotency_key']}"[:200],
                "kind": "crm-note",
                "workspace_id": deal.organization_id,
                "platform": Platform.CRM,
                "person_id": None,
                "target": {"connection": connection.id, "system": connection.system, "crm_id": deal.crm_id},
                "payload": note.to_dict(),
                "status": OutboxStatus.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            },
            ["idempotency_key"],
        )
    return queued


class CrmNoteSender:
    """The outbox's sender for platform `crm`: writes the note to the record through the CRM's API."""

    def __init__(self, ctx: AppContext):
        self.ctx = ctx

    def resolve_target(self, message: OutboxMessage, person: Person | None) -> dict[str, Any]:
        return dict(message.target)

    def find_sent(self, message: OutboxMessage) -> str | None:
        return None  # a CRM cannot tell; a note may (rarely) be written twice after a crash mid-send

    def rate_key(self, message: OutboxMessage) -> tuple[str, float]:
        return (f"crm:{message.workspace_id}", 0.2)

    def send(self, message: OutboxMessage, reply: Reply) -> str | None:
        with self.ctx.sessions() as db:
            connection = db.get(CrmConnection, int(message.target.get("connection", 0)))
            if connection is None:
                raise Undeliverable("the CRM connection no longer exists")
            db.expunge(connection)
        try:
            client: Any = client_for(self.ctx, connection)
            client.attempts = 1  # the outbox retries, with its own back-off
            return str(client.write_note(str(message.target["crm_id"]), reply.header or "", reply.text, self.ctx.clock()))
        except CrmError as exc:
            text = str(exc)
            if any(f" {code}" in text for code in ("429", "500", "502", "503", "504", "None")) or "REQUEST_LIMIT" in text:
                raise RetryLater(f"{SYSTEMS.get(connection.system, connection.system)}: {text}") from exc
            raise Undeliverable(text) from exc
