"""The Microsoft Teams channel: botbuilder's CloudAdapter at POST /api/messages, and proactive sends.

This is the only module that imports `botbuilder` (the Bot Framework SDK for Python, archived by
Microsoft; its successor, the Microsoft 365 Agents SDK, mirrors this API: see README "Teams"). Inbound
activities become neutral Requests; replies are Adaptive Cards from bot/channels/teams_cards.py.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import uuid
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import jwt
from aiohttp import ClientError, web
from botbuilder.core import InvokeResponse, TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity, ActivityTypes, AdaptiveCardInvokeResponse, ConversationReference
from botframework.connector.models import ErrorResponseException
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.channels.teams_cards import click_from_value, to_activities
from bot.context import AppContext
from bot.delivery import RetryLater, Undeliverable
from bot.messages import Reply, Request
from bot.models import ConversationRef, OutboxMessage, Person, Platform, ProcessedEvent
from bot.people import get_or_create_workspace, match_platform_person
from bot.router import handle

log = logging.getLogger(__name__)

AT_TAG = re.compile(r"<at>.*?</at>", re.IGNORECASE)
NO_AUTH_WARNING = (
    "\n" + "!" * 78 + "\n"
    "!! MICROSOFT_APP_ID is not set: /api/messages accepts UNAUTHENTICATED requests.\n"
    "!! Use this only for local testing (Bot Framework Emulator); set MICROSOFT_APP_ID and\n"
    "!! MICROSOFT_APP_PASSWORD before exposing this server.\n" + "!" * 78
)
FORM_META_KEYS = {"bot_action", "bot_value", "msteams"}  # everything else in a submit's value is an answer
SECONDS_BETWEEN_SENDS_PER_CONVERSATION = 0.5  # Teams allows about 60 messages per 30 s per conversation


@dataclass(frozen=True)
class Who:
    workspace_id: int
    person_id: int


def make_adapter(ctx: AppContext) -> CloudAdapter:
    settings = ctx.settings
    config = SimpleNamespace(
        APP_ID=settings.microsoft_app_id or "",
        APP_PASSWORD=settings.microsoft_app_password or "",
        APP_TYPE=settings.microsoft_app_type or "MultiTenant",
        APP_TENANTID=settings.microsoft_app_tenant_id or "",
    )
    return CloudAdapter(ConfigurationBotFrameworkAuthentication(config))


class TeamsChannel:
    """The Teams bot: answers activities through the router, greets new installs, keeps references."""

    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self.adapter = make_adapter(ctx)
        self.adapter.on_turn_error = self._on_turn_error
        if not ctx.settings.microsoft_app_id:
            log.warning(NO_AUTH_WARNING)

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/api/messages", self._messages)]

    async def _messages(self, request: web.Request) -> web.Response:
        if "application/json" not in request.headers.get("Content-Type", ""):
            return web.json_response(
                {"error": "expected a Bot Framework activity as application/json"}, status=415
            )
        try:
            response = await self.adapter.process(request, self)
        except web.HTTPException:
            raise
        except (jwt.PyJWTError, ValueError, KeyError) as exc:
            # The SDK lets a malformed token escape as a decoding error; it is an authentication failure.
            log.info("rejected a Teams request with an invalid token: %s", exc)
            return web.json_response({"error": "invalid or missing Bot Framework token"}, status=401)
        except (OSError, ClientError) as exc:
            log.error("could not verify a Teams token (identity service unreachable): %s", exc)
            return web.json_response({"error": "could not verify the token right now"}, status=503)
        return response if response is not None else web.Response(status=201)

    # -- one turn ----------------------------------------------------------------------------------
    async def on_turn(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        if activity.type == ActivityTypes.message:
            await self._on_message(turn_context)
        elif activity.type == ActivityTypes.invoke and activity.name == "adaptiveCard/action":
            await self._on_card_action(turn_context)
        elif activity.type in (ActivityTypes.conversation_update, ActivityTypes.installation_update):
            await self._on_install(turn_context)

    async def _on_message(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        if not await self._first_delivery(activity):
            return
        who = await self._who(turn_context)
        click = click_from_value(activity.value) if activity.value else None
        shared = (activity.conversation.conversation_type or "personal") != "personal"
        channel_id = activity.conversation.id
        if click is not None:
            answers = {
                k: v
                for k, v in activity.value.items()
                if k not in FORM_META_KEYS and isinstance(v, str | list)
            }
            request = Request(
                who.workspace_id,
                who.person_id,
                click=click,
                channel_id=channel_id,
                shared=shared,
                form=answers or None,
            )
        else:
            request = Request(
                who.workspace_id,
                who.person_id,
                text=_clean_text(activity),
                channel_id=channel_id,
                shared=shared,
            )
        await self._reply(turn_context, await asyncio.to_thread(handle, self.ctx, request))

    async def _on_card_action(self, turn_context: TurnContext) -> None:
        """Action.Execute (Universal Actions): the answer's card replaces the clicked card, in the invoke
        response itself; anything longer than one card follows as messages."""
        activity = turn_context.activity
        click = click_from_value(activity.value)
        if click is None:
            await self._invoke_response(turn_context, 400, None)
            return
        who = await self._who(turn_context)
        shared = (activity.conversation.conversation_type or "personal") != "personal"
        request = Request(
            who.workspace_id, who.person_id, click=click, channel_id=activity.conversation.id, shared=shared
        )
        activities = to_activities(await asyncio.to_thread(handle, self.ctx, request))
        await self._invoke_response(turn_context, 200, activities[0]["attachments"][0]["content"])
        for extra in activities[1:]:
            await turn_context.send_activity(Activity.deserialize(extra))

    @staticmethod
    async def _invoke_response(turn_context: TurnContext, status: int, card: dict[str, Any] | None) -> None:
        body = AdaptiveCardInvokeResponse(
            status_code=status,
            type="application/vnd.microsoft.card.adaptive" if card else "application/vnd.microsoft.error",
            value=card or {"code": "BadRequest", "message": "not one of this bot's buttons"},
        )
        await turn_context.send_activity(
            Activity(type=ActivityTypes.invoke_response, value=InvokeResponse(status=200, body=body))
        )

    async def _on_install(self, turn_context: TurnContext) -> None:
        """Greet once when the app is added for a person or a team, and remember where to reach them."""
        activity = turn_context.activity
        bot_id = activity.recipient.id if activity.recipient else None
        added = any(m.id == bot_id for m in activity.members_added or [])
        installed = activity.type == ActivityTypes.installation_update and (activity.action or "").startswith(
            "add"
        )
        if not (added or installed):
            return
        await self._who(turn_context)
        if not await asyncio.to_thread(self._remember, f"teams:greeted:{activity.conversation.id}"):
            return
        await self._reply(turn_context, self.ctx.renderer.render("welcome.j2"))

    async def _reply(self, turn_context: TurnContext, reply: Reply) -> None:
        for activity in to_activities(reply):
            await turn_context.send_activity(Activity.deserialize(activity))

    async def _on_turn_error(self, turn_context: TurnContext, error: Exception) -> None:
        reference = uuid.uuid4().hex[:8]
        log.error("teams error %s", reference, exc_info=error)
        try:
            await self._reply(
                turn_context, self.ctx.renderer.render("error.j2", kind="error", reference=reference)
            )
        except Exception:  # noqa: BLE001 - the connector itself may be what failed
            log.warning("could not tell the user about error %s", reference, exc_info=True)

    # -- who is talking ----------------------------------------------------------------------------
    async def _who(self, turn_context: TurnContext) -> Who:
        """Our workspace (the tenant) and person; an unknown user's email comes from the Teams roster."""
        activity = turn_context.activity
        tenant = _tenant_of(activity)
        user = activity.from_property
        reference = TurnContext.get_conversation_reference(activity).serialize()
        personal = (activity.conversation.conversation_type or "personal") == "personal"
        found = await asyncio.to_thread(
            self._lookup, tenant, user.id, user.aad_object_id, None, reference if personal else None
        )
        if found.person_id:
            return found
        profile: dict[str, str | None] = {"email": None, "name": user.name, "timezone": None}
        try:
            member = await TeamsInfo.get_member(turn_context, user.id)
            profile["email"] = (member.email or member.user_principal_name or "").lower() or None
            profile["name"] = member.name or user.name
        except Exception:  # noqa: BLE001 - outside Teams (Emulator) there is no roster: match by id only
            log.info("no Teams roster entry for %s; adding them without an email", user.id)
        return await asyncio.to_thread(
            self._lookup, tenant, user.id, user.aad_object_id, profile, reference if personal else None
        )

    def _lookup(
        self,
        tenant: str,
        user_id: str,
        aad_id: str | None,
        profile: dict[str, str | None] | None,
        reference: dict[str, Any] | None,
    ) -> Who:
        with self.ctx.sessions.begin() as db:
            workspace = get_or_create_workspace(db, Platform.TEAMS, tenant)
            person = match_platform_person(
                db, workspace, Platform.TEAMS, user_id, profile, aad_object_id=aad_id
            )
            if person is None:
                return Who(workspace.id, 0)
            if reference is not None:
                _store_reference(db, person, reference)
            return Who(workspace.id, person.id)

    async def _first_delivery(self, activity: Activity) -> bool:
        return (
            await asyncio.to_thread(self._remember, f"teams:{activity.conversation.id}:{activity.id}")
            if activity.id
            else True
        )

    def _remember(self, key: str) -> bool:
        with self.ctx.sessions() as db:
            db.add(ProcessedEvent(key=key[:200]))
            try:
                db.commit()
                return True
            except IntegrityError:
                return False


def _store_reference(db, person: Person, reference: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    """Keep the newest personal conversation reference (and serviceUrl) for proactive messages."""
    row = db.scalar(
        select(ConversationRef).where(
            ConversationRef.person_id == person.id, ConversationRef.platform == Platform.TEAMS
        )
    )
    if row is None:
        row = ConversationRef(workspace_id=person.workspace_id, person_id=person.id, platform=Platform.TEAMS)
        db.add(row)
    row.reference = reference
    row.reachable = True
    row.unreachable_reason = None


def _tenant_of(activity: Activity) -> str:
    data = activity.channel_data or {}
    tenant = activity.conversation.tenant_id if activity.conversation else None
    return tenant or (data.get("tenant") or {}).get("id") or "no-tenant"


def _clean_text(activity: Activity) -> str:
    """The words a person typed: without the bot's @mention, tags or HTML entities."""
    text = TurnContext.remove_recipient_mention(activity) or activity.text or ""
    return html.unescape(AT_TAG.sub("", text)).strip()


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
            row = db.scalar(
                select(ConversationRef).where(
                    ConversationRef.person_id == person.id, ConversationRef.platform == Platform.TEAMS
                )
            )
        if row is None:
            raise Undeliverable(f"{person.email} has not installed the Teams app or messaged the bot yet")
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

        async def logic(turn_context: TurnContext) -> None:
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
        with self.ctx.sessions.begin() as db:
            row = db.scalar(
                select(ConversationRef).where(
                    ConversationRef.person_id == message.person_id, ConversationRef.platform == Platform.TEAMS
                )
            )
            if row is not None:
                row.reachable = False
                row.unreachable_reason = reason

    def find_sent(self, message: OutboxMessage) -> str | None:
        return None

    def rate_key(self, message: OutboxMessage) -> tuple[str, float]:
        conversation = (message.target.get("reference") or {}).get("conversation", {}).get("id", "")
        return f"teams:{conversation}", SECONDS_BETWEEN_SENDS_PER_CONVERSATION


def _retry_after(response: Any) -> float | None:
    headers = getattr(response, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return float(value) if value else 5.0
    except ValueError:
        return 5.0
