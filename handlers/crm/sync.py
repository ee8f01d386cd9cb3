"""Applying CRM deals to the bot's deal registry, and running one organization's sync.

Upserts are keyed by CRM id and idempotent: a record that says what the bot already knows changes
nothing, so a re-run (or a crash followed by a resume from the stored cursor) writes nothing twice. Each
page of records commits together with the cursor that covers it.

A stage change from the CRM is recorded like a move in chat (skipped gates included) and queues one
direct message to the owner per deal and stage change (handlers.crm.notify composes it when sent).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.context import AppContext
from bot.stage_moves import record_stage_change
from handlers.crm.mapping import BadRecord, CrmDeal, CrmError, StageMap
from storage import outbox
from storage.db import insert_or_ignore
from storage.models import (
    CrmConnection,
    Deal,
    DealStageChange,
    DealStatus,
    OutboxMessage,
    OutboxStatus,
    Person,
)

log = logging.getLogger(__name__)

SYSTEMS = {"salesforce": "Salesforce", "hubspot": "HubSpot"}
MAX_LISTED = 20  # unknown owners / errors listed in a report; the rest are counted


class CrmClient(Protocol):
    label: str

    def pages(self, cursor: str | None, now: datetime) -> Iterator[tuple[list[CrmDeal | BadRecord], str | None]]:
        """Records changed since `cursor`, page by page, each with the cursor that covers it."""
        ...

    def limits(self) -> str | None:
        """The API usage the CRM last reported (Salesforce Sforce-Limit-Info, HubSpot rate-limit headers)."""
        ...


@dataclass
class SyncReport:
    """What a run did (or, dry, would do): counts, stages to map, owners to import, errors."""

    system: str
    organization: str
    dry_run: bool = False
    read: int = 0
    created: int = 0
    updated: int = 0
    moved: int = 0
    closed: int = 0
    reopened: int = 0
    unchanged: int = 0
    messages: int = 0
    unmapped: dict[str, int] = field(default_factory=dict)  # hint -> deals
    unknown_owners: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    limits: str | None = None
    cursor: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "read": self.read,
            "created": self.created,
            "updated": self.updated,
            "moved": self.moved,
            "closed": self.closed,
            "reopened": self.reopened,
            "unchanged": self.unchanged,
            "messages": self.messages,
            "unmapped": self.unmapped,
            "unknown_owners": dict(self.unknown_owners.most_common(MAX_LISTED)),
            "unknown_owner_deals": sum(self.unknown_owners.values()),
            "errors": self.errors[:MAX_LISTED],
            "error_count": len(self.errors),
            "limits": self.limits,
        }

    def render(self) -> str:
        return render_result(self.organization, self.system, self.to_dict(), self.cursor)


def render_result(organization: str, system: str, data: dict[str, Any], cursor: str | None) -> str:
    would = "would be " if data.get("dry_run") else ""
    lines = [
        f"{organization} ({SYSTEMS.get(system, system)}): {data.get('read', 0)} deals read; "
        f"{data.get('created', 0)} {would}created, {data.get('updated', 0)} {would}updated, "
        f"{data.get('moved', 0)} {would}moved to another stage, {data.get('closed', 0)} {would}closed, "
        f"{data.get('reopened', 0)} {would}reopened, {data.get('unchanged', 0)} unchanged; "
        f"{data.get('messages', 0)} stage-change messages {'would be ' if data.get('dry_run') else ''}queued"
    ]
    if cursor:
        lines.append(f"  cursor: {cursor}")
    if data.get("limits"):
        lines.append(f"  API usage: {data['limits']}")
    for hint, count in (data.get("unmapped") or {}).items():
        lines.append(f"  unmapped ({count} {'deal' if count == 1 else 'deals'}): {hint}")
    owners = data.get("unknown_owners") or {}
    if owners:
        skipped = data.get("unknown_owner_deals", 0)
        lines.append(
            f"  {skipped} {'deal' if skipped == 1 else 'deals'} skipped: the owner is not a person of this "
            "organization (import people with `python -m bot import people FILE.csv`): "
            + ", ".join(f"{email} ({n})" for email, n in owners.items())
        )
    errors = data.get("errors") or []
    for error in errors:
        lines.append(f"  error: {error}")
    if data.get("error_count", 0) > len(errors):
        lines.append(f"  ... and {data['error_count'] - len(errors)} more errors")
    return "\n".join(lines)


class Applier:
    """Applies pages of CRM records to one organization's deals, in the caller's transaction."""

    def __init__(
        self,
        ctx: AppContext,
        db: Session,
        organization_id: int,
        system: str,
        report: SyncReport,
        now: datetime,
        *,
        since: str | None = None,
    ):
        """`since`: the cursor the run started from. Queries read from it inclusively (">="), so the records
        modified exactly then were applied by an earlier run; applied again they would undo what changed in
        chat since (a deal moved or reopened), so they are left alone."""
        self.ctx, self.db, self.organization_id = ctx, db, organization_id
        self.since = since
        self.label = SYSTEMS.get(system, system)
        self.report, self.now = report, now
        self.map = StageMap(ctx.playbooks)
        self._new: list[Deal] = []
        self._unlinked: dict[str, Deal] | None = None  # open deals without a CRM id, by name (made in chat)
        self.people = dict(
            db.execute(select(Person.email, Person.id).where(Person.organization_id == organization_id)).all()
        )

    def apply(self, records: Iterable[CrmDeal | BadRecord]) -> None:
        records = list(records)
        ids = [r.crm_id for r in records]
        # Locked until the page commits (PostgreSQL): a webhook and the sync job applying the same deal
        # one after the other, the second sees the first's stage and records no second move.
        existing = {
            d.crm_id: d
            for d in self.db.scalars(
                select(Deal)
                .where(Deal.organization_id == self.organization_id, Deal.crm_id.in_(ids))
                .with_for_update()
            )
        }
        seen: set[str] = set()
        for record in records:
            self.report.read += 1
            if isinstance(record, BadRecord):
                self.report.errors.append(f"{self.label} record {record.crm_id}: {record.reason}; skipped")
                continue
            if record.crm_id in seen:
                continue  # the same record twice in one page (it changed while being read): once is enough
            seen.add(record.crm_id)
            if record.crm_id in existing and _not_newer(record.modified, self.since):
                self.report.unchanged += 1
                continue
            problem = _invalid(record)
            if problem:
                self.report.errors.append(f"{self.label} record {record.crm_id} ('{record.name[:60]}'): {problem}; skipped")
                continue
            deal = existing.get(record.crm_id) or self._adopt(record)
            created = self._apply_one(record, deal)
            if created is not None:
                existing[record.crm_id] = created
        self.db.flush()  # new deals get their ids in one batch, then their first stage-history rows
        self.db.add_all(
            DealStageChange(
                organization_id=self.organization_id,
                deal_id=deal.id,
                from_stage_id=None,
                to_stage_id=deal.stage_id,
                changed_at=self.now,
            )
            for deal in self._new
        )
        self._new.clear()
        self.db.flush()

    def _adopt(self, record: CrmDeal) -> Deal | None:
        """An open deal with this name and no CRM id yet (added in chat before the CRM was connected)
        becomes this record's deal instead of getting a twin."""
        if record.deleted or record.closed:  # a closed CRM record never closes an open deal made in chat
            return None
        if self._unlinked is None:
            self._unlinked = {}
            for deal in self.db.scalars(
                select(Deal).where(
                    Deal.organization_id == self.organization_id, Deal.crm_id.is_(None), Deal.status == DealStatus.OPEN
                )
            ):
                self._unlinked.setdefault(deal.name.casefold(), deal)
        # Linked (crm_id set) only once the record passes the owner and stage checks in _apply_one.
        return self._unlinked.pop(record.name.casefold(), None)

    def _apply_one(self, record: CrmDeal, deal: Deal | None) -> Deal | None:
        if record.deleted:
            if deal is not None and deal.status == DealStatus.OPEN:
                self._close(deal, DealStatus.LOST, f"Deleted in {self.label}")
            elif deal is not None:
                self.report.unchanged += 1
            return None
        owner_id = self.people.get((record.owner_email or "").strip().lower())
        if owner_id is None:
            self.report.unknown_owners[(record.owner_email or "(no owner email)").lower()] += 1
            return None
        found = self.map.stage_for(record)
        if found is None and not record.closed:
            hint = self.map.unmapped_hint(record, self.label)
            self.report.unmapped[hint] = self.report.unmapped.get(hint, 0) + 1
            return None
        if deal is None:
            return self._create(record, owner_id, found)
        if deal.crm_id is None:  # a deal made in chat, adopted by name: linked now that the record is usable
            deal.crm_id = record.crm_id
        changed = False
        for attribute, value in (
            ("name", record.name),
            ("owner_id", owner_id),
            ("amount", record.amount),
            ("close_date", record.close_date),
        ):
            if getattr(deal, attribute) != value:
                setattr(deal, attribute, value)
                changed = True
        moved = False
        if found is not None and (found[0].id, found[1].id) != (deal.playbook_id, deal.stage_id):
            playbook, stage = found
            change, _skipped = record_stage_change(self.db, deal, playbook, stage.id, now=self.now)
            self.report.moved += 1
            moved = True
            if not record.closed:
                self._notify(deal, change)
        if record.closed and deal.status == DealStatus.OPEN:
            outcome = DealStatus.WON if record.won else DealStatus.LOST
            self._close(deal, outcome, None if record.won else f"{record.stage_label or record.stage} in {self.label}")
        elif not record.closed and deal.status != DealStatus.OPEN:
            deal.status, deal.closed_at, deal.closed_reason = DealStatus.OPEN, None, None
            self.report.reopened += 1
        elif changed and not moved:
            self.report.updated += 1
        elif not moved:
            self.report.unchanged += 1
        return None

    def _create(self, record: CrmDeal, owner_id: int, found: Any) -> Deal | None:
        if found is None:  # a closed deal at a stage no playbook maps: file it at the last stage
            playbooks = self.map.playbooks_for(record)
            if not playbooks:
                hint = self.map.unmapped_hint(record, self.label)
                self.report.unmapped[hint] = self.report.unmapped.get(hint, 0) + 1
                return None
            found = (playbooks[0], playbooks[0].stages[-1])
        playbook, stage = found
        status = (DealStatus.WON if record.won else DealStatus.LOST) if record.closed else DealStatus.OPEN
        deal = Deal(
            organization_id=self.organization_id,
            name=record.name,
            owner_id=owner_id,
            playbook_id=playbook.id,
            stage_id=stage.id,
            amount=record.amount,
            close_date=record.close_date,
            crm_id=record.crm_id,
            status=status,
            closed_at=self.now if record.closed else None,
            closed_reason=f"{record.stage_label or record.stage} in {self.label}" if status == DealStatus.LOST else None,
            stage_entered_at=self.now,
            created_at=self.now,
        )
        self.db.add(deal)
        self._new.append(deal)
        self.report.created += 1
        return deal

    def _close(self, deal: Deal, outcome: DealStatus, reason: str | None) -> None:
        """Closed won or lost in the CRM: the deal leaves the open views, as when closed in chat."""
        deal.status = outcome
        deal.closed_at = self.now
        deal.closed_reason = reason
        self.report.closed += 1

    def _notify(self, deal: Deal, change: DealStageChange) -> None:
        reach = outbox.reach(self.db, deal.owner_id)
        if reach is None:
            return  # the owner has never written to the bot anywhere: the move is recorded, nobody to tell
        platform, way_in = reach
        added = insert_or_ignore(
            self.db,
            OutboxMessage,
            {
                # One message per deal and stage change, whichever way it arrived (webhook or sync)
                "idempotency_key": f"crm-stage:{deal.id}:{change.from_stage_id}>{change.to_stage_id}:{change.changed_at:%Y%m%d%H%M%S}",
                "kind": "crm-stage",
                "workspace_id": way_in,
                "platform": platform,
                "person_id": deal.owner_id,
                "target": {},
                "payload": outbox.compose_later("crm-stage", change=change.id, system=self.label),
                "status": OutboxStatus.PENDING,
                "attempts": 0,
                "next_attempt_at": self.now,
                "created_at": self.now,
            },
            ["idempotency_key"],
        )
        self.report.messages += int(added)


def _not_newer(stamp: str, since: str | None) -> bool:
    """Whether a record's modification stamp is no later than the run's starting cursor (both in the CRM
    client's cursor form: ISO 8601 for Salesforce, milliseconds for HubSpot)."""
    if not since or not stamp:
        return False
    if stamp.isdigit() and since.isdigit():
        return int(stamp) <= int(since)
    return stamp <= since


def _invalid(record: CrmDeal) -> str | None:
    if not record.name.strip():
        return "the deal has no name"
    if len(record.name) > 200:
        return f"the name is {len(record.name)} characters long; the limit is 200"
    if record.amount is not None and not (record.amount.is_finite() and Decimal(0) <= record.amount < Decimal("1e12")):
        return f"amount {record.amount} is out of range"
    if len(record.crm_id) > 64:
        return "the CRM id is longer than 64 characters"
    return None


def client_for(ctx: AppContext, connection: CrmConnection) -> CrmClient:
    if connection.system == "salesforce":
        from handlers.crm.salesforce import SalesforceClient

        return SalesforceClient(connection.settings, ctx.settings, ctx.playbooks)
    if connection.system == "hubspot":
        from handlers.crm.hubspot import HubSpotClient

        return HubSpotClient(connection.settings, ctx.settings)
    raise CrmError(f"unknown CRM system '{connection.system}' (salesforce or hubspot)")


def run_sync(
    ctx: AppContext, connection_id: int, now: datetime, *, dry_run: bool = False, client: CrmClient | None = None
) -> SyncReport:
    """Read what changed since the connection's cursor and apply it, one committed page at a time."""
    with ctx.sessions() as db:
        connection = db.get(CrmConnection, connection_id)
        if connection is None:
            raise CrmError(f"no CRM connection {connection_id}")
        organization = connection_organization_name(db, connection)
        report = SyncReport(connection.system, organization, dry_run=dry_run, cursor=connection.cursor)
        applier = Applier(ctx, db, connection.organization_id, connection.system, report, now, since=connection.cursor)
        cursor = connection.cursor
        try:
            client = client or client_for(ctx, connection)
            for records, page_cursor in client.pages(cursor, now):
                applier.apply(records)
                cursor = page_cursor or cursor  # clients yield cursors that only move forward
                if not dry_run:
                    connection.cursor = cursor
                    db.commit()  # this page and the cursor past it, together
            report.limits = client.limits()
        except CrmError as exc:
            report.errors.append(str(exc))
            report.limits = client.limits() if client is not None else None
        except Exception as exc:  # a CRM answer nobody foresaw: reported, never a half-written page
            log.exception("crm sync of connection %s failed", connection_id)
            report.errors.append(f"unexpected error: {type(exc).__name__}: {str(exc)[:300]}")
        finally:
            db.rollback()  # a dry run, or a page interrupted by an error: nothing of it is written
        report.cursor = cursor if not dry_run else connection.cursor
        if not dry_run:
            connection = db.get(CrmConnection, connection_id)
            assert connection is not None
            connection.last_sync_at = now
            connection.last_result = report.to_dict()
            db.commit()
        return report


def connection_organization_name(db: Session, connection: CrmConnection) -> str:
    from storage.models import Organization

    organization = db.get(Organization, connection.organization_id)
    return organization.name if organization is not None else str(connection.organization_id)


def sync_all(ctx: AppContext, now: datetime) -> list[SyncReport]:
    """One run for every enabled connection (the clock's crm-sync job)."""
    with ctx.sessions() as db:
        ids = db.scalars(select(CrmConnection.id).where(CrmConnection.enabled.is_(True)).order_by(CrmConnection.id)).all()
    reports = []
    for connection_id in ids:
        try:
            reports.append(run_sync(ctx, connection_id, now))
        except Exception:  # one organization's broken CRM must not stop the others
            log.exception("crm-sync of connection %s failed", connection_id)
    return reports
