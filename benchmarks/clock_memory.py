"""Resident memory of the clock process after its heaviest work: the everyone-due tick at full scale.

A child process starts as the clock does (the scheduler's jobs, the senders, the playbooks), runs the three
queueing jobs on the one-time-zone copy of the full data set (100k knowledge checks, 10k nudges, 10k
digests), then one outbox run (nothing is sendable: the Slack token is missing, so rows wait), and reports
its peak resident set size. Baseline: the same interpreter with the same imports and no work.
`python -m benchmarks.clock_memory [--pg URL]`
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from benchmarks.procs import ROOT
from benchmarks.report import Figure, Target, table


def _child(url: str, work: bool) -> None:
    from functools import partial

    from sqlalchemy import text

    from benchmarks.scheduler_tick import MONDAY_0930_NEW_YORK, context
    from bot.channels.senders import build_senders
    from scheduler.jobs import make_jobs

    jobs = make_jobs(build_senders)
    if work:
        ctx = context(url)
        with ctx.engine.begin() as connection:
            connection.execute(text("DELETE FROM outbox"))
        clock = partial(lambda: MONDAY_0930_NEW_YORK)
        for name in ("digests", "coaching-nudges", "knowledge-checks", "outbox"):
            jobs[name].run(ctx, clock)
        with ctx.engine.begin() as connection:
            connection.execute(text("DELETE FROM outbox"))
        ctx.close()
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec.
    status = Path("/proc/self/status").read_text().splitlines()
    peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    print(json.dumps({"peak_mb": peak_kib / 1024}))


def measure(url: str, work: bool) -> float:
    args = [sys.executable, "-m", "benchmarks.clock_memory", "--child", url]
    if not work:
        args.append("--idle")
    out = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return float(json.loads(out.strip().splitlines()[-1])["peak_mb"])


def run(onezone_url: str) -> list[Figure]:
    idle = measure(onezone_url, work=False)
    busy = measure(onezone_url, work=True)
    return [
        Figure(
            "Memory",
            "clock process, peak RSS after the everyone-due tick (120k rows queued)",
            busy,
            "MB",
            idle,
            "same process, imports only",
            Target(at_most=150),
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/bench_full_onezone")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--idle", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, work=not args.idle)
        return
    print(table(run(args.pg)))


if __name__ == "__main__":
    main()
