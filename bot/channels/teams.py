"""The Microsoft Teams channel: botbuilder's CloudAdapter at POST /api/messages, and proactive sends.

This is the only module that imports `botbuilder` (the Bot Framework SDK for Python, archived by
Microsoft; its successor, the Microsoft 365 Agents SDK, mirrors this API: see README "Teams"). Inbound
activities become neutral Requests; replies are Adaptive Cards from bot/channels/teams_cards.py.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
import threading
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import jwt
from aiohttp import ClientError, web
from botbuilder.core import InvokeResponse, TurnContext, serializer_helper
from botbuilder.core.teams import TeamsInfo
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    AdaptiveCardInvokeResponse,
    Attachment,
    ConversationReference,
    TokenResponse,
)
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    AuthenticateRequestResult,
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    UserTokenClient,
)
from botframework.connector.models import ErrorResponseException
from botframework.connector.skills import BotFrameworkClient
from botframework.connector.token_api.models import SignInUrlResponse, TokenExchangeRequest, TokenStatus
from msrest.serialization import Model
from sqlalchemy import and_, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.channels.teams_cards import click_from_value, to_activities
from bot.context import AppContext
from bot.delivery import RetryLater, Undeliverable
from bot.messages import Reply, Request
from bot.models import ConversationRef, OutboxMessage, Person, Platform, ProcessedEvent, Workspace
from bot.people import get_or_create_workspace, match_platform_person
from bot.router import answer, handle

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
# Connector clients kept per adapter, keyed by (bot app id, audience, service URL). Teams uses a handful of
# regional service URLs; the bound only matters if something sends us many distinct ones.
CONNECTOR_CLIENTS_KEPT = 64
SIMPLE_ACTIVITY_KEYS = {"type", "text", "summary", "attachments"}  # what _sdk_activity builds directly
SIMPLE_ATTACHMENT_KEYS = {"contentType", "content", "contentUrl", "name"}
MAX_JSON_DEPTH = 64  # Teams activities nest about 6 deep; a card submit's data a few levels more


@dataclass(frozen=True)
class Who:
    workspace_id: int  # the way in (this Teams tenant)
    person_id: int


def make_adapter(ctx: AppContext) -> CloudAdapter:
    settings = ctx.settings
    config = SimpleNamespace(
        APP_ID=settings.microsoft_app_id or "",
        APP_PASSWORD=settings.microsoft_app_password or "",
        APP_TYPE=settings.microsoft_app_type or "MultiTenant",
        APP_TENANTID=settings.microsoft_app_tenant_id or "",
    )
    authentication = ReusingAuthentication(
        ConfigurationBotFrameworkAuthentication(config), ConnectorClients(CONNECTOR_CLIENTS_KEPT)
    )
    return CloudAdapter(authentication)


# -- connector clients: built once per service URL, not once per activity -------------------------------
#
# Out of the box, CloudAdapter builds a new msrest ConnectorClient (with fresh credentials, hence a fresh
# token cache, and a fresh HTTP session) and a new UserTokenClient for every incoming activity and every
# proactive send; building those msrest clients is most of the SDK's time per activity. The classes below
# plug into botbuilder's public extension points (BotFrameworkAuthentication and ConnectorFactory) to reuse
# connector clients and to build a user-token client only if something asks it for a token.


ClientKey = tuple[str, str, str]  # (bot app id, audience, service URL)


class ConnectorClients:
    """A bounded LRU of connector clients. A client carries only the *bot's* credentials (its app id and
    the audience of the token), never a user's or a tenant's, so every part of what it authenticates as
    is in the key: a tenant's activities can share a service URL with another's, never other credentials.

    The lock covers only the dictionary: the outbox sender drives its adapter from its own thread."""

    def __init__(self, size: int):
        self._size = size
        self._clients: OrderedDict[ClientKey, ConnectorClient] = OrderedDict()
        self._lock = threading.Lock()

    async def get(self, key: ClientKey, build: Callable[[], Awaitable[ConnectorClient]]) -> ConnectorClient:
        with self._lock:
            client = self._clients.get(key)
            if client is not None:
                self._clients.move_to_end(key)
                return client
        client = await build()
        with self._lock:
            client = self._clients.setdefault(key, client)  # a concurrent build for the same key may have won
            self._clients.move_to_end(key)
            while len(self._clients) > self._size:
                self._clients.popitem(last=False)  # turns in flight keep their client; the rest is garbage
        return client

    def __len__(self) -> int:
        return len(self._clients)


class ReusingConnectorFactory(ConnectorFactory):
    """The SDK's connector factory for one bot app id, answering from (and filling) the shared LRU."""

    def __init__(
        self, inner: ConnectorFactory, app_id: str, default_audience: str, clients: ConnectorClients
    ):
        self._inner = inner
        self._app_id = app_id
        self._default_audience = default_audience  # what the SDK uses when a caller passes no audience
        self._clients = clients

    async def create(self, service_url: str, audience: str | None = None) -> ConnectorClient:
        key = (self._app_id, audience or self._default_audience, service_url)
        return await self._clients.get(key, lambda: self._inner.create(service_url, audience))


class LazyUserTokenClient(UserTokenClient):
    """Stands in for the SDK's user-token client (OAuth sign-in, which this bot does not use) and builds
    the real one on its first call, so turns that never sign anyone in never pay for it."""

    def __init__(self, build: Callable[[], Awaitable[UserTokenClient]]):
        self._build = build
        self._client: UserTokenClient | None = None

    async def _real(self) -> UserTokenClient:
        if self._client is None:
            self._client = await self._build()
        return self._client

    async def get_user_token(
        self, user_id: str, connection_name: str, channel_id: str, magic_code: str
    ) -> TokenResponse:
        return await (await self._real()).get_user_token(user_id, connection_name, channel_id, magic_code)

    async def get_sign_in_resource(
        self, connection_name: str, activity: Activity, final_redirect: str
    ) -> SignInUrlResponse:
        return await (await self._real()).get_sign_in_resource(connection_name, activity, final_redirect)

    async def sign_out_user(self, user_id: str, connection_name: str, channel_id: str) -> None:
        await (await self._real()).sign_out_user(user_id, connection_name, channel_id)

    async def get_token_status(self, user_id: str, channel_id: str, include_filter: str) -> list[TokenStatus]:
        return await (await self._real()).get_token_status(user_id, channel_id, include_filter)

    async def get_aad_tokens(
        self, user_id: str, connection_name: str, resource_urls: list[str], channel_id: str
    ) -> dict[str, TokenResponse]:
        return await (await self._real()).get_aad_tokens(user_id, connection_name, resource_urls, channel_id)

    async def exchange_token(
        self, user_id: str, connection_name: str, channel_id: str, exchange_request: TokenExchangeRequest
    ) -> TokenResponse:
        return await (await self._real()).exchange_token(
            user_id, connection_name, channel_id, exchange_request
        )


class ReusingAuthentication(BotFrameworkAuthentication):
    """botbuilder's own authentication (token validation, caller ids, credentials: all unchanged), with
    connector clients reused across turns and the user-token client built on demand."""

    def __init__(self, inner: BotFrameworkAuthentication, clients: ConnectorClients):
        self._inner = inner
        self._clients = clients

    def _reusing(self, factory: ConnectorFactory, claims: ClaimsIdentity) -> ConnectorFactory:
        audience = self._inner.get_originating_audience() or ""
        return ReusingConnectorFactory(factory, _bot_app_id(claims), audience, self._clients)

    async def authenticate_request(self, activity: Activity, auth_header: str) -> AuthenticateRequestResult:
        result = await self._inner.authenticate_request(activity, auth_header)
        if result.connector_factory is not None:
            result.connector_factory = self._reusing(result.connector_factory, result.claims_identity)
        return result

    async def authenticate_streaming_request(
        self, auth_header: str, channel_id_header: str
    ) -> AuthenticateRequestResult:
        return await self._inner.authenticate_streaming_request(auth_header, channel_id_header)

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return self._reusing(self._inner.create_connector_factory(claims_identity), claims_identity)

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        return LazyUserTokenClient(lambda: self._inner.create_user_token_client(claims_identity))

    def create_bot_framework_client(self) -> BotFrameworkClient:
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return self._inner.get_originating_audience()

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self._inner.authenticate_channel_request(auth_header)


def _bot_app_id(claims: ClaimsIdentity) -> str:
    """The app id the SDK builds outbound credentials for: the token's audience, else its appid claim."""
    audience = claims.get_claim_value(AuthenticationConstants.AUDIENCE_CLAIM)
    app_id = (
        audience if audience is not None else claims.get_claim_value(AuthenticationConstants.APP_ID_CLAIM)
    )
    return app_id or ""


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
        activity, problem = _read_activity(await request.read())
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
            return web.json_response(
                data=serializer_helper(invoke_response.body), status=invoke_response.status
            )
        return web.Response(status=201)

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
        """A typed message or an Action.Submit click: one worker-thread hop records the delivery, finds
        the sender and answers (a sender we do not know yet is looked up in the Teams roster first)."""
        activity = turn_context.activity
        sender = Sender.of(activity)
        key = f"teams:{activity.conversation.id}:{activity.id}" if activity.id else None
        make_request = _message_request(activity)
        who, activities = await asyncio.to_thread(self._answer_first_delivery, key, sender, make_request)
        if who is None:
            return  # a redelivery: answered the first time
        if activities is None:
            who = await self._from_roster(turn_context, sender)
            activities = await asyncio.to_thread(self._answer, make_request(who))
        await self._send(turn_context, activities)

    def _answer_first_delivery(
        self, key: str | None, sender: Sender, make_request: Callable[[Who], Request]
    ) -> tuple[Who | None, list[dict[str, Any]] | None]:
        """(None, None) for a redelivery; (who, None) when the sender is not known yet; else the answer.

        One session: the delivery is recorded and committed first, then the answer reuses the connection
        and the sender's person and workspace rows, already loaded (as the Slack channel does)."""
        with self.ctx.sessions() as db:
            admitted = self._admit(db, key, sender)
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
            await turn_context.send_activity(_sdk_activity(activity))

    async def _on_turn_error(self, turn_context: TurnContext, error: Exception) -> None:
        """Logs ids and kinds only: an exception's message (or a service's error text) may quote what
        the person typed, so it is left out; the stack shows where, as code, without values."""
        reference = uuid.uuid4().hex[:8]
        log.error(
            "teams error %s: %s in %s\n%s",
            reference,
            type(error).__name__,
            _activity_ids(turn_context.activity),
            _stack(error),
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
        sender = Sender.of(turn_context.activity)
        found = await asyncio.to_thread(self._lookup, sender, None)
        return found if found.person_id else await self._from_roster(turn_context, sender)

    async def _from_roster(self, turn_context: TurnContext, sender: Sender) -> Who:
        """Add (or match by email) a sender we have no Teams id for, with their roster profile."""
        profile: dict[str, str | None] = {"email": None, "name": sender.name, "timezone": None}
        try:
            member = await TeamsInfo.get_member(turn_context, sender.user_id)
            profile["email"] = (member.email or member.user_principal_name or "").lower() or None
            profile["name"] = member.name or sender.name
        except Exception:  # noqa: BLE001 - outside Teams (Emulator) there is no roster: match by id only
            log.info("no Teams roster entry for %s; adding them without an email", sender.user_id)
        return await asyncio.to_thread(self._lookup, sender, profile)

    @staticmethod
    def _admit(db: Session, key: str | None, sender: Sender) -> tuple[Who, tuple[Any, ...]] | None:
        """Find a message's sender and record its first delivery in one transaction; None if seen before
        (then nothing is written). The key goes in last, so SQLite's write lock is held only briefly."""
        who, loaded = _find_loaded(db, sender, None)
        if key is not None:
            try:
                db.execute(insert(ProcessedEvent).values(key=key[:200]))
            except IntegrityError:
                db.rollback()
                return None
        db.commit()
        return who, loaded

    def _lookup(self, sender: Sender, profile: dict[str, str | None] | None) -> Who:
        with self.ctx.sessions.begin() as db:
            return _find(db, sender, profile)

    def _remember(self, key: str) -> bool:
        with self.ctx.sessions() as db:
            db.add(ProcessedEvent(key=key[:200]))
            try:
                db.commit()
                return True
            except IntegrityError:
                return False


@dataclass(frozen=True)
class Sender:
    """Who sent an activity, read on the event loop so the database work can run in a worker thread."""

    tenant: str
    user_id: str
    aad_id: str | None
    name: str | None
    reference: dict[str, Any] | None  # where to reach them proactively: from personal chats only

    @classmethod
    def of(cls, activity: Activity) -> Sender:
        user = activity.from_property
        personal = (activity.conversation.conversation_type or "personal") == "personal"
        reference = None
        if personal:
            # The message's own id is no use for a later message, and leaving it out means the stored
            # reference only changes (and is only rewritten) when the conversation or serviceUrl does.
            reference = TurnContext.get_conversation_reference(activity).serialize()
            reference.pop("activityId", None)
        return cls(_tenant_of(activity), user.id, user.aad_object_id, user.name, reference)


def _find(db: Session, sender: Sender, profile: dict[str, str | None] | None) -> Who:
    """The sender's workspace and person (0 when unknown and no profile), refreshing their reference."""
    return _find_loaded(db, sender, profile)[0]


def _find_loaded(
    db: Session, sender: Sender, profile: dict[str, str | None] | None
) -> tuple[Who, tuple[Any, ...]]:
    """`_find`, also returning the rows it loaded (workspace, person) for the caller to keep alive.

    A known sender costs one query (person, workspace and reference together); anyone else goes through
    the general matching (workspace created on first contact, AAD id, email from the roster profile).
    """
    known = None if profile is not None else _known_sender(db, sender)
    if known is not None:
        workspace, person, row = known
    else:
        workspace = get_or_create_workspace(db, Platform.TEAMS, sender.tenant)
        person = match_platform_person(
            db, workspace, Platform.TEAMS, sender.user_id, profile, aad_object_id=sender.aad_id
        )
        if person is None:
            return Who(workspace.id, 0), (workspace,)
        row = _reference_row(db, person.id) if sender.reference is not None else None
    if sender.reference is not None:
        _store_reference(db, row, workspace.organization_id, person.id, sender.reference)
    return Who(workspace.id, person.id), (workspace, person)


def _known_sender(db: Session, sender: Sender) -> tuple[Workspace, Person, ConversationRef | None] | None:
    found = db.execute(
        select(Workspace, Person, ConversationRef)
        .select_from(Person)
        .join(Workspace, Workspace.organization_id == Person.organization_id)
        .outerjoin(
            ConversationRef,
            and_(ConversationRef.person_id == Person.id, ConversationRef.platform == Platform.TEAMS),
        )
        .where(
            Workspace.platform == Platform.TEAMS,
            Workspace.external_id == sender.tenant,
            Person.teams_user_id == sender.user_id,
        )
        .limit(1)
    ).first()
    return (found[0], found[1], found[2]) if found is not None else None


def _reference_row(db: Session, person_id: int) -> ConversationRef | None:
    return db.scalar(
        select(ConversationRef).where(
            ConversationRef.person_id == person_id, ConversationRef.platform == Platform.TEAMS
        )
    )


def _store_reference(
    db: Session, row: ConversationRef | None, organization_id: int, person_id: int, reference: dict[str, Any]
) -> None:
    """Keep the newest personal conversation reference (and serviceUrl) for proactive messages; a person
    who writes to the bot is reachable again. Unchanged values are not written."""
    if row is None:
        row = ConversationRef(organization_id=organization_id, person_id=person_id, platform=Platform.TEAMS)
        db.add(row)
    if row.reference != reference:
        row.reference = reference
    if row.reachable is not True or row.unreachable_reason is not None:
        row.reachable = True
        row.unreachable_reason = None


def _activity_ids(activity: Activity) -> str:
    """What a log line may say about an activity: its kind and ids, never its text or values."""
    conversation = activity.conversation.id if activity.conversation else None
    sender = activity.from_property.id if activity.from_property else None
    return f"{activity.type} activity {activity.id} (conversation {conversation}, from {sender})"


def _stack(error: BaseException) -> str:
    """The traceback's frames (file, line, function, source line) without the exception's message."""
    return "".join(traceback.format_list(traceback.extract_tb(error.__traceback__))).rstrip()


def _read_activity(raw: bytes) -> tuple[Activity | None, str]:
    """The request body as an Activity, or None and a short reason (naming fields, never quoting them)."""
    try:
        body = json.loads(raw)
    except RecursionError:
        return None, "the body is nested too deeply"
    except ValueError:  # also undecodable bytes
        return None, "the body is not valid JSON"
    if _depth_exceeds(body, MAX_JSON_DEPTH):
        return None, "the body is nested too deeply"
    problem = _shape_problem(body)
    if problem:
        return None, problem
    try:
        activity = Activity().deserialize(body)
    except ValueError:  # msrest's DeserializationError: a field of the wrong type (say, a bad timestamp)
        return None, "the activity has a field of the wrong type"
    return activity, ""


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether JSON arrays and objects nest deeper than `limit` (iterative: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _shape_problem(body: Any) -> str:
    """What a Bot Framework activity lacks for this bot to answer it ("" when nothing)."""
    if not isinstance(body, dict):
        return "expected a Bot Framework activity (a JSON object)"
    if not isinstance(body.get("type"), str) or not body["type"]:
        return "the activity has no type"
    service_url = body.get("serviceUrl")
    if not isinstance(service_url, str) or not service_url.startswith(("https://", "http://")):
        return "the activity has no serviceUrl"
    for name in ("from", "conversation"):
        account = body.get(name)
        if not isinstance(account, dict) or not isinstance(account.get("id"), str) or not account["id"]:
            return f"the activity has no {name}.id"
    for name in ("recipient", "channelData"):
        if body.get(name) is not None and not isinstance(body[name], dict):
            return f"the activity's {name} is not an object"
    tenant = (body.get("channelData") or {}).get("tenant")
    if tenant is not None and not isinstance(tenant, dict):
        return "the activity's channelData.tenant is not an object"
    for name, kind in (("text", str), ("membersAdded", list), ("entities", list), ("attachments", list)):
        if body.get(name) is not None and not isinstance(body[name], kind):
            return f"the activity's {name} has the wrong type"
    return ""


def _message_request(activity: Activity) -> Callable[[Who], Request]:
    """The router request for a message, once we know who sent it (text, or a click with form answers)."""
    click = click_from_value(activity.value) if activity.value else None
    conversation_type = activity.conversation.conversation_type or "personal"
    shared = conversation_type != "personal"
    channel_id = activity.conversation.id
    if click is None:
        text = _clean_text(activity)
        return lambda who: Request(
            who.workspace_id,
            who.person_id,
            text=text,
            channel_id=channel_id,
            shared=shared,
            conversation_type=conversation_type,
        )
    answers = {
        k: v for k, v in activity.value.items() if k not in FORM_META_KEYS and isinstance(v, str | list)
    }
    return lambda who: Request(
        who.workspace_id,
        who.person_id,
        click=click,
        channel_id=channel_id,
        shared=shared,
        form=answers or None,
        conversation_type=conversation_type,
    )


def _sdk_activity(activity: dict[str, Any]) -> Activity:
    """One of our activity dicts as the SDK's Activity. The usual shapes are built directly (msrest's
    generic deserializer would walk every node of the card) with each card as PrebuiltContent."""
    attachments = activity.get("attachments") or []
    if set(activity) - SIMPLE_ACTIVITY_KEYS or any(set(a) - SIMPLE_ATTACHMENT_KEYS for a in attachments):
        return Activity.deserialize(activity)
    return Activity(
        type=activity.get("type"),
        text=activity.get("text"),
        summary=activity.get("summary"),
        attachments=[
            Attachment(
                content_type=a.get("contentType"),
                content=PrebuiltContent(a["content"])
                if isinstance(a.get("content"), dict)
                else a.get("content"),
                content_url=a.get("contentUrl"),
                name=a.get("name"),
            )
            for a in attachments
        ]
        or None,
    )


class PrebuiltContent(Model):
    """An attachment's content (an Adaptive Card: plain JSON values) that msrest sends as it is.

    `Attachment.content` is typed "object", so msrest's serializer visits every key and value of the
    card, raising and catching exceptions for each string: the largest cost of sending a reply. As a
    model's additional properties (msrest's mechanism for open-ended models) the card is copied into the
    request body in one step, and the JSON sent is the same.
    """

    _attribute_map = {"additional_properties": {"key": "", "type": "{object}"}}

    def __init__(self, card: dict[str, Any]):
        super().__init__()
        self.additional_properties = card

    def __deepcopy__(self, memo: dict[int, Any]) -> PrebuiltContent:
        return self  # TurnContext deep-copies each outgoing activity; the card is never changed once built


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
