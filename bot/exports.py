"""`python -m bot export deals|confirmations|coaching|quiz-results --format csv|xlsx`.

Each table is a header and rows streamed from the database (yield_per, so memory stays flat); the
writers turn them into CSV (text) or an xlsx workbook (openpyxl's write-only mode). Text cells that a
spreadsheet would read as a formula (starting = + - @, a tab or a carriage return) get a leading
apostrophe in both formats (`bot.export.safe_cell`); numbers and dates stay typed in xlsx.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from bot.export import CONFIRMATION_COLUMNS, confirmation_rows, safe_cell
from storage.models import CoachingSession, Deal, Organization, Person, QuizQuestion, ReviewCard, ReviewLog

Cell = str | int | float | Decimal | date | datetime | bool | None
Rows = Iterator[tuple[Cell, ...]]

DEAL_COLUMNS = (
    "organization",
    "deal",
    "crm_id",
    "owner_email",
    "owner",
    "playbook",
    "stage",
    "status",
    "amount",
    "close_date",
    "stage_entered_at",
    "closed_at",
    "closed_reason",
    "created_at",
)
COACHING_COLUMNS = (
    "organization",
    "manager_email",
    "rep_email",
    "area",
    "deal",
    "note",
    "rep_takeaway",
    "occurred_at",
)
QUIZ_COLUMNS = (
    "organization",
    "rep_email",
    "question_id",
    "topic",
    "question_version",
    "chosen",
    "correct",
    "response_seconds",
    "answered_at",
)


def deal_rows(db: Session, organization_id: int | None) -> Rows:
    query = (
        select(Deal, Person.email, Person.name, Organization.name)
        .join(Person, Person.id == Deal.owner_id)
        .join(Organization, Organization.id == Deal.organization_id)
        .order_by(Deal.organization_id, Deal.name, Deal.id)
        .execution_options(yield_per=1000)
    )
    if organization_id is not None:
        query = query.where(Deal.organization_id == organization_id)
    for deal, email, owner, organization in db.execute(query):
        yield (
            organization,
            deal.name,
            deal.crm_id or "",
            email,
            owner,
            deal.playbook_id,
            deal.stage_id,
            deal.status.value,
            deal.amount,
            deal.close_date,
            deal.stage_entered_at,
            deal.closed_at,
            deal.closed_reason or "",
            deal.created_at,
        )


def coaching_rows(db: Session, organization_id: int | None) -> Rows:
    manager, rep = aliased(Person), aliased(Person)
    query = (
        select(CoachingSession, manager.email, rep.email, Deal.name, Organization.name)
        .join(manager, manager.id == CoachingSession.manager_id)
        .join(rep, rep.id == CoachingSession.rep_id)
        .outerjoin(Deal, Deal.id == CoachingSession.deal_id)
        .join(Organization, Organization.id == CoachingSession.organization_id)
        .order_by(CoachingSession.occurred_at, CoachingSession.id)
        .execution_options(yield_per=1000)
    )
    if organization_id is not None:
        query = query.where(CoachingSession.organization_id == organization_id)
    for session, manager_email, rep_email, deal, organization in db.execute(query):
        yield (
            organization,
            manager_email,
            rep_email,
            session.area,
            deal or "",
            session.note or "",
            session.rep_takeaway or "",
            session.occurred_at,
        )


def quiz_rows(db: Session, organization_id: int | None) -> Rows:
    query = (
        select(ReviewLog, Person.email, QuizQuestion.external_id, QuizQuestion.topic, Organization.name)
        .join(ReviewCard, ReviewCard.id == ReviewLog.card_id)
        .join(Person, Person.id == ReviewCard.person_id)
        .join(QuizQuestion, QuizQuestion.id == ReviewCard.question_id)
        .join(Organization, Organization.id == ReviewLog.organization_id)
        .order_by(ReviewLog.reviewed_at, ReviewLog.id)
        .execution_options(yield_per=1000)
    )
    if organization_id is not None:
        query = query.where(ReviewLog.organization_id == organization_id)
    for log, email, question_id, topic, organization in db.execute(query):
        yield (
            organization,
            email,
            question_id,
            topic,
            log.question_version,
            "not sure" if log.chosen is None else log.chosen + 1,  # counted from 1, as reps see them
            log.correct,
            round(log.response_ms / 1000, 1) if log.response_ms is not None else None,
            log.reviewed_at,
        )


TABLES: dict[str, tuple[tuple[str, ...], Callable[[Session, int | None], Iterable[tuple[Cell, ...]]]]] = {
    "deals": (DEAL_COLUMNS, deal_rows),
    "confirmations": (CONFIRMATION_COLUMNS, confirmation_rows),
    "coaching": (COACHING_COLUMNS, coaching_rows),
    "quiz-results": (QUIZ_COLUMNS, quiz_rows),
}
NOUNS = {"deals": "deals", "confirmations": "confirmation events", "coaching": "coaching sessions",
         "quiz-results": "quiz answers"}


def _text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, str):
        return safe_cell(value)
    return str(value)


def write_csv(out: TextIO, columns: tuple[str, ...], rows: Iterable[tuple[Cell, ...]]) -> int:
    writer = csv.writer(out)
    writer.writerow(columns)
    count = 0
    for row in rows:
        writer.writerow(_text(cell) for cell in row)
        count += 1
    return count


def write_xlsx(out: IO[bytes], title: str, columns: tuple[str, ...], rows: Iterable[tuple[Cell, ...]]) -> int:
    """One sheet, header bold and frozen; text cells neutralized like the CSV, numbers and dates typed
    (times in UTC, without the offset, which xlsx cannot hold)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for name in columns:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    count = 0
    for row in rows:
        sheet.append([_xlsx_cell(sheet, cell) for cell in row])
        count += 1
    workbook.save(out)
    return count


def _xlsx_cell(sheet: Any, value: Cell) -> Any:
    """A typed cell. Text is always a text cell, shown exactly as stored ("-Dana", "+1 on the forecast"):
    in a workbook only a formula cell runs, and text starting with "=" is kept from becoming one."""
    if isinstance(value, datetime):
        return _naive_utc(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, str):
        from openpyxl.cell import WriteOnlyCell

        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"  # openpyxl reads a leading "=" as a formula; this is text
        return cell
    return value


def _naive_utc(value: datetime) -> datetime:
    from datetime import UTC

    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
