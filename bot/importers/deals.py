"""Importing deals (`python -m bot import deals FILE.csv`): owner, playbook and stage checked per row."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.importers.csvfile import ImportResult, read_rows
from bot.stage_moves import skipped_gates
from playbooks.loader import PlaybookLibrary
from storage.models import Deal, DealStageChange, DealStatus, Person, utcnow


def import_deals(
    db: Session, organization_id: int, path: Path, library: PlaybookLibrary, now: datetime | None = None
) -> ImportResult:
    """Create or update deals from a CSV file; `now` (the app's clock) stamps new stages."""
    now = now or utcnow()
    result = ImportResult(str(path))
    rows = read_rows(path, ("name", "owner_email", "stage"))
    owners = {p.email: p for p in db.scalars(select(Person).where(Person.organization_id == organization_id))}
    # Every deal of the workspace is read once and matched in memory: a lookup per row made 10k rows take
    # 27 s and 100k never finish. Rows are written in one flush at the end (one transaction, the caller's).
    by_crm_id: dict[str, Deal] = {}
    by_name: dict[str, Deal] = {}
    for existing in db.scalars(select(Deal).where(Deal.organization_id == organization_id)):
        if existing.crm_id:
            by_crm_id[existing.crm_id] = existing
        if existing.status == DealStatus.OPEN:
            by_name.setdefault(existing.name.lower(), existing)
    seen: dict[str, int] = {}
    moved: list[tuple[Deal, str | None, str, str | None]] = []  # deal, from stage, to stage, from playbook
    with db.no_autoflush:
        for line, row in rows:
            parsed = _deal_row(row, owners, library)
            if isinstance(parsed, str):
                result.reject(line, parsed)
                continue
            key = (row.get("crm_id") or row["name"]).casefold()
            if key in seen:
                result.reject(line, f"the same deal is already on line {seen[key]}")
                continue
            seen[key] = line
            owner, playbook_id, stage_id, amount, close_date = parsed
            deal = by_crm_id.get(row.get("crm_id") or "") or by_name.get(row["name"].lower())
            if deal is None:
                deal = Deal(organization_id=organization_id, name=row["name"], stage_entered_at=now)
                db.add(deal)
                result.created += 1
                previous_stage: str | None = None
                previous_playbook: str | None = None
            else:
                result.updated += 1
                previous_stage = (
                    deal.stage_id if deal.stage_id != stage_id or deal.playbook_id != playbook_id else ""
                )
                previous_playbook = deal.playbook_id
                if by_name.get(deal.name.lower()) is deal:
                    del by_name[deal.name.lower()]
            deal.name = row["name"]
            deal.owner_id = owner.id
            deal.playbook_id = playbook_id
            deal.stage_id = stage_id
            deal.amount = amount
            deal.close_date = close_date
            deal.crm_id = row.get("crm_id") or deal.crm_id
            status = DealStatus((row.get("status") or "open").strip().lower())
            if status == DealStatus.OPEN:
                deal.closed_at, deal.closed_reason = None, None
            elif status != deal.status or deal.closed_at is None:
                deal.closed_at = now  # closed by this file (a re-import of a closed deal keeps its date)
            deal.status = status
            if deal.crm_id:
                by_crm_id[deal.crm_id] = deal
            if deal.status == DealStatus.OPEN:
                by_name.setdefault(deal.name.lower(), deal)
            if previous_stage != "":  # new deal, or its stage changed: record it in the stage history
                deal.stage_entered_at = now
                moved.append((deal, previous_stage, stage_id, previous_playbook))
    db.flush()
    db.add_all(
        DealStageChange(
            organization_id=organization_id,
            deal_id=deal.id,
            from_stage_id=previous,
            to_stage_id=stage,
            # a move forward past unconfirmed exit criteria is a skipped gate, as when moved in chat
            skipped_criteria=_skipped(db, library, deal, previous, stage, previous_playbook),
            changed_at=now,
        )
        for deal, previous, stage, previous_playbook in moved
    )
    db.flush()
    return result


def _skipped(
    db: Session,
    library: PlaybookLibrary,
    deal: Deal,
    previous: str | None,
    stage: str,
    previous_playbook: str | None,
) -> list[str]:
    """A move forward past unconfirmed exit criteria is a skipped gate, as when moved in chat."""
    playbook = library.get(deal.playbook_id)
    if previous is None or playbook is None:
        return []
    gates = skipped_gates(
        db, deal, playbook, stage, from_stage_id=previous, from_playbook_id=previous_playbook
    )
    return [c.id for c in gates]


def _deal_row(
    row: dict[str, str], owners: dict[str, Person], library: PlaybookLibrary
) -> str | tuple[Person, str, str, Decimal | None, date | None]:
    if not row.get("name"):
        return "name is empty"
    status = (row.get("status") or "open").strip().lower()
    if status not in {s.value for s in DealStatus}:
        return f"status '{row['status']}' must be open, won or lost"
    if len(row["name"]) > 200:
        return "name is longer than 200 characters"
    owner = owners.get(row.get("owner_email", "").lower())
    if owner is None:
        return f"owner_email '{row.get('owner_email', '')}' is not a known person (import people first)"
    playbook_id = row.get("playbook", "")
    if playbook_id and library.get(playbook_id) is None:
        known = ", ".join(p.id for p in library.playbooks)
        return f"playbook '{playbook_id}' does not exist (known: {known})"
    stage_words = row.get("stage", "")
    if not stage_words:
        return "stage is empty"
    prefer = [playbook_id] if playbook_id else None
    stages = library.find_stage(stage_words, prefer=prefer, fuzzy=False)
    if playbook_id:
        stages = [(p, s) for p, s in stages if p.id == playbook_id]
    elif len(library.playbooks) > 1 and len({p.id for p, _ in stages}) > 1:
        names = " or ".join(p.id for p, _ in stages)
        return f"stage '{stage_words}' is in more than one playbook ({names}): add a playbook column"
    if not stages:
        near = [
            s.id
            for p, s in library.find_stage(stage_words, prefer=prefer)
            if not playbook_id or p.id == playbook_id
        ]
        hint = f" (did you mean '{near[0]}'?)" if near else ""
        return f"stage '{stage_words}' is not a stage id or name in the playbooks{hint}"
    amount: Decimal | None = None
    if row.get("amount"):
        try:
            amount = Decimal(row["amount"].replace(",", "").replace("$", "").strip())
        except InvalidOperation:
            return f"amount '{row['amount']}' is not a number"
        if amount < 0 or amount >= Decimal("1e12"):
            return f"amount '{row['amount']}' is out of range"
    close: date | None = None
    if row.get("close_date"):
        try:
            close = date.fromisoformat(row["close_date"])
        except ValueError:
            return f"close_date '{row['close_date']}' must be a date like 2026-12-31"
    playbook, stage = stages[0]
    return owner, playbook.id, stage.id, amount, close
