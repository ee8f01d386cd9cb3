"""Proactive Slack messages for the outbox: open the DM, post the Block Kit message, find it again.

Each message carries its outbox key in Slack message metadata, so after a crash or a timeout the drainer
can ask Slack (conversations.history) whether the message already arrived instead of posting it twice.

A reply's chart (a weekly digest's) follows the message as a file shared in the same conversation, in two
more parts the drainer records like the others: "upload" (files.getUploadURLExternal, then the bytes to
the URL Slack gave; its recorded id is the file's) and "share" (files.completeUploadExternal into the
channel). A file share carries no metadata, so a retry finds the share by that recorded file id in the
conversation's history. A retry after the upload was recorded reuses the uploaded file (it is shared, not
uploaded again); an upload that failed before Slack's file id was recorded is started afresh, and the
unfinished one is never shared, so nobody sees it.
"""

from __future__ import annotations

import functools
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, cast

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.channels.slack_blocks import to_messages
from bot.delivery import RetryLater, Undeliverable
from bot.messages import Reply
from storage.models import OutboxMessage, Person

log = logging.getLogger(__name__)

METADATA_EVENT = "enablement_outbox"
# Slack errors that retrying cannot fix (https://api.slack.com/methods/chat.postMessage#errors).
PERMANENT = {
    "channel_not_found",
    "user_not_found",
    "users_not_found",
    "account_inactive",
    "is_archived",
    "not_in_channel",
    "cannot_dm_bot",
    "user_disabled",
    "invalid_auth",
    "not_authed",
    "token_revoked",
    "token_expired",
    "missing_scope",
    "no_permission",
    "msg_too_long",
    "invalid_blocks",
    "invalid_blocks_format",
    "no_text",
    "restricted_action",
    "team_access_not_granted",
    "org_login_required",
    "ekm_access_denied",
}
SECONDS_BETWEEN_POSTS_PER_CHANNEL = 1.0  # Slack: about one message per second per channel


class SlackSender:
    """Sends outbox rows for Slack workspaces; `token_for(workspace_id)` finds the bot token."""

    def __init__(self, token_for: Callable[[int], str | None], base_url: str, timeout: float = 10.0):
        self._token_for = token_for
        self._base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._timeout = timeout
        self._clients: dict[str, WebClient] = {}
        self._dm_channels: dict[str, str] = {}

    def _client(self, workspace_id: int) -> WebClient:
        token = self._token_for(workspace_id)
        if not token:
            raise Undeliverable(
                "no Slack bot token for this workspace (install the app, or set SLACK_BOT_TOKEN)"
            )
        if token not in self._clients:
            # No client-side retries: the outbox retries durably and checks for duplicates first.
            self._clients[token] = WebClient(
                token=token,
                base_url=self._base_url,
                timeout=cast(
                    int, self._timeout
                ),  # (typed int; the SDK hands it to urllib, which takes fractions)
                retry_handlers=[],
            )
        return self._clients[token]

    def resolve_target(self, message: OutboxMessage, person: Person | None) -> dict[str, Any]:
        if message.target.get("channel"):
            return message.target
        if person is None or not person.slack_user_id:
            raise Undeliverable("the person has no Slack user id")
        channel = self._dm_channels.get(person.slack_user_id)
        if channel is None:
            response = self._call(
                lambda: self._client(message.workspace_id).conversations_open(users=person.slack_user_id)
            )
            channel = response["channel"]["id"]
            self._dm_channels[person.slack_user_id] = channel
        return {**message.target, "channel": channel}

    def parts(self, reply: Reply) -> list[dict[str, Any]]:
        """chat.postMessage payloads: one, or several when the reply needs over 50 blocks; then, with a
        chart, its upload and its share."""
        parts: list[dict[str, Any]] = list(to_messages(reply))
        if reply.image is not None:
            parts += [{"upload": reply.image}, {"share": reply.image, "title": reply.text[:250]}]
        return parts

    @staticmethod
    def paced(part: dict[str, Any]) -> bool:
        """Only posts keep to a channel's one message a second; the file methods have their own tiers."""
        return "upload" not in part and "share" not in part

    def send_part(self, message: OutboxMessage, index: int, part: dict[str, Any]) -> str | None:
        """Post one part, carrying the outbox key and the part number in its metadata."""
        client = self._client(message.workspace_id)
        if "upload" in part:
            return self._upload(client, part["upload"])
        if "share" in part:
            file_id = (message.sent_parts or {}).get(str(index - 1))
            if not file_id:
                raise RetryLater("the chart's upload is not recorded yet")
            self._call(
                lambda: client.files_completeUploadExternal(
                    files=[{"id": file_id, "title": part["title"] or part["share"].filename}],
                    channel_id=message.target["channel"],
                )
            )
            return f"shared:{file_id}"
        metadata = {
            "event_type": METADATA_EVENT,
            "event_payload": {"outbox_key": message.idempotency_key, "part": index},
        }
        response = self._call(
            lambda: client.chat_postMessage(
                channel=message.target["channel"],
                text=part["text"],
                blocks=part["blocks"],
                metadata=metadata,
            )
        )
        return response.get("ts")

    def send(self, message: OutboxMessage, reply: Reply) -> str | None:
        """Post every part (the drainer posts part by part instead, recording each)."""
        first_ts: str | None = None
        for index, part in enumerate(self.parts(reply)):
            first_ts = first_ts or self.send_part(message, index, part)
        return first_ts

    def find_parts(self, message: OutboxMessage) -> dict[int, str]:
        """Part -> ts of this message's parts already in the channel. Raises RetryLater when Slack cannot
        answer (429, 5xx, timeout): the caller must not read that as "not delivered"."""
        channel = message.target.get("channel")
        if not channel:
            return {}
        client = self._client(message.workspace_id)
        oldest = f"{message.created_at.timestamp() - 60:.6f}"
        found: dict[int, str] = {}
        uploaded = {str(v): int(k) for k, v in (message.sent_parts or {}).items() if str(v).startswith("F")}
        cursor: str | None = None
        while True:
            response = self._call(
                functools.partial(
                    client.conversations_history,
                    channel=channel,
                    oldest=oldest,
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
            )
            for item in response.get("messages", []):
                payload = (item.get("metadata") or {}).get("event_payload") or {}
                if payload.get("outbox_key") == message.idempotency_key:
                    found.setdefault(int(payload.get("part", 0)), item.get("ts"))
                for shared in item.get("files") or []:  # the chart's share: the part after its upload
                    if shared.get("id") in uploaded:
                        found.setdefault(uploaded[shared["id"]] + 1, item.get("ts"))
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not response.get("has_more") or not cursor:
                return found

    def _upload(self, client: WebClient, image: Any) -> str:
        """Hand the PNG to Slack (not yet shared anywhere); returns Slack's file id."""
        ticket = self._call(
            lambda: client.files_getUploadURLExternal(
                filename=image.filename, length=len(image.png), alt_txt=image.alt[:1000]
            )
        )
        request = urllib.request.Request(
            ticket["upload_url"],
            data=image.png,
            method="POST",
            headers={"Content-Type": "application/octet-stream"},
        )

        def post() -> None:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310 (Slack's URL)
                response.read()

        self._call(post)
        return str(ticket["file_id"])

    def find_sent(self, message: OutboxMessage) -> str | None:
        return self.find_parts(message).get(0)

    def rate_key(self, message: OutboxMessage) -> tuple[str, float]:
        return (
            f"slack:{message.workspace_id}:{message.target.get('channel', '')}",
            SECONDS_BETWEEN_POSTS_PER_CHANNEL,
        )

    @staticmethod
    def _call(request: Callable[[], Any]) -> Any:
        """Run one Web API call, turning Slack's and the network's failures into retry/permanent decisions."""
        try:
            return request()
        except SlackApiError as exc:
            status = exc.response.status_code
            error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
            if status == 429 or error == "ratelimited":
                retry_after = exc.response.headers.get("Retry-After") or exc.response.headers.get(
                    "retry-after"
                )
                raise RetryLater(
                    "Slack rate limit (429)", float(retry_after) if retry_after else 30.0
                ) from exc
            if error in PERMANENT:
                raise Undeliverable(f"Slack error: {error}") from exc
            raise RetryLater(f"Slack HTTP {status}: {error or 'no error code'}") from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            raise RetryLater(f"network: {exc}") from exc
