"""Teams end to end: realistic Bot Framework activities POSTed to the real web app, and a Bot Connector
double on 127.0.0.1 (the activities' serviceUrl) recording what the bot sent back."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import select

from bot.channels.teams_connector import ConnectorClients
from bot.channels.teams_outbound import TeamsSender
from bot.delivery import Drainer, DrainPolicy
from bot.messages import Reply, Section
from bot.web import create_app
from storage import outbox
from storage.models import ConversationRef, Deal, OutboxMessage, OutboxStatus, Person, Platform
from storage.people import get_or_create_workspace
from tests.doubles.bot_connector import BotConnectorDouble, ConnectorFault
from tests.doubles.people import TEAMS_ROSTER
from tests.doubles.server import BackgroundServer
from tests.helpers.clock import FIXED_NOW
from tests.helpers.teams import (
    BOT,
    CHANNEL,
    PERSONAL,
    RILEY,
    TENANT,
    actions,
    activity,
    card,
    channel_mention,
    header,
    post,
    say,
    settled,
    texts,
)


@pytest.fixture
def web(teams_web):
    return teams_web[0]


def test_personal_message_is_answered_with_an_adaptive_card(web, connector, ctx):
    status, _ = post(web, say(connector, "what's next for Acme?"))
    assert status in (200, 201)
    (sent,) = connector.wait_for(1)
    assert sent["_conversation"] == PERSONAL["id"] and sent["type"] == "message"
    assert header(sent) == "Acme Corp: Discovery"
    assert "Exit criteria not yet confirmed (1 of 4 confirmed)" in texts(sent)
    assert [a["title"] for a in actions(sent)] == ["Confirm criteria", "Move to Evaluation"]
    assert actions(sent)[0]["type"] == "Action.Submit"
    with ctx.sessions() as db:  # matched by email from the roster; reference stored for proactive messages
        riley = db.scalar(select(Person).where(Person.teams_user_id == "29:1riley"))
        assert (riley.email, riley.teams_aad_object_id) == ("rep@example.com", "aad-riley")
        ref = db.scalar(select(ConversationRef).where(ConversationRef.person_id == riley.id))
        assert ref.reference["conversation"]["id"] == PERSONAL["id"]
        assert ref.reference["serviceUrl"] == connector.url


def test_channel_mention_is_stripped_and_answered_in_the_thread(web, connector):
    body = channel_mention(connector, "exit criteria for discovery")
    post(web, body)
    (sent,) = connector.wait_for(1)
    assert header(sent) == "Discovery stage"
    assert sent["_reply_to"] == body["id"] and sent["_conversation"] == CHANNEL["id"]


def test_action_submit_button_moves_the_deal(web, connector, ctx):
    post(web, say(connector, "what's next for Acme?"))
    (first,) = connector.wait_for(1)
    data = actions(first)[1]["data"]
    post(web, activity(connector, value={**data, "msteams": {"type": "messageBack"}}))
    moved = connector.wait_for(2)[1]
    assert header(moved) == "Acme Corp moved to Evaluation"
    assert "Skipped gate: 3 exit criteria of Discovery not confirmed" in texts(moved)


def test_quiz_answers_are_listed_whole_and_a_numbered_button_answers(web, connector):
    post(web, say(connector, "quiz me"))
    (asked,) = connector.wait_for(1)
    buttons = actions(asked)
    assert [b["title"] for b in buttons[:-1]] == [str(n) for n in range(1, len(buttons))]
    assert buttons[-1]["title"] == "I'm not sure"
    listed = next(e["text"] for e in card(asked)["body"] if e.get("text", "").startswith("1. "))
    choices = [line.partition(". ")[2] for line in listed.split("\r")]
    assert len(choices) == len(buttons) - 1 and all(choices)
    post(web, activity(connector, value={**buttons[1]["data"], "msteams": {"type": "messageBack"}}))
    answered = connector.wait_for(2)[1]
    assert choices[1] in answered["summary"]  # "Right. <answer>" or "Not quite: ..." naming the choice


def test_action_execute_invoke_is_answered_within_the_invoke_and_replied(web, connector, ctx):
    with ctx.sessions() as db:
        acme = db.scalar(
            select(Deal).where(Deal.name == "Acme Corp", Deal.organization_id == get_organization_id(ctx))
        )
    invoke = activity(
        connector,
        "invoke",
        name="adaptiveCard/action",
        value={
            "action": {
                "type": "Action.Execute",
                "verb": "bot",
                "data": {"bot_action": "deal.next", "bot_value": str(acme.id)},
            },
            "trigger": "manual",
        },
    )
    status, body = post(web, invoke)
    assert status == 200
    response = json.loads(body)
    assert response["statusCode"] == 200 and response["type"] == "application/vnd.microsoft.card.adaptive"
    assert response["value"]["body"][0]["text"] == "Acme Corp: Discovery"  # the clicked card is replaced
    assert connector.activities() == []


def get_organization_id(ctx) -> int:
    with ctx.sessions.begin() as db:
        return get_or_create_workspace(db, Platform.TEAMS, TENANT).organization_id


def test_install_greets_once_and_stores_the_reference(web, connector, ctx):
    added = activity(connector, "conversationUpdate", membersAdded=[BOT])
    post(web, added)
    (greeting,) = connector.wait_for(1)
    assert header(greeting) == "Hi, I'm your sales playbook in chat"
    post(web, activity(connector, "installationUpdate", action="add"))
    post(web, activity(connector, "conversationUpdate", membersAdded=[BOT]))
    assert settled(web, connector) == [greeting]  # greeted once
    with ctx.sessions() as db:
        assert db.scalar(
            select(ConversationRef)
            .join(Person, Person.id == ConversationRef.person_id)
            .where(Person.email == "rep@example.com")
        )


def test_unknown_teams_user_is_added_from_the_roster(web, connector, ctx):
    post(
        web,
        say(connector, "my deals", user={"id": "29:1newbie", "name": "Nia New", "aadObjectId": "aad-nia"}),
    )
    (sent,) = connector.wait_for(1)
    assert "No open deals yet" in texts(sent)
    with ctx.sessions() as db:
        nia = db.scalar(select(Person).where(Person.teams_user_id == "29:1newbie"))
        assert (nia.email, nia.name) == ("nia@example.com", "Nia New")


def test_tenants_are_isolated(web, connector):
    other = say(
        connector,
        "what's next for Acme?",
        conversation={**PERSONAL, "tenantId": "other-tenant"},
        channelData={"tenant": {"id": "other-tenant"}},
    )
    post(web, other)
    assert "couldn't find a deal called" in texts(connector.wait_for(1)[0])


def test_redelivered_activity_is_answered_once(web, connector):
    body = say(connector, "help")
    post(web, body)
    post(web, body)
    (answer,) = settled(web, connector)
    assert answer["_reply_to"] == body["id"]


# -- connector clients: one per service URL -----------------------------------------------------------


@pytest.fixture
def other_region() -> Iterator[BotConnectorDouble]:
    """A second Bot Connector: Teams hands out regional serviceUrls (.../amer/, .../emea/, ...)."""
    double = BotConnectorDouble(members=dict(TEAMS_ROSTER)).start()
    yield double
    double.stop()


def test_replies_reuse_their_service_urls_connection_and_go_to_the_right_one(web, connector, other_region):
    post(web, say(connector, "help"))
    post(web, say(other_region, "my deals"))
    post(web, say(connector, "what's next for Acme?"))
    first, third = connector.wait_for(2)
    (second,) = other_region.wait_for(1)
    assert "Your open deals" in texts(second) and header(third) == "Acme Corp: Discovery"
    # One connector client per service URL: its connection (and, in production, its token) is reused.
    assert first["_peer"] == third["_peer"]


def test_connector_clients_kept_are_bounded_least_recently_used_first():
    clients = ConnectorClients(2)
    built: list[tuple[str, str, str]] = []

    def get(url: str) -> object:
        key = ("app-id", "https://api.botframework.com", url)

        async def build() -> object:
            built.append(key)
            return object()

        return asyncio.run(clients.get(key, build))

    a = get("https://smba.example/amer/")
    get("https://smba.example/emea/")
    assert get("https://smba.example/amer/") is a  # kept
    get("https://smba.example/apac/")  # a third: the least recently used (emea) goes
    assert len(clients) == 2 and get("https://smba.example/amer/") is a
    get("https://smba.example/emea/")
    assert [key[2] for key in built] == [
        "https://smba.example/amer/",
        "https://smba.example/emea/",
        "https://smba.example/apac/",
        "https://smba.example/emea/",
    ]


def test_not_json_is_rejected(web):
    async def send() -> int:
        async with (
            aiohttp.ClientSession() as s,
            s.post(f"{web.url}/api/messages", data="hi", headers={"Content-Type": "text/plain"}) as r,
        ):
            return r.status

    assert asyncio.run(send()) == 415


def post_raw(web, data: str | bytes) -> tuple[int, str]:
    async def send() -> tuple[int, str]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{web.url}/api/messages", data=data, headers={"Content-Type": "application/json"}
            ) as response,
        ):
            return response.status, await response.text()

    return asyncio.run(send())


def without(body: dict, key: str) -> dict:
    return {k: v for k, v in body.items() if k != key}


HOSTILE_BODIES = {
    "deep nesting": lambda c: "[" * 100_000,
    "deep nesting that parses": lambda c: json.dumps(say(c, "help", value=json.loads("[" * 500 + "]" * 500))),
    "malformed JSON": lambda c: '{"type": "message", "text": "my secret plan",',
    "not an object": lambda c: json.dumps([say(c, "help")]),
    "no from": lambda c: json.dumps(without(say(c, "my secret plan"), "from")),
    "no conversation": lambda c: json.dumps(without(say(c, "my secret plan"), "conversation")),
    "no serviceUrl": lambda c: json.dumps(without(say(c, "my secret plan"), "serviceUrl")),
    "no type": lambda c: json.dumps(without(say(c, "my secret plan"), "type")),
    "from is a string": lambda c: json.dumps({**say(c, "my secret plan"), "from": "riley"}),
    "tenant is a string": lambda c: json.dumps({**say(c, "my secret plan"), "channelData": {"tenant": "x"}}),
    "bad timestamp": lambda c: json.dumps({**say(c, "my secret plan"), "timestamp": "yesterday"}),
}


@pytest.mark.parametrize("kind", HOSTILE_BODIES)
def test_hostile_bodies_are_400_with_one_log_line_and_nothing_sent(web, connector, caplog, kind):
    caplog.set_level("INFO")
    status, text = post_raw(web, HOSTILE_BODIES[kind](connector))
    assert status == 400, text
    error = json.loads(text)["error"]
    assert 0 < len(error) < 80
    assert connector.activities() == []
    assert [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()] == [
        f"rejected a Teams request: {error}"
    ]
    assert all(r.exc_info is None and r.levelno < 40 for r in caplog.records), caplog.text
    assert "Traceback" not in caplog.text
    assert "secret plan" not in caplog.text
    assert settled(web, connector) == []  # the endpoint still answers a good activity, and only that


SECRET = "my secret plan: discount Acme 40% before the board meets"


@pytest.mark.parametrize("faults", [1, 2])
def test_a_failed_turn_logs_ids_and_kinds_not_what_was_said(web, connector, caplog, faults):
    """The connector refuses the answer (its error quoting the message back, as services may); with two
    faults the apology fails too. Logs name the activity and the error's kind, never the text."""
    caplog.set_level("DEBUG", logger="bot")
    connector.faults += [ConnectorFault(500, f"BadArgument: {SECRET}")] * faults
    message = say(connector, SECRET)
    assert post(web, message)[0] in (200, 201)
    [error] = [r for r in caplog.records if r.getMessage().startswith("teams error")]
    line = error.getMessage().splitlines()[0]
    assert "ErrorResponseException" in line and f"message activity {message['id']}" in line
    assert PERSONAL["id"] in line and RILEY["id"] in line
    assert all(r.exc_info is None for r in caplog.records)
    assert "secret plan" not in caplog.text and "BadArgument" not in caplog.text
    reference = line.split()[2].rstrip(":")
    if faults == 1:  # the apology reached the person, with the reference that is in the log
        (apology,) = connector.wait_for(1)
        assert reference in texts(apology)
    else:
        assert any(
            f"could not tell the user about error {reference}" in r.getMessage() for r in caplog.records
        )
        assert connector.activities() == []


# -- authentication ---------------------------------------------------------------------------------


@pytest.fixture
def secured_web(teams_ctx):
    settings = teams_ctx.settings.model_copy(
        update={
            "microsoft_app_id": "0b7a6c3e-1111-2222-3333-444455556666",
            "microsoft_app_password": "secret",
        }
    )
    server = BackgroundServer(create_app(dataclasses.replace(teams_ctx, settings=settings))).start()
    yield server
    server.stop()


def test_with_an_app_id_requests_without_a_token_are_401(secured_web, connector):
    assert post(secured_web, say(connector, "help"))[0] == 401
    assert post(secured_web, say(connector, "help"), {"Authorization": "Bearer not-a-jwt"})[0] == 401
    assert post(secured_web, say(connector, "help"), {"Authorization": "Basic dXNlcjpwYXNz"})[0] == 401
    bearer = {"Authorization": "Bearer not-a-jwt"}
    assert post(secured_web, without(say(connector, "help"), "from"), bearer)[0] == 400  # shape first
    # No later message can prove more here (none would pass without a token), and none is needed: a Teams
    # turn runs inside its request (bot/channels/teams.py), so a request that has been answered has nothing
    # left to run and anything it was going to send has been sent by now.
    assert connector.activities() == []


def test_without_an_app_id_the_endpoint_warns_loudly(teams_ctx, caplog):
    caplog.set_level("WARNING")
    create_app(teams_ctx)
    assert any("UNAUTHENTICATED" in r.getMessage() for r in caplog.records)


# -- proactive messages through the outbox ------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = FIXED_NOW

    def __call__(self):  # noqa: ANN204
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def proactive(ctx, connector, web, *faults: ConnectorFault) -> tuple[Drainer, Clock]:
    post(web, say(connector, "help"))  # Riley talks to the bot once: the reference is stored
    connector.wait_for(1)
    with ctx.sessions.begin() as db:
        riley = db.scalar(select(Person).where(Person.teams_user_id == "29:1riley"))
        outbox.enqueue(
            db,
            key="nudge:riley:2026-W48",
            kind="nudge",
            workspace_id=riley.organization_id,
            platform=Platform.TEAMS,
            reply=Reply("Time to coach", header="Time to coach", sections=(Section("- Riley: Acme Corp"),)),
            now=FIXED_NOW,
            person_id=riley.id,
        )
    connector.faults.extend(faults)
    clock = Clock()
    return Drainer(
        ctx.sessions,
        {Platform.TEAMS: TeamsSender(ctx)},
        "test",
        clock,
        DrainPolicy(base_backoff=1.0),
        sleep=clock.sleep,
    ), clock


def the_row(ctx) -> OutboxMessage:
    with ctx.sessions() as db:
        return db.scalar(select(OutboxMessage))


def test_proactive_message_reaches_the_personal_chat(ctx, connector, web):
    drainer, _ = proactive(ctx, connector, web)
    assert drainer.drain().sent == 1
    sent = connector.activities()[-1]
    assert sent["_conversation"] == PERSONAL["id"]
    assert header(sent) == "Time to coach"
    assert the_row(ctx).platform_message_id == "1:2"


def test_bot_removed_marks_the_person_unreachable_instead_of_retrying(ctx, connector, web):
    drainer, _ = proactive(ctx, connector, web, ConnectorFault(403, "BotNotInConversationRoster"))
    assert drainer.drain().dead == 1
    row = the_row(ctx)
    assert row.status == OutboxStatus.DEAD and "403 BotNotInConversationRoster" in row.last_error
    with ctx.sessions() as db:
        ref = db.scalar(select(ConversationRef))
        assert (ref.reachable, ref.unreachable_reason) == (False, "403 BotNotInConversationRoster")
    post(web, say(connector, "help"))  # they talk to the bot again: reachable again
    connector.wait_for(2)
    with ctx.sessions() as db:
        assert db.scalar(select(ConversationRef)).reachable is True


def test_teams_429_and_500_are_retried(ctx, connector, web):
    drainer, clock = proactive(
        ctx,
        connector,
        web,
        ConnectorFault(429, "TooManyRequests", retry_after=3),
        ConnectorFault(500, "ServiceError"),
    )
    assert drainer.drain().retried == 1
    assert the_row(ctx).next_attempt_at == FIXED_NOW + timedelta(seconds=3)
    clock.now += timedelta(seconds=3)
    assert drainer.drain().retried == 1
    clock.now += timedelta(seconds=10)
    assert drainer.drain().sent == 1
    assert [header(a) for a in connector.activities()[1:]] == ["Time to coach"]


def test_proactive_messages_follow_the_newest_service_url(ctx, connector, web, other_region):
    drainer, _ = proactive(ctx, connector, web)
    post(web, say(other_region, "help"))  # Riley's next message comes through another region
    other_region.wait_for(1)
    assert drainer.drain().sent == 1
    assert header(other_region.activities()[-1]) == "Time to coach"
    assert len(connector.activities()) == 1


def test_questions_in_free_words_are_understood_in_a_teams_activity(web, connector):
    post(web, say(connector, "walk me through hooli"))
    (sent,) = connector.wait_for(1)
    assert header(sent) == "Hooli Express: Demo"
    post(web, say(connector, "talk tracks for the closing stage"))
    second = connector.wait_for(2)[1]
    assert header(second) == "Decision and negotiation stage"
    assert texts(second).index("Talk tracks") < texts(second).index("Objectives")
