"""Migrations on databases that hold data: every row kept, on SQLite and on PostgreSQL.

The database is filled at an older revision the way the code of that time wrote it (rows written into the
tables as they were then), then upgraded with `storage.db.upgrade`, as `python -m bot db upgrade` does.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import MetaData, create_engine, func, select, text
from sqlalchemy.engine import Engine, make_url

from bot.context import AppContext
from bot.messages import Request
from bot.rendering import Renderer
from bot.router import handle
from bot.settings import BUNDLED_PLAYBOOKS_DIR, Settings
from playbooks.loader import load_library
from storage import db
from storage.models import Deal, Organization, Person, Platform, Workspace
from storage.people import get_or_create_workspace
from tests.helpers.clock import FIXED_NOW

DATA_TABLES = (
    "people",
    "deals",
    "deal_stage_changes",
    "criterion_events",
    "criterion_status",
    "quiz_questions",
    "review_cards",
    "coaching_sessions",
    "conversation_refs",
    "outbox",
)
THEN = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
def empty_url(tmp_path) -> Iterator[str]:
    """A database of its own with nothing in it: a SQLite file, or a new PostgreSQL database."""
    admin_url = os.environ.get("TEST_DATABASE_URL", "")
    if not admin_url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    name = f"enablement_migrate_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def fill_at_0009(engine: Engine) -> None:
    """Three workspaces as they were before organizations (the terminal, a Slack workspace of an
    Enterprise Grid org, a Teams tenant), each with a manager, a rep, a deal and its history."""
    tables = MetaData()
    tables.reflect(engine)
    t = tables.tables
    ways = [
        (1, "local", "local", None, "Local", {"quiz_per_day": 3}),
        (2, "slack", "T0ACME", "E0GRID", "Acme Slack", {}),
        (3, "teams", "tenant-globex", None, "Globex", {}),
    ]
    with engine.begin() as c:
        for wid, platform, external, grid, name, settings in ways:
            c.execute(
                t["workspaces"].insert(),
                dict(id=wid, platform=platform, external_id=external, enterprise_id=grid, name=name,
                     settings=settings, created_at=THEN),
            )
            manager, rep = wid * 10, wid * 10 + 1
            for pid, role, boss in ((manager, "manager", None), (rep, "rep", manager)):
                c.execute(
                    t["people"].insert(),
                    dict(id=pid, workspace_id=wid, email=f"{role}{wid}@example.com", name=f"{role.title()} {wid}",
                         role=role, manager_id=boss, timezone="America/Chicago", quiet_start="20:00",
                         quiet_end="08:00", working_days="mon,tue,wed,thu,fri", preferences={}, active=True,
                         slack_user_id=f"U{pid}" if platform == "slack" else None,
                         teams_user_id=f"29:{pid}" if platform == "teams" else None, created_at=THEN),
                )
            deal = wid * 100
            c.execute(
                t["deals"].insert(),
                dict(id=deal, workspace_id=wid, name=f"Deal of {name}", owner_id=rep, playbook_id="enterprise",
                     stage_id="evaluation", status="open", crm_id=f"CRM-{wid}", stage_entered_at=THEN,
                     created_at=THEN),
            )
            c.execute(
                t["deal_stage_changes"].insert(),
                dict(id=deal, workspace_id=wid, deal_id=deal, from_stage_id="discovery", to_stage_id="evaluation",
                     changed_by_id=rep, skipped_criteria=[], changed_at=THEN),
            )
            c.execute(
                t["criterion_events"].insert(),
                dict(id=deal, workspace_id=wid, deal_id=deal, playbook_id="enterprise", stage_id="discovery",
                     criterion_id="pain-confirmed", criterion_text="Pain confirmed", confirmed=True,
                     actor_id=rep, buyer_name="Dana Lee", evidence="call notes", created_at=THEN),
            )
            c.execute(
                t["criterion_status"].insert(),
                dict(deal_id=deal, stage_id="discovery", criterion_id="pain-confirmed", workspace_id=wid,
                     playbook_id="enterprise", confirmed=True, event_id=deal, changed_at=THEN),
            )
            c.execute(
                t["quiz_questions"].insert(),
                dict(id=wid, workspace_id=wid, external_id=f"q-{wid}", topic="discovery", question="Which?",
                     choices=["a", "b"], answer=1, explanation="b", audience="all reps", active=True, version=1,
                     updated_at=THEN),
            )
            c.execute(
                t["review_cards"].insert(),
                dict(id=wid, workspace_id=wid, person_id=rep, question_id=wid, card={}, due=THEN, created_at=THEN),
            )
            c.execute(
                t["coaching_sessions"].insert(),
                dict(id=wid, workspace_id=wid, manager_id=manager, rep_id=rep, area="discovery", occurred_at=THEN,
                     created_at=THEN),
            )
            c.execute(
                t["conversation_refs"].insert(),
                dict(id=wid, workspace_id=wid, person_id=rep, platform=platform, reference={"to": rep},
                     reachable=True, updated_at=THEN),
            )
            c.execute(
                t["outbox"].insert(),
                dict(id=wid, workspace_id=wid, idempotency_key=f"nudge:{rep}:w", kind="nudge", platform=platform,
                     person_id=rep, target={}, payload={}, status="pending", attempts=0, next_attempt_at=THEN,
                     created_at=THEN),
            )


def counts(engine: Engine) -> dict[str, list[tuple[int, int]]]:
    """Per table: (row id or deal id, owning workspace/organization id) of every row."""
    with engine.connect() as c:
        return {
            table: sorted(
                tuple(row)
                for row in c.execute(
                    text(f"SELECT {'deal_id' if table == 'criterion_status' else 'id'}, workspace_id FROM {table}")
                )
            )
            for table in DATA_TABLES
        }


def test_0010_turns_each_workspace_into_an_organization_and_keeps_every_row(empty_url):
    engine = db.make_engine(empty_url)
    db.upgrade(engine, "0009")
    fill_at_0009(engine)
    before = counts(engine)
    assert {table: len(rows) for table, rows in before.items()} == dict.fromkeys(DATA_TABLES, 3) | {"people": 6}

    db.upgrade(engine)

    assert counts(engine) == before  # every row, still owned by the same id (now its organization)
    sessions = db.make_sessionmaker(engine)
    with sessions() as s:
        organizations = s.execute(select(Organization.id, Organization.name, Organization.settings)).all()
        assert sorted(organizations) == [
            (1, "Local", {"quiz_per_day": 3}),
            (2, "Acme Slack", {}),
            (3, "Globex", {}),
        ]
        ways = s.execute(
            select(Workspace.id, Workspace.organization_id, Workspace.platform, Workspace.external_id,
                   Workspace.enterprise_id)
        ).all()
        assert sorted(ways) == [
            (1, 1, Platform.LOCAL, "local", None),
            (2, 2, Platform.SLACK, "T0ACME", "E0GRID"),
            (3, 3, Platform.TEAMS, "tenant-globex", None),
        ]

    # the upgraded database works: a rep asks in Slack (way in 2) and gets their deal, not another's
    ctx = AppContext(
        settings=Settings(database_url=empty_url, playbooks_dir=BUNDLED_PLAYBOOKS_DIR),
        engine=engine,
        sessions=sessions,
        playbooks=load_library(BUNDLED_PLAYBOOKS_DIR),
        renderer=Renderer(),
        clock=lambda: FIXED_NOW,
    )
    answer = handle(ctx, Request(2, 21, text="my deals")).plain_text()
    assert "Deal of Acme Slack" in answer and "Globex" not in answer

    # new rows continue after the old ids (PostgreSQL's sequences were carried over)
    with sessions.begin() as s:
        grid_team = get_or_create_workspace(s, Platform.SLACK, "T0ACME2", enterprise_id="E0GRID")
        assert grid_team.id == 4 and grid_team.organization_id == 2  # the same Grid org: the same organization
        tenant = get_or_create_workspace(s, Platform.TEAMS, "tenant-new")
        assert tenant.organization_id == 4  # three organizations already: a new tenant starts its own
        s.add(Deal(organization_id=2, name="Next", owner_id=21, playbook_id="enterprise", stage_id="discovery",
                   stage_entered_at=FIXED_NOW))
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Person)) == 6
    engine.dispose()


def test_0010_downgrades_while_each_organization_has_one_way_in(empty_url):
    engine = db.make_engine(empty_url)
    db.upgrade(engine, "0009")
    fill_at_0009(engine)
    before = counts(engine)
    db.upgrade(engine)
    db.downgrade(engine, "0009")
    assert counts(engine) == before
    with engine.connect() as c:
        assert sorted(c.execute(text("SELECT id, platform, external_id FROM workspaces")).all()) == [
            (1, "local", "local"),
            (2, "slack", "T0ACME"),
            (3, "teams", "tenant-globex"),
        ]
    engine.dispose()
