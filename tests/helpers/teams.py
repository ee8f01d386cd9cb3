"""Bot Framework activities shaped like Teams', for the real web app; and reading the Adaptive Cards the Bot
Connector double recorded the bot sent back."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp

from tests.doubles.people import TEAMS_BOT as BOT
from tests.doubles.people import TEAMS_RILEY as RILEY
from tests.doubles.people import TEAMS_TENANT as TENANT

PERSONAL = {"conversationType": "personal", "tenantId": TENANT, "id": "a:1riley-personal-chat"}
CHANNEL = {
    "conversationType": "channel",
    "tenantId": TENANT,
    "isGroup": True,
    "id": "19:sales@thread.tacv2;messageid=1700000000000",
}


_ids = iter(range(1, 100_000))


def activity(
    connector, kind: str = "message", *, user: dict = RILEY, conversation: dict = PERSONAL, **fields: Any
) -> dict:
    return {
        "type": kind,
        "id": f"17000000{next(_ids):05d}",
        "timestamp": "2026-11-23T15:00:00.000Z",
        "serviceUrl": connector.url,
        "channelId": "msteams",
        "from": user,
        "conversation": conversation,
        "recipient": BOT,
        "locale": "en-US",
        "channelData": {"tenant": {"id": TENANT}},
        **fields,
    }


def say(connector, text: str, **kwargs: Any) -> dict:
    return activity(
        connector,
        text=text,
        textFormat="plain",
        entities=[
            {"type": "clientInfo", "locale": "en-US", "platform": "Web", "timezone": "America/Chicago"}
        ],
        **kwargs,
    )


def channel_mention(connector, text: str) -> dict:
    return activity(
        connector,
        text=f"<at>Enablement</at> {text}",
        textFormat="plain",
        conversation=CHANNEL,
        entities=[{"type": "mention", "mentioned": BOT, "text": "<at>Enablement</at>"}],
        channelData={
            "teamsChannelId": "19:sales@thread.tacv2",
            "teamsTeamId": "19:team@thread.tacv2",
            "channel": {"id": "19:sales@thread.tacv2"},
            "team": {"id": "19:team@thread.tacv2"},
            "tenant": {"id": TENANT},
        },
    )


def post(web, body: dict, headers: dict[str, str] | None = None) -> tuple[int, str]:
    async def send() -> tuple[int, str]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{web.url}/api/messages",
                data=json.dumps(body),
                headers={"Content-Type": "application/json", **(headers or {})},
            ) as response,
        ):
            return response.status, await response.text()

    return asyncio.run(send())


def card(sent: dict) -> dict:
    (attachment,) = sent["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    return attachment["content"]


def texts(sent: dict) -> str:
    def walk(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [
                node.get("text", "") if isinstance(node.get("text"), str) else "",
                node.get("title", "") or "",
                node.get("value", "") if isinstance(node.get("value"), str) else "",
            ] + [s for v in node.values() for s in walk(v)]
        if isinstance(node, list):
            return [s for v in node for s in walk(v)]
        return []

    return "\n".join(s for s in walk(card(sent)) if s)


def header(sent: dict) -> str:
    return card(sent)["body"][0]["text"]


def actions(sent: dict) -> list[dict]:
    return card(sent)["actions"]


def settled(web, connector, conversation: dict = PERSONAL, user: dict = RILEY) -> list[dict]:
    """What the bot sent in `conversation` before its answer to a message sent there now.

    A Teams turn runs inside its request: the bot sends its answer before it responds to the POST
    (bot/channels/teams.py), so requests made one after another are answered in that order, and once this
    later message is answered, anything an earlier request in the conversation was going to send has been
    sent, ahead of it: a test that expects nothing from the earlier request asserts that this list is
    empty."""
    asked = say(connector, "stage discovery", conversation=conversation, user=user)
    assert post(web, asked)[0] in (200, 201)

    def in_conversation() -> list[dict]:
        return [a for a in connector.activities() if a["_conversation"] == conversation["id"]]

    def answered_at() -> int | None:
        return next((n for n, a in enumerate(in_conversation()) if a["_reply_to"] == asked["id"]), None)

    deadline = time.monotonic() + 10
    while answered_at() is None:
        assert time.monotonic() < deadline, f"no answer to the later message: {in_conversation()}"
        time.sleep(0.02)
    (answer,) = [a for a in in_conversation() if a["_reply_to"] == asked["id"]]
    assert header(answer) == "Discovery stage"
    return in_conversation()[: answered_at()]
