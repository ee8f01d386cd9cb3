"""Exit-criteria summaries over 1M confirmation events (Scale.full(): 200k deals, 10k managers).

Each summary is timed as the chat command runs it, through the router (database work and rendering), and
its database part alone: a manager's team summary and criteria report (10 reps), and enablement's
organization-wide criteria report per playbook stage and team summary. The baseline is the floor any
summary over all events pays: one `count(*)` of the confirmation events. The heaviest query's plan is
printed with EXPLAIN ANALYZE.
`python -m benchmarks.summaries [--pg URL] [--sqlite URL]`
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from sqlalchemy import delete, select, text
from sqlalchemy.dialects import postgresql

from benchmarks import data
from benchmarks.report import Figure, Target, table
from bot.context import AppContext
from bot.messages import Request
from bot.router import handle
from bot.settings import Settings
from handlers.common import Turn, visible_owner_ids
from handlers.summaries.queries import confirmed_per_criterion_query
from handlers.summaries.snapshots import (
    CRITERIA_REPORT,
    TEAM_SUMMARY,
    criteria_report_data,
    refresh_snapshot,
    team_summary_data,
)
from storage.models import Organization, Person, Role, SummarySnapshot, Workspace

REPEAT = 5


def timed(action: Callable[[], object], repeat: int = REPEAT) -> float:
    """The median of `repeat` runs after one warm-up, in milliseconds."""
    started = time.perf_counter()
    action()
    if time.perf_counter() - started > 2:  # a slow case: one more run says enough, and saves minutes
        repeat = 1
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs)


def run_one(url: str, label: str, seed: int, scale: data.Scale) -> tuple[list[Figure], str]:
    dataset = data.ensure(url, scale, seed)
    ctx = AppContext.create(Settings(database_url=url, playbooks_dir=data.PLAYBOOKS_DIR))
    ctx.clock = lambda: dataset.now
    target = Target(at_most=200) if label == "PostgreSQL" else Target()
    figures: list[Figure] = []
    try:
        with ctx.sessions.begin() as db:  # snapshots of an earlier run may hold another version's figures
            db.execute(delete(SummarySnapshot))
        with ctx.sessions() as db:
            workspace = db.scalar(select(Workspace).where(Workspace.organization_id == dataset.organization_id))
            organization = db.get(Organization, dataset.organization_id)
            manager = db.scalars(
                select(Person).where(Person.role == Role.MANAGER).order_by(Person.id)
            ).first()
            enablement = db.scalars(select(Person).where(Person.role == Role.ENABLEMENT)).first()
            assert workspace and organization and manager and enablement
            floor = timed(lambda: db.execute(text("SELECT count(*) FROM criterion_events")).scalar())

            def turn(person: Person) -> Turn:
                return Turn(ctx, db, Request(workspace.id, person.id, text=""), person, workspace, organization)

            cases = [
                (
                    "manager's team summary",
                    manager,
                    "team summary",
                    lambda p: team_summary_data(ctx, db, p, dataset.now),
                    True,
                ),
                (
                    "manager's criteria report",
                    manager,
                    "criteria report",
                    lambda p: criteria_report_data(turn(p), visible_owner_ids(db, p)),
                    True,
                ),
                (
                    "org criteria report, per stage, counted (the clock's recount)",
                    enablement,
                    "criteria report",
                    lambda p: refresh_snapshot(ctx, db, p.organization_id, CRITERIA_REPORT, dataset.now),
                    False,
                ),
                (
                    "org criteria report, per stage, as read",
                    enablement,
                    "criteria report",
                    lambda p: criteria_report_data(turn(p), None),
                    True,
                ),
                (
                    "org team summary, counted (the clock's recount)",
                    enablement,
                    "team summary",
                    lambda p: refresh_snapshot(ctx, db, p.organization_id, TEAM_SUMMARY, dataset.now),
                    False,
                ),
                (
                    "org team summary, as read",
                    enablement,
                    "team summary",
                    lambda p: team_summary_data(ctx, db, p, dataset.now),
                    True,
                ),
            ]
            for name, person, command, query, read_by_people in cases:
                figures.append(
                    Figure(
                        f"Summaries ({label})",
                        f"{name}: database",
                        timed(lambda q=query, p=person: q(p)),
                        "ms",
                        floor,
                        "count(*) of 1M events",
                        target if read_by_people else Target(),
                    )
                )
                db.commit()  # a counted snapshot is what the chat replies read (and holds no lock)
                if not read_by_people:
                    continue
                request = Request(workspace.id, person.id, text=command)
                figures.append(
                    Figure(
                        f"Summaries ({label})",
                        f"{name}: whole reply",
                        timed(lambda r=request: handle(ctx, r), 3),
                        "ms",
                        floor,
                        "count(*) of 1M events",
                    )
                )
            plan = _explain(db) if label == "PostgreSQL" else ""
    finally:
        ctx.close()
    return figures, plan


def _explain(db) -> str:  # type: ignore[no-untyped-def]
    """EXPLAIN ANALYZE of the organization-wide "confirmed deals per stage and criterion" query."""
    query = confirmed_per_criterion_query(1, None)
    sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    rows = db.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + sql)).scalars().all()
    return sql + "\n\n" + "\n".join(rows)


def run(
    pg_url: str | None, sqlite_url: str | None, seed: int, scale: data.Scale | None = None
) -> tuple[list[Figure], str]:
    scale = scale or data.Scale.full()
    figures: list[Figure] = []
    plan = ""
    if pg_url:
        more, plan = run_one(pg_url, "PostgreSQL", seed, scale)
        figures += more
    if sqlite_url:
        figures += run_one(sqlite_url, "SQLite", seed, scale)[0]
    return figures, plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/bench_full")
    parser.add_argument("--sqlite", default="")
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--tiny", action="store_true", help="a small data set, to check the script itself")
    args = parser.parse_args()
    scale = data.Scale.tiny() if args.tiny else data.Scale.full()
    figures, plan = run(args.pg or None, args.sqlite or None, args.seed, scale)
    print(table(figures))
    print("\nEXPLAIN ANALYZE, organization-wide confirmed deals per criterion:\n" + plan)


if __name__ == "__main__":
    main()
