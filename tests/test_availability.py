"""Public holidays, working days, quiet hours and paused knowledge checks, set in chat and honoured by
every proactive flow (knowledge checks, coaching nudges, digests), with a frozen clock across time zones
and daylight-saving changes."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from handlers.coaching.nudges import enqueue_nudges
from handlers.quizzes.daily import enqueue_knowledge_checks
from handlers.summaries.digest import enqueue_digests
from storage.models import OutboxMessage, OutboxStatus, Person
from tests.helpers.chat import deliver


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text + "+00:00")


def queued(ctx, kind: str) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    with ctx.sessions() as db:
        return list(
            db.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id))
        )


def person(ctx, email: str) -> Person:  # type: ignore[no-untyped-def]
    with ctx.sessions() as db:
        return db.scalar(select(Person).where(Person.email == email))


# -- set in chat ---------------------------------------------------------------------------------------


def test_working_days_are_set_in_chat_with_a_confirmation_and_clear_errors(ctx, chat_as):
    chat = chat_as()
    reply = chat.say("my working days are Sun–Thu")
    assert reply.text.startswith("Your working days are now Sunday, Monday, Tuesday, Wednesday, Thursday.")
    assert person(ctx, "rep@example.com").working_days == "sun,mon,tue,wed,thu"
    assert chat.say("i work weekdays").text.startswith("Your working days are now Monday, Tuesday")
    assert chat.say("My working days are Mon, Wed and Fri").text.startswith(
        "Your working days are now Monday, Wednesday, Friday."
    )
    bad = chat.say("my working days are Mon-Fry")
    assert bad.kind == "error"
    assert (
        bad.text == 'Your working days are unchanged: "fry" is not a day of the week. Did you mean "Friday"?'
    )
    assert person(ctx, "rep@example.com").working_days == "mon,wed,fri"


def test_quiet_hours_are_set_in_chat(ctx, chat_as):
    chat = chat_as()
    assert chat.say("quiet hours 20:00–07:00").text.startswith(
        "Quiet hours set: I won't message you between 20:00 and 07:00 (America/Chicago time)."
    )
    assert chat.say("quiet hours 9pm to 6:30am").text.startswith(
        "Quiet hours set: I won't message you between 21:00 and 06:30"
    )
    rep = person(ctx, "rep@example.com")
    assert (rep.quiet_start, rep.quiet_end) == ("21:00", "06:30")
    bad = chat.say("quiet hours 25:00-07:00")
    assert bad.kind == "error" and 'I couldn\'t read "25:00" as a time.' in bad.text
    assert chat.say("quiet hours 7:00-7am").kind == "error"  # same start and end
    assert person(ctx, "rep@example.com").quiet_start == "21:00"


def test_country_and_region_are_checked_against_the_holiday_calendars(ctx, chat_as):
    chat = chat_as()
    reply = chat.say("my country is DE")
    assert reply.text.startswith(
        "Got it: you work in Germany. I won't send you knowledge checks, nudges or digests"
    )
    assert (
        "The next one is Christmas Day on Friday 25 December 2026." in reply.text
    )  # the clock is 23 Nov 2026
    assert chat.say("my region is BY").text.startswith("Got it: you work in Germany (BY).")
    prefs = person(ctx, "rep@example.com").preferences
    assert (prefs["country"], prefs["region"]) == ("DE", "BY")
    unknown = chat.say("my country is Germny")
    assert unknown.kind == "error"
    assert unknown.text.startswith(
        'Your country is unchanged: I don\'t know the public holidays of "Germny". Did you mean Germany'
    )
    # A suggestion is a country like the one typed, not a two-letter code that happens to occur in it.
    assert chat.say("my country is Frnace").text == (
        'Your country is unchanged: I don\'t know the public holidays of "Frnace". Did you mean France?'
    )
    assert "Did you mean BY or " in chat.say("my country is DE, region BYY").text  # the closest first
    region = chat.say("my country is US, state XX")
    assert region.kind == "error" and '"XX" is not a region of United States.' in region.text
    assert "Its regions: AK, AL" in region.text
    assert person(ctx, "rep@example.com").preferences["country"] == "DE"
    chat.say("my country is US")  # a new country drops the old region
    assert "region" not in person(ctx, "rep@example.com").preferences
    shown = chat.say("my availability").plain_text()
    assert "- Public holidays: United States; next: Thanksgiving Day, 26 November" in shown


# -- honoured by every proactive flow ----------------------------------------------------------------------


def test_no_knowledge_check_on_a_public_holiday_where_the_rep_works(ctx, chat_as):
    chat_as().say("my country is US")  # Riley, Chicago; Sam (New York) set no country
    thanksgiving = utc("2026-11-26T15:30")  # Thursday 09:30 in Chicago
    assert enqueue_knowledge_checks(ctx, thanksgiving - timedelta(hours=1)) == 1  # Sam, 09:30 in New York
    assert enqueue_knowledge_checks(ctx, thanksgiving) == 0  # Riley: a holiday in the US
    friday = thanksgiving + timedelta(days=1)
    assert enqueue_knowledge_checks(ctx, friday) == 2  # Riley, and Sam (10:30 in New York, in the grace)
    riley = person(ctx, "rep@example.com").id
    assert [m.idempotency_key.split(":")[-1] for m in queued(ctx, "quiz") if m.person_id == riley] == [
        "2026-11-27"
    ]


def test_a_regional_holiday_counts_only_in_its_region_and_the_slot_follows_dst(ctx, demo, chat_as):
    from tests.helpers.chat import add_person

    for email, region in (("bea@example.com", "BY"), ("nils@example.com", "NW")):
        add_person(ctx, demo, email, email.split("@")[0].title())
        chat_as(email).say(f"my country is DE, region {region}")
        with ctx.sessions.begin() as db:
            db.scalar(select(Person).where(Person.email == email)).timezone = "Europe/Berlin"
    epiphany = utc("2027-01-06T08:30")  # Wednesday 09:30 in Berlin (CET, UTC+1): a holiday in Bavaria only
    assert enqueue_knowledge_checks(ctx, epiphany) == 1
    (message,) = queued(ctx, "quiz")
    assert message.person_id == person(ctx, "nils@example.com").id
    # Corpus Christi, 27 May 2027, is a holiday in both; Berlin is on summer time (UTC+2) then
    corpus_christi = utc("2027-05-27T07:30")
    assert enqueue_knowledge_checks(ctx, corpus_christi) == 0
    assert enqueue_knowledge_checks(ctx, corpus_christi + timedelta(days=1)) == 2  # Friday 09:30 CEST


def test_a_coaching_nudge_and_a_digest_on_a_holiday_wait_for_the_next_working_day(ctx, demo, chat_as):
    chat_as("manager@example.com").say("my country is US")
    memorial_day = utc("2027-05-31T14:00")  # Monday 09:00 in Chicago (CDT), Memorial Day
    assert enqueue_nudges(ctx, memorial_day) == 1
    assert enqueue_digests(ctx, memorial_day) == 1
    assert deliver(ctx, memorial_day + timedelta(minutes=5)) == ""  # held
    with ctx.sessions() as db:
        held = list(db.scalars(select(OutboxMessage).where(OutboxMessage.kind.in_(("nudge", "digest")))))
    assert {m.status for m in held} == {OutboxStatus.PENDING}
    tuesday_0800 = utc("2027-06-01T13:00")  # the end of the manager's quiet hours on Tuesday
    assert {m.next_attempt_at for m in held} == {tuesday_0800}
    sent = deliver(ctx, tuesday_0800)
    assert "to Morgan Patel" in sent


def test_pause_quizzes_until_a_date_holds_knowledge_checks_until_that_day(ctx, chat_as):
    from tests.helpers.clock import MONDAY_0930_CHICAGO

    chat = chat_as()
    reply = chat.say("pause quizzes until 25 Nov")
    assert reply.text.startswith(
        "Knowledge checks paused: the next one comes on your first working day from Wednesday 25 November 2026."
    )
    bad = chat.say("pause quizzes until someday")
    assert bad.kind == "error" and 'I couldn\'t read "someday" as a day.' in bad.text
    sam_0930 = MONDAY_0930_CHICAGO - timedelta(hours=1)
    for day in range(3):  # Monday, Tuesday, Wednesday
        enqueue_knowledge_checks(ctx, sam_0930 + timedelta(days=day))
        enqueue_knowledge_checks(ctx, MONDAY_0930_CHICAGO + timedelta(days=day))
    riley = person(ctx, "rep@example.com").id
    days = [m.idempotency_key.split(":")[-1] for m in queued(ctx, "quiz") if m.person_id == riley]
    assert days == ["2026-11-25"]  # back on the day named
    assert "paused until Wednesday 25 November 2026" in chat.say("my availability").plain_text()
    assert chat.say("resume quizzes").text == "Knowledge checks are on again."


def test_a_pause_set_after_the_check_was_queued_still_holds_it(ctx, chat_as):
    from tests.helpers.clock import MONDAY_0930_CHICAGO

    assert enqueue_knowledge_checks(ctx, MONDAY_0930_CHICAGO) == 2  # Riley and Sam
    chat_as().say("pause quizzes until 1 Dec")
    sent = deliver(ctx, MONDAY_0930_CHICAGO + timedelta(minutes=1))
    assert "to Sam Ortiz" in sent and "Riley" not in sent
    riley = person(ctx, "rep@example.com").id
    assert {m.status for m in queued(ctx, "quiz") if m.person_id == riley} == {OutboxStatus.SKIPPED}


def test_working_days_and_quiet_hours_set_in_chat_move_the_daily_check(ctx, chat_as):
    chat = chat_as()
    chat.say("my working days are Sun-Thu")
    chat.say("quiet hours 18:00-10:00")  # the 09:30 check waits until 10:00
    sunday = utc("2026-11-29T15:30")  # 09:30 in Chicago
    assert enqueue_knowledge_checks(ctx, sunday) == 1  # Riley only: Sam does not work on Sundays
    assert deliver(ctx, sunday) == ""
    (message,) = queued(ctx, "quiz")
    assert message.next_attempt_at == utc("2026-11-29T16:00")  # 10:00 CST
    assert "Your knowledge check for today:" in deliver(ctx, utc("2026-11-29T16:00"))
    friday = utc("2026-11-27T15:30")
    assert enqueue_knowledge_checks(ctx, friday) == 1  # Sam; Friday is no longer Riley's working day
    assert queued(ctx, "quiz")[-1].person_id != person(ctx, "rep@example.com").id
