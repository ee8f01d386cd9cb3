"""Outbox drain rate against the Slack test double with Slack's documented rate limits enforced (429s).

Two runs, each timed at the double (first to last message received):
* one channel: 20 messages queued for the same channel, where Slack allows about one post per second;
* first DMs: 60 knowledge checks for 60 reps, composed at send time; each rep's first DM needs a
  conversations.open (Tier 3: 50 a minute), which is then the binding limit.
The figure is the achieved rate; the baseline is the rate the binding limit allows for the same messages.
The drainer runs as the clock runs it: one Drainer, drained every 5 seconds while anything is due.
`python -m benchmarks.outbox_drain [--pg URL]`
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from datetime import UTC, datetime
from functools import partial

from sqlalchemy import select, text

from benchmarks import data
from benchmarks.report import Figure, Target, table
from bot.channels.senders import build_senders
from bot.context import AppContext
from bot.delivery import Drainer
from bot.messages import Reply
from bot.settings import Settings
from handlers.proactive import compose
from scheduler.clock import flowing_clock
from storage import outbox
from storage.models import OutboxMessage, OutboxStatus, Person, Platform, Role
from tests.doubles.slack_api import SLACK_LIMITS, SlackDouble

MONDAY_0930_NEW_YORK = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)
CLOCK_INTERVAL = 5.0  # seconds between the clock's outbox runs (scheduler/jobs.py)


def drain_all(ctx: AppContext, drainer: Drainer, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        drainer.drain()
        with ctx.sessions() as db:
            waiting = db.scalar(
                select(OutboxMessage.id).where(
                    OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING])
                )
            )
        if waiting is None:
            return
        time.sleep(CLOCK_INTERVAL)
    raise TimeoutError("the outbox did not drain in time")


def rate(times: list[float]) -> float:
    """Messages per second between the first and the last arrival."""
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0


def run(pg_url: str, seed: int, channel_messages: int = 20, dms: int = 60) -> list[Figure]:
    dataset = data.ensure(pg_url, data.Scale.http(), seed)
    slack = SlackDouble(limits=dict(SLACK_LIMITS)).start()
    settings = Settings(
        database_url=pg_url,
        playbooks_dir=data.PLAYBOOKS_DIR,
        slack_bot_token="xoxb-bench",
        slack_signing_secret="bench-secret",
        slack_api_url=slack.url,
    )
    ctx = dataclasses.replace(AppContext.create(settings), clock=flowing_clock(MONDAY_0930_NEW_YORK))
    figures: list[Figure] = []
    try:
        with ctx.engine.begin() as connection:
            connection.execute(text("DELETE FROM outbox"))
        drainer = Drainer(ctx.sessions, build_senders(ctx), "bench", ctx.clock, compose=partial(compose, ctx))
        # 1. One channel.
        with ctx.sessions.begin() as db:
            for i in range(channel_messages):
                outbox.enqueue(
                    db,
                    key=f"bench:channel:{i}",
                    kind="announcement",
                    workspace_id=dataset.organization_id,
                    platform=Platform.SLACK,
                    reply=Reply(
                        header=f"Announcement {i}", text="Pricing objections: see the new talk track."
                    ),
                    now=ctx.clock(),
                    target={"channel": "C0BENCH01"},
                )
        drain_all(ctx, drainer)
        posts = [c.received for c in slack.calls_to("chat.postMessage")]
        assert len(posts) == channel_messages, len(posts)
        figures.append(
            Figure(
                "Outbox drain (PostgreSQL)",
                f"{channel_messages} posts to one channel (429s: {len(slack.limited)})",
                rate(posts),
                "msg/s",
                1.0,
                "Slack: 1 post/s per channel",
                Target(ratio_at_least=0.9),
            )
        )
        # 2. First DMs to many reps, composed at send time.
        slack.calls.clear()
        slack.limited.clear()
        with ctx.sessions.begin() as db:
            reps = select(Person.id).where(Person.role == Role.REP, Person.timezone == "America/New_York")
            ids = list(db.scalars(reps.order_by(Person.id).limit(dms)))
            queued = outbox.enqueue_to_people(
                db,
                select(Person.id).where(Person.id.in_(ids)),
                kind="quiz",
                key=("quiz", "bench"),
                payload=outbox.compose_later("quiz"),
                now=ctx.clock(),
            )
        started = time.perf_counter()
        drain_all(ctx, drainer)
        posts = [c.received for c in slack.calls_to("chat.postMessage")]
        opens = len(slack.calls_to("conversations.open"))
        assert len(posts) == queued, (len(posts), queued)
        allowed = (queued - 1) / max(60.0 * (queued - 1) // 50, 1.0)  # Tier 3: 50 opens a minute
        figures.append(
            Figure(
                "Outbox drain (PostgreSQL)",
                f"{queued} first DMs, composed at send ({opens} conversations.open, "
                f"429s: {len(slack.limited)}, {time.perf_counter() - started:.0f} s)",
                rate(sorted(posts)),
                "msg/s",
                allowed,
                "conversations.open: 50/min",
                Target(ratio_at_least=0.9),
            )
        )
    finally:
        slack.stop()
        ctx.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/bench_outbox")
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args()
    print(table(run(args.pg, args.seed)))


if __name__ == "__main__":
    main()
