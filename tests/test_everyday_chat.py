"""Everyday chat as reps, managers and enablement meet it: who may use which command, long messages,
accented names, `new deal` without a name; imports and clock logs as operators read them."""

from __future__ import annotations

import json
import logging

from sqlalchemy import select

from storage.models import Deal, OutboxMessage
from tests.test_everyday_forms import _add_deal, _terminal
from tests.test_playbook_validation import run_cli

# -- roles -----------------------------------------------------------------------------------------------


def test_manager_commands_tell_reps_and_enablement_who_can(ctx, demo):
    out = _terminal(
        ctx, demo, "rep@example.com", "set coaching cadence to monthly\nwho should I coach?\npause nudges for 2 weeks\n"
    )
    assert "Pausing coaching nudges and weekly digests is for managers and enablement;" in out
    assert (
        "Setting a coaching cadence is for managers; ask your manager (Morgan Patel) if it needs doing." in out
    )
    assert "Seeing who is due for coaching is for managers;" in out
    assert "Nobody on your team is due" not in out
    out = _terminal(ctx, demo, "enablement@example.com", "coaching cadence monthly\nlog coaching\n")
    assert "Setting a coaching cadence is for managers." in out
    assert "Logging coaching is for managers." in out
    out = _terminal(ctx, demo, "manager@example.com", "new quiz question\n")
    assert "Writing quiz questions is for enablement; ask your enablement team to add it." in out
    with ctx.sessions() as db:
        from storage.people import person_by_email

        riley = person_by_email(db, demo.organization_id, "rep@example.com")
        assert "cadence" not in (riley.preferences or {}) and "paused_until" not in (riley.preferences or {})


def test_a_forged_coaching_button_is_refused_by_role(ctx, chat_as):
    reply = chat_as().press("coaching.log", "abc")
    assert reply.kind == "refusal" and reply.text.startswith("Logging coaching is for managers")


def test_enablements_deal_list_is_headed_for_the_organization(ctx, chat_as):
    assert chat_as("enablement@example.com").say("my deals").header.startswith("Open deals in the organization")
    assert chat_as("manager@example.com").say("my deals").header.startswith("Your team's open deals")
    assert chat_as().say("my deals").header.startswith("Your open deals")


def test_roles_in_slack_the_same(ctx, slack_web):
    from tests.test_slack_app import dm, event, wait_posts

    web, slack_api = slack_web
    event(web, dm("set our coaching cadence to biweekly"))
    (posted,) = wait_posts(slack_api, 1)
    assert "Setting a coaching cadence is for managers" in json.dumps(posted["blocks"])


# -- inputs ------------------------------------------------------------------------------------------------


def test_a_pasted_page_is_read_in_part_and_not_echoed_whole(ctx, slack_web):
    from tests.test_slack_app import dm, event, wait_posts

    web, slack_api = slack_web
    event(web, dm("confirm " + "blah " * 2000))
    (posted,) = wait_posts(slack_api, 1)
    size = len(json.dumps(posted))
    assert size < 6000, size
    assert "Your message was 10,007 characters long; I read the first 1,200." in json.dumps(posted)


def test_the_terminal_echo_of_a_long_line_is_short(ctx, demo):
    out = _terminal(ctx, demo, "rep@example.com", "what about " + "blah " * 2000 + "\n")
    assert len(out) < 5000 and "characters in all)" in out


def test_accents_do_not_matter_in_names(ctx, demo, chat_as):
    _add_deal(ctx, demo, "Café Müller")
    assert chat_as().say("what's next for cafe muller").header == "Café Müller: Discovery"
    assert chat_as().say("cafe muller").header == "Café Müller: Discovery"
    assert chat_as().say("confirm CAFE MULLER").header == "Café Müller: Discovery exit criteria"


def test_accents_do_not_matter_in_peoples_names(ctx, demo, chat_as):
    from tests.conftest import add_person

    add_person(ctx, demo, "zoe@example.com", "Zoë Łukasz")
    assert chat_as("manager@example.com").say("add zoe lukasz to my team").plain_text().startswith(
        "Added Zoë Łukasz to your team."
    )


def test_new_deal_without_a_name_asks_for_it_in_the_terminal(ctx, demo):
    out = _terminal(ctx, demo, "rep@example.com", "new deal\nGlobex\n\n")
    assert "What is the deal called?" in out and "Playbook" not in out.split("Globex")[0]
    assert "New deal: Globex" in out
    with ctx.sessions() as db:
        assert db.scalar(select(Deal).where(Deal.name == "Globex")) is not None


def test_new_deal_without_a_name_opens_a_form_in_slack(ctx, slack_web):
    from urllib.parse import urlencode

    from tests.doubles.people import SLACK_TEAM
    from tests.test_slack_app import buttons_of, click, dm, event, post, wait_posts

    web, slack_api = slack_web
    event(web, dm("new deal"))
    (asked,) = wait_posts(slack_api, 1)
    (fill,) = [b for b in buttons_of(asked) if b["text"]["text"] == "Fill in: New deal"]
    click(web, slack_api, fill)
    assert slack_api.wait_for(lambda: slack_api.views)
    view = slack_api.views[0]["view"]
    assert [b.get("block_id") for b in view["blocks"] if b["type"] == "input"] == ["name", "stage"]
    values = {
        "name": {"name": {"type": "plain_text_input", "value": "Globex"}},
        "stage": {"stage": {"type": "plain_text_input", "value": ""}},
    }
    payload = {
        "type": "view_submission",
        "team": {"id": SLACK_TEAM},
        "user": {"id": "URILEY", "team_id": SLACK_TEAM},
        "view": {**view, "id": "V1", "state": {"values": values}},
    }
    post(web, urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
    added = wait_posts(slack_api, 2)[1]
    assert "New deal: Globex" in json.dumps(added)


# -- imports and the clock ------------------------------------------------------------------------------


def test_people_import_says_why_a_manager_was_rejected_in_line_order_with_plurals(tmp_path):
    header = "email,name,role,manager_email,slack_user_id,teams_user_id,timezone\n"
    (tmp_path / "people.csv").write_text(
        header
        + "a@example.com,A,manager,b@example.com,,,\n"  # 2: a -> b -> a
        + "b@example.com,B,manager,a@example.com,,,\n"  # 3
        + "c@example.com,C,rep,a@example.com,,,\n"  # 4: a was rejected
        + "d@example.com,D,rep,,,,\n",
        encoding="utf-8",
    )
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/i.db"}
    result = run_cli("import", "people", str(tmp_path / "people.csv"), env=env)
    lines = result.stdout.splitlines()
    assert lines[0].endswith("people.csv: 1 person created, 0 updated, 3 rows rejected:")
    assert [line.split("people.csv:")[1].split(":")[0] for line in lines[1:]] == ["2", "3", "4"]
    assert "manager_email a@example.com was rejected on line 2 (reporting line loops back" in lines[2]
    assert "c@example.com" not in result.stdout or "not a known person" not in result.stdout


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


# -- the weekly summary in a channel ---------------------------------------------------------------------


def test_a_manager_subscribes_a_slack_channel_to_the_weekly_summary(ctx, slack_web):
    from datetime import datetime, timedelta

    from bot.channels.slack_outbound import SlackSender
    from bot.delivery import Drainer
    from handlers.channel_digest import enqueue_channel_digests
    from handlers.proactive import compose
    from storage.models import Platform
    from storage.people import get_or_create_workspace, person_by_email
    from tests.doubles.people import SLACK_TEAM
    from tests.test_slack_app import dm, event, mention, wait_posts

    web, slack_api = slack_web
    with ctx.sessions.begin() as db:
        org = get_or_create_workspace(db, Platform.SLACK, SLACK_TEAM).organization_id
        person_by_email(db, org, "manager@example.com").slack_user_id = "UMORGAN"
    event(web, dm("post weekly summary to <#C0SALES|sales>", user="UMORGAN"))
    (answer,) = wait_posts(slack_api, 1)
    assert "I'll post your team's summary to #sales" in json.dumps(answer)
    event(web, mention("post weekly summary here"))  # Riley, a rep
    refused = wait_posts(slack_api, 2)[1]
    assert "Posting the weekly summary to a channel is for managers and enablement" in json.dumps(refused)

    monday_8am_chicago = datetime.fromisoformat("2026-11-23T14:00:00+00:00")
    assert enqueue_channel_digests(ctx, monday_8am_chicago - timedelta(minutes=1)) == 0
    assert enqueue_channel_digests(ctx, monday_8am_chicago) == 1
    assert enqueue_channel_digests(ctx, monday_8am_chicago + timedelta(hours=1)) == 0  # once a week
    sender = SlackSender(lambda _ws: "xoxb-test", slack_api.url, timeout=5)
    from functools import partial

    Drainer(ctx.sessions, {Platform.SLACK: sender}, "t", lambda: monday_8am_chicago, compose=partial(compose, ctx)).drain()
    posted = wait_posts(slack_api, 3)[2]
    assert posted["channel"] == "C0SALES" and "Team summary: 5 open deals" in json.dumps(posted)

    event(web, dm("stop posting weekly summary", user="UMORGAN"))
    assert "Stopped" in json.dumps(wait_posts(slack_api, 4)[3])
    assert enqueue_channel_digests(ctx, monday_8am_chicago + timedelta(days=7)) == 0


def test_the_terminal_says_channel_posts_are_for_slack(ctx, chat_as):
    reply = chat_as("manager@example.com").say("post weekly summary to #sales")
    assert reply.kind == "error" and "works in Slack for now" in reply.text
