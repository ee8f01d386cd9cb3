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
* hostile: the real web app (Slack signed with a secret, Teams without an app id) on 127.0.0.1 with the
  Slack and Bot Connector doubles, sent unsigned / badly timestamped Slack events and signed or Teams bodies
  that are malformed, deeply nested or missing fields; counts requests, 4xx, 5xx, logged tracebacks and
  posts made in answer to requests that were not validly signed (all but the 4xx should be 0).
Then the real-process scenarios of benchmarks.crash (drainer processes SIGKILLed and SIGSTOPped on the
real clock; `--process-seeds`, default 2, 0 skips them).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import hmac
import json
import logging
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from benchmarks.data import fresh_database as database
from bot.channels.slack_blocks import to_messages
from bot.channels.slack_outbound import SlackSender
from bot.context import AppContext
from bot.delivery import Drainer, DrainPolicy
from bot.demo import load_if_empty
from bot.messages import Button, Reply, Section
from bot.rendering import Renderer
from bot.settings import BUNDLED_PLAYBOOKS_DIR, Settings
from bot.web import RUNNER_OPTIONS, create_app
from playbooks.loader import load_library
from storage import db as botdb
from storage import outbox
from storage.models import OutboxMessage, OutboxStatus, Person, Platform
from storage.people import get_or_create_workspace
from tests.doubles.bot_connector import BotConnectorDouble
from tests.doubles.people import (
    SLACK_NEWBIE,
    SLACK_RILEY,
    SLACK_SAM,
    SLACK_SECRET,
    SLACK_TEAM,
    TEAMS_BOT,
    TEAMS_RILEY,
    TEAMS_ROSTER,
    TEAMS_TENANT,
)
from tests.doubles.server import BackgroundServer
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
    workspace_id: int  # the way in messages leave by
    people: list[int]

    def reset(self) -> None:
        with self.sessions.begin() as db:
            db.execute(delete(OutboxMessage))
        self.slack.forget()

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
        self.slack.clock = lambda: clock().timestamp()  # Slack's "ts" and the bot's clock agree
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
            bench.slack.clear_faults()
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


# -- hostile: malformed and unsigned requests into the real web app ----------------------------------


@dataclass
class HostileResult:
    database: str
    requests: int
    client_errors: int
    server_errors: int
    tracebacks: int
    unsigned_posts: int
    seconds: float


class TracebackCounter(logging.Handler):
    """Counts log records that carry a traceback (exc_info), from any logger."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.count = 0
        self.where: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.count += 1
            self.where.append(f"{record.name}: {record.getMessage()[:120]}")


def slack_signature(body: bytes, timestamp: str) -> dict[str, str]:
    base = b"v0:" + timestamp.encode() + b":" + body
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": "v0=" + hmac.new(SLACK_SECRET.encode(), base, hashlib.sha256).hexdigest(),
    }


def slack_event(text_: str) -> bytes:
    """A well-formed DM event: answered if it were let in."""
    ts = f"{time.time():.6f}"
    return json.dumps(
        {
            "token": "legacy-token",
            "team_id": SLACK_TEAM,
            "api_app_id": "A0APP",
            "type": "event_callback",
            "event_id": f"Ev{uuid.uuid4().hex[:10]}",
            "event_time": int(time.time()),
            "event": {
                "type": "message",
                "channel": "DURILEY",
                "user": "URILEY",
                "text": text_,
                "ts": ts,
                "event_ts": ts,
                "channel_type": "im",
            },
            "authorizations": [{"team_id": SLACK_TEAM, "user_id": "UBOT", "is_bot": True}],
        }
    ).encode()


def slack_interaction(payload: dict[str, Any] | str, respond: str) -> bytes:
    if isinstance(payload, dict):
        payload = json.dumps(
            {
                "team": {"id": SLACK_TEAM, "domain": "test"},
                "user": {"id": "URILEY", "username": "riley", "team_id": SLACK_TEAM},
                "api_app_id": "A0APP",
                "token": "legacy-token",
                "trigger_id": "123.456.abc",
                "response_url": respond,
                **payload,
            }
        )
    return urlencode({"payload": payload}).encode()


def teams_activity(connector_url: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "id": f"17{uuid.uuid4().int % 10**11:011d}",
        "timestamp": "2026-11-23T15:00:00.000Z",
        "serviceUrl": connector_url,
        "channelId": "msteams",
        "from": TEAMS_RILEY,
        "conversation": {"conversationType": "personal", "tenantId": TEAMS_TENANT, "id": "a:1riley-chat"},
        "recipient": TEAMS_BOT,
        "channelData": {"tenant": {"id": TEAMS_TENANT}},
        "text": "help",
        "textFormat": "plain",
        **fields,
    }


# (path, body, headers, validly signed); Slack's content types as Slack sends them
HostileRequest = tuple[str, bytes, dict[str, str], bool]
JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def hostile_requests(respond: str, connector_url: str) -> list[HostileRequest]:
    now = str(int(time.time()))
    unsigned: list[HostileRequest] = []
    body = slack_event("what's next for Acme?")
    unsigned.append(("/slack/events", body, JSON, False))  # no signature at all
    bad = {**slack_signature(body, now), "X-Slack-Signature": "v0=" + "0" * 64}
    unsigned.append(("/slack/events", body, {**JSON, **bad}, False))  # wrong signature
    body = slack_event("help")
    unsigned.append(("/slack/events", body, {**JSON, **slack_signature(body, "soon")}, False))
    unsigned.append(("/slack/events", body, {**JSON, **slack_signature(body, "1e3")}, False))
    body = slack_event("help")
    old = str(int(time.time()) - 3600)
    unsigned.append(("/slack/events", body, {**JSON, **slack_signature(body, old)}, False))

    def teams(raw: str | bytes) -> HostileRequest:
        return ("/api/messages", raw if isinstance(raw, bytes) else raw.encode(), JSON, False)

    good = teams_activity(connector_url)
    unsigned += [
        teams('{"type": "message", "text": "help",'),
        teams("[" * 100_000),
        teams("{" * 50_000),
        teams(json.dumps([good])),
        teams(json.dumps("help")),
        teams(json.dumps({k: v for k, v in good.items() if k != "from"})),
        teams(json.dumps({k: v for k, v in good.items() if k != "conversation"})),
        teams(json.dumps({k: v for k, v in good.items() if k != "serviceUrl"})),
    ]

    def signed(raw: bytes, headers: dict[str, str]) -> HostileRequest:
        return ("/slack/events", raw, {**headers, **slack_signature(raw, str(int(time.time())))}, True)

    valid: list[HostileRequest] = [
        signed(b'{"type": "event_callback", "event": {', JSON),
        signed(json.dumps([json.loads(slack_event("help"))]).encode(), JSON),
        signed(json.dumps("help").encode(), JSON),
        signed(b"[" * 100_000, JSON),
        signed(b"payload=not-json", FORM),
        signed(
            slack_interaction(
                {"type": "view_submission", "view": {"id": "V1", "callback_id": "coaching.form"}}, respond
            ),
            FORM,
        ),
    ]
    # a 40-digit button value on each kind of button
    for action in ("deal.move", "deal.next", "coaching.form", "quiz.answer", "deals.page"):
        valid.append(
            signed(
                slack_interaction(
                    {
                        "type": "block_actions",
                        "container": {
                            "type": "message",
                            "message_ts": "1700000000.000200",
                            "channel_id": "DURILEY",
                        },
                        "channel": {"id": "DURILEY", "name": "directmessage"},
                        "actions": [
                            {
                                "type": "button",
                                "action_id": action,
                                "value": "9" * 40,
                                "block_id": "b1",
                                "action_ts": f"{time.time():.6f}",
                            }
                        ],
                    },
                    respond,
                ),
                FORM,
            )
        )
    return unsigned + valid


SCENARIOS: dict[str, Callable[[Bench, int], dict[str, int]]] = {
    "storm: 429/5xx incl. failing checks": storm,
    "parts: interrupted at every part": parts,
    "frozen: drainer paused past lease": frozen,
}


def run_hostile(label: str, db_url: str) -> HostileResult:
    """The real web app, Slack and Teams, answering hostile requests over HTTP on 127.0.0.1."""
    started = time.perf_counter()
    engine = botdb.make_engine(db_url)
    settings = Settings(
        database_url=db_url,
        playbooks_dir=BUNDLED_PLAYBOOKS_DIR,
        slack_signing_secret=SLACK_SECRET,
        slack_bot_token="xoxb-hostile",
    )
    ctx = AppContext(
        settings=settings,
        engine=engine,
        sessions=botdb.make_sessionmaker(engine),
        playbooks=load_library(settings.playbooks_dir),
        renderer=Renderer(),
        clock=lambda: START,
    )
    slack = SlackDouble(users={u["id"]: u for u in (SLACK_RILEY, SLACK_SAM, SLACK_NEWBIE)}).start()
    connector = BotConnectorDouble(members=dict(TEAMS_ROSTER)).start()
    counter = TracebackCounter()
    root, bot_logger = logging.getLogger(), logging.getLogger("bot")
    bot_level = bot_logger.level
    server: BackgroundServer | None = None
    try:
        ctx = dataclasses.replace(ctx, settings=settings.model_copy(update={"slack_api_url": slack.url}))
        with ctx.sessions.begin() as db:
            for platform, external_id in ((Platform.SLACK, SLACK_TEAM), (Platform.TEAMS, TEAMS_TENANT)):
                load_if_empty(db, get_or_create_workspace(db, platform, external_id).organization_id, ctx.playbooks, START)
        bot_logger.setLevel(logging.INFO)  # let the app's errors through to the counter
        root.addHandler(counter)
        server = BackgroundServer(create_app(ctx), **RUNNER_OPTIONS).start()
        requests = hostile_requests(f"http://127.0.0.1:{slack.port}/respond/hostile", connector.url)

        def posts() -> int:
            with slack._lock:
                made = len([m for m in slack.messages if m["method"] == "chat.postMessage"])
                made += len(slack.responses) + len(slack.views)
            return made + len(connector.activities())

        async def send_all() -> tuple[list[int], int]:
            statuses: list[int] = []
            unsigned_posts = 0
            timeout = aiohttp.ClientTimeout(total=30)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                for path, body, headers, validly_signed in requests:
                    before = posts()
                    async with session.post(f"{server.url}{path}", data=body, headers=headers) as r:
                        await r.read()
                        statuses.append(r.status)
                    await asyncio.sleep(0.3)  # room for an answer sent after the acknowledgement
                    if not validly_signed:
                        unsigned_posts += posts() - before
            return statuses, unsigned_posts

        statuses, unsigned_posts = asyncio.run(send_all())
    finally:
        if server is not None:
            server.stop()
        root.removeHandler(counter)
        bot_logger.setLevel(bot_level)
        connector.stop()
        slack.stop()
        engine.dispose()
    for where in counter.where:
        print(f"  traceback logged: {where}")
    return HostileResult(
        label,
        len(statuses),
        sum(1 for s in statuses if 400 <= s < 500),
        sum(1 for s in statuses if s >= 500),
        counter.count,
        unsigned_posts,
        time.perf_counter() - started,
    )


def run_on(url: str | None, seeds: list[int]) -> tuple[list[Result], HostileResult]:
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
                        organization_id=workspace.organization_id,
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
        hostile = run_hostile(label, db_url)
    return results, hostile


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
    parser.add_argument(
        "--process-seeds",
        type=int,
        default=2,
        help="seeds for the real-process scenarios of benchmarks.crash (default 2; 0 skips them)",
    )
    args = parser.parse_args(argv)
    if not args.verbose:
        logging.getLogger("bot").setLevel(logging.CRITICAL)  # thousands of expected retry warnings
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    urls: list[str | None] = [None]
    if args.database_url and args.database_url.startswith("postgresql"):
        urls.append(args.database_url)
    runs = [run_on(url, seeds) for url in urls]
    results = [r for rs, _ in runs for r in rs]
    hostiles = [h for _, h in runs]
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
    print()
    print("hostile: malformed / unsigned requests into the real web app (Slack + Teams) over HTTP")
    print(
        f"{'database':<11} {'scenario':<38} {'requests':>8} {'4xx':>5} {'5xx':>5} {'tracebacks':>10} "
        f"{'posts-for-unsigned':>18} {'time':>7}"
    )
    for h in hostiles:
        print(
            f"{h.database:<11} {'hostile: bad bodies, bad signatures':<38} {h.requests:>8} {h.client_errors:>5} "
            f"{h.server_errors:>5} {h.tracebacks:>10} {h.unsigned_posts:>18} {h.seconds:>6.1f}s"
        )
    crashed: list[Any] = []  # benchmarks.crash.Outcome
    if args.process_seeds > 0:
        from benchmarks import crash

        process_seeds = list(range(args.first_seed, args.first_seed + args.process_seeds))
        crashed = [o for url in urls for o in crash.run_on(url, process_seeds, crash.Size())]
        print()
        print(
            f"real processes (benchmarks.crash): drainers SIGKILLed / SIGSTOPped, seeds {process_seeds[0]}.."
            f"{process_seeds[-1]}, claim lease {crash.LEASE:g} s"
        )
        crash.print_table(crashed)
    bad = sum(r.lost + r.duplicated for r in results)
    bad += sum(o.lost + o.duplicated + o.dead + o.unfinished for o in crashed)
    hostile_bad = sum(h.server_errors + h.tracebacks + h.unsigned_posts for h in hostiles)
    verdicts = ["all delivered exactly once" if not bad else f"{bad} parts lost or duplicated"]
    verdicts.append(
        "hostile requests: no 5xx, no tracebacks, nothing posted for unsigned requests"
        if not hostile_bad
        else f"hostile requests: {hostile_bad} 5xx answers, tracebacks or posts for unsigned requests"
    )
    print("; ".join(verdicts) + ("" if not (bad or hostile_bad) else " - NOT CLEAN"))
    return 1 if bad or hostile_bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
