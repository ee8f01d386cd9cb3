"""Operations: `python -m scheduler status` tells if a clock runs and messages wait; stored settings fit."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

from bot.messages import Reply
from scheduler import lease
from scheduler.status import report
from storage import outbox
from storage.models import Platform
from tests.conftest import FIXED_NOW
from tests.test_playbook_validation import REPO


def test_status_names_the_clock_holding_the_lease_and_the_waiting_messages(ctx, demo):
    lease.acquire(ctx.sessions, "clock-a", FIXED_NOW, timedelta(seconds=60))
    with ctx.sessions.begin() as db:
        outbox.enqueue(
            db,
            key="k1",
            kind="nudge",
            workspace_id=demo.id,
            platform=Platform.LOCAL,
            reply=Reply(text="hello"),
            now=FIXED_NOW,
        )
    live, lines = report(ctx.sessions, lambda: FIXED_NOW + timedelta(seconds=30))
    assert live and "clock-a holds the lease" in lines[0] and "last renewed 30 s ago" in lines[0]
    assert lines[1].startswith("outbox: 1 pending, oldest waiting 30 s")
    live, lines = report(ctx.sessions, lambda: FIXED_NOW + timedelta(minutes=10))
    assert not live and "NOT RUNNING" in lines[0] and "9 min ago" in lines[0]


def test_status_command_exits_1_when_no_clock_has_run(ctx, database_url):
    result = subprocess.run(
        [sys.executable, "-m", "scheduler", "status"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": database_url},
        timeout=120,
    )
    assert result.returncode == 1 and "none has ever run" in result.stdout


def test_a_seven_day_week_is_stored_and_saturday_is_a_working_day(ctx, demo):
    from datetime import UTC, datetime

    from sqlalchemy import select

    from bot.localtime import Availability
    from storage.models import Person

    with ctx.sessions.begin() as db:  # 27 characters: did not fit before (PostgreSQL refused it)
        db.scalar(
            select(Person).where(Person.email == "rep@example.com")
        ).working_days = "mon,tue,wed,thu,fri,sat,sun"
    with ctx.sessions() as db:
        rep = db.scalar(select(Person).where(Person.email == "rep@example.com"))
        saturday_noon = datetime(2026, 11, 28, 18, 0, tzinfo=UTC)  # 12:00 in Chicago
        assert Availability.of(rep).allows(saturday_noon)
