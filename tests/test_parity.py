"""Parity: every capability answers the same in the terminal, in Slack and in Teams, each through its real
channel (console conversation, signed Slack HTTP, Bot Framework activities)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from bot.channels.console import ConsoleConversation
from bot.demo import load_if_empty
from bot.web import create_app
from storage.models import Platform
from storage.people import LOCAL_WORKSPACE, get_or_create_workspace, person_by_email
from tests.doubles.bot_connector import BotConnectorDouble
from tests.doubles.people import SLACK_RILEY, TEAMS_ROSTER, TEAMS_TENANT
from tests.doubles.people import SLACK_SECRET as SECRET
from tests.doubles.people import SLACK_TEAM as TEAM
from tests.doubles.server import BackgroundServer
from tests.doubles.slack_api import SlackDouble
from tests.helpers.slack import dm, event, header_of
from tests.helpers.teams import post as teams_post
from tests.helpers.teams import say

# (what the person says, what the answer starts with): one per capability.
CONVERSATION = [
    ("help", "Hi Riley, I'm your sales playbook in chat"),
    ("what's next for Acmee?", "Acme Corp: Discovery"),
    ("what's next for this deal?", "You have 3 open deals. Which one?"),
    ("exit criteria for discovery", "Discovery stage"),
    ("what do I do in the proposal stage?", "Proposal and business case stage"),
    ("how do I handle a pricing objection?", "Playbook: how do I handle a pricing objection"),
    ("move Acme to evaluation", "Acme Corp moved to Evaluation"),
    ("new deal Globex in discovery", "New deal: Globex"),
    ("my deals", "Your open deals"),
    ("home", "Riley Chen"),
    ("confirm acme", "Acme Corp: Evaluation exit criteria"),
    ("team summary", "Sorry, I can't show you a team summary"),
    ("asdf qwerty", 'Sorry, I didn\'t understand "asdf qwerty".'),
]


@pytest.fixture
def everywhere(ctx):
    slack = SlackDouble(users={"URILEY": SLACK_RILEY}).start()
    connector = BotConnectorDouble(members=dict(TEAMS_ROSTER)).start()
    settings = ctx.settings.model_copy(
        update={"slack_signing_secret": SECRET, "slack_bot_token": "xoxb-test", "slack_api_url": slack.url}
    )
    app_ctx = dataclasses.replace(ctx, settings=settings)
    with ctx.sessions.begin() as db:
        for platform, external_id in (
            LOCAL_WORKSPACE,
            (Platform.SLACK, TEAM),
            (Platform.TEAMS, TEAMS_TENANT),
        ):
            # three organizations, one per way in, so each channel plays the same conversation on its own data
            way_in = get_or_create_workspace(db, platform, external_id, join_single=False)
            load_if_empty(db, way_in.organization_id, ctx.playbooks, ctx.clock())
    web = BackgroundServer(create_app(app_ctx)).start()
    yield app_ctx, web, slack, connector
    web.stop()
    slack.stop()
    connector.stop()


def first_line(text: str) -> str:
    return text.strip().splitlines()[0]


def test_every_capability_answers_alike_in_terminal_slack_and_teams(everywhere):
    ctx, web, slack, connector = everywhere
    with ctx.sessions.begin() as db:
        local = get_or_create_workspace(db, *LOCAL_WORKSPACE)
        terminal = ConsoleConversation(ctx, local.id, person_by_email(db, local.organization_id, "rep@example.com").id)
    for turn, (text, expected) in enumerate(CONVERSATION, start=1):
        in_terminal = terminal.say(text)
        terminal_answer = in_terminal.header or first_line(in_terminal.sections[0].text)

        event(web, dm(text))
        assert slack.wait_for(
            lambda turn=turn: len([m for m in slack.posted() if m["method"] == "chat.postMessage"]) >= turn
        )
        slack_message = [m for m in slack.posted() if m["method"] == "chat.postMessage"][turn - 1]
        slack_answer = header_of(slack_message) or first_line(slack_message["blocks"][0]["text"]["text"])

        teams_post(web, say(connector, text))
        teams_card = connector.wait_for(turn)[turn - 1]["attachments"][0]["content"]
        teams_answer = first_line(teams_card["body"][0]["text"])

        unescaped_slack = slack_answer.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        assert terminal_answer.startswith(expected), (text, terminal_answer)
        assert unescaped_slack.startswith(expected), (text, slack_answer)
        assert teams_answer.startswith(expected), (text, teams_answer)
        # Same buttons everywhere (labels), so every follow-up is reachable in every channel.
        slack_buttons = [
            e["text"]["text"]
            for b in slack_message["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
        ]
        teams_buttons = [a["title"] for a in teams_card.get("actions", [])] + [
            a["title"] for el in teams_card["body"] if el["type"] == "ActionSet" for a in el["actions"]
        ]
        assert slack_buttons == teams_buttons == [b.label for b in in_terminal.buttons], (
            text,
            json.dumps(slack_buttons),
        )
