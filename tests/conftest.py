"""Shared fixtures: a real database (SQLite file, or PostgreSQL when TEST_DATABASE_URL is set), migrated
once per run with Alembic and emptied between tests, and a context wired like production."""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.context import AppContext
from bot.demo import load_if_empty
from bot.rendering import Renderer
from bot.settings import BUNDLED_PLAYBOOKS_DIR, Settings
from bot.web import RUNNER_OPTIONS, create_app
from playbooks.loader import load_library
from storage import db
from storage.models import Base, Platform, Workspace
from storage.people import LOCAL_WORKSPACE, get_or_create_workspace
from tests.doubles.bot_connector import BotConnectorDouble
from tests.doubles.people import (
    SLACK_NEWBIE,
    SLACK_RILEY,
    SLACK_SAM,
    SLACK_SECRET,
    SLACK_TEAM,
    TEAMS_ROSTER,
    TEAMS_TENANT,
)
from tests.doubles.server import BackgroundServer
from tests.doubles.slack_api import SlackDouble
from tests.helpers.chat import Chat
from tests.helpers.clock import FIXED_NOW, slack_clock


@pytest.fixture(scope="session", autouse=True)
def shifted_wall_clock() -> Iterator[None]:
    """TEST_CLOCK_SHIFT_DAYS=N runs the whole suite with this process's wall clock moved N days (time-machine,
    ticking): CI runs it a year forward and a year back to show that no test depends on today's date."""
    days = int(os.environ.get("TEST_CLOCK_SHIFT_DAYS") or 0)
    if not days:
        yield
        return
    import time_machine

    with time_machine.travel(datetime.now(UTC) + timedelta(days=days), tick=True):
        yield


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database for this test run: its own PostgreSQL database, or a SQLite file."""
    admin_url = os.environ.get("TEST_DATABASE_URL", "")
    if not admin_url.startswith("postgresql"):
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        db.upgrade(db.make_engine(url))
        yield url
        return
    name = f"enablement_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    engine = db.make_engine(url)
    db.upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, playbooks_dir=BUNDLED_PLAYBOOKS_DIR)


@pytest.fixture
def ctx(settings: Settings) -> Iterator[AppContext]:
    """A context on the test database, emptied first; the clock is frozen at FIXED_NOW."""
    engine = db.make_engine(settings.database_url)
    _empty(engine)
    context = AppContext(
        settings=settings,
        engine=engine,
        sessions=db.make_sessionmaker(engine),
        playbooks=load_library(settings.playbooks_dir),
        renderer=Renderer(),
        clock=lambda: FIXED_NOW,
    )
    yield context
    engine.dispose()


def _empty(engine) -> None:  # type: ignore[no-untyped-def]
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def demo(ctx: AppContext) -> Workspace:
    """The local workspace with the bundled demo people and deals (as `python -m bot chat` loads them)."""
    with ctx.sessions.begin() as session:
        workspace = get_or_create_workspace(session, *LOCAL_WORKSPACE, name="Local")
        load_if_empty(session, workspace.organization_id, ctx.playbooks, ctx.clock())
    return workspace


@pytest.fixture
def chat_as(ctx: AppContext, demo: Workspace) -> Callable[..., Chat]:
    return lambda email="rep@example.com", channel_id=None: Chat(ctx, demo, email, channel_id)


# -- Slack and Teams: the real web app on 127.0.0.1, with the platform doubles ------------------------


@pytest.fixture
def slack() -> Iterator[SlackDouble]:
    double = SlackDouble(
        users={u["id"]: u for u in (SLACK_RILEY, SLACK_SAM, SLACK_NEWBIE)}, clock=slack_clock()
    ).start()
    yield double
    double.stop()


@pytest.fixture
def slack_ctx(ctx: AppContext, slack: SlackDouble) -> AppContext:
    """The demo team, imported into a Slack workspace; the app configured for one workspace."""
    settings = ctx.settings.model_copy(
        update={
            "slack_signing_secret": SLACK_SECRET,
            "slack_bot_token": "xoxb-test",
            "slack_api_url": slack.url,
        }
    )
    with ctx.sessions.begin() as db:
        load_if_empty(
            db,
            get_or_create_workspace(db, Platform.SLACK, SLACK_TEAM, "Test team").organization_id,
            ctx.playbooks,
            ctx.clock(),
        )
    return dataclasses.replace(ctx, settings=settings)


@pytest.fixture
def slack_web(slack_ctx: AppContext, slack: SlackDouble) -> Iterator[tuple[BackgroundServer, SlackDouble]]:
    server = BackgroundServer(create_app(slack_ctx), **RUNNER_OPTIONS).start()
    yield server, slack
    server.stop()


@pytest.fixture
def connector() -> Iterator[BotConnectorDouble]:
    double = BotConnectorDouble(members=dict(TEAMS_ROSTER)).start()
    yield double
    double.stop()


@pytest.fixture
def teams_ctx(ctx: AppContext) -> AppContext:
    with ctx.sessions.begin() as db:
        load_if_empty(
            db,
            get_or_create_workspace(db, Platform.TEAMS, TEAMS_TENANT).organization_id,
            ctx.playbooks,
            ctx.clock(),
        )
    return ctx


@pytest.fixture
def teams_web(
    teams_ctx: AppContext, connector: BotConnectorDouble
) -> Iterator[tuple[BackgroundServer, BotConnectorDouble]]:
    server = BackgroundServer(create_app(teams_ctx), **RUNNER_OPTIONS).start()
    yield server, connector
    server.stop()
