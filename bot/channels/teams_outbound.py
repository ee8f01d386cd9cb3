"""Proactive Teams messages for the outbox: sent through the conversation reference a person left when
they last wrote to the bot (storage/identity.py keeps those references and marks who cannot be reached)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import ClientError
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity, ConversationReference
from botframework.connector.models import ErrorResponseException

from bot.channels.teams_cards import to_activities
from bot.channels.teams_connector import make_adapter
from bot.context import AppContext
from bot.delivery import RetryLater, Undeliverable
from bot.messages import Reply
from storage.identity import conversation_reference, mark_unreachable
from storage.models import OutboxMessage, Person, Platform

SECONDS_BETWEEN_SENDS_PER_CONVERSATION = 0.5  # Teams allows about 60 messages per 30 s per conversation


class TeamsSender:
    """Delivers outbox rows to Teams through stored conversation references (at least once: Teams offers
    no way to look a sent message up by our key)."""

    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self._adapter: CloudAdapter | None = None

    def resolve_target(self, message: OutboxMessage, person: Person | None) -> dict[str, Any]:
        if person is None:
            raise Undeliverable("Teams messages need a person")
        with self.ctx.sessions() as db:
            row = conversation_reference(db, person.id, Platform.TEAMS)
        channel = message.target.get("conversation")
        if row is None:
            if channel:
                raise Undeliverable(
                    f"Teams channel {channel}: {person.email} has not chatted with the bot personally, so "
                    "there is no serviceUrl to post with yet"
                )
            raise Undeliverable(f"{person.email} has not installed the Teams app or messaged the bot yet")
        if channel:
            # A channel post needs only the person's serviceUrl, bot and tenant: it goes out even when
            # their personal chat is unreachable.
            return {**message.target, "reference": _channel_reference(row.reference, str(channel))}
        if not row.reachable:
            raise Undeliverable(f"{person.email} is unreachable in Teams: {row.unreachable_reason}")
        return {**message.target, "reference": row.reference}

    def send(self, message: OutboxMessage, reply: Reply) -> str | None:
        return asyncio.run(self._send(message, reply))

    async def _send(self, message: OutboxMessage, reply: Reply) -> str | None:
        if self._adapter is None:
            self._adapter = make_adapter(self.ctx)
        reference = ConversationReference.deserialize(message.target["reference"])
        ids: list[str | None] = []

        new_post = bool(message.target.get("conversation"))

        async def logic(turn_context: TurnContext) -> None:
            if new_post:  # a channel post starts its own thread, not a reply to the SDK's continuation id
                turn_context.activity.id = None
            for activity in to_activities(reply):
                response = await turn_context.send_activity(Activity.deserialize(activity))
                ids.append(response.id if response else None)

        try:
            await self._adapter.continue_conversation(
                reference, logic, self.ctx.settings.microsoft_app_id or ""
            )
        except ErrorResponseException as exc:
            status = getattr(exc.response, "status_code", None) or getattr(exc.response, "status", None)
            code = getattr(getattr(exc.error, "error", None), "code", None) or ""
            if status in (403, 404):
                reason = f"{status} {code or 'bot not in conversation'}"
                channel = message.target.get("conversation")
                if channel:  # the channel is gone or the app was removed from its team; the person is not
                    raise Undeliverable(
                        f"Teams channel {channel}: {reason} (is the app still in the channel's team?)"
                    ) from exc
                self._mark_unreachable(message, reason)
                raise Undeliverable(f"Teams: {reason}") from exc
            if status == 429:
                retry_after = _retry_after(exc.response)
                raise RetryLater("Teams rate limit (429)", retry_after) from exc
            raise RetryLater(f"Teams HTTP {status}: {code}") from exc
        except (TimeoutError, ClientError, OSError) as exc:
            raise RetryLater(f"network: {exc}") from exc
        return ids[0] if ids else None

    def _mark_unreachable(self, message: OutboxMessage, reason: str) -> None:
        if message.person_id is None:
            return  # (a message to a channel: no person to mark)
        with self.ctx.sessions.begin() as db:
            mark_unreachable(db, message.person_id, Platform.TEAMS, reason)

    def find_sent(self, message: OutboxMessage) -> str | None:
        return None

    def rate_key(self, message: OutboxMessage) -> tuple[str, float]:
        conversation = (message.target.get("reference") or {}).get("conversation", {}).get("id", "")
        return f"teams:{conversation}", SECONDS_BETWEEN_SENDS_PER_CONVERSATION


def _channel_reference(personal: dict[str, Any], channel: str) -> dict[str, Any]:
    """A person's stored (personal chat) reference pointed at a Teams channel conversation instead: the
    same serviceUrl, bot and tenant, which is how Bot Framework posts proactively to a channel."""
    tenant = (personal.get("conversation") or {}).get("tenantId")
    reference = {key: value for key, value in personal.items() if key not in ("activityId", "conversation")}
    reference["conversation"] = {"id": channel, "isGroup": True, "conversationType": "channel"}
    if tenant:
        reference["conversation"]["tenantId"] = tenant
    return reference


def _retry_after(response: Any) -> float | None:
    headers = getattr(response, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return float(value) if value else 5.0
    except ValueError:
        return 5.0
