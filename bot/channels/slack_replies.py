"""Answers going out to Slack over the Web API and response_url: one shared client per app, messages in
Block Kit (bot/channels/slack_blocks.py), a chart as a file in the same conversation."""

from __future__ import annotations

from typing import Any

from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.channels.slack_blocks import to_messages
from bot.messages import Button, Reply

HTTP_TIMEOUT_S = 30  # slack_sdk's default for Web API calls


FORM_ACTION = "slack.form"  # a typed command that answers with a form: the button opens it as a modal


def web_client(base_url: str, token: str | None = None) -> AsyncWebClient:
    """A Web API client that waits out 429s (Retry-After) and retries a refused connection once."""
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
        ],
    )


def form_button(reply: Reply, typed: str) -> Reply:
    """A reply with a form to a typed message: a button to open it (a modal needs a click's trigger)."""
    if reply.form is None or not typed or reply.form.errors:
        return reply
    label = f"Fill in: {reply.form.title}"
    return reply.with_buttons(Button(label, FORM_ACTION, typed[:1900], style="primary"))


async def respond(client: AsyncWebClient, body: dict[str, Any], **message: Any) -> None:
    """Post a message (text, blocks and response options) to the request's response_url, as Bolt's
    respond() does, but on the shared HTTP session."""
    url = body.get("response_url")
    if not url:
        raise ValueError("respond is unsupported here as there is no response_url")
    webhook = AsyncWebhookClient(url=url, session=client.session, timeout=HTTP_TIMEOUT_S)
    await webhook.send_dict(message)


async def post(
    client: AsyncWebClient, channel: str, reply: Reply, thread_ts: str | None = None
) -> None:
    for payload in to_messages(reply):
        response = await client.chat_postMessage(channel=channel, thread_ts=thread_ts, **payload)
    if reply.image is not None:
        await upload(client, response.get("channel") or channel, reply, thread_ts)


async def upload(
    client: AsyncWebClient, channel: str, reply: Reply, thread_ts: str | None = None
) -> None:
    """A chart goes up as a file in the same conversation (Slack's files.uploadV2 flow)."""
    image = reply.image
    assert image is not None
    if not channel.startswith(("C", "D", "G")):  # a user id: files go to their DM channel
        channel = (await client.conversations_open(users=channel))["channel"]["id"]
    await client.files_upload_v2(
        channel=channel,
        content=image.png,
        filename=image.filename,
        title=reply.text[:250],
        alt_txt=image.alt[:1000],
        thread_ts=thread_ts,
    )

