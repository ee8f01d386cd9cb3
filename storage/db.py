"""Engine, sessions and schema migrations (Alembic) for SQLite and PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, exc, inspect, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

if TYPE_CHECKING:
    from sqlalchemy import CursorResult, Result
    from sqlalchemy.engine.interfaces import DBAPIConnection

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


# A pooled PostgreSQL connection idle longer than this is pinged before it is used (see `_ping_when_idle`).
PING_AFTER_IDLE_S = 5.0


def make_engine(url: str, *, ping_after_idle_s: float = PING_AFTER_IDLE_S) -> Engine:
    """Create the engine; SQLite gets foreign keys on and a busy timeout so two processes can share a file.

    On PostgreSQL a pooled connection that sat idle longer than `ping_after_idle_s` is pinged before use
    and replaced if the server no longer answers (a restart, a proxy's idle timeout). One in busy use is
    not pinged (a round trip per request for nothing): if the server dropped it meanwhile, that request
    fails with the usual apology, SQLAlchemy discards every connection opened before the failure, and the
    next request connects afresh."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    # hide_parameters: a failed statement is logged without its values (user text, form answers, tokens)
    engine = create_engine(url, pool_size=10, max_overflow=10, hide_parameters=True)
    _ping_when_idle(engine, ping_after_idle_s)
    return engine


def _ping_when_idle(engine: Engine, idle_s: float) -> None:
    """Ping a pooled connection on checkout when it was checked in more than `idle_s` seconds ago; a
    connection that does not answer is replaced (the pool retries the checkout with a new one)."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(
        dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
    ) -> None:
        since = record.info.get("checked_in_at")
        if since is None or time.monotonic() - since <= idle_s:
            return  # a new connection, or one in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # noqa: BLE001 - any failure: this connection is gone
            raise exc.DisconnectionError("pooled connection did not answer its ping") from error


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to the newest revision (what `python -m bot db upgrade` runs).

    SQLite changes a column by copying its table and dropping the old one; with foreign keys enforced that
    drop deletes (ON DELETE CASCADE) or refuses (FOREIGN KEY constraint failed) every row that refers to it.
    So on SQLite the migration runs with enforcement off (the pragma only takes effect outside a
    transaction) and the result is checked before it is committed: a dangling reference rolls it all back.
    """
    _migrate(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema back to `revision` (operations; each migration says what it cannot undo)."""
    _migrate(engine, command.downgrade, revision)


def _migrate(engine: Engine, step: Any, revision: str) -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    sqlite_db = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite_db:
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                cfg.attributes["connection"] = connection
                step(cfg, revision)
                if sqlite_db:
                    dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if dangling:
                        raise RuntimeError(
                            f"migration left {len(dangling)} rows referring to missing rows "
                            f"(first: table {dangling[0][0]}, row {dangling[0][1]}); nothing was changed"
                        )
        finally:
            if sqlite_db:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


def schema_status(engine: Engine) -> tuple[str | None, str]:
    """Return (current revision in the database, newest revision in the code)."""
    head = ScriptDirectory.from_config(alembic_config(str(engine.url))).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return current, head or ""


def readiness(engine: Engine, head: str) -> tuple[bool, str]:
    """(ready, reason): the database answers and its schema is at `head` (the code's newest revision)."""
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        return False, "database did not answer"
    if current != head:
        return (
            False,
            f"database schema is at {current or 'nothing'}, this code needs {head} (run `python -m bot db upgrade`)",
        )
    return True, "ok"


def code_head(engine: Engine) -> str:
    """The newest migration revision in this code."""
    return ScriptDirectory.from_config(alembic_config(str(engine.url))).get_current_head() or ""


def ping(engine: Engine) -> bool:
    """True when the database answers a trivial query (used by GET /healthz)."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure means "not healthy"
        return False


def rows_changed(result: Result[Any]) -> int:
    """How many rows an UPDATE, DELETE or INSERT changed (a statement's result is a cursor result)."""
    return cast("CursorResult[Any]", result).rowcount


def upsertable_insert(db: Session, model: type) -> Any:
    """An INSERT for `model` with the dialect's ON CONFLICT clauses (both databases spell them alike)."""
    return (postgresql if db.get_bind().dialect.name == "postgresql" else sqlite).insert(model)


def insert_or_ignore(db: Session, model: type, values: dict[str, Any], unique: list[str]) -> bool:
    """INSERT unless a row with the same unique columns exists (both databases); True if inserted.

    This is how retried deliveries and double clicks stay single: the idempotency key is unique.
    `unique` names the attributes (a column's attribute may differ from its name in the table).
    """
    statement = (
        upsertable_insert(db, model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[getattr(model, key) for key in unique])
        .returning(*inspect(model).primary_key)
    )
    return db.execute(statement).scalar() is not None
