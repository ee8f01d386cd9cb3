"""Days in plain language for pauses, read in the person's time zone on a frozen clock; a pause holds the
weekly digest as well as the nudges."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from bot.dates import DateProblem, resolve
from handlers.coaching.nudges import enqueue_nudges
from handlers.summaries.digest import enqueue_digests

THURSDAY = date(2026, 12, 3)


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("tomorrow", "2026-12-04"),
        ("for 2 weeks", "2026-12-17"),
        ("for a week", "2026-12-10"),
        ("for three days", "2026-12-06"),
        ("for a couple of weeks", "2026-12-17"),
        ("for a month", "2027-01-03"),
        ("until Friday", "2026-12-04"),
        ("until Thursday", "2026-12-10"),  # the next one, never today
        ("next week", "2026-12-07"),
        ("until 24 Dec", "2026-12-24"),
        ("till December 24th", "2026-12-24"),
        ("until 1 Dec", "2027-12-01"),
        ("until 2 Dec 2027", "2027-12-02"),
        ("Dec 2, 2027", "2027-12-02"),
        ("2027-01-15", "2027-01-15"),
    ],
)
def test_days_people_type(words, expected):
    assert resolve(words, THURSDAY).day.isoformat() == expected


def test_a_date_that_has_passed_this_year_says_it_means_next_year():
    assert resolve("until 1 Dec", THURSDAY).note == "1 Dec has passed this year, so that is next year"
    assert resolve("until 24 Dec", THURSDAY).note == ""


@pytest.mark.parametrize(
    ("words", "problem"),
    [
        ("2025-12-02", "Tuesday 02 December 2025 is in the past; pick a day after today."),
        ("2 Dec 2026", "Wednesday 02 December 2026 is in the past; pick a day after today."),
        ("today", "That is today (Thursday 03 December 2026); pick a day after today."),
        ("5 Dec 2028", "Tuesday 05 December 2028 is more than a year away; pick a nearer day."),
        ("31 Feb", 'I couldn\'t read "31 Feb" as a day.'),
        ("whenever", 'I couldn\'t read "whenever" as a day. Try "tomorrow", "for 2 weeks"'),
    ],
)
def test_days_that_cannot_be_used_are_refused_with_the_reason(words, problem):
    with pytest.raises(DateProblem) as refused:
        resolve(words, THURSDAY)
    assert str(refused.value).startswith(problem)


def test_pausing_in_chat_states_the_day_in_the_managers_time_zone(ctx, chat_as):
    # the suite's clock is Monday 23 Nov 2026, 15:00 UTC: 09:00 in Chicago
    manager = chat_as("manager@example.com")
    reply = manager.say("pause nudges for 2 weeks").plain_text()
    assert reply.startswith(
        "Coaching nudges and weekly digests paused until Monday 07 December 2026, America/Chicago time"
    )
    assert "until Tuesday 24 November 2026" in manager.say("pause nudges tomorrow").plain_text()
    late = manager.say("pause nudges until 1 Nov").plain_text()
    assert "Monday 01 November 2027 (1 Nov has passed this year, so that is next year)" in late
    past = manager.say("pause nudges until 2025-12-02")
    assert past.kind == "error" and "is in the past" in past.plain_text()
    assert "Tuesday 02 December 2025" in past.plain_text()


def test_a_pause_holds_the_weekly_digest_too(ctx, chat_as):
    monday_8am_chicago = datetime.fromisoformat("2026-11-23T14:00:00+00:00")
    manager = chat_as("manager@example.com")
    manager.say("pause nudges until 8 Dec")
    assert enqueue_digests(ctx, monday_8am_chicago) == 0
    assert enqueue_digests(ctx, monday_8am_chicago + timedelta(days=7)) == 0
    assert enqueue_nudges(ctx, monday_8am_chicago + timedelta(days=7, hours=1)) == 0
    assert enqueue_digests(ctx, monday_8am_chicago + timedelta(days=21)) == 1  # 14 Dec: back
    manager.say("resume nudges")
    assert enqueue_digests(ctx, monday_8am_chicago + timedelta(days=14)) == 1


def test_enablement_gets_a_weekly_organization_report_a_pause_holds_it(ctx, chat_as):
    from tests.helpers.chat import deliver

    monday_8am_london = datetime.fromisoformat("2026-11-23T08:00:00+00:00")
    from handlers.enablement_digest import enqueue_enablement_digests

    assert enqueue_enablement_digests(ctx, monday_8am_london - timedelta(minutes=1)) == 0
    assert enqueue_enablement_digests(ctx, monday_8am_london) == 1
    assert enqueue_enablement_digests(ctx, monday_8am_london + timedelta(hours=1)) == 0  # once a week
    shown = deliver(ctx, monday_8am_london + timedelta(hours=1))
    assert "--- to Avery Brooks <enablement@example.com> (edigest)" in shown
    assert "Weekly enablement report: Local" in shown and "Where deals stall" in shown
    assert "What reps know" in shown
    chat_as("enablement@example.com").say("pause digests until 8 Dec")
    assert enqueue_enablement_digests(ctx, monday_8am_london + timedelta(days=7)) == 0
    assert enqueue_enablement_digests(ctx, monday_8am_london + timedelta(days=21)) == 1


def test_todays_own_date_is_today_not_next_year_and_29_february_says_why_it_is_next_year():
    with pytest.raises(DateProblem, match="That is today"):
        resolve("until 3 Dec", THURSDAY)
    leap = resolve("until 29 Feb", date(2027, 3, 1))  # 2027 has no 29 February; 2028 has
    assert leap.day == date(2028, 2, 29) and "there is no 29 Feb this year" in leap.note
