"""The durable outbox: every proactive message is a row before it is a send.

`enqueue` runs inside the caller's transaction, so the decision to send and the message commit together;
its idempotency key (e.g. "nudge:42:2026-W48") makes a second enqueue of the same message a no-op, which
is what keeps restarts, retries and overlapping clocks from sending anything twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import JSON, ColumnElement, Select, String, and_, case, cast, func, literal, select, update
from sqlalchemy.orm import Session

from storage.db import insert_or_ignore, rows_changed, upsertable_insert
from storage.models import OutboxMessage, OutboxStatus, Person, Platform, UTCDateTime, Workspace


class Payload(Protocol):
    """What a message to send is stored as (a neutral reply: `bot.messages.Reply`)."""

    def to_dict(self) -> dict[str, Any]: ...


COMPOSE = "compose"  # a payload {"compose": kind, ...} is written by a composer just before sending


def enqueue(
    db: Session,
    *,
    key: str,
    kind: str,
    workspace_id: int,
    platform: Platform,
    reply: Payload,
    now: datetime,
    person_id: int | None = None,
    target: dict[str, Any] | None = None,
    not_before: datetime | None = None,
) -> bool:
    """Add a message unless one with the same key exists; returns whether it was added."""
    values = {
        "idempotency_key": key,
        "kind": kind,
        "workspace_id": workspace_id,
        "platform": platform,
        "person_id": person_id,
        "target": target or {},
        "payload": reply.to_dict(),
        "status": OutboxStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": max(now, not_before or now),
        "created_at": now,
    }
    return insert_or_ignore(db, OutboxMessage, values, ["idempotency_key"])


@dataclass(frozen=True)
class OutboxStatusReport:
    counts: dict[str, int]
    oldest_pending: datetime | None
    dead: list[tuple[int, str, str, str, int, str]]  # id, key, kind, who, attempts, last error

    def render(self, now: datetime) -> str:
        lines = ["outbox: " + ", ".join(f"{s.value} {self.counts.get(s.value, 0)}" for s in OutboxStatus)]
        if self.oldest_pending:
            minutes = int((now - self.oldest_pending).total_seconds() // 60)
            lines.append(f"oldest pending message is {max(minutes, 0)} minutes old")
        if self.dead:
            lines.append("dead letters (retry with `python -m bot outbox retry ID` or `--all-dead`):")
            lines += [
                f"  #{i} {kind} to {who} ({key}): {attempts} attempts, last error: {error}"
                for i, key, kind, who, attempts, error in self.dead
            ]
        return "\n".join(lines)


def status(db: Session, limit: int = 50) -> OutboxStatusReport:
    counts = dict(db.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())
    oldest = db.scalar(
        select(func.min(OutboxMessage.created_at)).where(OutboxMessage.status == OutboxStatus.PENDING)
    )
    dead_rows = db.execute(
        select(
            OutboxMessage.id,
            OutboxMessage.idempotency_key,
            OutboxMessage.kind,
            Person.email,
            OutboxMessage.attempts,
            OutboxMessage.last_error,
        )
        .outerjoin(Person, Person.id == OutboxMessage.person_id)
        .where(OutboxMessage.status == OutboxStatus.DEAD)
        .order_by(OutboxMessage.id.desc())
        .limit(limit)
    ).all()
    dead = [
        (i, key, kind, email or "-", attempts, error or "")
        for i, key, kind, email, attempts, error in dead_rows
    ]
    return OutboxStatusReport({getattr(k, "value", k): v for k, v in counts.items()}, oldest, dead)


def retry_dead(db: Session, now: datetime, ids: list[int] | None = None) -> int:
    """Put dead letters back in the queue (after the cause is fixed); returns how many."""
    statement = update(OutboxMessage).where(OutboxMessage.status == OutboxStatus.DEAD)
    if ids is not None:
        statement = statement.where(OutboxMessage.id.in_(ids))
    result = db.execute(
        statement.values(
            status=OutboxStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            claimed_by=None,
            claimed_at=None,
            claim_token=None,
        )
    )
    return rows_changed(result)


def compose_later(kind: str, **args: Any) -> dict[str, Any]:
    """A payload that says which composer writes the message at send time, and with what arguments."""
    return {COMPOSE: kind, **args}


def person_key(prefix: str, suffix: str) -> ColumnElement[str]:
    """The idempotency key "<prefix>:<person id>:<suffix>" of a person's message, as SQL over `Person.id`:
    what `enqueue_to_people` writes, and what a query looks a person's message up by."""
    return literal(f"{prefix}:") + cast(Person.id, String) + literal(f":{suffix}")


def _way_in(platform: Platform) -> ColumnElement[int]:
    """SQL: the person's organization's first way in on `platform` (NULL when it has none)."""
    return (
        select(func.min(Workspace.id))
        .where(Workspace.organization_id == Person.organization_id, Workspace.platform == platform)
        .correlate(Person)
        .scalar_subquery()
    )


def reach_columns() -> tuple[ColumnElement[str], ColumnElement[int]]:
    """SQL over `Person`: the platform a proactive message reaches them on, and the way in it leaves by.

    Slack when they have a Slack id and their organization a Slack workspace; else Teams likewise; else the
    terminal. A person known on both platforms is messaged in Slack (one place, never both). The way in is
    NULL when the organization has none for the chosen platform: nobody to send through.
    """
    slack, teams, local = _way_in(Platform.SLACK), _way_in(Platform.TEAMS), _way_in(Platform.LOCAL)
    on_slack = and_(Person.slack_user_id.is_not(None), slack.is_not(None))
    on_teams = and_(Person.teams_user_id.is_not(None), teams.is_not(None))
    platform = case(
        (on_slack, literal(Platform.SLACK.value)),
        (on_teams, literal(Platform.TEAMS.value)),
        else_=literal(Platform.LOCAL.value),
    )
    way_in = case((on_slack, slack), (on_teams, teams), else_=local)
    return platform, way_in


def reach(db: Session, person_id: int) -> tuple[Platform, int] | None:
    """(platform, way in id) a proactive message to this person goes by; None if there is no way."""
    platform, way_in = reach_columns()
    row = db.execute(select(platform, way_in).where(Person.id == person_id)).first()
    if row is None or row[1] is None:
        return None
    return Platform(row[0]), int(row[1])


def enqueue_to_people(
    db: Session,
    people: Select[int],
    *,
    kind: str,
    key: tuple[str, str],
    payload: dict[str, Any],
    now: datetime,
) -> int:
    """One direct message per person id that `people` selects, keyed "<prefix>:<person id>:<suffix>".

    A single INSERT ... SELECT, so the scheduler's tick costs one statement whatever the head count; the
    unique key makes the database skip people who already have theirs (ticks repeat every few minutes).
    Returns how many were added.
    """
    pg = db.get_bind().dialect.name == "postgresql"

    def value(v: Any, type_: Any) -> ColumnElement[Any]:
        # PostgreSQL will not assign an untyped parameter to a json column; SQLite has no such type to cast to.
        return cast(literal(v, type_), type_) if pg else literal(v, type_)

    platform, way_in = reach_columns()
    source = (
        select(
            person_key(*key),
            literal(kind),
            way_in,
            platform,
            Person.id,
            value({}, JSON),
            value(payload, JSON),
            literal(OutboxStatus.PENDING.value),
            literal(0),
            value(now, UTCDateTime()),
            value(now, UTCDateTime()),
        )
        .where(Person.id.in_(people.correlate(None)))
        .where(way_in.is_not(None))
    )
    columns = [
        "idempotency_key",
        "kind",
        "workspace_id",
        "platform",
        "person_id",
        "target",
        "payload",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
    ]
    insert = upsertable_insert(db, OutboxMessage)
    statement = insert.from_select(columns, source).on_conflict_do_nothing(index_elements=["idempotency_key"])
    result = db.execute(statement, execution_options={"preserve_rowcount": True})
    return rows_changed(result)
