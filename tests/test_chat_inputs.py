"""What people type, as they type it: a pasted page, a long line in the terminal, accented names, and
`new deal` without a name (asked for in the terminal, a form in Slack)."""

from __future__ import annotations

import json

from sqlalchemy import select

from storage.models import Deal
from tests.helpers.chat import add_deal
from tests.helpers.cli import terminal


def test_a_pasted_page_is_read_in_part_and_not_echoed_whole(ctx, slack_web):
    from tests.helpers.slack import dm, event, wait_posts

    web, slack_api = slack_web
    event(web, dm("confirm " + "blah " * 2000))
    (posted,) = wait_posts(slack_api, 1)
    size = len(json.dumps(posted))
    assert size < 6000, size
    assert "Your message was 10,007 characters long; I read the first 1,200." in json.dumps(posted)


def test_the_terminal_echo_of_a_long_line_is_short(ctx, demo):
    out = terminal(ctx, demo, "rep@example.com", "what about " + "blah " * 2000 + "\n")
    assert len(out) < 5000 and "characters in all)" in out


def test_accents_do_not_matter_in_names(ctx, demo, chat_as):
    add_deal(ctx, demo, "Café Müller")
    assert chat_as().say("what's next for cafe muller").header == "Café Müller: Discovery"
    assert chat_as().say("cafe muller").header == "Café Müller: Discovery"
    assert chat_as().say("confirm CAFE MULLER").header == "Café Müller: Discovery exit criteria"


def test_accents_do_not_matter_in_peoples_names(ctx, demo, chat_as):
    from tests.helpers.chat import add_person

    add_person(ctx, demo, "zoe@example.com", "Zoë Łukasz")
    assert (
        chat_as("manager@example.com")
        .say("add zoe lukasz to my team")
        .plain_text()
        .startswith("Added Zoë Łukasz to your team.")
    )


def test_new_deal_without_a_name_asks_for_it_in_the_terminal(ctx, demo):
    out = terminal(ctx, demo, "rep@example.com", "new deal\nGlobex\n\n")
    assert "What is the deal called?" in out and "Playbook" not in out.split("Globex")[0]
    assert "New deal: Globex" in out
    with ctx.sessions() as db:
        assert db.scalar(select(Deal).where(Deal.name == "Globex")) is not None


def test_new_deal_without_a_name_opens_a_form_in_slack(ctx, slack_web):
    from urllib.parse import urlencode

    from tests.doubles.people import SLACK_TEAM
    from tests.helpers.slack import buttons_of, click, dm, event, post, wait_posts

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
