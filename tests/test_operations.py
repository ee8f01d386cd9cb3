"""Operations: `python -m scheduler status` tells if a clock runs and messages wait; stored settings fit."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import timedelta

from sqlalchemy import select

from bot.messages import Reply
from scheduler import lease
from scheduler.status import report
from storage import outbox
from storage.models import OutboxMessage, Platform
from tests.helpers.cli import REPO
from tests.helpers.clock import FIXED_NOW


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


def test_the_clock_logs_one_line_per_run_that_did_something(ctx, demo, caplog):
    from datetime import datetime, timedelta

    from bot.channels.senders import build_senders
    from scheduler.clock import _logged
    from scheduler.jobs import make_jobs

    monday_8am_chicago = datetime.fromisoformat("2026-11-23T14:00:00+00:00")
    sunday = datetime.fromisoformat("2026-11-22T14:00:00+00:00")
    jobs = make_jobs(build_senders)
    caplog.set_level(logging.DEBUG, logger="scheduler")
    for name in ("outbox", "digests", "coaching-nudges"):
        _logged(name, jobs[name].run, ctx, lambda: sunday)()
    quiet = [r for r in caplog.records if r.name == "scheduler"]
    assert len(quiet) == 3 and all(r.levelno == logging.DEBUG for r in quiet)
    caplog.clear()
    _logged("digests", jobs["digests"].run, ctx, lambda: monday_8am_chicago)()
    later = make_jobs(build_senders)["outbox"].run  # (a drainer keeps the clock it was made with)
    _logged("outbox", later, ctx, lambda: monday_8am_chicago + timedelta(hours=5))()
    info = [r.getMessage() for r in caplog.records if r.name == "scheduler" and r.levelno == logging.INFO]
    assert info[0] == "digests: 2 queued"  # Morgan's team summary and Avery's enablement report
    assert info[1].startswith("outbox: 1 sent") and "outbox: outbox:" not in info[1]
    assert len(info) == 2
    with ctx.sessions() as db:
        sent = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "digest")).one()
        assert sent.status.value == "sent"
