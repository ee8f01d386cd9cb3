"""Shared fixtures: a real database (SQLite file, or PostgreSQL when TEST_DATABASE_URL is set), migrated
once per run with Alembic and emptied between tests, and a context wired like production."""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.context import AppContext
from bot.demo import load_if_empty
from bot.messages import Click, Reply, Request
from bot.rendering import Renderer
from bot.router import handle
from bot.settings import BUNDLED_PLAYBOOKS_DIR, Settings
from bot.web import RUNNER_OPTIONS, create_app
from playbooks.loader import load_library
from storage import db
from storage.models import Base, Person, Platform, Workspace
from storage.people import LOCAL_WORKSPACE, get_or_create_workspace, person_by_email
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

FIXED_NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # a Monday


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


class Chat:
    """Talk to the real router as a person, the way a channel does, remembering the last buttons."""

    def __init__(self, ctx: AppContext, workspace: Workspace, email: str, channel_id: str | None = None):
        self.ctx = ctx
        with ctx.sessions() as session:
            person = person_by_email(session, workspace.organization_id, email)
            assert person is not None, email
            self.person_id = person.id
        self.workspace_id = workspace.id  # the way in (the terminal, unless a test says otherwise)
        self.channel_id = channel_id
        self.last: Reply | None = None

    def say(self, text: str) -> Reply:
        self.last = handle(
            self.ctx, Request(self.workspace_id, self.person_id, text=text, channel_id=self.channel_id)
        )
        return self.last

    def click(self, label_part: str) -> Reply:
        """Press the button of the last reply whose label contains `label_part`."""
        assert self.last is not None
        matches = [b for b in self.last.buttons if label_part in b.label]
        assert len(matches) == 1, f"buttons: {[b.label for b in self.last.buttons]}"
        return self.press(matches[0].action, matches[0].value)

    def press(self, action: str, value: str) -> Reply:
        self.last = handle(self.ctx, Request(self.workspace_id, self.person_id, click=Click(action, value)))
        return self.last


@pytest.fixture
def chat_as(ctx: AppContext, demo: Workspace) -> Callable[..., Chat]:
    return lambda email="rep@example.com", channel_id=None: Chat(ctx, demo, email, channel_id)


def add_person(
    ctx: AppContext,
    workspace: Workspace,
    email: str,
    name: str,
    role: str = "rep",
    manager: str | None = None,
) -> int:
    with ctx.sessions.begin() as session:
        boss = person_by_email(session, workspace.organization_id, manager) if manager else None
        person = Person(
            organization_id=workspace.organization_id,
            email=email,
            name=name,
            role=role,
            manager_id=boss.id if boss else None,
            preferences={},
        )
        session.add(person)
        session.flush()
        return person.id


def deliver(ctx: AppContext, now: datetime) -> str:
    """Send what is due in the local workspace's outbox at `now`, composing scheduled messages the way the
    clock's drainer does; returns what the terminal would show."""
    import io
    from functools import partial

    from bot.channels.console import LocalSender
    from bot.delivery import Drainer
    from handlers.proactive import compose

    out = io.StringIO()
    drainer = Drainer(
        ctx.sessions, {Platform.LOCAL: LocalSender(out)}, "test", lambda: now, compose=partial(compose, ctx)
    )
    drainer.drain()
    return out.getvalue()


def other_workspace(ctx: AppContext, external_id: str = "T0OTHER") -> Workspace:
    with ctx.sessions.begin() as session:
        # another customer's install: its own organization, never joined to the demo's
        return get_or_create_workspace(session, Platform.SLACK, external_id, name="Other", join_single=False)


REPO = Path(__file__).resolve().parent.parent


# -- Slack and Teams: the real web app on 127.0.0.1, with the platform doubles ------------------------


def slack_clock() -> Callable[[], float]:
    """Slack stamps messages ("ts") with its own clock; in tests it runs from the frozen FIXED_NOW, as the
    real one agrees with the bot's clock in production (the outbox reconciler searches history by time)."""
    started = time.monotonic()
    return lambda: FIXED_NOW.timestamp() + (time.monotonic() - started)


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
            db, get_or_create_workspace(db, Platform.TEAMS, TEAMS_TENANT).organization_id, ctx.playbooks, ctx.clock()
        )
    return ctx


@pytest.fixture
def teams_web(
    teams_ctx: AppContext, connector: BotConnectorDouble
) -> Iterator[tuple[BackgroundServer, BotConnectorDouble]]:
    server = BackgroundServer(create_app(teams_ctx), **RUNNER_OPTIONS).start()
    yield server, connector
    server.stop()
