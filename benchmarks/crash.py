"""Crash campaign with real processes: outbox drainers killed (SIGKILL) and paused (SIGSTOP) for real.

`python -m benchmarks.crash [--seeds 2] [--messages 48] [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]`
(`python -m benchmarks.faults` runs it too, after its in-process scenarios)

benchmarks.faults simulates a dying or frozen drainer inside one process on a fake clock. Here every
drainer is a real `python -m scheduler run outbox` process on the real clock, configured only through its
environment: DATABASE_URL, SLACK_API_URL (the Slack Web API double on 127.0.0.1, in a thread of this
process, stamping messages with the real clock as Slack does), SLACK_BOT_TOKEN (one per process, so the
double can tell who posted what) and OUTBOX_CLAIM_LEASE_SECONDS (a few seconds instead of two minutes,
so that a takeover happens within the run). Scenarios, each once per seed, on a queue of short and long
(multi-part) direct messages:

* kill: a drainer is started and SIGKILLed at a random moment (after a random number of its posts plus a
  random delay), several times in a row, each next drainer starting when the killed one's claims have
  run out (so it takes them over, and may be killed while doing so); then fresh drainers run until
  nothing is pending or sending.
* pause: drainer A is SIGSTOPped at a random moment and stays stopped past its claim lease while drainer
  B starts and takes A's rows over; A gets SIGCONT at a random point of B's drain, so both then run side
  by side; when both have exited, fresh drainers finish the queue.

Counted per (outbox key, part) over what the double received: expected, posted exactly once, lost (never
posted) and duplicated; also the signals that hit a running drainer, the rows taken over from a killed or
paused drainer ("reconciled" in the drainers' report lines) and the rows a resumed drainer found taken
over and left alone. A duplicate is listed apart ("in window") when its second copy is the paused drainer's
very first post after SIGCONT and that drainer then found the row taken over (its log says so) and
stopped: the one window README admits (frozen between renewing its claim and the HTTP request to Slack),
which no fencing can close because Slack has no conditional post. A drainer that did not fence its
changes by the claim would post the same first duplicate but never find the row taken over.

With --json (what tests/test_crash.py uses) it prints the outcomes as JSON; --use-database URL runs on an
existing, migrated database as it is (its outbox is emptied) instead of a fresh one.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from benchmarks import procs
from benchmarks.data import fresh_database as database
from bot.channels.slack_blocks import to_messages
from bot.messages import Button, Reply, Section
from storage import db as botdb
from storage.models import OutboxMessage, OutboxStatus, Person, Platform
from storage.outbox import enqueue_to_people
from storage.people import get_or_create_workspace, person_by_email
from tests.doubles.slack_api import SlackDouble

LEASE = 3.0  # seconds: OUTBOX_CLAIM_LEASE_SECONDS of every drainer started here
TEAM = "T0CRASH"
UNFINISHED = (OutboxStatus.PENDING, OutboxStatus.SENDING)
REPORT = re.compile(r"^outbox: \d+ sent.*$", re.MULTILINE)


@dataclass
class Size:
    messages: int = 48  # per seed and scenario
    long_share: float = 0.25  # long messages are 2 or 3 Slack messages (parts)
    people: int = 12  # DM channels; Slack takes about one message per second per channel
    kills: int = 3  # drainers SIGKILLed one after the other (kill scenario)


QUICK = Size(messages=16, long_share=0.25, people=8, kills=2)


@dataclass
class Outcome:
    """One scenario on one database, summed over the seeds."""

    database: str
    scenario: str
    expected: int = 0
    once: int = 0
    lost: int = 0
    duplicated: int = 0
    in_window: int = 0  # duplicates of the documented window (see the module docstring)
    signals: int = 0  # SIGKILLs / SIGSTOPs that hit a drainer still running
    reconciled: int = 0  # rows a drainer took over from a killed or paused one
    taken_over: int = 0  # rows a resumed drainer found taken over and left alone
    dead: int = 0  # rows that ended dead (should be none: nothing here fails for good)
    unfinished: int = 0  # rows still pending or sending when the campaign gave up waiting
    processes: int = 0  # drainer processes started
    seconds: float = 0.0


def message(i: int, parts: int) -> Reply:
    """A coaching-nudge-like message; 2 sections fit one Slack message, 60 need 2 and 120 need 3."""
    sections = {1: 2, 2: 60, 3: 120}[parts]
    return Reply(
        text=f"Message {i}",
        header=f"Coaching nudge {i}",
        sections=tuple(Section(f"- Deal {j}: skipped the Discovery gate", "Due") for j in range(sections)),
        buttons=(Button("Log coaching", "coaching.log", str(i)),),
    )


@dataclass
class Campaign:
    """One database, the Slack double, and the drainer processes started against them."""

    label: str
    url: str
    slack: SlackDouble
    logs: Path
    sessions: sessionmaker[Session] = field(init=False)
    people: list[int] = field(default_factory=list)
    started: int = 0
    round: int = 0  # scenario runs so far (names the kept process logs)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.engine = botdb.make_engine(self.url)
        self.sessions = botdb.make_sessionmaker(self.engine)

    def close(self) -> None:
        """Stop what is still running (a paused drainer too, if a scenario failed half-way)."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
                process.wait()
        self.engine.dispose()

    # -- the queue --------------------------------------------------------------------------------
    def prepare(self, size: Size) -> None:
        """A Slack workspace with `size.people` people who may be messaged at any hour of any day."""
        with self.sessions.begin() as db:
            workspace = get_or_create_workspace(db, Platform.SLACK, TEAM, "Crash", join_single=False)
            self.people = []
            for i in range(size.people):
                email = f"crash{i}@example.com"
                person = person_by_email(db, workspace.organization_id, email)
                if person is None:
                    person = Person(
                        organization_id=workspace.organization_id,
                        email=email,
                        name=f"Crash {i}",
                        role="rep",
                        slack_user_id=f"UCRASH{i:03d}",
                        timezone="UTC",
                        working_days="mon,tue,wed,thu,fri,sat,sun",
                        quiet_start="00:00",
                        quiet_end="00:00",  # no quiet hours: the real clock may say Sunday night
                        preferences={},
                    )
                    db.add(person)
                    db.flush()
                self.people.append(person.id)

    def reset(self) -> None:
        with self.sessions.begin() as db:
            db.execute(delete(OutboxMessage))
        self.slack.forget()  # crash sets no faults; forgetting none changes nothing

    def enqueue(self, rng: random.Random, size: Size, prefix: str) -> dict[str, int]:
        """Queue the messages (round robin over the people), due now; returns key -> parts."""
        now = datetime.now(UTC)  # the drainers' clock: real processes, real time
        expected: dict[str, int] = {}
        with self.sessions.begin() as db:
            for i in range(size.messages):
                person = self.people[i % len(self.people)]
                parts = rng.choice([2, 3]) if rng.random() < size.long_share else 1
                reply = message(i, parts)
                assert len(to_messages(reply)) == parts
                enqueue_to_people(
                    db,
                    select(Person.id).where(Person.id == person),
                    kind="nudge",
                    key=(prefix, str(i)),
                    payload=reply.to_dict(),
                    now=now,
                )
                expected[f"{prefix}:{person}:{i}"] = parts
        return expected

    def rows(self) -> dict[str, int]:
        with self.sessions() as db:
            counts = db.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))
            return {getattr(s, "value", s): n for s, n in counts}

    def unfinished(self) -> int:
        rows = self.rows()
        return sum(rows.get(s.value, 0) for s in UNFINISHED)

    # -- drainer processes ------------------------------------------------------------------------
    def drainer(self, name: str) -> Drainer:
        token = f"xoxb-crash-{name}"
        env = {
            "DATABASE_URL": self.url,
            "SLACK_API_URL": self.slack.url,
            "SLACK_BOT_TOKEN": token,
            "OUTBOX_CLAIM_LEASE_SECONDS": str(LEASE),
        }
        log = self.logs / f"{self.label}-{name}.log"
        self.started += 1
        drainer = Drainer(name, token, procs.start(["-m", "scheduler", "run", "outbox"], env, log), log)
        self.processes.append(drainer.process)
        return drainer

    def posts(self, token: str | None = None) -> list[tuple[float, str, int, str | None]]:
        """(received, outbox key, part, token) of every chat.postMessage the double answered."""
        found = []
        for call in self.slack.calls_to("chat.postMessage"):
            payload = (call.args.get("metadata") or {}).get("event_payload") or {}
            if token is None or call.token == token:
                found.append(
                    (call.received, payload.get("outbox_key"), int(payload.get("part", 0)), call.token)
                )
        return found

    def wait_posts(self, drainer: Drainer, count: int, timeout: float = 60.0) -> bool:
        """Until `drainer` has posted `count` messages; False if it exited (or the time ran out) first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.posts(drainer.token)) >= count:
                return True
            if drainer.process.poll() is not None:
                return False
            time.sleep(0.005)
        return False

    def finish(self, tag: str, timeout: float = 240.0) -> int:
        """Run fresh drainers, one after the other, until nothing is pending or sending (rows a killed or
        paused drainer held become due when their lease runs out). Returns how many ran."""
        runs = 0
        deadline = time.monotonic() + timeout
        while self.unfinished() and time.monotonic() < deadline:
            drainer = self.drainer(f"{tag}-finish{runs}")
            runs += 1
            try:
                drainer.process.wait(max(deadline - time.monotonic(), 1))
            except subprocess.TimeoutExpired:
                procs.stop(drainer.process)
            if self.unfinished():
                time.sleep(0.5)
        return runs

    # -- counting ---------------------------------------------------------------------------------
    def tally(
        self, outcome: Outcome, expected: dict[str, int], paused: Drainer | None, resumed_at: float
    ) -> None:
        posted: dict[tuple[str, int], int] = defaultdict(int)
        for _, key, part, _ in self.posts():
            posted[(key, part)] += 1
        wanted = [(key, part) for key, parts in expected.items() for part in range(parts)]
        outcome.expected += len(wanted)
        outcome.once += sum(1 for k in wanted if posted[k] == 1)
        outcome.lost += sum(1 for k in wanted if posted[k] == 0)
        outcome.duplicated += sum(1 for k in wanted if posted[k] > 1)
        if paused is not None:  # the admitted window: see the module docstring
            after = sorted(p for p in self.posts(paused.token) if p[0] > resumed_at)
            if after and posted[(after[0][1], after[0][2])] > 1:
                # ... and the paused drainer's very next step found that row taken over and stopped
                left = f"({after[0][1]}): another drainer took it over"
                if left in paused.log.read_text(errors="replace"):
                    outcome.in_window += 1
        rows = self.rows()
        outcome.dead += rows.get(OutboxStatus.DEAD.value, 0)
        outcome.unfinished += sum(rows.get(s.value, 0) for s in UNFINISHED)
        outcome.processes += self.started
        self.started = 0
        for log in self.logs.glob(f"{self.label}-*.log"):
            line = REPORT.search(log.read_text(errors="replace"))
            if line:
                outcome.reconciled += _count(r"(\d+) reconciled", line.group())
                outcome.taken_over += _count(r"(\d+) taken over by another drainer", line.group())
            log.rename(log.with_suffix(f".{self.round}.done"))
        self.round += 1


@dataclass
class Drainer:
    name: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path


def _count(pattern: str, text: str) -> int:
    match = re.search(pattern, text)
    return int(match.group(1)) if match else 0


def kill(
    campaign: Campaign, rng: random.Random, size: Size, outcome: Outcome
) -> tuple[dict[str, int], None, float]:
    """SIGKILL drainers at random moments, one after the other; then finish with fresh ones."""
    expected = campaign.enqueue(rng, size, "kill")
    total = sum(expected.values())
    for n in range(size.kills):
        drainer = campaign.drainer(f"kill{n}")
        campaign.wait_posts(drainer, rng.randint(1, max(1, total // (2 * size.kills))))
        time.sleep(rng.uniform(0, 0.25))
        if drainer.process.poll() is None:
            drainer.process.send_signal(signal.SIGKILL)
            outcome.signals += 1
        drainer.process.wait()
        time.sleep(LEASE + 0.2)  # so that the next drainer takes the killed one's rows over at once
    campaign.finish("kill")
    return expected, None, 0.0


def pause(
    campaign: Campaign, rng: random.Random, size: Size, outcome: Outcome
) -> tuple[dict[str, int], Drainer, float]:
    """SIGSTOP drainer A past its lease; B takes over; SIGCONT A while B drains; then finish."""
    expected = campaign.enqueue(rng, size, "pause")
    total = sum(expected.values())
    a = campaign.drainer("a")
    campaign.wait_posts(a, rng.randint(1, max(1, total // 3)))
    time.sleep(rng.uniform(0, 0.25))
    stopped = a.process.poll() is None
    if stopped:
        a.process.send_signal(signal.SIGSTOP)
        outcome.signals += 1
    time.sleep(LEASE + 0.5)  # A's claims run out (B's start-up adds a second or two more)
    b = campaign.drainer("b")
    # B may wait on a lock that A holds (A stopped inside a transaction): then A resumes after 15 s.
    campaign.wait_posts(b, rng.randint(1, 6), timeout=15.0)
    time.sleep(rng.uniform(0, 0.25))
    resumed_at = time.perf_counter()  # the double stamps calls with perf_counter too
    if stopped:
        a.process.send_signal(signal.SIGCONT)
    for drainer in (a, b):
        try:
            drainer.process.wait(180)
        except subprocess.TimeoutExpired:
            procs.stop(drainer.process)
    campaign.finish("pause")
    return expected, a, resumed_at


Scenario = Callable[[Campaign, random.Random, Size, Outcome], tuple[dict[str, int], Drainer | None, float]]
SCENARIOS: dict[str, Scenario] = {
    "kill: SIGKILL real drainers": kill,
    "pause: SIGSTOP past lease, SIGCONT": pause,
}


@contextmanager
def existing(url: str) -> Iterator[tuple[str, str]]:
    yield ("postgresql" if url.startswith("postgresql") else "sqlite"), url


def run_on(
    url: str | None, seeds: list[int], size: Size, *, fresh: bool = True, logs: str | None = None
) -> list[Outcome]:
    """Every scenario, once per seed, on a fresh database (SQLite file, or a new database on the server
    `url` names) or, with fresh=False, on the migrated database `url` as it is. The drainers' output is
    kept in the folder `logs` if given."""
    outcomes: list[Outcome] = []
    assert fresh or url is not None
    with (
        database(url) if fresh else existing(url) as (label, db_url),  # type: ignore[arg-type]
        tempfile.TemporaryDirectory() as temporary,
    ):
        slack = SlackDouble().start()  # clock: time.time, like the drainers' (real processes, real time)
        campaign = Campaign(label, db_url, slack, Path(logs or temporary))
        campaign.logs.mkdir(parents=True, exist_ok=True)
        try:
            campaign.prepare(size)
            for name, scenario in SCENARIOS.items():
                outcome = Outcome(label, name)
                started = time.perf_counter()
                for seed in seeds:
                    campaign.reset()
                    expected, paused, resumed_at = scenario(campaign, random.Random(seed), size, outcome)
                    campaign.tally(outcome, expected, paused, resumed_at)
                outcome.seconds = time.perf_counter() - started
                outcomes.append(outcome)
        finally:
            slack.stop()
            campaign.close()
    return outcomes


def clean(outcomes: list[Outcome]) -> bool:
    return all(o.lost == o.duplicated == o.dead == o.unfinished == 0 for o in outcomes)


def print_table(outcomes: list[Outcome]) -> None:
    print(
        f"{'database':<11} {'scenario':<38} {'expected':>8} {'once':>6} {'lost':>5} {'dup':>5} "
        f"{'in window':>9} {'signals':>7} {'reconciled':>10} {'taken over':>10} {'drainers':>8} {'time':>7}"
    )
    for o in outcomes:
        print(
            f"{o.database:<11} {o.scenario:<38} {o.expected:>8} {o.once:>6} {o.lost:>5} {o.duplicated:>5} "
            f"{o.in_window:>9} {o.signals:>7} {o.reconciled:>10} {o.taken_over:>10} {o.processes:>8} "
            f"{o.seconds:>6.1f}s"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2, help="seeds per scenario (default 2)")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--messages", type=int, default=Size.messages, help="messages per seed and scenario")
    parser.add_argument("--quick", action="store_true", help="a small queue (what the test runs)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TEST_DATABASE_URL") or None,
        help="a PostgreSQL server URL (a fresh database is created there); default TEST_DATABASE_URL",
    )
    parser.add_argument("--use-database", help="run only on this migrated database, as it is")
    parser.add_argument("--only", choices=["kill", "pause"], help="run one scenario")
    parser.add_argument("--json", action="store_true", help="print the outcomes as JSON")
    parser.add_argument("--logs", help="keep every drainer's output in this folder")
    args = parser.parse_args(argv)
    size = QUICK if args.quick else Size(messages=args.messages)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    if args.only:
        for name in [n for n in SCENARIOS if not n.startswith(args.only)]:
            del SCENARIOS[name]
    if args.use_database:
        outcomes = run_on(args.use_database, seeds, size, fresh=False, logs=args.logs)
    else:
        urls: list[str | None] = [None]
        if args.database_url and args.database_url.startswith("postgresql"):
            urls.append(args.database_url)
        outcomes = [o for url in urls for o in run_on(url, seeds, size, logs=args.logs)]
    if args.json:
        print(json.dumps([asdict(o) for o in outcomes]))
    else:
        print(
            f"outbox crash campaign with real processes, seeds {seeds[0]}..{seeds[-1]}, claim lease {LEASE:g} s "
            "(counts are Slack messages, i.e. parts)"
        )
        print_table(outcomes)
        print(
            "all delivered exactly once" if clean(outcomes) else "NOT CLEAN: parts lost, duplicated or stuck"
        )
    return 0 if clean(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
