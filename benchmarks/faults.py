"""Fault campaign for the outbox: does every Slack message part arrive exactly once whatever goes wrong?

`python -m benchmarks.faults [--seeds 3] [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]`

Runs the real drainer and Slack sender against the local Slack Web API double (tests/doubles/slack_api.py)
on a fake clock, on SQLite and, when TEST_DATABASE_URL or --database-url names a PostgreSQL server, on a
fresh database there too. Scenarios, each once per seed:
* storm: short and long (multi-part) messages while chat.postMessage, conversations.open and
  conversations.history answer 429 (Retry-After) or 5xx at random, before or after doing the work;
* parts: a long message interrupted at every part: Slack refuses the part, or posts it and answers 500,
  or the drainer dies right after Slack accepted the part (before recording it); the next drain finishes;
* frozen: drainer A freezes past its claim lease at a random point (while waiting for a channel's
  rate-limit slot, also between the parts of a long message); drainer B reconciles and sends; A resumes.
Per scenario it prints the parts expected, delivered exactly once, lost (never posted) and duplicated.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, delete, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bot import db as botdb
from bot import outbox
from bot.channels.slack_blocks import to_messages
from bot.channels.slack_outbound import SlackSender
from bot.delivery import Drainer, DrainPolicy
from bot.messages import Button, Reply, Section
from bot.models import OutboxMessage, OutboxStatus, Person, Platform
from bot.people import get_or_create_workspace
from tests.doubles.slack_api import OK, Fault, SlackDouble, rate_limited, server_error

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday, 09:00 UTC: inside everyone's working hours
PEOPLE = 6
METHODS = ("chat.postMessage", "conversations.open", "conversations.history")


def reply(i: int, long: bool) -> Reply:
    sections = 120 if long else 2
    return Reply(
        text=f"Message {i}",
        header=f"Coaching nudge {i}",
        sections=tuple(Section(f"- Deal {j}: skipped the Discovery gate", "Due") for j in range(sections)),
        buttons=(Button("Log coaching", "coaching.log", str(i)),),
    )


class FakeClock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Crash(BaseException):
    """The drainer process dies here (nothing after this line of its code runs)."""


class CrashingSender(SlackSender):
    """A Slack sender whose process dies right after Slack accepts the `crash_after`-th post (0-based)."""

    crash_after: int | None = None
    posts = 0

    def _call(self, request: Callable[[], Any]) -> Any:  # type: ignore[override]
        response = SlackSender._call(request)
        if isinstance(response.data, dict) and "message" in response.data and "ts" in response.data:
            posted, self.posts = self.posts, self.posts + 1
            if posted == self.crash_after:
                raise Crash
        return response


@dataclass
class Result:
    database: str
    scenario: str
    expected: int
    once: int
    lost: int
    duplicated: int
    seconds: float


@dataclass
class Bench:
    sessions: sessionmaker[Session]
    slack: SlackDouble
    workspace_id: int
    people: list[int]

    def reset(self) -> None:
        with self.sessions.begin() as db:
            db.execute(delete(OutboxMessage))
        with self.slack._lock:
            self.slack.messages.clear()
            self.slack.calls.clear()
            self.slack.faults.clear()

    def enqueue(self, rng: random.Random, count: int, long_share: float, prefix: str) -> dict[str, int]:
        """Queue `count` messages to random people; returns key -> number of Slack messages (parts)."""
        expected: dict[str, int] = {}
        with self.sessions.begin() as db:
            for i in range(count):
                message = reply(i, rng.random() < long_share)
                key = f"{prefix}:{i}"
                outbox.enqueue(
                    db,
                    key=key,
                    kind="nudge",
                    workspace_id=self.workspace_id,
                    platform=Platform.SLACK,
                    reply=message,
                    now=START,
                    person_id=rng.choice(self.people),
                )
                expected[key] = len(to_messages(message))
        return expected

    def drainer(self, clock: FakeClock, worker: str, sender: SlackSender | None = None) -> Drainer:
        sender = sender or SlackSender(lambda _ws: "xoxb-faults", self.slack.url, timeout=5)
        return Drainer(
            self.sessions,
            {Platform.SLACK: sender},
            worker,
            clock,
            DrainPolicy(base_backoff=1.0, max_backoff=60.0, max_attempts=60),
            sleep=clock.sleep,
        )

    def unfinished(self) -> int:
        with self.sessions() as db:
            return len(
                db.scalars(
                    select(OutboxMessage.id).where(
                        OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING])
                    )
                ).all()
            )

    def finish(self, drainer: Drainer, clock: FakeClock, step: float = 30.0, rounds: int = 500) -> None:
        for _ in range(rounds):
            if not self.unfinished():
                return
            clock.advance(step)
            drainer.drain()

    def tally(self, expected: dict[str, int]) -> tuple[int, int, int, int]:
        posted = Counter(
            (m["metadata"]["event_payload"]["outbox_key"], m["metadata"]["event_payload"]["part"])
            for m in self.slack.posted()
            if m["method"] == "chat.postMessage" and m.get("metadata")
        )
        wanted = [(key, part) for key, parts in expected.items() for part in range(parts)]
        once = sum(1 for k in wanted if posted[k] == 1)
        lost = sum(1 for k in wanted if posted[k] == 0)
        duplicated = sum(1 for k in wanted if posted[k] > 1)
        return len(wanted), once, lost, duplicated


def random_faults(rng: random.Random, count: int, share: float) -> list[Fault]:
    faults = []
    for _ in range(count):
        if rng.random() >= share:
            faults.append(OK)
        elif rng.random() < 0.4:
            faults.append(rate_limited(rng.randint(1, 5), after_posting=rng.random() < 0.2))
        else:
            faults.append(server_error(rng.choice([500, 502, 503]), after_posting=rng.random() < 0.5))
    return faults


def storm(bench: Bench, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    expected = bench.enqueue(rng, 60, 0.3, f"storm{seed}")
    for method in METHODS:
        bench.slack.fail(method, *random_faults(rng, 3000, 0.35))
    clock = FakeClock(START)
    bench.finish(bench.drainer(clock, "storm"), clock)
    return expected


def parts(bench: Bench, seed: int) -> dict[str, int]:
    """One long message per (part, way of failing); each interrupted at that part, then finished."""
    rng = random.Random(seed)
    total = len(to_messages(reply(0, True)))
    expected: dict[str, int] = {}
    for part in range(total):
        for mode in ("refused", "posted-then-500", "crash-after-post"):
            key = f"parts{seed}:{mode}:{part}"
            with bench.sessions.begin() as db:
                outbox.enqueue(
                    db,
                    key=key,
                    kind="digest",
                    workspace_id=bench.workspace_id,
                    platform=Platform.SLACK,
                    reply=reply(part, True),
                    now=START,
                    person_id=rng.choice(bench.people),
                )
            expected[key] = total
            clock = FakeClock(START)
            with bench.slack._lock:
                bench.slack.faults.clear()
            sender = CrashingSender(lambda _ws: "xoxb-faults", bench.slack.url, timeout=5)
            if mode == "crash-after-post":
                sender.crash_after = part
            else:
                bench.slack.fail_call(
                    "chat.postMessage", part, server_error(500, after_posting=mode == "posted-then-500")
                )
            with suppress(Crash):
                bench.drainer(clock, f"first-{key}", sender).drain()
            # The next drainer (after the lease) meets a flaky delivery check as well.
            bench.slack.fail("conversations.history", *random_faults(rng, 4, 0.5))
            clock.advance(600)
            bench.finish(bench.drainer(clock, f"next-{key}"), clock)
    return expected


def frozen(bench: Bench, seed: int) -> dict[str, int]:
    """Drainer A freezes past its lease at a random rate-limit wait; B takes over; A wakes up."""
    rng = random.Random(seed)
    expected = bench.enqueue(rng, 30, 0.3, f"frozen{seed}")
    clock = FakeClock(START)
    a = bench.drainer(clock, "drainer-a")
    b = bench.drainer(clock, "drainer-b")
    freeze_at = rng.randint(0, 8)
    waits = 0

    def sleep(seconds: float) -> None:
        nonlocal waits
        clock.sleep(seconds)
        if waits == freeze_at:
            clock.advance(a.policy.lease.total_seconds() + rng.uniform(1, 300))
            b.drain()
        waits += 1

    a.sleep = sleep
    a.drain()
    bench.finish(b, clock)
    return expected


SCENARIOS: dict[str, Callable[[Bench, int], dict[str, int]]] = {
    "storm: 429/5xx incl. failing checks": storm,
    "parts: interrupted at every part": parts,
    "frozen: drainer paused past lease": frozen,
}


@contextmanager
def database(url: str | None) -> Iterator[tuple[str, str]]:
    """(label, url) of a fresh, migrated database: a SQLite file, or a new database on the given server."""
    if url is None:
        with tempfile.TemporaryDirectory() as tmp:
            sqlite_url = f"sqlite:///{tmp}/faults.db"
            engine = botdb.make_engine(sqlite_url)
            botdb.upgrade(engine)
            engine.dispose()
            yield "sqlite", sqlite_url
        return
    name = f"faults_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    fresh = make_url(url).set(database=name).render_as_string(hide_password=False)
    try:
        engine = botdb.make_engine(fresh)
        botdb.upgrade(engine)
        engine.dispose()
        yield "postgresql", fresh
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run_on(url: str | None, seeds: list[int]) -> list[Result]:
    results: list[Result] = []
    with database(url) as (label, db_url):
        engine = botdb.make_engine(db_url)
        sessions = botdb.make_sessionmaker(engine)
        slack = SlackDouble().start()
        try:
            with sessions.begin() as db:
                workspace = get_or_create_workspace(db, Platform.SLACK, "T0FAULTS", "Faults")
                people = [
                    Person(
                        workspace_id=workspace.id,
                        email=f"p{i}@example.com",
                        name=f"Person {i}",
                        role="manager",
                        slack_user_id=f"U{i:03d}",
                        timezone="UTC",
                        preferences={},
                    )
                    for i in range(PEOPLE)
                ]
                db.add_all(people)
                db.flush()
                bench = Bench(sessions, slack, workspace.id, [p.id for p in people])
            for name, scenario in SCENARIOS.items():
                totals = [0, 0, 0, 0]
                started = time.perf_counter()
                for seed in seeds:
                    bench.reset()
                    expected = scenario(bench, seed)
                    totals = [t + v for t, v in zip(totals, bench.tally(expected), strict=True)]
                results.append(Result(label, name, *totals, time.perf_counter() - started))
        finally:
            slack.stop()
            engine.dispose()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds per scenario (default 5)")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TEST_DATABASE_URL") or None,
        help="a PostgreSQL server URL (a fresh database is created there); default TEST_DATABASE_URL",
    )
    parser.add_argument("--verbose", action="store_true", help="show the drainer's warnings")
    args = parser.parse_args(argv)
    if not args.verbose:
        logging.getLogger("bot").setLevel(logging.CRITICAL)  # thousands of expected retry warnings
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    urls: list[str | None] = [None]
    if args.database_url and args.database_url.startswith("postgresql"):
        urls.append(args.database_url)
    results = [r for url in urls for r in run_on(url, seeds)]
    header = (
        f"{'database':<11} {'scenario':<38} {'expected':>8} {'once':>6} {'lost':>5} {'dup':>5} {'time':>7}"
    )
    print(f"outbox fault campaign, seeds {seeds[0]}..{seeds[-1]} (counts are Slack messages, i.e. parts)")
    print(header)
    for r in results:
        print(
            f"{r.database:<11} {r.scenario:<38} {r.expected:>8} {r.once:>6} {r.lost:>5} "
            f"{r.duplicated:>5} {r.seconds:>6.1f}s"
        )
    bad = sum(r.lost + r.duplicated for r in results)
    print("all delivered exactly once" if not bad else f"{bad} parts lost or duplicated")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
