"""`python -m benchmarks`: every benchmark, each against its baseline in the same run, as one table.

Needs the PostgreSQL server of the test suite (BENCH_PG, default postgresql+psycopg://postgres@127.0.0.1:5432)
where it creates databases named bench_*; the data sets are generated once per (scale, seed) and reused.
The full run takes about 15 minutes on 2 cores, most of it generating the 100k-rep data set the first
time. `--only slack,teams` picks benchmarks; `--out FILE` also writes the table (for BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.report import Figure, table

SEED = 20261122


def _server() -> str:
    return os.environ.get("BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432").rstrip("/")


def slack(requests: int) -> list[Figure]:
    from benchmarks import slack_path

    return slack_path.run(f"{_server()}/bench_http_slack", SEED, requests)


def teams(requests: int) -> list[Figure]:
    from benchmarks import teams_path

    return teams_path.run(f"{_server()}/bench_http_teams", SEED, requests)


def processes(requests: int) -> list[Figure]:
    from benchmarks import web_processes

    return web_processes.run(f"{_server()}/bench_web_processes", SEED, requests)


def tick(_requests: int) -> list[Figure]:
    from benchmarks import scheduler_tick

    return scheduler_tick.run(
        f"{_server()}/bench_full",
        os.environ.get("BENCH_SQLITE", ""),
        SEED,
        spread_day=bool(os.environ.get("BENCH_SPREAD_DAY")),
    )


def summaries(_requests: int) -> list[Figure]:
    from benchmarks import summaries as module

    figures, plan = module.run(f"{_server()}/bench_full", None, SEED)
    print("\nEXPLAIN ANALYZE of the organization-wide criteria report's count of confirmed deals:\n")
    print(plan)
    return figures


def outbox(_requests: int) -> list[Figure]:
    from benchmarks import outbox_drain

    return outbox_drain.run(f"{_server()}/bench_outbox", SEED)


def clock_memory(_requests: int) -> list[Figure]:
    from benchmarks import clock_memory as module

    return module.run(f"{_server()}/bench_full_onezone")  # made by the tick benchmark


BENCHMARKS: dict[str, Callable[[int], list[Figure]]] = {
    "slack": slack,
    "teams": teams,
    "processes": processes,
    "tick": tick,
    "summaries": summaries,
    "outbox": outbox,
    "clock-memory": clock_memory,
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help=f"comma-separated: {', '.join(BENCHMARKS)}"
    )
    parser.add_argument("--requests", type=int, default=3000, help="measured HTTP requests per load run")
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this file")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    if "clock-memory" in chosen and "tick" in chosen:
        chosen.sort(key=lambda name: name == "clock-memory")  # it reuses the tick's one-zone copy
    figures: list[Figure] = []
    started = time.perf_counter()
    for name in chosen:
        print(f"== {name}", flush=True)
        figures += BENCHMARKS[name](args.requests)
    header = (
        f"{datetime.now(UTC):%Y-%m-%d} on {platform.node()} ({os.cpu_count()} cores, "
        f"Python {platform.python_version()}), {time.perf_counter() - started:.0f} s"
    )
    result = f"{header}\n\n{table(figures)}"
    print("\n" + result)
    if args.out:
        args.out.write_text(result + "\n")


if __name__ == "__main__":
    main()
