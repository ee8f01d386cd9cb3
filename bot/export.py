"""`python -m bot export confirmations --format csv`: every confirmation event, oldest first, streamed."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from storage.models import CriterionEvent, Deal, Organization, Person

CONFIRMATION_COLUMNS = (
    "organization",
    "deal",
    "crm_id",
    "owner_email",
    "playbook",
    "stage",
    "criterion_id",
    "criterion",
    "action",
    "buyer_name",
    "buyer_role",
    "evidence",
    "reason",
    "recorded_by",
    "recorded_at",
)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula (= + - @, tab, CR) gets a leading
    apostrophe, so a deal name or evidence typed as `=HYPERLINK(...)` is never run by Excel or Sheets."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def export_confirmations(db: Session, out: TextIO, organization_id: int | None = None) -> int:
    """Write the CSV (header first); returns the number of events. Memory stays flat at any size."""
    writer = csv.writer(out)
    writer.writerow(CONFIRMATION_COLUMNS)
    count = 0
    for row in confirmation_rows(db, organization_id):
        writer.writerow(safe_cell(cell) for cell in row)
        count += 1
    return count


def confirmation_rows(db: Session, organization_id: int | None = None) -> Iterator[tuple[str, ...]]:
    """Every confirmation event as text cells (not yet neutralized), oldest first, streamed."""
    owner, actor = aliased(Person), aliased(Person)
    query = (
        select(
            CriterionEvent,
            Deal.name,
            Deal.crm_id,
            owner.email,
            actor.email,
            Organization.name,
        )
        .join(Deal, Deal.id == CriterionEvent.deal_id)
        .join(owner, owner.id == Deal.owner_id)
        .outerjoin(actor, actor.id == CriterionEvent.actor_id)
        .join(Organization, Organization.id == CriterionEvent.organization_id)
        .order_by(CriterionEvent.created_at, CriterionEvent.id)
        .execution_options(yield_per=1000)
    )
    if organization_id is not None:
        query = query.where(CriterionEvent.organization_id == organization_id)
    for event, deal, crm_id, owner_email, actor_email, organization in db.execute(query):
        yield (
            organization,
            deal,
            crm_id or "",
            owner_email,
            event.playbook_id,
            event.stage_id,
            event.criterion_id,
            event.criterion_text,
            "confirm" if event.confirmed else "revoke",
            event.buyer_name or "",
            event.buyer_role or "",
            event.evidence or "",
            event.reason or "",
            actor_email or "",
            event.created_at.isoformat(),
        )
