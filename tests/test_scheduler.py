"""The clock and drainer processes: killed mid-batch, run twice at once, run as two clocks, and the
local-time rules (time zones, daylight saving, quiet hours) they apply, all with frozen or pretend clocks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time

import pytest
from sqlalchemy import select

from bot.localtime import Availability, daily_slot, local_at, weekly_slot, zone
from scheduler import lease
from scheduler.clock import run_clock
from scheduler.jobs import Job
from storage.models import OutboxMessage, OutboxStatus, Person
from tests.helpers import outbox as outbox_data
from tests.helpers.cli import REPO
from tests.helpers.clock import FIXED_NOW
from tests.helpers.outbox import keys_posted, put

slack = outbox_data.slack  # fixture: a Slack double that knows no users (the outbox only posts)
team = outbox_data.team  # fixture: a Slack workspace with three managers in Chicago

CHICAGO = zone("America/Chicago")


def scheduler_process(database_url: str, slack_url: str, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_API_URL": slack_url,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "scheduler", *args],
        cwd=REPO,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def many_managers(ctx, team, count: int) -> None:
    organization_id, _ = team
    with ctx.sessions.begin() as db:
        db.add_all(
            Person(
                organization_id=organization_id,
                email=f"x{i}@example.com",
                name=f"X {i}",
                role="manager",
                slack_user_id=f"UX{i:03d}",
                timezone="America/Chicago",
                preferences={},
            )
            for i in range(count)
        )


def enqueue_for_everyone(ctx, team) -> list[str]:
    organization_id, _ = team
    with ctx.sessions() as db:
        ids = list(db.scalars(select(Person.id).where(Person.organization_id == organization_id)))
    keys = [f"nudge:{person_id}:2026-W48" for person_id in ids]
    for key, person_id in zip(keys, ids, strict=True):
        put(ctx, team, key, person_id=person_id)
    return keys


def test_killing_the_drainer_mid_batch_loses_and_repeats_nothing(ctx, team, slack, database_url):
    many_managers(ctx, team, 17)
    keys = enqueue_for_everyone(ctx, team)
    assert len(keys) == 20
    origin = time.time()
    slack.clock = lambda: FIXED_NOW.timestamp() + (time.time() - origin)
    slack.latency = 0.15
    first = scheduler_process(database_url, slack.url, "run", "outbox", "--now", FIXED_NOW.isoformat())
    assert slack.wait_for(lambda: len(keys_posted(slack)) >= 5, timeout=60), first.communicate()
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    posted_before = len(keys_posted(slack))
    assert posted_before < 20
    with ctx.sessions() as db:
        assert (
            db.scalars(select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.SENDING)).first()
            is not None
        )
    slack.latency = 0.0
    later = FIXED_NOW + timedelta(minutes=5)  # past the claim lease: the dead drainer's rows are reconciled
    second = scheduler_process(database_url, slack.url, "run", "outbox", "--now", later.isoformat())
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert "reconciled" in out
    assert sorted(keys_posted(slack)) == sorted(keys)  # every message exactly once
    with ctx.sessions() as db:
        statuses = set(db.scalars(select(OutboxMessage.status)))
    assert statuses == {OutboxStatus.SENT}


def test_two_drainers_at_once_send_each_message_once(ctx, team, slack, database_url):
    many_managers(ctx, team, 27)
    keys = enqueue_for_everyone(ctx, team)
    slack.latency = 0.02
    processes = [
        scheduler_process(database_url, slack.url, "run", "outbox", "--now", FIXED_NOW.isoformat())
        for _ in range(2)
    ]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    assert sorted(keys_posted(slack)) == sorted(keys)


def test_run_command_errors(database_url):
    bogus = subprocess.run(
        [sys.executable, "-m", "scheduler", "run", "bogus"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": database_url},
    )
    assert (
        bogus.returncode == 2
        and "unknown job 'bogus' (jobs: coaching-nudges, crm-sync, digests, knowledge-checks, outbox, summaries)"
        in bogus.stderr
    )
    bad_time = subprocess.run(
        [sys.executable, "-m", "scheduler", "run", "outbox", "--now", "next tuesday"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": database_url},
    )
    assert bad_time.returncode == 2 and "'next tuesday' is not an ISO 8601 time" in bad_time.stderr


def test_local_workspace_messages_print_in_the_terminal(ctx, demo, database_url):
    from bot.messages import Reply
    from storage import outbox
    from storage.models import Platform
    from storage.people import person_by_email

    with ctx.sessions.begin() as db:
        riley = person_by_email(db, demo.organization_id, "rep@example.com")
        outbox.enqueue(
            db,
            key="quiz:riley:2026-11-23",
            kind="quiz",
            workspace_id=demo.id,
            platform=Platform.LOCAL,
            reply=Reply("Quiz time", header="Quiz time"),
            now=FIXED_NOW,
            person_id=riley.id,
        )
    result = subprocess.run(
        [sys.executable, "-m", "scheduler", "run", "outbox", "--now", "2026-11-23T15:00"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": database_url},
    )
    assert result.returncode == 0, result.stderr
    assert "--- to Riley Chen <rep@example.com> (quiz)\nQuiz time" in result.stdout
    assert "outbox: 1 sent" in result.stdout
    status = subprocess.run(
        [sys.executable, "-m", "bot", "outbox", "status"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": database_url},
    )
    assert "outbox: pending 0, sending 0, sent 1, dead 0, skipped 0" in status.stdout


# -- the clock lease ---------------------------------------------------------------------------------


def test_only_one_clock_holds_the_lease(ctx):
    ttl = timedelta(seconds=60)
    assert lease.acquire(ctx.sessions, "a", FIXED_NOW, ttl)
    assert not lease.acquire(ctx.sessions, "b", FIXED_NOW + timedelta(seconds=30), ttl)
    assert lease.acquire(ctx.sessions, "a", FIXED_NOW + timedelta(seconds=30), ttl)  # renewal
    assert not lease.acquire(ctx.sessions, "b", FIXED_NOW + timedelta(seconds=89), ttl)
    assert lease.acquire(ctx.sessions, "b", FIXED_NOW + timedelta(seconds=91), ttl)  # a died: b takes over
    assert not lease.acquire(ctx.sessions, "a", FIXED_NOW + timedelta(seconds=92), ttl)  # a is back: too late
    lease.release(ctx.sessions, "b")
    assert lease.current(ctx.sessions) is None


def test_a_standby_clock_runs_no_job_until_the_lease_expires(ctx):
    runs: list[str] = []
    jobs = {"probe": Job(lambda _ctx, _clock: runs.append("ran") or "ok", 1, "records that it ran")}
    lease.acquire(
        ctx.sessions, "dead-clock", datetime.now(UTC), timedelta(seconds=3)
    )  # a clock that stopped renewing
    stop = threading.Event()
    thread = threading.Thread(
        target=run_clock,
        args=(ctx,),
        kwargs={
            "jobs": jobs,
            "stop": stop,
            "holder": "standby",
            "ttl": timedelta(seconds=5),
            "renew_every": 0.2,
        },
    )
    thread.start()
    try:
        time.sleep(2)
        assert runs == []
        assert lease.current(ctx.sessions).holder == "dead-clock"
        deadline = time.monotonic() + 10
        while not runs and time.monotonic() < deadline:
            time.sleep(0.1)
        assert runs, "the standby never took over"
        assert lease.current(ctx.sessions).holder == "standby"
    finally:
        stop.set()
        thread.join(20)
    assert lease.current(ctx.sessions) is None  # released on a clean stop


# -- local time, daylight saving, quiet hours --------------------------------------------------------


def availability(
    tz: str = "America/Chicago",
    days: str = "mon,tue,wed,thu,fri",
    quiet: tuple[str, str] = ("19:00", "08:00"),
) -> Availability:
    return Availability.of(
        type("P", (), {"timezone": tz, "working_days": days, "quiet_start": quiet[0], "quiet_end": quiet[1]})
    )


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_weekly_slot_keeps_local_time_across_the_dst_change():
    # Chicago leaves daylight saving on Sunday 1 November 2026.
    before_key, before = weekly_slot(CHICAGO, 0, clock_time(9), utc("2026-10-28T12:00:00+00:00"))
    after_key, after = weekly_slot(CHICAGO, 0, clock_time(9), utc("2026-11-04T12:00:00+00:00"))
    assert (before_key, before) == ("2026-W44", utc("2026-10-26T14:00:00+00:00"))  # 09:00 CDT
    assert (after_key, after) == ("2026-W45", utc("2026-11-02T15:00:00+00:00"))  # 09:00 CST
    # A tick that runs late in the week (a restart) finds the same key: no skip, no double.
    assert weekly_slot(CHICAGO, 0, clock_time(9), utc("2026-11-08T05:00:00+00:00"))[0] == "2026-W45"


def test_weekly_key_follows_the_local_week_not_utc():
    # Sunday 22:00 in Los Angeles is already Monday in UTC, but still the old week there.
    key, _ = weekly_slot(zone("America/Los_Angeles"), 0, clock_time(9), utc("2026-11-30T06:00:00+00:00"))
    assert key == "2026-W48"


def test_daily_slot_in_different_zones():
    now = utc("2026-11-23T12:00:00+00:00")
    assert daily_slot(zone("Asia/Tokyo"), clock_time(9, 30), now) == (
        "2026-11-23",
        utc("2026-11-23T00:30:00+00:00"),
    )
    assert daily_slot(zone("Pacific/Auckland"), clock_time(9, 30), now) == (
        "2026-11-24",
        utc("2026-11-23T20:30:00+00:00"),
    )


def test_wall_times_skipped_or_repeated_by_dst():
    assert local_at(datetime(2027, 3, 14).date(), clock_time(2, 30), CHICAGO) == utc(
        "2027-03-14T08:30:00+00:00"
    )
    assert local_at(datetime(2026, 11, 1).date(), clock_time(1, 30), CHICAGO) == utc(
        "2026-11-01T06:30:00+00:00"
    )


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-11-23T15:00:00+00:00", "2026-11-23T15:00:00+00:00"),  # Monday 09:00: send now
        ("2026-11-24T02:00:00+00:00", "2026-11-24T14:00:00+00:00"),  # Monday 20:00: Tuesday 08:00
        ("2026-11-27T23:30:00+00:00", "2026-11-30T14:00:00+00:00"),  # Friday 17:30 is fine...
        ("2026-11-28T01:30:00+00:00", "2026-11-30T14:00:00+00:00"),  # ...Friday 19:30 waits for Monday
        (
            "2026-10-31T18:00:00+00:00",
            "2026-11-02T14:00:00+00:00",
        ),  # Saturday before DST ends: Monday 08:00 CST
    ],
)
def test_quiet_hours_and_working_days(now, expected):
    if now == "2026-11-27T23:30:00+00:00":
        assert availability().next_allowed(utc(now)) == utc(now)
        return
    assert availability().next_allowed(utc(now)) == utc(expected)


def test_quiet_hours_within_one_day_and_a_sunday_worker():
    shift = availability(tz="Europe/Berlin", days="sun,mon", quiet=("12:00", "13:00"))
    assert shift.next_allowed(utc("2026-11-22T11:30:00+00:00")) == utc(
        "2026-11-22T12:00:00+00:00"
    )  # Sunday 12:30 -> 13:00
    assert shift.next_allowed(utc("2026-11-24T09:00:00+00:00")) == utc(
        "2026-11-28T23:00:00+00:00"
    )  # Tuesday -> Sunday 00:00
    never_quiet = availability(days="mon,tue,wed,thu,fri,sat,sun", quiet=("00:00", "00:00"))
    assert never_quiet.next_allowed(utc("2026-11-22T03:00:00+00:00")) == utc("2026-11-22T03:00:00+00:00")
