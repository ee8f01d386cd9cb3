"""The outbox's test data: a Slack workspace of managers, a nudge to queue for them, and what reached Slack.
`slack` here is a Slack double that knows no users (the outbox only posts); `team` the workspace."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from bot.messages import Button, Reply, Section
from storage import outbox
from storage.models import OutboxMessage, Person, Platform
from storage.people import get_or_create_workspace
from tests.doubles.slack_api import SlackDouble
from tests.helpers.clock import FIXED_NOW, slack_clock

REPLY = Reply(
    text="Coaching nudge",
    header="3 reps are due for coaching",
    sections=(Section("- Riley Chen: Acme Corp skipped the Discovery gate", "Due this week"),),
    buttons=(Button("Log coaching", "coaching.log", "42"),),
)


@pytest.fixture
def slack():
    double = SlackDouble(clock=slack_clock()).start()
    yield double
    double.stop()


@pytest.fixture
def team(ctx):
    """A Slack workspace with a manager in Chicago (FIXED_NOW is Monday 09:00 there)."""
    with ctx.sessions.begin() as db:
        workspace = get_or_create_workspace(db, Platform.SLACK, "T0TEST", "Test team")
        people = [
            Person(
                organization_id=workspace.organization_id,
                email=f"m{i}@example.com",
                name=f"Manager {i}",
                role="manager",
                slack_user_id=f"U{i:03d}",
                timezone="America/Chicago",
                preferences={},
            )
            for i in range(3)
        ]
        db.add_all(people)
        db.flush()
        return workspace.id, [p.id for p in people]


def put(
    ctx,
    team,
    key: str,
    person_index: int = 0,
    now: datetime = FIXED_NOW,
    person_id: int | None = None,
    **kwargs,
) -> bool:
    """Enqueue REPLY for one of the team's people (by index, or by id)."""
    workspace_id, people = team
    with ctx.sessions.begin() as db:
        return outbox.enqueue(
            db,
            key=key,
            kind="nudge",
            workspace_id=workspace_id,
            platform=Platform.SLACK,
            reply=REPLY,
            now=now,
            person_id=person_id or people[person_index],
            **kwargs,
        )


def rows(ctx) -> list[OutboxMessage]:
    with ctx.sessions() as db:
        return list(db.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def keys_posted(slack) -> list[str]:
    return [
        m["metadata"]["event_payload"]["outbox_key"]
        for m in slack.posted()
        if m["method"] == "chat.postMessage"
    ]
