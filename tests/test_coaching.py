"""Coaching cadence: who is due and on what, weekly nudges in each manager's time zone (through a DST
change), pause and snooze, follow-ups, logging in every channel, rosters, permissions and reports."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import select

from bot.delivery import Drainer
from handlers.coaching.nudges import enqueue_nudges
from handlers.coaching.queries import parse_day
from handlers.coaching.reports import maturity
from storage.models import CoachingSession, Deal, OutboxMessage, OutboxStatus, Person, Platform
from tests.helpers.chat import add_person, deliver
from tests.helpers.cli import run_cli
from tests.helpers.clock import FIXED_NOW

MONDAY_0900_CHICAGO = datetime.fromisoformat("2026-11-23T15:00:00+00:00")


def nudges(ctx) -> list[OutboxMessage]:
    with ctx.sessions() as db:
        return list(db.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def log_session(
    ctx, manager: str, rep: str, days_ago: int, area: str = "pipeline", deal: str | None = None
) -> None:
    with ctx.sessions.begin() as db:
        people = {p.email: p for p in db.scalars(select(Person))}
        deal_id = db.scalar(select(Deal.id).where(Deal.name == deal)) if deal else None
        at = FIXED_NOW - timedelta(days=days_ago)
        db.add(
            CoachingSession(
                organization_id=people[manager].organization_id,
                manager_id=people[manager].id,
                rep_id=people[rep].id,
                area=area,
                deal_id=deal_id,
                occurred_at=at,
                created_at=at,
            )
        )


def set_prefs(ctx, email: str, **prefs) -> None:
    with ctx.sessions.begin() as db:
        person = db.scalar(select(Person).where(Person.email == email))
        person.preferences = {**(person.preferences or {}), **prefs}


# -- when nudges go out ---------------------------------------------------------------------------------


def test_the_weekly_nudge_goes_out_at_monday_9_in_the_managers_time_zone_once(ctx, demo):
    assert enqueue_nudges(ctx, MONDAY_0900_CHICAGO - timedelta(minutes=1)) == 0
    assert enqueue_nudges(ctx, MONDAY_0900_CHICAGO) == 1
    assert enqueue_nudges(ctx, MONDAY_0900_CHICAGO + timedelta(minutes=10)) == 0  # the next tick
    assert enqueue_nudges(ctx, MONDAY_0900_CHICAGO + timedelta(hours=30)) == 0  # a restart later that day
    deliver(ctx, MONDAY_0900_CHICAGO + timedelta(minutes=10))
    (nudge,) = nudges(ctx)
    assert nudge.kind == "nudge" and nudge.idempotency_key.endswith(":2026-W48")
    assert nudge.payload["header"] == "2 reps are due for coaching"


def test_managers_in_other_time_zones_get_theirs_at_their_own_9am(ctx, demo):
    add_person(ctx, demo, "berlin@example.com", "Bea Berlin", role="manager")
    set_prefs(ctx, "berlin@example.com")
    with ctx.sessions.begin() as db:
        bea = db.scalar(select(Person).where(Person.email == "berlin@example.com"))
        bea.timezone = "Europe/Berlin"
    add_person(ctx, demo, "ben@example.com", "Ben Rep", manager="berlin@example.com")
    assert enqueue_nudges(ctx, datetime.fromisoformat("2026-11-23T07:59:00+00:00")) == 0
    assert enqueue_nudges(ctx, datetime.fromisoformat("2026-11-23T08:00:00+00:00")) == 1  # 09:00 in Berlin
    assert enqueue_nudges(ctx, MONDAY_0900_CHICAGO) == 1  # then Chicago


def test_managers_in_one_time_zone_with_their_own_nudge_day_and_time(ctx, demo):
    """Managers who share a time zone but set their own slot are queued at theirs, not the default's."""
    for email, name in (("tue@example.com", "Tia Tuesday"), ("late@example.com", "Lee Late")):
        add_person(ctx, demo, email, name, role="manager")
        add_person(ctx, demo, f"rep.{email}", f"Rep of {name}", manager=email)
    with ctx.sessions.begin() as db:
        for person in db.scalars(
            select(Person).where(Person.email.in_(["tue@example.com", "late@example.com"]))
        ):
            person.timezone = "America/Chicago"
    set_prefs(ctx, "tue@example.com", nudge_weekday=1)  # Tuesday, 09:00 Chicago
    set_prefs(ctx, "late@example.com", nudge_time="11:00")  # Monday, 11:00 Chicago

    def queued_for() -> set[str]:
        with ctx.sessions() as db:
            rows = db.execute(select(Person.email).join(OutboxMessage, OutboxMessage.person_id == Person.id))
            return {email for (email,) in rows}

    assert enqueue_nudges(ctx, MONDAY_0900_CHICAGO) == 1
    assert queued_for() == {"manager@example.com"}
    assert enqueue_nudges(ctx, MONDAY_0900_CHICAGO + timedelta(hours=2)) == 1
    assert queued_for() == {"manager@example.com", "late@example.com"}
    assert enqueue_nudges(ctx, MONDAY_0900_CHICAGO + timedelta(days=1)) == 1
    assert queued_for() == {"manager@example.com", "late@example.com", "tue@example.com"}


def test_nudges_stay_at_9am_local_across_the_dst_change(ctx, demo):
    # Chicago: 09:00 CDT is 14:00 UTC on 26 Oct; after 1 Nov, 09:00 CST is 15:00 UTC.
    assert enqueue_nudges(ctx, datetime.fromisoformat("2026-10-26T13:59:00+00:00")) == 0
    assert enqueue_nudges(ctx, datetime.fromisoformat("2026-10-26T14:00:00+00:00")) == 1
    assert enqueue_nudges(ctx, datetime.fromisoformat("2026-11-02T14:30:00+00:00")) == 0
    assert enqueue_nudges(ctx, datetime.fromisoformat("2026-11-02T15:00:00+00:00")) == 1


def test_a_clock_that_was_down_sends_late_once_or_skips_a_stale_week(ctx, demo):
    assert (
        enqueue_nudges(ctx, MONDAY_0900_CHICAGO + timedelta(hours=40)) == 1
    )  # Tuesday night: still this week's
    assert (
        enqueue_nudges(ctx, datetime.fromisoformat("2026-12-03T15:00:00+00:00")) == 0
    )  # Thursday of next week: too stale


def test_pause_until_a_date_and_snooze_a_week(ctx, chat_as):
    manager = chat_as("manager@example.com")
    assert "paused until Wednesday 02 December 2026" in manager.say("pause nudges until 2 Dec").plain_text()
    assert enqueue_nudges(ctx, MONDAY_0900_CHICAGO) == 0  # 23 Nov
    assert enqueue_nudges(ctx, MONDAY_0900_CHICAGO + timedelta(days=7)) == 0  # 30 Nov, still before 2 Dec
    assert enqueue_nudges(ctx, MONDAY_0900_CHICAGO + timedelta(days=14)) == 1  # 7 Dec
    assert nudges(ctx)[-1].idempotency_key.endswith(":2026-W50")


def test_paused_weeks_get_nothing(ctx, chat_as):
    manager = chat_as("manager@example.com")
    manager.say("pause nudges until 8 Dec")
    assert enqueue_nudges(ctx, MONDAY_0900_CHICAGO + timedelta(days=7)) == 0  # 30 Nov: paused
    assert enqueue_nudges(ctx, MONDAY_0900_CHICAGO + timedelta(days=14)) == 0  # 7 Dec: still paused
    manager.say("resume nudges")
    assert enqueue_nudges(ctx, MONDAY_0900_CHICAGO + timedelta(days=14)) == 1


def test_snooze_button_skips_this_week(ctx, chat_as):
    manager = chat_as("manager@example.com")
    reply = manager.say("who should I coach?")
    assert (
        manager.click("Snooze a week")
        .plain_text()
        .startswith("Snoozed: no more coaching reminders this week (2026-W48)")
    )
    assert enqueue_nudges(ctx, MONDAY_0900_CHICAGO) == 0
    assert enqueue_nudges(ctx, MONDAY_0900_CHICAGO + timedelta(days=7)) == 1
    assert [b.label for b in reply.buttons] == ["Log coaching", "Snooze a week", "Open team summary"]


def test_no_nudge_when_everyone_was_coached_within_the_cadence(ctx, demo):
    log_session(ctx, "manager@example.com", "rep@example.com", 3)
    log_session(ctx, "manager@example.com", "sam@example.com", 6)
    enqueue_nudges(ctx, MONDAY_0900_CHICAGO)
    assert deliver(ctx, MONDAY_0900_CHICAGO) == ""  # who is due is decided at send time: nobody
    (nudge,) = nudges(ctx)
    assert nudge.status == OutboxStatus.SKIPPED


def test_biweekly_cadence_counts_two_weeks(ctx, chat_as):
    log_session(ctx, "manager@example.com", "rep@example.com", 10)
    log_session(ctx, "manager@example.com", "sam@example.com", 10)
    assert "2 reps are due" in chat_as("manager@example.com").say("who should I coach").plain_text()
    chat_as("manager@example.com").say("coaching cadence biweekly")
    assert (
        "Nobody on your team is due" in chat_as("manager@example.com").say("who should I coach").plain_text()
    )


def test_a_nudge_due_in_quiet_hours_waits_for_the_morning(ctx, demo):
    from bot.channels.console import LocalSender

    set_prefs(ctx, "manager@example.com", nudge_time="20:30")  # inside the default quiet hours 19:00-08:00
    evening = datetime.fromisoformat("2026-11-24T02:30:00+00:00")  # Monday 20:30 in Chicago
    assert enqueue_nudges(ctx, evening) == 1
    drainer = Drainer(ctx.sessions, {Platform.LOCAL: LocalSender()}, "t", lambda: evening)
    assert drainer.drain().deferred == 1
    (nudge,) = nudges(ctx)
    assert nudge.status == OutboxStatus.PENDING
    assert nudge.next_attempt_at == datetime.fromisoformat("2026-11-24T14:00:00+00:00")  # Tuesday 08:00 CST


# -- what the nudge says ------------------------------------------------------------------------------


def test_nudge_content_suggests_a_focus_per_rep_with_playbook_questions(ctx, chat_as):
    chat_as().say("move hooli to quote")  # Riley: a skipped gate (Methodology)
    with ctx.sessions.begin() as db:  # Sam: Umbrella stalled for 20 days (Activity)
        umbrella = db.scalar(select(Deal).where(Deal.name == "Umbrella Health"))
        umbrella.stage_entered_at = FIXED_NOW - timedelta(days=20)
    log_session(ctx, "manager@example.com", "sam@example.com", 9)
    reply = chat_as("manager@example.com").say("who should I coach this week?")
    riley = next(s for s in reply.sections if (s.title or "").startswith("Riley Chen"))
    assert riley.title == "Riley Chen · never coached (overdue)"
    assert (
        "**Focus (Methodology, Skills & behaviors):** moved Hooli Express on from Demo with 2 exit criteria unconfirmed."
        in riley.text
    )
    demo_questions = ctx.playbooks.get("transactional").stage("demo").coaching_questions
    assert all(f"- {q}" in riley.text for q in demo_questions[:2])
    sam = next(s for s in reply.sections if (s.title or "").startswith("Sam Ortiz"))
    assert sam.title == "Sam Ortiz · last coached 9 days ago"
    assert (
        "**Focus (Activity, Lead & opportunity):** Umbrella Health has had no exit-criteria progress in 20 days"
        in sam.text
    )
    assert ctx.playbooks.get("enterprise").stage("proposal").coaching_questions[0] in sam.text


def test_focus_falls_back_to_the_most_often_open_criterion_then_the_pipeline(ctx, chat_as, demo):
    reply = chat_as("manager@example.com").say("who should I coach")
    sam = next(s for s in reply.sections if (s.title or "").startswith("Sam Ortiz"))
    assert (
        "**Focus (Results, Lead & opportunity):**" in sam.text
        and "is unconfirmed on 1 of 2 deals" in sam.text
    )
    add_person(ctx, demo, "newrep@example.com", "Noor New", manager="manager@example.com")
    reply = chat_as("manager@example.com").say("who should I coach")
    noor = next(s for s in reply.sections if (s.title or "").startswith("Noor New"))
    assert "**Focus (Results, Pipeline):** no open deals" in noor.text


# -- follow-ups ---------------------------------------------------------------------------------------

THURSDAY_1400_CHICAGO = datetime.fromisoformat("2026-11-26T20:00:00+00:00")


def test_a_follow_up_goes_on_thursday_only_if_nothing_was_logged(ctx, demo):
    assert enqueue_nudges(ctx, THURSDAY_1400_CHICAGO, followups=True) == 0  # no nudge this week yet
    enqueue_nudges(ctx, MONDAY_0900_CHICAGO)
    assert enqueue_nudges(ctx, THURSDAY_1400_CHICAGO - timedelta(minutes=1), followups=True) == 0
    assert enqueue_nudges(ctx, THURSDAY_1400_CHICAGO, followups=True) == 1
    assert enqueue_nudges(ctx, THURSDAY_1400_CHICAGO + timedelta(hours=1), followups=True) == 0
    deliver(ctx, THURSDAY_1400_CHICAGO + timedelta(hours=1))
    followup = nudges(ctx)[-1]
    assert followup.kind == "followup" and followup.payload["header"].startswith("Reminder: 2 reps are due")


def test_no_follow_up_after_coaching_was_logged(ctx, chat_as):
    enqueue_nudges(ctx, MONDAY_0900_CHICAGO)
    with ctx.sessions.begin() as db:  # the nudge went out on Monday; the clock in tests is later
        db.scalar(select(OutboxMessage)).created_at = MONDAY_0900_CHICAGO - timedelta(hours=1)
    chat_as("manager@example.com").say("coached riley on pipeline")
    assert enqueue_nudges(ctx, THURSDAY_1400_CHICAGO, followups=True) == 0


def test_the_clock_job_queues_nudges(demo, database_url):
    from tests.helpers.cli import run_cli_scheduler

    result = run_cli_scheduler({"DATABASE_URL": database_url}, "coaching-nudges", "2026-11-23T15:05:00Z")
    assert "coaching-nudges: 1 nudges, 0 follow-ups queued" in result.stdout
    sent = run_cli_scheduler({"DATABASE_URL": database_url}, "outbox", "2026-11-23T15:06:00Z")
    assert "--- to Morgan Patel <manager@example.com> (nudge)\n2 reps are due for coaching" in sent.stdout


# -- logging, rosters, permissions --------------------------------------------------------------------


def test_logging_by_phrase_and_asking_the_rep_for_a_takeaway(ctx, chat_as):
    manager = chat_as("manager@example.com")
    reply = manager.say("coached Riley on skills and behaviors: practised discovery questions")
    assert reply.plain_text().startswith("Logged: coaching with Riley Chen on Skills & behaviors.")
    with ctx.sessions() as db:
        (session,) = db.scalars(select(CoachingSession)).all()
        assert (session.area, session.note) == ("skills-behaviors", "practised discovery questions")
    manager.click("Ask Riley for a takeaway")
    (ask,) = nudges(ctx)
    assert (
        ask.kind == "takeaway" and 'Reply "takeaway: " and your line.' in ask.payload["sections"][0]["text"]
    )
    assert (
        chat_as()
        .say("takeaway: ask about the cost of doing nothing earlier")
        .plain_text()
        .startswith("Thanks")
    )
    with ctx.sessions() as db:
        assert (
            db.scalar(select(CoachingSession.rep_takeaway)) == "ask about the cost of doing nothing earlier"
        )


def test_logging_rules_and_permissions(ctx, chat_as, demo):
    manager = chat_as("manager@example.com")
    assert (
        '"forecasting stuff" is not a coaching area'
        in manager.say("coached riley on forecasting stuff").plain_text()
    )
    assert "I don't know anyone called" in manager.say("coached zelda on pipeline").plain_text()
    add_person(ctx, demo, "boss2@example.com", "Other Boss", role="manager")
    add_person(ctx, demo, "otherrep@example.com", "Olga Other", manager="boss2@example.com")
    refused = manager.say("coached olga on pipeline")
    assert (
        refused.kind == "refusal"
        and "Sorry, I can't log coaching for Olga Other: they are not on your team." in refused.plain_text()
    )
    assert chat_as().say("coached sam on pipeline").kind == "refusal"  # reps don't log coaching
    with ctx.sessions() as db:
        assert db.scalars(select(CoachingSession)).all() == []


def test_managers_of_managers_can_log_for_their_whole_tree(ctx, chat_as, demo):
    add_person(ctx, demo, "vp@example.com", "Vera VP", role="manager")
    chat_as("vp@example.com").say("add manager@example.com to my team")
    assert chat_as("vp@example.com").say("coached riley on account").plain_text().startswith("Logged:")


def test_rosters_add_move_remove_and_no_loops(ctx, chat_as, demo):
    add_person(ctx, demo, "boss2@example.com", "Other Boss", role="manager")
    manager = chat_as("manager@example.com")
    add_person(ctx, demo, "free@example.com", "Fay Free")
    assert manager.say("add fay to my team").plain_text().startswith("Added Fay Free to your team.")
    assert (
        "moved from Morgan Patel's team"
        in chat_as("boss2@example.com").say("add free@example.com to my team").plain_text()
    )
    chat_as("boss2@example.com").say("add manager@example.com to my team")
    loop = manager.say("add Other Boss to my team")
    assert "above you in the reporting line" in loop.plain_text()
    assert chat_as().say("add sam to my team").kind == "refusal"
    assert "Removed Sam Ortiz from your team." in manager.say("remove sam from my team").plain_text()


def test_logging_through_the_form_in_the_terminal(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/coach.db"}
    script = "log coaching\n2\n7\n1\nStark Logistics\nQuote review\nmy coaching\n"
    result = run_cli("chat", "--as", "manager@example.com", env=env, stdin=script)
    assert result.returncode == 0, result.stderr
    assert "Type one number from 1 to 5." in result.stdout
    assert "Logged: coaching with Sam Ortiz on Lead & opportunity (Stark Logistics)." in result.stdout
    assert "Sam Ortiz: 1 in 4 weeks, 1 in 12 weeks · Lead & opportunity · coached today" in result.stdout


def test_logging_through_a_slack_modal(ctx, slack_web):
    from urllib.parse import urlencode

    from storage.people import get_or_create_workspace, person_by_email
    from tests.doubles.people import SLACK_TEAM
    from tests.helpers.slack import click, dm, event, post, wait_posts

    web, slack_api = slack_web
    with ctx.sessions.begin() as db:
        person_by_email(
            db, get_or_create_workspace(db, Platform.SLACK, SLACK_TEAM).organization_id, "manager@example.com"
        ).slack_user_id = "UMORGAN"
    event(web, dm("who should I coach?", user="UMORGAN"))
    (nudge,) = wait_posts(slack_api, 1)
    log_button = next(
        e
        for b in nudge["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["text"]["text"] == "Log coaching"
    )
    click(web, slack_api, log_button, channel="DUMORGAN", user="UMORGAN")
    assert slack_api.wait_for(lambda: slack_api.views)
    view = slack_api.views[0]["view"]
    rep_select = next(b for b in view["blocks"] if b.get("block_id") == "rep")["element"]
    assert rep_select["type"] == "static_select"
    riley = next(o["value"] for o in rep_select["options"] if o["text"]["text"] == "Riley Chen")
    values = {
        "rep": {"rep": {"type": "static_select", "selected_option": {"value": riley}}},
        "area": {"area": {"type": "static_select", "selected_option": {"value": "account"}}},
        "deal": {"deal": {"type": "plain_text_input", "value": "Acme Corp"}},
        "note": {"note": {"type": "plain_text_input", "value": "Mapped the buying group"}},
    }
    payload = {
        "type": "view_submission",
        "team": {"id": SLACK_TEAM},
        "user": {"id": "UMORGAN", "team_id": SLACK_TEAM},
        "view": {**view, "id": "V1", "state": {"values": values}},
    }
    post(web, urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
    logged = wait_posts(slack_api, 2)[1]
    assert "Logged: coaching with Riley Chen on Account (Acme Corp)." in json.dumps(logged["blocks"])


def test_logging_through_a_teams_card(ctx, teams_web):
    from storage.people import get_or_create_workspace, person_by_email
    from tests.doubles.people import TEAMS_TENANT
    from tests.helpers.teams import actions, activity, card, post, say

    web, bot_connector = teams_web
    morgan = {"id": "29:1morgan", "name": "Morgan Patel"}
    with ctx.sessions.begin() as db:
        person_by_email(
            db, get_or_create_workspace(db, Platform.TEAMS, TEAMS_TENANT).organization_id, "manager@example.com"
        ).teams_user_id = "29:1morgan"
    post(web, say(bot_connector, "log coaching", user=morgan))
    form = card(bot_connector.wait_for(1)[0])
    rep_input = next(e for e in form["body"] if e.get("id") == "rep")
    assert rep_input["type"] == "Input.ChoiceSet" and rep_input["isMultiSelect"] is False
    sam = next(c["value"] for c in rep_input["choices"] if c["title"] == "Sam Ortiz")
    (submit,) = actions(bot_connector.wait_for(1)[0])
    post(
        web,
        activity(
            bot_connector,
            user=morgan,
            value={**submit["data"], "rep": sam, "area": "territory", "deal": "", "note": ""},
        ),
    )
    assert "Logged: coaching with Sam Ortiz on Territory." in json.dumps(card(bot_connector.wait_for(2)[1]))


# -- reports -------------------------------------------------------------------------------------------


def test_my_coaching_report(ctx, chat_as):
    log_session(ctx, "manager@example.com", "rep@example.com", 3, "pipeline")
    log_session(ctx, "manager@example.com", "rep@example.com", 40, "account")
    reply = chat_as("manager@example.com").say("my coaching")
    text = reply.plain_text()
    assert "**Riley Chen**: 1 in 4 weeks, 2 in 12 weeks · Account, Pipeline · last 3 days ago" in text
    assert "**Sam Ortiz**: 0 in 4 weeks, 0 in 12 weeks · never coached" in text
    assert next(s for s in reply.sections if s.title == "Not coached in the last 4 weeks").text == "Sam Ortiz"


def test_coaching_report_cadence_areas_and_maturity(ctx, chat_as):
    for week in range(12):  # Riley weekly across four areas, tied to a deal; Sam every other week
        area = ["pipeline", "account", "skills-behaviors", "lead-opportunity"][week % 4]
        log_session(ctx, "manager@example.com", "rep@example.com", 7 * week + 1, area, deal="Acme Corp")
        if week % 2 == 0:
            log_session(
                ctx, "manager@example.com", "sam@example.com", 7 * week + 2, area, deal="Umbrella Health"
            )
    reply = chat_as("enablement@example.com").say("coaching report")
    line = reply.plain_text().splitlines()[1]
    assert (
        line
        == "- **Morgan Patel** (2 reps): cadence kept 75% · 18 sessions · 4 of 5 areas · 100% tied to a deal · **formal**"
    )
    assert reply.image is not None and reply.image.filename == "coaching-report.png"
    assert chat_as().say("coaching report").kind == "refusal"


def test_the_maturity_rule():
    assert maturity(90, 4, 60) == "dynamic"
    assert maturity(90, 4, 40) == "formal"
    assert maturity(72, 3, 0) == "formal"
    assert maturity(72, 2, 0) == "informal"
    assert maturity(30, 1, 0) == "informal"
    assert maturity(29, 5, 100) == "random"


def test_dates_people_type_for_pauses():
    today = datetime(2026, 11, 22).date()
    assert parse_day("2 Dec", today).isoformat() == "2026-12-02"
    assert parse_day("december 2nd", today).isoformat() == "2026-12-02"
    assert parse_day("Jan 5", today).isoformat() == "2027-01-05"
    assert parse_day("2026-12-24", today).isoformat() == "2026-12-24"
    assert parse_day("next week sometime", today) is None
    assert parse_day("31 Feb", today) is None


def test_a_person_is_found_by_more_words_than_their_stored_name(ctx, chat_as, demo):
    # People type the whole name they know ("Alex Garcia Lopez") for someone stored shorter ("Alex Garcia").
    add_person(ctx, demo, "alex@example.com", "Alex Garcia")
    manager = chat_as("manager@example.com")
    assert manager.say("add Alex Garcia Lopez to my team").plain_text().startswith("Added Alex Garcia to your team.")
    # a single letter is nobody's name
    assert not manager.say("add x to my team").plain_text().startswith("Added")
