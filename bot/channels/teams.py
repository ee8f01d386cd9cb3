"""The Microsoft Teams channel: botbuilder's CloudAdapter at POST /api/messages.

Only the Teams modules of bot/channels/ import `botbuilder` (the Bot Framework SDK for Python, archived by
Microsoft; its successor, the Microsoft 365 Agents SDK, mirrors this API: see README "Teams"): this one
(turns), teams_activities.py (activities read and written), teams_connector.py (the adapter and its
connector clients) and teams_outbound.py (proactive sends). Inbound activities become neutral Requests;
replies are Adaptive Cards from bot/channels/teams_cards.py. Who a sender is, retried deliveries and
conversation references are storage/identity.py's, shared with Slack.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
from aiohttp import ClientError, web
from botbuilder.core import InvokeResponse, TurnContext, serializer_helper
from botbuilder.core.teams import TeamsInfo
from botbuilder.schema import Activity, ActivityTypes, AdaptiveCardInvokeResponse

from bot.channels.teams_activities import (
    activity_ids,
    message_request,
    read_activity,
    sdk_activity,
    stack_of,
    teams_user,
)
from bot.channels.teams_cards import click_from_value, to_activities
from bot.channels.teams_connector import make_adapter
from bot.context import AppContext
from bot.inflight import BUSY_TEXT, AnswerSlots
from bot.messages import Reply, Request
from bot.router import answer, handle
from storage.identity import (
    Profile,
    TeamsUser,
    Who,
    admit_teams_message,
    find_teams_person,
    remember_delivery,
)

log = logging.getLogger(__name__)

NO_AUTH_WARNING = (
    "\n" + "!" * 78 + "\n"
    "!! MICROSOFT_APP_ID is not set: /api/messages accepts UNAUTHENTICATED requests.\n"
    "!! Use this only for local testing (Bot Framework Emulator); set MICROSOFT_APP_ID and\n"
    "!! MICROSOFT_APP_PASSWORD before exposing this server.\n" + "!" * 78
)


class TeamsChannel:
    """The Teams bot: answers activities through the router, greets new installs, keeps references."""

    def __init__(self, ctx: AppContext, slots: AnswerSlots | None = None):
        self.ctx = ctx
        self.slots = slots or AnswerSlots(ctx.settings.max_answers_in_flight)
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
        activity, problem = read_activity(await request.read())
        if activity is None:
            # Checked before botbuilder sees the body: it would answer these with a 500, a misleading
            # 401 or a turn that fails half-way. Logged as one line, without the body.
            log.info("rejected a Teams request: %s", problem)
            return web.json_response({"error": problem}, status=400)
        try:
            invoke_response = await self.adapter.process_activity(
                request.headers.get("Authorization", ""), activity, self.on_turn
            )
        except web.HTTPException:
            raise
        except (PermissionError, jwt.PyJWTError, ValueError, KeyError) as exc:
            # The SDK lets a malformed token escape as a decoding error; it is an authentication failure.
            log.info("rejected a Teams request with an invalid token (%s)", type(exc).__name__)
            return web.json_response({"error": "invalid or missing Bot Framework token"}, status=401)
        except (OSError, ClientError) as exc:
            log.error("could not verify a Teams token (identity service unreachable): %s", type(exc).__name__)
            return web.json_response({"error": "could not verify the token right now"}, status=503)
        if invoke_response:
            body = invoke_response.body
            data = body if isinstance(body, dict) else serializer_helper(body)  # a dict is already JSON
            return web.json_response(data=data, status=invoke_response.status)
        return web.Response(status=201)

    # -- one turn ----------------------------------------------------------------------------------
    async def on_turn(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        if activity.type == ActivityTypes.message:
            await self._within_slots(turn_context, self._on_message)
        elif activity.type == ActivityTypes.invoke and activity.name == "adaptiveCard/action":
            await self._within_slots(turn_context, self._on_card_action)
        elif activity.type in (ActivityTypes.conversation_update, ActivityTypes.installation_update):
            await self._on_install(turn_context)

    async def _within_slots(
        self, turn_context: TurnContext, answer: Callable[[TurnContext], Awaitable[None]]
    ) -> None:
        """Answer if the process has a slot free (bot/inflight.py), else say at once that it is busy: as a
        message, or for a card's button as the invoke response's message (the card stays as it was)."""
        if not self.slots.take():
            if turn_context.activity.type == ActivityTypes.invoke:
                await self._invoke_message(turn_context, BUSY_TEXT)
            else:
                await self._reply(turn_context, Reply(text=BUSY_TEXT))
            return
        try:
            await answer(turn_context)
        finally:
            self.slots.give_back()

    async def _on_message(self, turn_context: TurnContext) -> None:
        """A typed message or an Action.Submit click: one worker-thread hop records the delivery, finds
        the sender and answers (a sender we do not know yet is looked up in the Teams roster first)."""
        activity = turn_context.activity
        sender = teams_user(activity)
        key = f"teams:{activity.conversation.id}:{activity.id}" if activity.id else None
        make_request = message_request(activity)
        who, activities = await asyncio.to_thread(self._answer_first_delivery, key, sender, make_request)
        if who is None:
            return  # a redelivery: answered the first time
        if activities is None:
            who = await self._from_roster(turn_context, sender)
            activities = await asyncio.to_thread(self._answer, make_request(who))
        await self._send(turn_context, activities)

    def _answer_first_delivery(
        self, key: str | None, sender: TeamsUser, make_request: Callable[[Who], Request]
    ) -> tuple[Who | None, list[dict[str, Any]] | None]:
        """(None, None) for a redelivery; (who, None) when the sender is not known yet; else the answer.

        One session: the delivery is recorded and committed first, then the answer reuses the connection
        and the sender's person and workspace rows, already loaded (as the Slack channel does)."""
        with self.ctx.sessions() as db:
            admitted = admit_teams_message(db, key, sender)
            if admitted is None:
                return None, None
            # The loaded rows stay referenced while answering, so the session's identity map keeps them.
            who, _loaded = admitted
            if not who.person_id:
                return who, None
            return who, to_activities(answer(self.ctx, db, make_request(who)))

    def _answer(self, request: Request) -> list[dict[str, Any]]:
        return to_activities(handle(self.ctx, request))

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
        activities = await asyncio.to_thread(self._answer, request)
        await self._invoke_response(turn_context, 200, activities[0]["attachments"][0]["content"])
        await self._send(turn_context, activities[1:])

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

    @staticmethod
    async def _invoke_message(turn_context: TurnContext, text: str) -> None:
        """A message instead of a card in the invoke response (Teams shows it; the card stays). The SDK's
        AdaptiveCardInvokeResponse types its value as an object, so this body is written as JSON."""
        body = {"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": text}
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
        await self._send(turn_context, to_activities(reply))

    @staticmethod
    async def _send(turn_context: TurnContext, activities: list[dict[str, Any]]) -> None:
        for activity in activities:
            await turn_context.send_activity(sdk_activity(activity))

    async def _on_turn_error(self, turn_context: TurnContext, error: Exception) -> None:
        """Logs ids and kinds only: an exception's message (or a service's error text) may quote what
        the person typed, so it is left out; the stack shows where, as code, without values."""
        reference = uuid.uuid4().hex[:8]
        log.error(
            "teams error %s: %s in %s\n%s",
            reference,
            type(error).__name__,
            activity_ids(turn_context.activity),
            stack_of(error),
        )
        try:
            await self._reply(
                turn_context, self.ctx.renderer.render("error.j2", kind="error", reference=reference)
            )
        except Exception as exc:  # noqa: BLE001 - the connector itself may be what failed
            log.warning("could not tell the user about error %s: %s", reference, type(exc).__name__)

    # -- who is talking ----------------------------------------------------------------------------
    async def _who(self, turn_context: TurnContext) -> Who:
        """Our workspace (the tenant) and person; an unknown user's email comes from the Teams roster."""
        sender = teams_user(turn_context.activity)
        found = await asyncio.to_thread(self._lookup, sender, None)
        return found if found.person_id else await self._from_roster(turn_context, sender)

    async def _from_roster(self, turn_context: TurnContext, sender: TeamsUser) -> Who:
        """Add (or match by email) a sender we have no Teams id for, with their roster profile."""
        profile: Profile = {"email": None, "name": sender.name, "timezone": None}
        try:
            member = await TeamsInfo.get_member(turn_context, sender.user_id)
            profile["email"] = (member.email or member.user_principal_name or "").lower() or None
            profile["name"] = member.name or sender.name
        except Exception:  # noqa: BLE001 - outside Teams (Emulator) there is no roster: match by id only
            log.info("no Teams roster entry for %s; adding them without an email", sender.user_id)
        return await asyncio.to_thread(self._lookup, sender, profile)

    def _lookup(self, sender: TeamsUser, profile: Profile | None) -> Who:
        with self.ctx.sessions.begin() as db:
            return find_teams_person(db, sender, profile)

    def _remember(self, key: str) -> bool:
        with self.ctx.sessions() as db:
            return remember_delivery(db, key)
