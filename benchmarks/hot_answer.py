"""The hot answer below the channels, in process: "what's next for <deal>" through `bot.router.answer`.

``python -m benchmarks.hot_answer [--pg URL | --sqlite] [--total N] [--replies FILE]``

Each answer runs as the Slack channel runs it for someone it knows: one session, the workspace and person
loaded in one query, then `router.answer` (which commits). Reports SQL statements (and round trips,
counting BEGIN/COMMIT) per answer and the CPU time per answer of this process (`time.process_time`, so
the database server's own work is not counted). `--replies` writes every reply (text, sections, buttons)
to a file, so two versions of the code can be diffed for identical answers. The data set is the one the
HTTP benchmarks use (`benchmarks.data`, 10k deals), with its fixed clock.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from sqlalchemy import bindparam, event, select

from benchmarks import data
from bot import router
from bot.context import AppContext
from bot.messages import Request
from bot.settings import Settings
from storage.models import Person, Workspace

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_speed_slack"


def run(url: str, total: int, replies: Path | None) -> dict[str, float]:
    dataset = data.ensure(url, data.Scale.http())
    ctx = AppContext.create(Settings(database_url=url))
    ctx.clock = lambda: dataset.now
    statements = 0
    transactions = 0

    def count(*_args: object) -> None:
        nonlocal statements
        statements += 1

    def count_tx(*_args: object) -> None:
        nonlocal transactions
        transactions += 1

    event.listen(ctx.engine, "before_cursor_execute", count)
    event.listen(ctx.engine, "commit", count_tx)
    event.listen(ctx.engine, "rollback", count_tx)
    pairs = [(s.slack_user_id, name) for s in dataset.samples for name in s.deal_names]
    lookup = (
        select(Workspace, Person)
        .join(Person, Person.organization_id == Workspace.organization_id)
        .where(
            Workspace.external_id == dataset.workspace_external_id, Person.slack_user_id == bindparam("user")
        )
        .limit(1)
    )
    out = []

    def ask(i: int) -> None:
        user, deal = pairs[(i * 7919) % len(pairs)]
        with ctx.sessions() as db:
            workspace, person = db.execute(lookup, {"user": user}).one()
            request = Request(workspace.id, person.id, text=f"what's next for {deal}", channel_id=f"D{user}")
            reply = router.answer(ctx, db, request)
        if replies is not None:
            out.append(
                json.dumps(
                    {
                        "text": reply.text,
                        "header": reply.header,
                        "sections": [[s.title, s.text, list(s.fields)] for s in reply.sections],
                        "buttons": [[b.label, b.action, b.value, b.style] for b in reply.buttons],
                        "context": reply.context,
                        "kind": reply.kind,
                    }
                )
            )

    for i in range(min(200, total)):  # warm-up: compiled statements, templates
        ask(i)
    out.clear()
    statements = transactions = 0
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(total):
        ask(i)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    ctx.close()
    if replies is not None:
        replies.write_text("\n".join(out) + "\n")
    return {
        "statements per answer": statements / total,
        "round trips per answer (with BEGIN/COMMIT)": (statements + 2 * transactions) / total,
        "CPU per answer (ms)": cpu * 1000 / total,
        "wall per answer (ms)": wall * 1000 / total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL URL of the benchmark database")
    parser.add_argument("--sqlite", action="store_true", help="use a SQLite file instead")
    parser.add_argument("--total", type=int, default=2000, help="measured answers")
    parser.add_argument("--replies", type=Path, help="write every reply to this file (one JSON a line)")
    args = parser.parse_args()
    url = f"sqlite:///{Path(tempfile.gettempdir()) / 'bench_hot_answer.db'}" if args.sqlite else args.pg
    for name, value in run(url, args.total, args.replies).items():
        print(f"{name}: {value:.2f}")


if __name__ == "__main__":
    main()
