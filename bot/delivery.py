"""Draining the outbox: claim due rows, send each through its platform's sender, record the outcome.

Crash safety, step by step:
1. Claim: due `pending` rows become `sending` with our worker id and the claim time, committed before any
   send (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so several drainers never claim the same row; every
   database: the update only takes rows still `pending`).
2. Resolve the destination (e.g. the Slack DM channel) and commit it, then send; then mark `sent` with
   the platform's message id.
3. A row left `sending` longer than the claim lease (the drainer died) is reconciled: if the sender can
   look the message up on the platform (Slack: our key in the message metadata) it is marked sent,
   otherwise it is sent again. The same look-up runs before every retry, because a timeout can hide a
   message that did arrive. Where the platform offers no look-up (Teams), delivery is at-least-once
   inside that window; everywhere else it is exactly once.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.localtime import Availability
from bot.messages import Reply
from bot.models import OutboxMessage, OutboxStatus, Person, Platform
from bot.outbox import COMPOSE

log = logging.getLogger(__name__)


class RetryLater(Exception):
    """A transient failure (429, 5xx, timeout, connection refused); `retry_after` in seconds if the platform said."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


class Undeliverable(Exception):
    """A permanent failure (unknown user, bot removed, bad token): retrying will not help."""


class Sender(Protocol):
    """One platform's way of sending. Implementations live in bot/channels/."""

    def resolve_target(self, message: OutboxMessage, person: Person | None) -> dict[str, Any]:
        """Where to send (e.g. open the DM channel); returned dict replaces message.target."""
        ...

    def send(self, message: OutboxMessage, reply: Reply) -> str | None:
        """Send and return the platform message id; raise RetryLater or Undeliverable."""
        ...

    def find_sent(self, message: OutboxMessage) -> str | None:
        """The id of this message if the platform shows it was already delivered, else None."""
        ...

    def rate_key(self, message: OutboxMessage) -> tuple[str, float]:
        """(bucket, minimum seconds between sends in it), e.g. one message per second per Slack channel."""
        ...


# Writes a message queued as {"compose": kind, ...} from the data as it is at send time; None: nothing to say.
Composer = Callable[[Session, OutboxMessage, datetime], Reply | None]


@dataclass
class DrainPolicy:
    batch: int = 50
    max_attempts: int = 8
    lease: timedelta = timedelta(minutes=2)
    base_backoff: float = 5.0
    max_backoff: float = 3600.0
    max_wait: float = 2.0  # wait in-process for a rate-limit slot up to this long, else defer the row
    rate_margin: float = 0.05  # seconds added to each rate-limit interval: network jitter must not cause 429s


@dataclass
class DrainReport:
    sent: int = 0
    retried: int = 0
    deferred: int = 0
    dead: int = 0
    reconciled: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"outbox: {self.sent} sent, {self.retried} to retry, {self.deferred} deferred (quiet hours or rate limit), "
            f"{self.dead} dead, {self.reconciled} reconciled, {self.skipped} with nothing to say"
        )


@dataclass
class Drainer:
    """One drainer process's state: its senders, its rate-limit memory, its worker id."""

    sessions: sessionmaker[Session]
    senders: dict[Platform, Sender]
    worker: str
    clock: Callable[[], datetime]
    policy: DrainPolicy = field(default_factory=DrainPolicy)
    compose: Composer | None = None
    sleep: Callable[[float], None] = time.sleep
    _next_free: dict[str, datetime] = field(default_factory=dict)
    _paused_until: dict[tuple[Platform, int], datetime] = field(default_factory=dict)

    def drain(self, max_rounds: int = 100) -> DrainReport:
        """Send everything due now (several batches), then return what happened."""
        report = DrainReport()
        self._reconcile(report)
        for _ in range(max_rounds):
            claimed = self._claim()
            if not claimed:
                break
            for message_id in claimed:
                self._deliver(message_id, report)
        return report

    def _claim(self) -> list[int]:
        now = self.clock()
        with self.sessions.begin() as db:
            query = (
                select(OutboxMessage.id)
                .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_at <= now)
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(self.policy.batch)
            )
            if db.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            ids = list(db.scalars(query))
            if not ids:
                return []
            claimed = db.scalars(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids), OutboxMessage.status == OutboxStatus.PENDING)
                .values(status=OutboxStatus.SENDING, claimed_by=self.worker, claimed_at=now)
                .returning(OutboxMessage.id)
            ).all()
        return sorted(claimed)

    def _reconcile(self, report: DrainReport) -> None:
        """Rows stuck in `sending` past the lease: their drainer died. Mark sent if delivered, else requeue."""
        now = self.clock()
        with self.sessions() as db:
            stale = db.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.status == OutboxStatus.SENDING,
                    OutboxMessage.claimed_at < now - self.policy.lease,
                )
            ).all()
            for message in stale:
                sender = self.senders.get(message.platform)
                try:
                    found = _find(sender, message)
                except RetryLater as exc:
                    # Unknown whether it arrived: ask again later (never send on a failed check).
                    self._pause(message, exc.retry_after)
                    self._fail(db, message, now, report, f"delivery check: {exc}", exc.retry_after)
                    report.reconciled += 1
                    continue
                except Exception as exc:  # noqa: BLE001 - unknown is not "not delivered"
                    self._fail(db, message, now, report, f"delivery check: {type(exc).__name__}: {exc}", None)
                    report.reconciled += 1
                    continue
                if found is not None:
                    self._mark_sent(db, message, found, now)
                else:
                    message.status = OutboxStatus.PENDING
                    message.claimed_by = None
                    message.next_attempt_at = now
                report.reconciled += 1
                db.commit()

    def _deliver(self, message_id: int, report: DrainReport) -> None:
        with self.sessions() as db:
            message = db.get(OutboxMessage, message_id)
            if message is None or message.status != OutboxStatus.SENDING or message.claimed_by != self.worker:
                return
            now = self.clock()
            if now - (message.claimed_at or now) > self.policy.lease / 2:
                self._release(db, message, now, report)  # let the lease not run out mid-send
                return
            person = db.get(Person, message.person_id) if message.person_id else None
            sender = self.senders.get(message.platform)
            if sender is None:
                self._fail(
                    db,
                    message,
                    now,
                    report,
                    f"no sender configured for {message.platform.value}",
                    retry_after=None,
                )
                return
            if message.person_id is not None and person is None:
                self._dead(db, message, report, f"person {message.person_id} no longer exists")
                return
            if person is not None and not person.active:
                self._dead(db, message, report, f"{person.email} is no longer active")
                return
            if person is not None:
                allowed = Availability.of(person).next_allowed(now)
                if allowed > now:
                    self._release(db, message, allowed, report)
                    return
            paused = self._paused_until.get((message.platform, message.workspace_id))
            if paused and paused > now:
                self._release(db, message, paused, report)
                return
            try:
                if message.attempts > 0:
                    # A failed check raises (RetryLater or other): the row is deferred below, never sent blind.
                    delivered = _find(sender, message)
                    if delivered is not None:
                        self._mark_sent(db, message, delivered, now)
                        db.commit()
                        report.sent += 1
                        return
                if COMPOSE in message.payload and not self._compose(db, message, now, report):
                    return
                target = sender.resolve_target(message, person)
                if target != message.target:
                    message.target = target
                    db.commit()
                if not self._wait_for_slot(sender, message, db, report):
                    return
                platform_id = sender.send(message, Reply.from_dict(message.payload))
            except RetryLater as exc:
                self._pause(message, exc.retry_after)
                self._fail(db, message, self.clock(), report, str(exc), exc.retry_after)
                return
            except Undeliverable as exc:
                self._dead(db, message, report, str(exc))
                return
            except Exception as exc:  # noqa: BLE001 - an unexpected error is retried, never lost
                log.exception("unexpected error sending outbox message %s", message.id)
                db.rollback()  # nothing half-composed is kept
                self._fail(db, message, self.clock(), report, f"{type(exc).__name__}: {exc}", None)
                return
            self._mark_sent(db, message, platform_id, self.clock())
            db.commit()
            report.sent += 1

    def _pause(self, message: OutboxMessage, retry_after: float | None) -> None:
        """The platform said Retry-After: hold the whole workspace until then."""
        if retry_after is not None:
            self._paused_until[(message.platform, message.workspace_id)] = self.clock() + timedelta(
                seconds=retry_after
            )

    def _compose(self, db: Session, message: OutboxMessage, now: datetime, report: DrainReport) -> bool:
        """Write a message queued by a scheduler tick, once: the words are stored before the send, so a
        retry or a resend after a crash repeats them exactly. False when there is nothing to say any more."""
        if self.compose is None:
            raise RuntimeError(f"no composer configured for {message.payload[COMPOSE]!r} messages")
        reply = self.compose(db, message, now)
        if reply is None:
            message.status = OutboxStatus.SKIPPED
            message.claimed_by = None
            db.commit()
            report.skipped += 1
            return False
        message.payload = reply.to_dict()
        db.commit()
        return True

    def _wait_for_slot(
        self, sender: Sender, message: OutboxMessage, db: Session, report: DrainReport
    ) -> bool:
        bucket, interval = sender.rate_key(message)
        now = self.clock()
        if len(self._next_free) > 10_000:  # a long-lived drainer forgets the channels that are free again
            self._next_free = {k: t for k, t in self._next_free.items() if t > now}
        free_at = self._next_free.get(bucket, now)
        wait = (free_at - now).total_seconds()
        if wait > self.policy.max_wait:
            self._release(db, message, free_at, report)
            return False
        if wait > 0:
            self.sleep(wait)
        self._next_free[bucket] = max(free_at, now) + timedelta(seconds=interval + self.policy.rate_margin)
        return True

    def _release(self, db: Session, message: OutboxMessage, when: datetime, report: DrainReport) -> None:
        message.status = OutboxStatus.PENDING
        message.claimed_by = None
        message.next_attempt_at = when
        db.commit()
        report.deferred += 1

    def _fail(
        self,
        db: Session,
        message: OutboxMessage,
        now: datetime,
        report: DrainReport,
        error: str,
        retry_after: float | None,
    ) -> None:
        message.attempts += 1
        message.last_error = error[:2000]
        if message.attempts >= self.policy.max_attempts:
            self._dead(db, message, report, error)
            return
        if retry_after is None:
            backoff = min(self.policy.base_backoff * 2 ** (message.attempts - 1), self.policy.max_backoff)
            retry_after = backoff * random.uniform(0.5, 1.5)
        message.status = OutboxStatus.PENDING
        message.claimed_by = None
        message.next_attempt_at = now + timedelta(seconds=retry_after)
        db.commit()
        report.retried += 1
        log.warning(
            "outbox message %s (%s) failed, attempt %s: %s",
            message.id,
            message.idempotency_key,
            message.attempts,
            error,
        )

    def _dead(self, db: Session, message: OutboxMessage, report: DrainReport, error: str) -> None:
        message.status = OutboxStatus.DEAD
        message.last_error = error[:2000]
        message.claimed_by = None
        db.commit()
        report.dead += 1
        log.error("outbox message %s (%s) is dead: %s", message.id, message.idempotency_key, error)

    @staticmethod
    def _mark_sent(db: Session, message: OutboxMessage, platform_id: str | None, now: datetime) -> None:
        message.status = OutboxStatus.SENT
        message.platform_message_id = platform_id
        message.sent_at = now
        message.claimed_by = None


def _find(sender: Sender | None, message: OutboxMessage) -> str | None:
    """The platform's id of the message if it already arrived, None if it did not. A failed look-up raises
    (RetryLater for 429/5xx/timeouts): "could not tell" must never be read as "not delivered"."""
    if sender is None:
        return None
    return sender.find_sent(message)
