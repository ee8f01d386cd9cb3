"""The scheduler's tick at scale: 100k reps with 50 questions each and 10k managers.

Two data sets, both from `benchmarks.data` (Scale.full()):
* worst case: a copy of the data set with everyone in one time zone, ticked at Monday 09:30 there, when
  every rep's knowledge check, every manager's coaching nudge and every weekly digest is due at once;
  then the next tick ten minutes later, when everything is already queued (the steady state);
* the real spread of time zones: every ten-minute tick of that Monday, reporting the slowest.

Baseline: the database's floor for the same rows, one hand-written INSERT ... SELECT into an empty copy of
the outbox table with its indexes (it has no foreign keys), so the ratio says what our selection logic costs on top of the write.
`python -m benchmarks.scheduler_tick [--sqlite PATH] [--pg URL]`
"""

from __future__ import annotations

import argparse
import shutil
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import make_url, text

from benchmarks import data
from benchmarks.report import Figure, Target, table
from bot.context import AppContext
from bot.settings import Settings
from handlers.coaching.nudges import enqueue_nudges
from handlers.quizzes.daily import enqueue_knowledge_checks
from handlers.summaries.digest import enqueue_digests

MONDAY_0930_NEW_YORK = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)
ONE_ZONE = "America/New_York"


def one_zone_copy(url: str) -> str:
    """A copy of the full data set with everybody in New York, and an empty outbox."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database
        copy = parsed.database.replace(".db", "") + "_onezone.db"
        for suffix in ("-wal", "-shm", ""):
            data.Path(copy + suffix).unlink(missing_ok=True)
        engine = data.db.make_engine(url)
        with engine.connect() as connection:  # fold the WAL into the main file before copying it
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        shutil.copyfile(parsed.database, copy)
        copy_url = parsed.set(database=copy).render_as_string(hide_password=False)
    else:
        name = f"{parsed.database}_onezone"
        server = data.db.make_engine(parsed.set(database="postgres").render_as_string(hide_password=False))
        with server.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{parsed.database}"'))
        server.dispose()
        copy_url = parsed.set(database=name).render_as_string(hide_password=False)
    engine = data.db.make_engine(copy_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE people SET timezone = :zone"), {"zone": ONE_ZONE})
        connection.execute(text("DELETE FROM outbox"))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE people"))
    engine.dispose()
    return copy_url


def tick(ctx: AppContext, now: datetime) -> tuple[float, dict[str, int]]:
    """What the clock's three queueing jobs do at `now`; returns (seconds, rows queued per job)."""
    started = time.perf_counter()
    counts = {
        "knowledge checks": enqueue_knowledge_checks(ctx, now),
        "nudges": enqueue_nudges(ctx, now),
        "follow-ups": enqueue_nudges(ctx, now, followups=True),
        "digests": enqueue_digests(ctx, now),
    }
    return time.perf_counter() - started, counts


def floor_seconds(ctx: AppContext, rows: int) -> float:
    """One INSERT ... SELECT of `rows` outbox-shaped rows into an empty copy of the outbox table."""
    pg = ctx.engine.dialect.name == "postgresql"
    with ctx.engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS bench_floor"))
        if pg:
            connection.execute(text("CREATE TABLE bench_floor (LIKE outbox INCLUDING ALL)"))  # and indexes
        else:
            connection.execute(text("CREATE TABLE bench_floor AS SELECT * FROM outbox WHERE 0"))
            connection.execute(text("CREATE UNIQUE INDEX bench_floor_key ON bench_floor (idempotency_key)"))
            connection.execute(
                text("CREATE INDEX bench_floor_ready ON bench_floor (status, next_attempt_at)")
            )
    id_column = "" if pg else "id, "
    id_value = "" if pg else "p.id, "
    statement = text(
        f"INSERT INTO bench_floor ({id_column}idempotency_key, kind, workspace_id, platform, person_id, target, "
        "payload, status, attempts, next_attempt_at, created_at) "
        f"SELECT {id_value}'floor:' || p.id, 'quiz', p.workspace_id, 'slack', p.id, '{{}}', "
        "'{\"compose\": \"quiz\"}', 'pending', 0, :now, :now FROM people AS p ORDER BY p.id LIMIT :rows"
    )
    started = time.perf_counter()
    with ctx.engine.begin() as connection:
        connection.execute(statement, {"now": MONDAY_0930_NEW_YORK, "rows": rows})
    seconds = time.perf_counter() - started
    with ctx.engine.begin() as connection:
        connection.execute(text("DROP TABLE bench_floor"))
    return seconds


def context(url: str) -> AppContext:
    return AppContext.create(Settings(database_url=url, playbooks_dir=data.PLAYBOOKS_DIR))


def run_one(url: str, label: str, seed: int, spread_day: bool, scale: data.Scale) -> list[Figure]:
    data.ensure(url, scale, seed)
    figures: list[Figure] = []
    ctx = context(one_zone_copy(url))
    try:
        seconds, counts = tick(ctx, MONDAY_0930_NEW_YORK)
        queued = sum(counts.values())
        floor = floor_seconds(ctx, queued)
        detail = ", ".join(f"{n:,} {job}" for job, n in counts.items() if n)
        figures.append(
            Figure(
                f"Scheduler tick ({label})",
                f"everyone due at once: {detail}",
                seconds,
                "s",
                floor,
                "raw INSERT…SELECT of the same rows",
                Target(at_most=2.0) if label == "PostgreSQL" else Target(),
            )
        )
        again, counts = tick(ctx, MONDAY_0930_NEW_YORK + timedelta(minutes=10))
        assert not any(counts.values()), counts
        figures.append(Figure(f"Scheduler tick ({label})", "next tick, all already queued", again, "s"))
    finally:
        ctx.close()
    if spread_day:
        figures.append(_spread_day(url, label))
    return figures


def _spread_day(url: str, label: str) -> Figure:
    """Every ten-minute tick of Monday (UTC) on the real spread of time zones: the slowest one."""
    ctx = context(url)
    try:
        with ctx.engine.begin() as connection:
            connection.execute(text("DELETE FROM outbox"))
        start = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
        slowest, slowest_counts, total = 0.0, {}, 0
        for step in range(144):
            seconds, counts = tick(ctx, start + timedelta(minutes=10 * step))
            total += sum(counts.values())
            if seconds > slowest:
                slowest, slowest_counts = seconds, counts
        with ctx.engine.begin() as connection:
            connection.execute(text("DELETE FROM outbox"))
    finally:
        ctx.close()
    detail = ", ".join(f"{n:,} {job}" for job, n in slowest_counts.items() if n)
    return Figure(
        f"Scheduler tick ({label})",
        f"slowest of Monday's 144 ticks, real time zones ({detail}; {total:,} queued that day)",
        slowest,
        "s",
        target=Target(at_most=2.0) if label == "PostgreSQL" else Target(),
    )


def run(
    pg_url: str | None,
    sqlite_url: str | None,
    seed: int,
    spread_day: bool = True,
    scale: data.Scale | None = None,
) -> list[Figure]:
    scale = scale or data.Scale.full()
    figures: list[Figure] = []
    if pg_url:
        figures += run_one(pg_url, "PostgreSQL", seed, spread_day, scale)
    if sqlite_url:
        figures += run_one(sqlite_url, "SQLite", seed, False, scale)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/bench_full")
    parser.add_argument("--sqlite", default="sqlite:////work/bench_full.db")
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--no-spread-day", action="store_true")
    parser.add_argument("--tiny", action="store_true", help="a small data set, to check the script itself")
    args = parser.parse_args()
    scale = data.Scale.tiny() if args.tiny else data.Scale.full()
    print(table(run(args.pg or None, args.sqlite or None, args.seed, not args.no_spread_day, scale)))


if __name__ == "__main__":
    main()
