"""CSV imports of people and deals (columns in ../shared/CONTRACT.md).

Each file is one transaction: every good row is written, every bad row is reported with its line number
and reason and changes nothing. Re-importing updates existing rows instead of duplicating them (people by
email, deals by crm_id, else by name).
"""

from __future__ import annotations

import bisect
import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.stage_moves import skipped_gates
from playbooks.loader import PlaybookLibrary
from storage.models import ConversationRef, Deal, DealStageChange, DealStatus, Person, Role, utcnow

PEOPLE_COLUMNS = ("email", "name", "role", "manager_email", "slack_user_id", "teams_user_id", "timezone")
DEAL_COLUMNS = ("name", "owner_email", "stage", "amount", "close_date", "crm_id")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class ImportResult:
    """What an import did: counts, and one `file:line: reason` per rejected row."""

    file: str
    created: int = 0
    updated: int = 0
    errors: list[str] = field(default_factory=list)  # in line order, however they were found
    rejected: dict[str, tuple[int, str]] = field(default_factory=dict)  # a row's key -> (line, reason)
    _lines: list[int] = field(default_factory=list)

    def reject(self, line: int, reason: str, key: str | None = None) -> None:
        at = bisect.bisect_right(self._lines, line)
        self._lines.insert(at, line)
        self.errors.insert(at, f"{self.file}:{line}: {reason}")
        if key is not None:
            self.rejected[key] = (line, reason)

    def summary(self, noun: str) -> str:
        singular = {"people": "person", "deals": "deal"}.get(noun, noun)
        text = f"{self.file}: {self.created} {singular if self.created == 1 else noun} created, {self.updated} updated"
        if self.errors:
            text += (
                f", {len(self.errors)} {'row' if len(self.errors) == 1 else 'rows'} rejected:\n"
                + "\n".join(f"  {e}" for e in self.errors)
            )
        return text


class CsvFileError(Exception):
    """The file as a whole cannot be imported (missing columns, not UTF-8): nothing was written."""


def read_rows(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) pairs, with header names normalized; raises CsvFileError for file-level problems."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise CsvFileError(f"{path}: no such file") from exc
    except UnicodeDecodeError as exc:
        raise CsvFileError(f"{path}: not UTF-8 text (save it as 'CSV UTF-8'): {exc.reason}") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        raise CsvFileError(f"{path}:1: the file is empty; the first row must be the header")
    reader.fieldnames = [(name or "").strip().lower() for name in reader.fieldnames]
    missing = [c for c in required if c not in reader.fieldnames]
    if missing:
        raise CsvFileError(
            f"{path}:1: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(the header must include {','.join(required)})"
        )
    rows = []
    for row in reader:
        clean = {k: (v or "").strip() for k, v in row.items() if k}
        if any(clean.values()):
            rows.append((reader.line_num, clean))
    return rows


def import_people(db: Session, organization_id: int, path: Path) -> ImportResult:
    result = ImportResult(str(path))
    rows = read_rows(path, ("email", "name"))
    existing = {p.email: p for p in db.scalars(select(Person).where(Person.organization_id == organization_id))}
    good: dict[str, tuple[int, dict[str, str]]] = {}
    for line, row in rows:
        reason = _person_row_problem(row, good)
        if reason:
            email = (row.get("email") or "").strip().lower()
            result.reject(line, reason, key=email if email and email not in good else None)
        else:
            good[row["email"].lower()] = (line, row)
    # A manager must be a known person (in the database or a good row of this file) and the reporting line
    # must not loop. Rejecting a row can orphan rows that name it as manager, so repeat until stable.
    changed = True
    while changed:
        changed = _reject_unknown_managers(good, existing, result) or _reject_cycles(good, existing, result)
    people: dict[str, Person] = dict(existing)
    for email, (_, row) in good.items():
        person = existing.get(email)
        holders = _holders_of_platform_ids(existing, row, person)
        if person is None and len(holders) == 1 and holders[0].email not in good:
            # Someone who wrote to the bot before being imported: this row is them, not a second person.
            person = holders[0]
            del people[person.email]
            person.email = email
            holders = []
            result.updated += 1
        elif person is None:
            person = Person(organization_id=organization_id, email=email, preferences={})
            db.add(person)
            result.created += 1
        else:
            result.updated += 1
        for other in holders:  # the ids now belong to this row's person; the stand-in steps aside
            _hand_over_platform_ids(db, other, person, row)
        person.name = row["name"]
        person.role = Role(row.get("role", "").lower() or "rep")
        person.timezone = row.get("timezone") or person.timezone or "UTC"
        if row.get("slack_user_id"):
            person.slack_user_id = row["slack_user_id"]
        if row.get("teams_user_id"):
            person.teams_user_id = row["teams_user_id"]
        people[email] = person
    db.flush()
    for email, (_, row) in good.items():
        manager = row.get("manager_email", "").lower()
        people[email].manager_id = people[manager].id if manager else None
    db.flush()
    return result


def _holders_of_platform_ids(
    existing: dict[str, Person], row: dict[str, str], person: Person | None
) -> list[Person]:
    """Other people who already hold this row's Slack or Teams id (created on first contact, before the
    import): platform ids are one person's per workspace."""
    slack_id, teams_id = row.get("slack_user_id") or None, row.get("teams_user_id") or None
    return [
        other
        for other in existing.values()
        if other is not person
        and ((slack_id and other.slack_user_id == slack_id) or (teams_id and other.teams_user_id == teams_id))
    ]


def _hand_over_platform_ids(db: Session, other: Person, person: Person, row: dict[str, str]) -> None:
    """Move the row's platform ids (and the Teams conversation to reach them) from `other` to `person`; an
    auto-created stand-in with nothing left to be reached by is made inactive, its history kept."""
    db.flush()
    if row.get("slack_user_id") and other.slack_user_id == row["slack_user_id"]:
        other.slack_user_id = None
    if row.get("teams_user_id") and other.teams_user_id == row["teams_user_id"]:
        person.teams_aad_object_id = person.teams_aad_object_id or other.teams_aad_object_id
        other.teams_user_id = None
        other.teams_aad_object_id = None
        if db.scalar(select(ConversationRef.id).where(ConversationRef.person_id == person.id)) is None:
            db.execute(
                update(ConversationRef)
                .where(ConversationRef.person_id == other.id)
                .values(person_id=person.id)
            )
    if other.email.endswith(".invalid") and not other.slack_user_id and not other.teams_user_id:
        other.active = False


def _reject_unknown_managers(
    good: dict[str, tuple[int, dict[str, str]]], existing: dict[str, Person], result: ImportResult
) -> bool:
    for email, (line, row) in list(good.items()):
        manager = row.get("manager_email", "").lower()
        if manager and manager not in good and manager not in existing:
            if manager in result.rejected:  # in the file, but its own row was refused: say why
                their_line, why = result.rejected[manager]
                result.reject(
                    line, f"manager_email {manager} was rejected on line {their_line} ({why})", key=email
                )
            else:
                result.reject(
                    line,
                    f"manager_email {manager} is not a known person (add them to this file first)",
                    key=email,
                )
            del good[email]
            return True
    return False


def _reject_cycles(
    good: dict[str, tuple[int, dict[str, str]]], existing: dict[str, Person], result: ImportResult
) -> bool:
    managers = {email: _email_of(existing, person.manager_id) for email, person in existing.items()}
    managers |= {email: row.get("manager_email", "").lower() or None for email, (_, row) in good.items()}
    for email, (line, _) in sorted(good.items(), key=lambda item: item[1][0]):
        cycle = _cycle_through(email, managers)
        if cycle:
            result.reject(line, f"reporting line loops back: {' -> '.join(cycle)}", key=email)
            del good[email]
            return True
    return False


def _person_row_problem(row: dict[str, str], good: dict[str, tuple[int, dict[str, str]]]) -> str | None:
    email = row.get("email", "").lower()
    if not email:
        return "email is empty"
    if not EMAIL.match(email):
        return f"email '{row['email']}' is not an email address"
    if email in good:
        return f"{email} is already on line {good[email][0]}"
    if not row.get("name"):
        return "name is empty"
    status = (row.get("status") or "open").strip().lower()
    if status not in {s.value for s in DealStatus}:
        return f"status '{row['status']}' must be open, won or lost"
    if len(row["name"]) > 200:
        return "name is longer than 200 characters"
    role = row.get("role", "").lower()
    if role and role not in {r.value for r in Role}:
        return f"role '{row['role']}' must be rep, manager or enablement"
    manager = row.get("manager_email", "").lower()
    if manager and not EMAIL.match(manager):
        return f"manager_email '{row['manager_email']}' is not an email address"
    if manager == email:
        return "a person cannot be their own manager"
    timezone = row.get("timezone", "")
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return (
                f"timezone '{timezone}' is not an IANA time zone name (like America/Chicago or Europe/Berlin)"
            )
    return None


def _email_of(people: dict[str, Person], person_id: int | None) -> str | None:
    return next((email for email, p in people.items() if p.id == person_id), None) if person_id else None


def _cycle_through(start: str, managers: dict[str, str | None]) -> list[str] | None:
    path = [start]
    current = managers.get(start)
    while current:
        if current == start:
            return [*path, start]
        if current in path:
            return None  # a loop further up that does not include `start`; reported on its own rows
        path.append(current)
        current = managers.get(current)
    return None


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
            skipped_criteria=[
                c.id
                for c in skipped_gates(
                    db, deal, library.get(deal.playbook_id), stage,  # type: ignore[arg-type]
                    from_stage_id=previous, from_playbook_id=previous_playbook,
                )
            ]
            if previous is not None and library.get(deal.playbook_id) is not None
            else [],
            changed_at=now,
        )
        for deal, previous, stage, previous_playbook in moved
    )
    db.flush()
    return result


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
