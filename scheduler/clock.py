"""The clock process (Procfile `clock:`) and `python -m scheduler run JOB [--now ISO]`.

Run one clock per database: it holds a lease in the database (scheduler/lease.py). A second clock
started against the same database stands by and takes over when the first one's lease expires.
"""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from bot.context import AppContext
from bot.startup import CliError, ensure_schema, load_context
from scheduler import lease
from scheduler.jobs import BuildSenders, Job, make_jobs, worker_id

log = logging.getLogger("scheduler")

LEASE_TTL = timedelta(seconds=60)
RENEW_EVERY = 15.0


def parse_now(text: str) -> datetime:
    """ISO 8601; UTC when no offset is written (the contract's `--now`)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not an ISO 8601 time like 2026-11-23T09:00 or 2026-11-23T09:00-06:00"
        ) from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def flowing_clock(start: datetime | None) -> Callable[[], datetime]:
    """Now, or a pretend now that keeps ticking from `start` (rate limits and back-offs still work)."""
    if start is None:
        return lambda: datetime.now(UTC)
    origin = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - origin)


def main(argv: list[str] | None = None, *, build_senders: BuildSenders) -> int:
    """`build_senders` makes the outbox's senders (the entry point passes bot.channels.senders')."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # APScheduler says "Running job" and "executed successfully" at every run: its warnings are enough
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(
        prog="python -m scheduler", description="The clock process, or one job run once."
    )
    jobs = make_jobs(build_senders)
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run one job once and exit")
    run.add_argument("job", help=f"one of: {', '.join(jobs)}")
    run.add_argument(
        "--now", type=parse_now, default=None, help="pretend it is this time (ISO 8601, UTC if no offset)"
    )
    sub.add_parser(
        "status", help="is a clock holding the lease, and how many messages wait (exit 1 if no clock)"
    )
    args = parser.parse_args(argv)
    if args.command == "run" and args.job not in jobs:
        print(f"unknown job '{args.job}' (jobs: {', '.join(sorted(jobs))})", file=sys.stderr)
        return 2
    try:
        ctx = load_context()
        ensure_schema(ctx)
    except CliError as exc:
        print(str(exc), file=sys.stderr)
        return exc.code
    try:
        if args.command == "run":
            print(jobs[args.job].run(ctx, flowing_clock(args.now)))
            return 0
        if args.command == "status":
            from scheduler.status import report

            live, lines = report(ctx.sessions, ctx.clock)
            print("\n".join(lines))
            return 0 if live else 1
        return run_clock(ctx, jobs=jobs)
    finally:
        ctx.close()


def run_clock(
    ctx: AppContext,
    *,
    jobs: dict[str, Job],
    stop: threading.Event | None = None,
    holder: str | None = None,
    ttl: timedelta = LEASE_TTL,
    renew_every: float = RENEW_EVERY,
) -> int:
    """Hold the lease and run every job on its interval; stand by while another clock holds it."""
    stop = stop or threading.Event()
    holder = holder or worker_id()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    scheduler = BackgroundScheduler(timezone=UTC)
    for name, job in jobs.items():
        scheduler.add_job(
            _logged(name, job.run, ctx),
            "interval",
            seconds=job.every_seconds,
            id=name,
            coalesce=True,
            max_instances=1,
        )
    active = False
    standing_by: str | None = None
    try:
        while not stop.is_set():
            held = lease.acquire(ctx.sessions, holder, datetime.now(UTC), ttl)
            if held and not active:
                log.info("clock %s holds the lease; running jobs: %s", holder, ", ".join(jobs))
                if scheduler.running:
                    scheduler.resume()
                else:
                    scheduler.start()
                active = True
            elif not held and active:
                log.error("clock %s lost the lease; pausing jobs", holder)
                scheduler.pause()
                active = False
            elif not held:
                other = lease.current(ctx.sessions)
                other_holder = other.holder if other else "?"
                if other_holder != standing_by:  # said once per holder, not at every renewal
                    log.info(
                        "another clock (%s) holds the lease until %s; standing by",
                        other_holder,
                        other.expires_at if other else "?",
                    )
                    standing_by = other_holder
            stop.wait(renew_every)
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=True)
        if active:
            lease.release(ctx.sessions, holder)
        log.info("clock %s stopped", holder)
    return 0


DID_SOMETHING = re.compile(r"(?<![\w.])[1-9][\d,]*(?![\w.])")


def _logged(
    name: str,
    job: Callable[[AppContext, Callable[[], datetime]], str],
    ctx: AppContext,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Callable[[], None]:
    def run() -> None:
        try:
            summary = job(ctx, clock)
            summary = summary.removeprefix(f"{name}: ")  # the job's own summary may already say its name
            # one line per run that did something (a count above zero); quiet runs only at debug level
            log.log(logging.INFO if DID_SOMETHING.search(summary) else logging.DEBUG, "%s: %s", name, summary)
        except Exception:
            log.exception("job %s failed; it runs again at its next interval", name)

    return run
