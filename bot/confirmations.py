"""Recording exit-criteria confirmations: the append-only event log and its current-state table.

Every confirmation or revocation is a CriterionEvent, kept forever for history and export. The
CriterionStatus row of that deal, stage and criterion is brought up to date in the same statement
sequence (same transaction), so summaries can count current state without ranking every event.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, select, text, tuple_
from sqlalchemy.orm import Session

from storage.db import upsertable_insert
from storage.models import CriterionEvent, CriterionStatus, Deal, utcnow


def record(db: Session, values: dict[str, Any]) -> bool:
    """Append one event (columns of CriterionEvent) and update the criterion's current state.

    An event whose idempotency key was seen before is ignored (a re-submitted form): False.
    """
    values = {"created_at": utcnow(), **values}
    insert = upsertable_insert(db, CriterionEvent).values(**values)
    if values.get("idempotency_key"):
        insert = insert.on_conflict_do_nothing(index_elements=["idempotency_key"])
    event_id = db.execute(insert.returning(CriterionEvent.id)).scalar()
    if event_id is None:
        return False
    status = upsertable_insert(db, CriterionStatus).values(
        deal_id=values["deal_id"],
        stage_id=values["stage_id"],
        criterion_id=values["criterion_id"],
        organization_id=values["organization_id"],
        playbook_id=values["playbook_id"],
        confirmed=values["confirmed"],
        event_id=event_id,
        changed_at=values["created_at"],
    )
    newer = tuple_(CriterionStatus.changed_at, CriterionStatus.event_id) <= tuple_(
        status.excluded.changed_at, status.excluded.event_id
    )  # an event dated in the past (an import, a test) does not overwrite a later one
    db.execute(
        status.on_conflict_do_update(
            index_elements=["deal_id", "stage_id", "criterion_id"],
            set_={
                "confirmed": status.excluded.confirmed,
                "event_id": status.excluded.event_id,
                "changed_at": status.excluded.changed_at,
                "playbook_id": status.excluded.playbook_id,
            },
            where=newer,
        )
    )
    return True


def confirmed_criteria(db: Session, deal: Deal, stage_id: str | None = None) -> set[str]:
    """Criterion ids of the deal's stage (its current one unless given) whose latest event confirms them."""
    return set(
        db.scalars(
            select(CriterionStatus.criterion_id).where(
                CriterionStatus.deal_id == deal.id,
                CriterionStatus.stage_id == (stage_id or deal.stage_id),
                CriterionStatus.confirmed.is_(True),
            )
        )
    )


def rebuild_status(connection: Connection | Session, organization_id: int | None = None) -> None:
    """Recompute current state from the event log (after a bulk load of events, or to repair)."""
    # raw SQL names the table's column: `workspace_id` holds the organization (see storage.models)
    scope = "" if organization_id is None else "WHERE workspace_id = :organization"
    params = {} if organization_id is None else {"organization": organization_id}
    connection.execute(
        delete(CriterionStatus).where(
            *(() if organization_id is None else (CriterionStatus.organization_id == organization_id,))
        )
    )
    connection.execute(
        text(
            "INSERT INTO criterion_status (deal_id, stage_id, criterion_id, workspace_id, playbook_id, "
            "confirmed, event_id, changed_at) "
            "SELECT deal_id, stage_id, criterion_id, workspace_id, playbook_id, confirmed, id, created_at "
            "FROM (SELECT e.*, row_number() OVER (PARTITION BY deal_id, stage_id, criterion_id "
            f"ORDER BY created_at DESC, id DESC) AS position FROM criterion_events AS e {scope}) AS ranked "
            "WHERE position = 1"
        ),
        params,
    )
