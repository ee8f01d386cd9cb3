"""Importing people (`python -m bot import people FILE.csv`): roles, managers (unknown ones and loops
refused), platform ids handed over from whoever held them.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.importers.csvfile import EMAIL, ImportResult, read_rows
from storage.models import ConversationRef, DealStatus, Person, Role


def import_people(db: Session, organization_id: int, path: Path) -> ImportResult:
    result = ImportResult(str(path))
    rows = read_rows(path, ("email", "name"))
    existing = {
        p.email: p for p in db.scalars(select(Person).where(Person.organization_id == organization_id))
    }
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
