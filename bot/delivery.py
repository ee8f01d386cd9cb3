"""Draining the outbox: claim due rows, send each through its platform's sender, record the outcome.

Crash safety, step by step:
1. Claim: due `pending` rows become `sending` with our worker id, the claim time and a fresh claim token,
   committed before any send (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so several drainers never claim the
   same row; every database: the update only takes rows still `pending`).
2. Fencing: every later change to the row is one UPDATE ... WHERE id = ? AND claim_token = ?. If it
   touches no row, another drainer has taken the row over (we were paused past the lease) and we stop
   at once: before each send we renew the claim that way, so a drainer that lost its claim never posts.
3. Resolve the destination (e.g. the Slack DM channel) and commit it. Before the first post the row's
   `sent_parts` becomes {} ("a send has begun"); each part the platform accepts is recorded there
   ({"0": ts, "1": ts}) as soon as it is accepted; when every part is in, the row is `sent`.
4. A row whose send has begun (or was retried) is checked on the platform before anything is posted
   (Slack: our key and part number in the message metadata), and only the missing parts are sent. A
   check that fails (429, 5xx, timeout) defers the row: "could not tell" is never "not delivered".
5. A row left `sending` longer than the claim lease (its drainer died or froze) is reconciled: we take
   the claim over (a new token), check, and mark it sent or queue the missing parts.
Where the platform offers no look-up (Teams), delivery is at-least-once inside the crash window;
everywhere else it is exactly once, except for a drainer frozen between renewing its claim and the
HTTP request itself (milliseconds) for longer than the lease (two minutes).
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeGuard

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.localtime import Availability
from bot.messages import Image, Reply
from storage.db import rows_changed
from storage.models import OutboxMessage, OutboxStatus, Person, Platform
from storage.outbox import COMPOSE

log = logging.getLogger(__name__)


class RetryLater(Exception):
    """A transient failure (429, 5xx, timeout, connection refused); `retry_after` in seconds if the platform said."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


class Undeliverable(Exception):
    """A permanent failure (unknown user, bot removed, bad token): retrying will not help."""


class LostClaim(Exception):
    """Another drainer took this row over (ours was paused past the claim lease): stop, touch nothing."""


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


class PartSender(Sender, Protocol):
    """A sender whose message may be several platform messages (Slack: over 50 blocks), each one sent and
    found again on its own, so that a retry sends exactly the parts that are missing."""

    def parts(self, reply: Reply) -> list[Any]:
        """The platform messages that make up this reply, in order."""
        ...

    def send_part(self, message: OutboxMessage, index: int, part: Any) -> str | None:
        """Send one part; return its platform id; raise RetryLater or Undeliverable."""
        ...

    def find_parts(self, message: OutboxMessage) -> dict[int, str]:
        """Part index -> platform id of the parts already delivered; raise when the platform cannot tell."""
        ...


# Writes a message queued as {"compose": kind, ...} from the data as it is at send time; None: nothing to say.
Composer = Callable[[Session, OutboxMessage, datetime], Reply | None]
# Draws a message's picture again from the recipe its payload keeps under "chart" (the PNG is never stored).
Draw = Callable[[dict[str, Any]], Image | None]


def draw_chart(recipe: dict[str, Any]) -> Image | None:
    from handlers.charts import draw

    return draw(recipe)


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
    lost_claims: int = 0  # rows another drainer took over while we held them: left alone
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"outbox: {self.sent} sent, {self.retried} to retry, {self.deferred} deferred (quiet hours or rate limit), "
            f"{self.dead} dead, {self.reconciled} reconciled, {self.skipped} with nothing to say"
            + (f", {self.lost_claims} taken over by another drainer" if self.lost_claims else "")
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
    draw: Draw = draw_chart
    _next_free: dict[str, datetime] = field(default_factory=dict)
    _paused_until: dict[tuple[Platform, int], datetime] = field(default_factory=dict)

    def drain(self, max_rounds: int = 100) -> DrainReport:
        """Send everything due now (several batches), then return what happened."""
        report = DrainReport()
        self._reconcile(report)
        for _ in range(max_rounds):
            token, claimed = self._claim()
            if not claimed:
                break
            for message_id in claimed:
                self._deliver(message_id, token, report)
        return report

    def _claim(self) -> tuple[str, list[int]]:
        now = self.clock()
        token = uuid.uuid4().hex
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
                return token, []
            claimed = db.scalars(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids), OutboxMessage.status == OutboxStatus.PENDING)
                .values(
                    status=OutboxStatus.SENDING, claimed_by=self.worker, claimed_at=now, claim_token=token
                )
                .returning(OutboxMessage.id)
            ).all()
        return token, sorted(claimed)

    def _reconcile(self, report: DrainReport) -> None:
        """Rows stuck in `sending` past the lease: their drainer died or froze. Take the claim over, then
        mark sent if every part arrived, else queue the missing parts; a failed check defers the row."""
        now = self.clock()
        with self.sessions() as db:
            stale = db.execute(
                select(OutboxMessage.id, OutboxMessage.claim_token).where(
                    OutboxMessage.status == OutboxStatus.SENDING,
                    OutboxMessage.claimed_at < now - self.policy.lease,
                )
            ).all()
        for message_id, old_token in stale:
            token = uuid.uuid4().hex
            with self.sessions() as db:
                taken = rows_changed(
                    db.execute(
                        update(OutboxMessage)
                        .where(
                            OutboxMessage.id == message_id,
                            OutboxMessage.status == OutboxStatus.SENDING,
                            OutboxMessage.claimed_at < now - self.policy.lease,
                            OutboxMessage.claim_token.is_not_distinct_from(old_token),
                        )
                        .values(claim_token=token, claimed_by=self.worker, claimed_at=now),
                        execution_options={"synchronize_session": False},
                    )
                )
                db.commit()
                if taken != 1:
                    continue  # another drainer reconciled it first
                message = db.get(OutboxMessage, message_id)
                if message is None:
                    continue
                db.expunge(message)
                report.reconciled += 1
                try:
                    self._settle_stale(db, message, now, report)
                except LostClaim:
                    db.rollback()
                    report.lost_claims += 1

    def _requeue(self, db: Session, message: OutboxMessage, now: datetime, **values: Any) -> None:
        """A claimed row back in the queue, due now and claimed by no one (`values`: what else to record)."""
        self._fenced(
            db,
            message,
            status=OutboxStatus.PENDING,
            claimed_by=None,
            claim_token=None,
            next_attempt_at=now,
            **values,
        )

    def _settle_stale(self, db: Session, message: OutboxMessage, now: datetime, report: DrainReport) -> None:
        sender = self.senders.get(message.platform)
        if COMPOSE in message.payload:  # it died before composing, so before sending
            self._requeue(db, message, now)
            return
        try:
            if sender is None:
                raise RetryLater(f"no sender configured for {message.platform.value}")
            if _is_part_sender(sender):
                total = len(sender.parts(self._reply(message)))
                done = {**(message.sent_parts or {}), **_found_parts(sender, message)}
                if all(str(i) in done for i in range(total)):
                    self._mark_sent(db, message, done.get("0"), now)
                    return
                self._requeue(db, message, now, sent_parts=done)
                return
            found = sender.find_sent(message)
        except RetryLater as exc:
            self._pause(message, exc.retry_after)
            self._fail(db, message, now, report, f"delivery check: {exc}", exc.retry_after, begun=True)
            return
        except Undeliverable as exc:
            self._dead(db, message, report, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - unknown is not "not delivered"
            db.rollback()
            self._fail(
                db, message, now, report, f"delivery check: {type(exc).__name__}: {exc}", None, begun=True
            )
            return
        if found is not None:
            self._mark_sent(db, message, found, now)
        else:
            self._requeue(db, message, now, sent_parts=message.sent_parts or {})

    def _deliver(self, message_id: int, token: str, report: DrainReport) -> None:
        with self.sessions() as db:
            message = db.get(OutboxMessage, message_id)
            if message is None or message.status != OutboxStatus.SENDING or message.claim_token != token:
                return
            db.expunge(message)  # a snapshot: the row changes only through fenced UPDATEs
            try:
                self._deliver_claimed(db, message, report)
            except LostClaim:
                db.rollback()
                report.lost_claims += 1
                log.warning(
                    "outbox message %s (%s): another drainer took it over; left alone",
                    message.id,
                    message.idempotency_key,
                )

    def _deliver_claimed(self, db: Session, message: OutboxMessage, report: DrainReport) -> None:
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
            if COMPOSE in message.payload and not self._compose(db, message, now, report):
                return
            target = sender.resolve_target(message, person)
            if target != message.target:
                self._fenced(db, message, target=target)
            if _is_part_sender(sender):
                sent = self._send_parts(db, sender, message, report)
                if isinstance(sent, _Deferred):
                    return
                platform_id = sent
            else:
                checked = message.attempts > 0 or message.sent_parts is not None
                if checked:
                    # A failed check raises (RetryLater or other): the row is deferred below, never sent blind.
                    delivered = sender.find_sent(message)
                    if delivered is not None:
                        self._mark_sent(db, message, delivered, now)
                        report.sent += 1
                        return
                if not self._wait_for_slot(sender, message, db, report):
                    return
                self._fenced(db, message, claimed_at=self.clock(), sent_parts=message.sent_parts or {})
                platform_id = sender.send(message, self._reply(message))
        except RetryLater as exc:
            self._pause(message, exc.retry_after)
            self._fail(db, message, self.clock(), report, str(exc), exc.retry_after)
            return
        except Undeliverable as exc:
            self._dead(db, message, report, str(exc))
            return
        except LostClaim:
            raise
        except Exception as exc:  # noqa: BLE001 - an unexpected error is retried, never lost
            log.exception("unexpected error sending outbox message %s", message.id)
            db.rollback()  # nothing half-composed is kept
            self._fail(db, message, self.clock(), report, f"{type(exc).__name__}: {exc}", None)
            return
        self._mark_sent(db, message, platform_id, self.clock())
        report.sent += 1

    def _send_parts(
        self, db: Session, sender: PartSender, message: OutboxMessage, report: DrainReport
    ) -> str | None | _Deferred:
        """Send the parts not yet delivered, each once; the platform id of the first part, or _DEFERRED."""
        parts = sender.parts(self._reply(message))
        if message.sent_parts is None and message.attempts == 0:
            done: dict[str, Any] = {}
        else:  # a send may have begun: what arrived? (raises when the platform cannot tell)
            done = {**(message.sent_parts or {}), **_found_parts(sender, message)}
        if message.sent_parts != done:
            self._fenced(db, message, sent_parts=done)  # from now on any retry checks first
        for index, part in enumerate(parts):
            if str(index) in done:
                continue
            paced = getattr(sender, "paced", lambda part: True)(part)  # (file uploads have their own limits)
            if paced and not self._wait_for_slot(sender, message, db, report):
                return _DEFERRED
            self._fenced(db, message, claimed_at=self.clock())  # still ours (and renewed): only then post
            platform_id = sender.send_part(message, index, part)
            done = {**done, str(index): platform_id}
            self._fenced(db, message, sent_parts=done)
        return done.get("0")

    def _reply(self, message: OutboxMessage) -> Reply:
        """The stored message, with its chart drawn again from the stored recipe: the same numbers as the
        words, so a retry shows exactly what the first attempt did."""
        reply = Reply.from_dict(message.payload)
        recipe = message.payload.get("chart")
        return replace(reply, image=self.draw(recipe)) if recipe else reply

    def _fenced(self, db: Session, message: OutboxMessage, **values: Any) -> None:
        """Change the row only while our claim holds, and commit; raise LostClaim if it no longer does."""
        result = db.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message.id, OutboxMessage.claim_token == message.claim_token)
            .values(**values),
            execution_options={"synchronize_session": False},
        )
        db.commit()
        if rows_changed(result) != 1:
            raise LostClaim(message.id)
        for name, value in values.items():
            setattr(message, name, value)

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
            self._fenced(db, message, status=OutboxStatus.SKIPPED, claimed_by=None, claim_token=None)
            report.skipped += 1
            return False
        self._fenced(db, message, payload=reply.to_dict())
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
        self._fenced(
            db, message, status=OutboxStatus.PENDING, claimed_by=None, claim_token=None, next_attempt_at=when
        )
        report.deferred += 1

    def _fail(
        self,
        db: Session,
        message: OutboxMessage,
        now: datetime,
        report: DrainReport,
        error: str,
        retry_after: float | None,
        begun: bool = False,
    ) -> None:
        attempts = message.attempts + 1
        extra: dict[str, Any] = {"sent_parts": message.sent_parts or {}} if begun else {}
        if attempts >= self.policy.max_attempts:
            self._fenced(db, message, attempts=attempts, **extra)
            self._dead(db, message, report, error)
            return
        if retry_after is None:
            backoff = min(self.policy.base_backoff * 2 ** (attempts - 1), self.policy.max_backoff)
            retry_after = backoff * random.uniform(0.5, 1.5)
        self._fenced(
            db,
            message,
            attempts=attempts,
            last_error=error[:2000],
            status=OutboxStatus.PENDING,
            claimed_by=None,
            claim_token=None,
            next_attempt_at=now + timedelta(seconds=retry_after),
            **extra,
        )
        report.retried += 1
        log.warning(
            "outbox message %s (%s) failed, attempt %s: %s",
            message.id,
            message.idempotency_key,
            attempts,
            error,
        )

    def _dead(self, db: Session, message: OutboxMessage, report: DrainReport, error: str) -> None:
        self._fenced(
            db, message, status=OutboxStatus.DEAD, last_error=error[:2000], claimed_by=None, claim_token=None
        )
        report.dead += 1
        log.error("outbox message %s (%s) is dead: %s", message.id, message.idempotency_key, error)

    def _mark_sent(self, db: Session, message: OutboxMessage, platform_id: str | None, now: datetime) -> None:
        self._fenced(
            db,
            message,
            status=OutboxStatus.SENT,
            platform_message_id=platform_id,
            sent_at=now,
            claimed_by=None,
            claim_token=None,
        )


class _Deferred:
    """What _send_parts returns when the row was released to wait for a rate-limit slot."""


_DEFERRED = _Deferred()


def _is_part_sender(sender: Sender) -> TypeGuard[PartSender]:
    return all(hasattr(sender, name) for name in ("parts", "send_part", "find_parts"))


def _found_parts(sender: PartSender, message: OutboxMessage) -> dict[str, Any]:
    """The parts the platform shows as delivered, keyed like `sent_parts`; raises when it cannot tell."""
    return {str(i): platform_id for i, platform_id in sender.find_parts(message).items()}
