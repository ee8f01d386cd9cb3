"""What every process does before it works: read the settings, open the context, check the schema.

Shared by the command line (bot/cli.py and bot/cli_crm.py) and the clock (scheduler/clock.py), so
neither imports the other's entry point.
"""

from __future__ import annotations

from pydantic import ValidationError

from bot.context import AppContext
from bot.settings import Settings
from playbooks.yamlfile import YamlFileError
from storage import db


class CliError(Exception):
    """A problem the user can fix; printed without a traceback, exit code attached."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        raise CliError(f"invalid configuration: {problems}") from exc


def load_context(settings: Settings | None = None) -> AppContext:
    """Settings, playbooks and database; an invalid playbook stops start-up with its file:line errors."""
    settings = settings or load_settings()
    try:
        return AppContext.create(settings)
    except YamlFileError as exc:
        raise CliError(f"refusing to start: the playbooks have errors\n{exc}", code=1) from exc


def ensure_schema(ctx: AppContext) -> None:
    """SQLite (the embedded default) upgrades itself; PostgreSQL must be upgraded on purpose, once per release."""
    if ctx.settings.is_sqlite:
        db.upgrade(ctx.engine)
        return
    try:
        current, head = db.schema_status(ctx.engine)
    except Exception as exc:  # noqa: BLE001 - any connection problem is reported the same way
        raise CliError(f"cannot reach the database at {ctx.engine.url.render_as_string()}: {exc}") from exc
    if current != head:
        raise CliError(
            f"the database schema is at {current or 'nothing'} but this code needs {head}: run `python -m bot db upgrade`"
        )
