"""The jobs the clock runs, by name (also `python -m scheduler run NAME`).

Each job takes the context and the current time and returns a one-line summary. Jobs that decide what
to send enqueue into the outbox (idempotent keys per person and period); only `outbox` sends, through
the senders the entry point passes in (scheduler/__main__.py builds them from bot/channels/senders.py),
so no module here imports a platform SDK.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from bot.context import AppContext
from bot.delivery import Drainer, DrainPolicy, Sender
from handlers.coaching.nudges import enqueue_nudges
from handlers.proactive import compose
from handlers.quizzes.daily import enqueue_knowledge_checks
from handlers.summaries.digest import enqueue_digests
from handlers.summaries.snapshots import SNAPSHOT_ABOVE, refresh_snapshots
from storage.models import Platform

BuildSenders = Callable[[AppContext], dict[Platform, Sender]]
"""Makes the sender of each platform's outbox rows from the context (bot.channels.senders.build_senders)."""


@dataclass(frozen=True)
class Job:
    run: Callable[[AppContext, Callable[[], datetime]], str]
    every_seconds: int
    description: str


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class DrainOutbox:
    """The outbox job. It keeps one Drainer for the life of the clock process, so rate-limit pacing, a
    workspace's 429 pause and the DM channels already opened carry over from one run to the next."""

    build_senders: BuildSenders
    drainer: Drainer | None = None

    def __call__(self, ctx: AppContext, clock: Callable[[], datetime]) -> str:
        if self.drainer is None:
            self.drainer = Drainer(
                ctx.sessions,
                self.build_senders(ctx),
                worker_id(),
                clock,
                DrainPolicy(lease=timedelta(seconds=ctx.settings.outbox_claim_lease_seconds)),
                compose=partial(compose, ctx),
            )
        return str(self.drainer.drain())


def queue_digests(ctx: AppContext, clock: Callable[[], datetime]) -> str:
    from handlers.channel_digest import enqueue_channel_digests
    from handlers.enablement_digest import enqueue_enablement_digests

    now = clock()
    people = enqueue_digests(ctx, now) + enqueue_enablement_digests(ctx, now)
    channels = enqueue_channel_digests(ctx, now)
    return f"digests: {people} queued" + (f", {channels} to channels" if channels else "")


def queue_nudges(ctx: AppContext, clock: Callable[[], datetime]) -> str:
    now = clock()
    return f"coaching-nudges: {enqueue_nudges(ctx, now)} nudges, {enqueue_nudges(ctx, now, followups=True)} follow-ups queued"


def queue_knowledge_checks(ctx: AppContext, clock: Callable[[], datetime]) -> str:
    return f"knowledge-checks: {enqueue_knowledge_checks(ctx, clock())} queued"


def recount_snapshots(ctx: AppContext, clock: Callable[[], datetime]) -> str:
    return f"summaries: {refresh_snapshots(ctx, clock())} organization summaries recounted"


def crm_sync(ctx: AppContext, clock: Callable[[], datetime]) -> str:
    from handlers.crm.sync import sync_all

    reports = sync_all(ctx, clock())
    if not reports:
        return "crm-sync: no CRM connected"
    return "crm-sync: " + "; ".join(
        f"{r.organization} {r.read} read, {r.created} created, {r.moved} moved, {r.closed} closed, "
        f"{len(r.unmapped)} unmapped stages, {len(r.errors)} errors"
        for r in reports
    )


def make_jobs(build_senders: BuildSenders) -> dict[str, Job]:
    """The jobs, with fresh state: one set per clock process (and per `run`); the outbox sends through
    the senders `build_senders` makes (once, at its first run)."""
    return {
        "knowledge-checks": Job(
            queue_knowledge_checks,
            600,
            "queue each rep's daily question (09:30 local, working days, not on public holidays or while paused)",
        ),
        "coaching-nudges": Job(
            queue_nudges, 600, "queue weekly coaching nudges (Monday 09:00 local) and Thursday follow-ups"
        ),
        "digests": Job(queue_digests, 600, "queue each manager's weekly team summary and enablement's report (Monday 08:00 local)"),
        "summaries": Job(
            recount_snapshots,
            300,
            f"recount organization-wide summaries of workspaces with over {SNAPSHOT_ABOVE:,} open deals",
        ),
        "outbox": Job(DrainOutbox(build_senders), 5, "send what is due in the outbox"),
        "crm-sync": Job(crm_sync, 300, "read what changed in each organization's CRM (Salesforce, HubSpot)"),
    }
