"""Requests shaped like Slack's, signed as Slack signs them, for the real web app; and reading what the Slack
Web API double recorded the bot sent back."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import aiohttp

from tests.doubles.people import SLACK_SECRET as SECRET
from tests.doubles.people import SLACK_TEAM as TEAM


def signed_headers(body: str, timestamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    base = f"v0:{timestamp}:{body}".encode()
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": signature}


def post(
    web, body: str, content_type: str, headers: dict[str, str] | None = None, sign: bool = True
) -> tuple[int, str]:
    all_headers = {"Content-Type": content_type, **(signed_headers(body) if sign else {}), **(headers or {})}

    async def send() -> tuple[int, str]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{web.url}/slack/events", data=body.encode(), headers=all_headers) as r,
        ):
            return r.status, await r.text()

    return asyncio.run(send())


_event_counter = iter(range(1, 10_000))


def event(
    web,
    inner: dict,
    *,
    team: str = TEAM,
    event_id: str | None = None,
    headers=None,
    sign=True,
    authorizations=True,
) -> tuple[int, str]:
    body = {
        "token": "legacy-token",
        "team_id": team,
        "api_app_id": "A0APP",
        "event": inner,
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_event_counter):06d}",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team,
                "user_id": "UBOT",
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }
    if not authorizations:
        del body["authorizations"]
    return post(web, json.dumps(body), "application/json", headers, sign)


def dm(text: str, user: str = "URILEY", **extra) -> dict:
    ts = f"{time.time():.6f}"
    return {
        "type": "message",
        "channel": f"D{user}",
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel_type": "im",
        "client_msg_id": "4c5b7c24-0000-0000-0000-000000000000",
        **extra,
    }


def mention(text: str, channel: str = "C0SALES", user: str = "URILEY", thread_ts: str | None = None) -> dict:
    ts = f"{time.time():.6f}"
    inner = {
        "type": "app_mention",
        "user": user,
        "text": f"<@UBOT> {text}",
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
    }
    if thread_ts:
        inner["thread_ts"] = thread_ts
    return inner


def command(web, slack, text: str, user: str = "URILEY", channel: str = "C0SALES") -> tuple[int, str]:
    form = {
        "token": "legacy-token",
        "team_id": TEAM,
        "team_domain": "test",
        "channel_id": channel,
        "channel_name": "sales",
        "user_id": user,
        "user_name": "riley",
        "command": "/playbook",
        "text": text,
        "api_app_id": "A0APP",
        "is_enterprise_install": "false",
        "response_url": f"http://127.0.0.1:{slack.port}/respond/cmd",
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
    }
    return post(web, urlencode(form), "application/x-www-form-urlencoded")


def click(web, slack, button: dict, channel: str = "DURILEY", user: str = "URILEY") -> tuple[int, str]:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "riley", "name": "riley", "team_id": TEAM},
        "api_app_id": "A0APP",
        "token": "legacy-token",
        "container": {
            "type": "message",
            "message_ts": "1700000000.000200",
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": "123.456.abc",
        "team": {"id": TEAM, "domain": "test"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "directmessage"},
        "response_url": f"http://127.0.0.1:{slack.port}/respond/click",
        "actions": [{**button, "block_id": "b1", "action_ts": f"{time.time():.6f}"}],
    }
    return post(web, urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")


def buttons_of(message: dict) -> list[dict]:
    return [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


def header_of(message: dict) -> str | None:
    return next((b["text"]["text"] for b in message.get("blocks") or () if b["type"] == "header"), None)


def chat_posts(slack) -> list[dict]:
    return [m for m in slack.posted() if m["method"] == "chat.postMessage"]


def wait_posts(slack, count: int) -> list[dict]:
    assert slack.wait_for(lambda: len(chat_posts(slack)) >= count), chat_posts(slack)
    return chat_posts(slack)


MARKER = "stage discovery"  # a question with the same answer for everyone: the "Discovery stage" card
MARKER_HEADER = "Discovery stage"


def settled(web, slack, channel: str = "DURILEY", user: str = "URILEY", team: str = TEAM) -> list[dict]:
    """What the bot posted in `channel` before its answer to a question asked there now.

    Slack's requests in one conversation are answered one after another, in the order they arrived
    (bot/channels/slack.py), so once this later question is answered, anything an earlier request in the
    same conversation was going to post has been posted, ahead of it: a test that expects nothing from
    the earlier request asserts that this list is empty. The question is a DM in a D… channel, else a
    mention in the channel (answered in its own thread)."""
    if channel.startswith("D"):
        asked, thread = dm(MARKER, user=user, channel=channel), None
    else:
        asked = mention(MARKER, channel=channel, user=user)
        thread = asked["ts"]
    assert event(web, asked, team=team)[0] == 200

    def in_channel() -> list[dict]:
        return [m for m in chat_posts(slack) if m["channel"] == channel]

    def answered_at() -> int | None:
        return next(
            (
                n
                for n, m in enumerate(in_channel())
                if header_of(m) == MARKER_HEADER and m.get("thread_ts") == thread
            ),
            None,
        )

    assert slack.wait_for(lambda: answered_at() is not None), in_channel()
    return in_channel()[: answered_at()]
