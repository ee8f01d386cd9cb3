"""The weekly summary posted in a channel (`post weekly summary here`), end to end in Microsoft Teams and in
Slack: requests into the real web app, the digest job at the manager's Monday 08:00 (a frozen clock), the
outbox drained through the platform's sender, and the platform double recording where the digest went;
the terminal says channel posts are for Slack and Teams."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import select

from bot.channels.teams_outbound import TeamsSender
from bot.delivery import Drainer
from handlers.channel_digest import enqueue_channel_digests
from handlers.proactive import compose
from storage.models import ConversationRef, OutboxMessage, OutboxStatus, Platform
from storage.people import get_or_create_workspace, person_by_email
from tests.doubles.bot_connector import ConnectorFault
from tests.doubles.people import TEAMS_BOT as BOT
from tests.doubles.people import TEAMS_TENANT as TENANT
from tests.helpers.teams import CHANNEL, activity, post, say, texts

MORGAN = {"id": "29:1morgan", "name": "Morgan Manager", "aadObjectId": "aad-morgan"}
MORGAN_PERSONAL = {"conversationType": "personal", "tenantId": TENANT, "id": "a:1morgan-personal-chat"}
CHANNEL_CONVERSATION = "19:sales@thread.tacv2"
MONDAY_8AM_CHICAGO = datetime.fromisoformat("2026-11-23T14:00:00+00:00")


@pytest.fixture
def web(teams_web):
    return teams_web[0]


def in_channel(connector, text: str) -> dict:
    return activity(
        connector,
        user=MORGAN,
        text=f"<at>Enablement</at> {text}",
        textFormat="plain",
        conversation=CHANNEL,
        entities=[{"type": "mention", "mentioned": BOT, "text": "<at>Enablement</at>"}],
        channelData={
            "teamsChannelId": CHANNEL_CONVERSATION,
            "teamsTeamId": "19:team@thread.tacv2",
            "channel": {"id": CHANNEL_CONVERSATION},
            "team": {"id": "19:team@thread.tacv2"},
            "tenant": {"id": TENANT},
        },
    )


def morgan_says(connector, text: str) -> dict:
    return say(connector, text, user=MORGAN, conversation=MORGAN_PERSONAL)


def subscribed(ctx, web, connector) -> None:
    with ctx.sessions.begin() as db:
        org = get_or_create_workspace(db, Platform.TEAMS, TENANT).organization_id
        person_by_email(db, org, "manager@example.com").teams_user_id = MORGAN["id"]
    assert post(web, morgan_says(connector, "help"))[0] in (200, 201)  # the personal reference is stored
    connector.wait_for(1)
    assert post(web, in_channel(connector, "post weekly summary here"))[0] in (200, 201)
    answer = connector.wait_for(2)[1]
    assert answer["_conversation"].startswith(CHANNEL_CONVERSATION)
    assert "I'll post your team's summary to this channel" in texts(answer)


def drainer(ctx) -> Drainer:
    return Drainer(
        ctx.sessions,
        {Platform.TEAMS: TeamsSender(ctx)},
        "t",
        lambda: MONDAY_8AM_CHICAGO,
        compose=partial(compose, ctx),
    )


def test_a_manager_subscribes_a_teams_channel_and_the_digest_is_posted_there(ctx, web, connector):
    subscribed(ctx, web, connector)

    assert enqueue_channel_digests(ctx, MONDAY_8AM_CHICAGO - timedelta(minutes=1)) == 0
    assert enqueue_channel_digests(ctx, MONDAY_8AM_CHICAGO) == 1
    assert enqueue_channel_digests(ctx, MONDAY_8AM_CHICAGO + timedelta(hours=1)) == 0  # once a week
    with ctx.sessions() as db:
        row = db.scalar(select(OutboxMessage).where(OutboxMessage.kind == "cdigest"))
        assert row.platform == Platform.TEAMS and row.target == {"conversation": CHANNEL_CONVERSATION}

    before = len(connector.activities())
    assert drainer(ctx).drain().sent == 1
    posted = connector.activities()[before:]
    assert posted, "the digest was posted"
    # The channel, not Morgan's personal chat, as a new post rather than a reply in the thread.
    assert {(a["_conversation"], a["_reply_to"]) for a in posted} == {(CHANNEL_CONVERSATION, None)}
    assert "Team summary: 5 open deals" in json.dumps(posted)

    after = len(connector.activities())
    assert drainer(ctx).drain().sent == 0  # a second drain sends nothing
    assert len(connector.activities()) == after

    post(web, morgan_says(connector, "stop posting weekly summary"))
    assert "Stopped" in texts(connector.wait_for(after + 1)[after])
    assert enqueue_channel_digests(ctx, MONDAY_8AM_CHICAGO + timedelta(days=7)) == 0


def test_a_channel_that_refuses_the_bot_kills_the_post_not_the_personal_chat(ctx, web, connector):
    subscribed(ctx, web, connector)
    assert enqueue_channel_digests(ctx, MONDAY_8AM_CHICAGO) == 1
    connector.faults.append(ConnectorFault(403, "BotNotInConversationRoster"))

    assert drainer(ctx).drain().dead == 1
    with ctx.sessions() as db:
        row = db.scalar(select(OutboxMessage).where(OutboxMessage.kind == "cdigest"))
        assert row.status == OutboxStatus.DEAD
        assert f"Teams channel {CHANNEL_CONVERSATION}: 403 BotNotInConversationRoster" in row.last_error
        reference = db.scalar(select(ConversationRef))
        assert (reference.reachable, reference.unreachable_reason) == (True, None)


def test_here_in_a_personal_chat_says_to_say_it_in_the_channel(ctx, web, connector):
    with ctx.sessions.begin() as db:
        org = get_or_create_workspace(db, Platform.TEAMS, TENANT).organization_id
        person_by_email(db, org, "manager@example.com").teams_user_id = MORGAN["id"]
    post(web, morgan_says(connector, "post weekly summary here"))
    answer = texts(connector.wait_for(1)[0])
    assert 'Say "post weekly summary here" in the Teams channel itself' in answer
    group_chat = {
        "conversationType": "groupChat",
        "tenantId": TENANT,
        "isGroup": True,
        "id": "19:g@thread.v2",
    }
    post(web, say(connector, "post weekly summary here", user=MORGAN, conversation=group_chat))
    refused = connector.wait_for(2)[1]
    assert refused["_conversation"] == group_chat["id"]
    assert 'Say "post weekly summary here" in the Teams channel itself' in texts(refused)
    with ctx.sessions() as db:
        assert "summary_channel" not in (person_by_email(db, org, "manager@example.com").preferences or {})
    assert enqueue_channel_digests(ctx, MONDAY_8AM_CHICAGO) == 0


def test_a_manager_subscribes_a_slack_channel_to_the_weekly_summary(ctx, slack_web):
    from datetime import datetime, timedelta

    from bot.channels.slack_outbound import SlackSender
    from bot.delivery import Drainer
    from handlers.channel_digest import enqueue_channel_digests
    from handlers.proactive import compose
    from storage.models import Platform
    from storage.people import get_or_create_workspace, person_by_email
    from tests.doubles.people import SLACK_TEAM
    from tests.helpers.slack import dm, event, mention, wait_posts

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

    Drainer(
        ctx.sessions, {Platform.SLACK: sender}, "t", lambda: monday_8am_chicago, compose=partial(compose, ctx)
    ).drain()
    posted = wait_posts(slack_api, 3)[2]
    assert posted["channel"] == "C0SALES" and "Team summary: 5 open deals" in json.dumps(posted)

    event(web, dm("stop posting weekly summary", user="UMORGAN"))
    assert "Stopped" in json.dumps(wait_posts(slack_api, 4)[3])
    assert enqueue_channel_digests(ctx, monday_8am_chicago + timedelta(days=7)) == 0


def test_the_terminal_says_channel_posts_are_for_slack(ctx, chat_as):
    reply = chat_as("manager@example.com").say("post weekly summary to #sales")
    assert reply.kind == "error" and "works in Slack for now" in reply.text
