"""A PostgreSQL connection dropped by the server (a restart, a proxy's idle timeout) costs at most the
request that was using it: idle pooled connections are pinged before use, busy ones are not, and a request
that meets a dead one gets the usual apology while the next is answered on a fresh connection."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from bot.context import AppContext
from storage import db
from storage.models import Workspace
from tests.helpers.chat import Chat


@pytest.fixture
def pg_ctx(ctx: AppContext) -> AppContext:
    if ctx.engine.dialect.name != "postgresql":
        pytest.skip("dropping a server connection needs PostgreSQL")
    return ctx


def _drop_server_connections(ctx: AppContext) -> int:
    """Terminate every other server connection to the test database, as a database restart would."""
    admin = create_engine(ctx.settings.database_url, poolclass=NullPool)  # outside the app's pool
    try:
        with admin.connect() as connection:
            dropped = connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
    finally:
        admin.dispose()
    return int(dropped)


def _context_with(ctx: AppContext, ping_after_idle_s: float) -> Iterator[AppContext]:
    engine = db.make_engine(ctx.settings.database_url, ping_after_idle_s=ping_after_idle_s)
    yield replace(ctx, engine=engine, sessions=db.make_sessionmaker(engine))
    engine.dispose()


def test_an_idle_connection_dropped_by_the_server_is_replaced_before_anyone_notices(pg_ctx, demo: Workspace):
    for ctx in _context_with(pg_ctx, ping_after_idle_s=0.0):  # every pooled connection counts as idle
        rep = Chat(ctx, demo, "rep@example.com")
        assert rep.say("what's next for Acme Corp").header == "Acme Corp: Discovery"
        assert _drop_server_connections(ctx) >= 1
        assert rep.say("what's next for Acme Corp").header == "Acme Corp: Discovery"


def test_a_busy_connection_dropped_by_the_server_fails_one_answer_and_the_next_is_answered(
    pg_ctx, demo: Workspace
):
    for ctx in _context_with(pg_ctx, ping_after_idle_s=3600.0):  # never pinged: in use a moment ago
        rep = Chat(ctx, demo, "rep@example.com")
        assert rep.say("what's next for Acme Corp").header == "Acme Corp: Discovery"
        assert _drop_server_connections(ctx) >= 1
        failed = rep.say("what's next for Acme Corp")
        assert failed.kind == "error" and "Reference:" in (failed.context or "")
        assert rep.say("what's next for Acme Corp").header == "Acme Corp: Discovery"
        assert rep.say("what's next for Acme Corp").header == "Acme Corp: Discovery"
