"""The clock process (Procfile `clock:`) and `python -m scheduler run JOB [--now ISO]`.

Jobs are registered in JOBS as the features that need them land (coaching nudges, knowledge checks,
digests, outbox draining). Run exactly one clock per database.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.blocking import BlockingScheduler

from bot.cli import CliError, ensure_schema, load_context
from bot.context import AppContext

log = logging.getLogger("scheduler")

# name -> (function run with the context and "now", interval in seconds for the clock)
JOBS: dict[str, tuple[Callable[[AppContext, datetime], str], int]] = {}


def parse_now(text: str) -> datetime:
    """ISO 8601; UTC when no offset is written (the contract's `--now`)."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(
        prog="python -m scheduler", description="The clock process, or one job run once."
    )
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run one job once and exit")
    run.add_argument("job", help="job name")
    run.add_argument(
        "--now", type=parse_now, default=None, help="pretend it is this time (ISO 8601, UTC if no offset)"
    )
    args = parser.parse_args(argv)
    try:
        ctx = load_context()
        ensure_schema(ctx)
    except CliError as exc:
        print(str(exc), file=sys.stderr)
        return exc.code
    try:
        if args.command == "run":
            if args.job not in JOBS:
                known = ", ".join(sorted(JOBS)) or "none yet"
                print(f"unknown job '{args.job}' (jobs: {known})", file=sys.stderr)
                return 2
            print(JOBS[args.job][0](ctx, args.now or datetime.now(UTC)))
            return 0
        return run_clock(ctx)
    finally:
        ctx.close()


def run_clock(ctx: AppContext) -> int:
    scheduler = BlockingScheduler(timezone=UTC)
    for name, (job, seconds) in JOBS.items():
        scheduler.add_job(
            lambda job=job: log.info(job(ctx, datetime.now(UTC))),
            "interval",
            seconds=seconds,
            id=name,
            coalesce=True,
            max_instances=1,
        )
    log.info("clock started with jobs: %s", ", ".join(JOBS) or "none yet")
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        scheduler.start()
    return 0
