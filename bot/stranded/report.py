"""The report `check-playbooks` prints: every check run over the configured database, read-only."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bot.stranded.confirmations import ConfirmationChecks
from bot.stranded.deals import DealChecks
from bot.stranded.quizzes import QuizChecks
from playbooks.schema import Playbook
from storage.db import code_head


@dataclass
class Report:
    """The warnings found, each a first line and its indented follow-up lines (without `warning:`)."""

    database: str
    warnings: list[list[str]] = field(default_factory=list)
    unchecked: str | None = None  # why the database could not be compared (unreachable, old schema)
    # not problems: what these files will do to linked quiz questions (flag, re-ask), and those waiting
    notes: list[list[str]] = field(default_factory=list)

    def note_lines(self) -> list[str]:
        if self.unchecked:
            return []
        return [line for note in self.notes for line in (note[0], *(f"  {more}" for more in note[1:]))]

    def lines(self) -> list[str]:
        if self.unchecked:
            return [self.unchecked]
        if not self.warnings:
            return []
        out = [f"the database ({self.database}) has data these playbooks no longer fit:"]
        for warning in self.warnings:
            out += [warning[0], *(f"  {line}" for line in warning[1:])]
        count = len(self.warnings)
        out.append(
            f"{count} {'problem' if count == 1 else 'problems'} in the data: fix the playbooks or move the "
            "data before the bot loads these files"
        )
        return out


def check_database(database_url: str, playbooks: list[Playbook]) -> Report:
    """Compare the database at `database_url` with `playbooks`; never writes, never creates a file."""
    engine = _read_only_engine(database_url)
    shown = make_url(database_url).render_as_string(hide_password=True)
    report = Report(shown)
    if engine is None:
        return report
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text("SET TRANSACTION READ ONLY"))
            current = MigrationContext.configure(connection).get_current_revision()
            if current is None:
                return report  # never migrated: nothing in it can be stranded
            head = code_head(engine)
            if current != head:
                report.unchecked = (
                    f"the database ({shown}) schema is at {current} but this code needs {head}: its data was "
                    "not checked against these playbooks (run `python -m bot db upgrade`, then check again)"
                )
                return report
            check = AllChecks(connection, playbooks)
            report.warnings += check.run()
            report.notes += check.notes
            connection.rollback()
    except Exception as exc:  # noqa: BLE001 - an unreachable database is a warning, never a failed check
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        report.unchecked = (
            f"could not read the database ({shown}) to look for data these playbooks would strand: {reason}"
        )
    finally:
        engine.dispose()
    return report


def _read_only_engine(database_url: str) -> Engine | None:
    """An engine that cannot write, or None when there is no database to read (no SQLite file)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        name = url.database or ""
        if not name or name == ":memory:" or name.startswith("file:"):
            return None
        path = Path(name).resolve()
        if not path.is_file() or path.stat().st_size == 0:
            return None  # an empty file is no database either; opening it must not create one
        uri = f"file:{quote(str(path))}?mode=ro"
        return create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True), poolclass=NullPool)
    return create_engine(
        database_url, poolclass=NullPool, hide_parameters=True, connect_args={"connect_timeout": 10}
    )


class AllChecks(DealChecks, ConfirmationChecks, QuizChecks):
    def run(self) -> list[list[str]]:
        found: list[tuple[str, int, list[str]]] = []  # (organization name, order, warning)
        found += self.deals()
        found += self.confirmations()
        found += self.quiz_questions()
        found += self.quiz_links()
        found.sort(key=lambda f: (f[0].casefold(), f[1]))
        return [warning for _, _, warning in found]
