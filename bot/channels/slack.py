"""The Slack channel: a slack-bolt AsyncApp behind POST /slack/events (and /slack/install for OAuth).

Bolt verifies every request's signature (bad, missing or older than five minutes: 401). Every listener acks
at once and answers in a task of its own (Bolt runs with process_before_response, so the HTTP answer goes
out as soon as ack() is called instead of Bolt polling for it every 10 ms); the answering itself runs off
the event loop, through the neutral router. Slack ids are turned into our workspace and person here, and
nowhere else. One aiohttp session (keep-alive connections) serves every Web API call and response_url post.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.internals import parse_body
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient
from sqlalchemy import lambda_stmt, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.channels.slack_blocks import (
    MODAL_CALLBACK,
    click_from_action,
    form_submission,
    to_messages,
    to_modal,
    view_errors,
)
from bot.channels.slack_install import (
    AsyncInstallationStoreAdapter,
    AsyncStateStoreAdapter,
    installation_store,
    state_store,
)
from bot.context import AppContext
from bot.messages import Button, Click, Reply, Request
from bot.models import Person, Platform, ProcessedEvent, Workspace
from bot.people import get_or_create_workspace, match_platform_person
from bot.router import answer, handle

log = logging.getLogger(__name__)


class _NoRequestData(logging.Filter):
    """slack_bolt logs a refused request's whole body (request verification, at INFO) and a failed OAuth
    callback's query with its `code` and `state` (at DEBUG): keep only these loggers' warnings and errors
    (we log one line of our own for each refused request, without its data)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO


# Bolt copies a base logger's filters only onto a logger that has none, so these stay.
for _name in (
    "slack_bolt.AsyncRequestVerification",
    "slack_bolt.RequestVerification",
    "slack_bolt.oauth.async_callback_options",
    "slack_bolt.oauth.callback_options",
):
    logging.getLogger(_name).addFilter(_NoRequestData())

BOT_SCOPES = [
    "app_mentions:read",
    "chat:write",
    "commands",
    "files:write",  # charts (files.getUploadURLExternal and files.completeUploadExternal)
    "im:history",
    "im:write",
    "users:read",
    "users:read.email",
    "metadata.message:read",
]
MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
SHARE_ACTION = "slack.share"
FORM_ACTION = "slack.form"  # a typed command that answers with a form: the button opens it as a modal
HOME_BLOCK_LIMIT = 100
HTTP_TIMEOUT_S = 30  # slack_sdk's default for Web API calls
VIEW_ANSWER_S = 2.0  # Slack waits 3 s for a view_submission's ack; errors must come with it

# The app's own bot user in the workspace a request came from (Bolt's context.bot_user_id, from auth.test or
# the installation), set for each answer task: the bot is never looked up or stored as a person.
BOT_USER: ContextVar[str | None] = ContextVar("slack_bot_user", default=None)
UNKNOWN_USER = (
    "Sorry, I couldn't find that Slack user in this workspace, so I can't answer this. "
    "If you were just added, try again in a minute."
)

# What a listener does after its ack: (payload, body, client) -> None.
Answer = Callable[[dict[str, Any], dict[str, Any], AsyncWebClient], Awaitable[None]]


class NotAPerson(Exception):  # noqa: N818 - an outcome, not a failure
    """A Slack user id that is no person we answer or store: our own bot user, another bot, or a user Slack
    does not know (`polite` is what the person who asked is told, if anyone)."""

    def __init__(self, user_id: str, polite: str | None = None):
        super().__init__(user_id)
        self.user_id = user_id
        self.polite = polite


class SlackNotConfigured(Exception):
    """SLACK_SIGNING_SECRET (and a token or OAuth client) are needed to serve Slack."""


@dataclass(frozen=True)
class Who:
    workspace_id: int  # the way in (this Slack workspace)
    person_id: int


class SlackChannel:
    """Owns the Bolt app; `routes()` mounts it in our aiohttp app, `socket_mode()` runs it over a websocket."""

    def __init__(self, ctx: AppContext):
        settings = ctx.settings
        if not settings.slack_signing_secret and not settings.slack_app_token:
            raise SlackNotConfigured("set SLACK_SIGNING_SECRET to serve Slack")
        if not settings.slack_bot_token and not settings.slack_client_id:
            raise SlackNotConfigured(
                "set SLACK_BOT_TOKEN (one workspace) or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (OAuth install)"
            )
        self.ctx = ctx
        # one bot token: every Slack user belongs to the deployment's one organization; OAuth installs start
        # an organization per workspace (or Grid org) until an admin links them (python -m bot org link)
        self._join_single = not settings.slack_client_id
        self._answering: set[asyncio.Task[None]] = set()  # strong references until each task ends
        self._latest: dict[str, asyncio.Task[None]] = {}  # conversation -> its latest answer task
        api = settings.slack_api_url
        if settings.slack_bot_token:
            self.app = AsyncApp(
                signing_secret=settings.slack_signing_secret or "socket-mode",
                client=_client(api, settings.slack_bot_token),
                ignoring_self_events_enabled=True,
                process_before_response=True,
            )
        else:
            store = AsyncInstallationStoreAdapter(
                installation_store(ctx.engine, settings.slack_client_id or "", settings.token_encryption_key),
                ctx.sessions,
            )
            oauth = AsyncOAuthSettings(
                client_id=settings.slack_client_id,
                client_secret=settings.slack_client_secret,
                scopes=BOT_SCOPES,
                installation_store=store,
                state_store=AsyncStateStoreAdapter(state_store(ctx.engine)),
                install_path="/slack/install",
                redirect_uri_path="/slack/oauth_redirect",
            )
            self.app = AsyncApp(
                signing_secret=settings.slack_signing_secret or "socket-mode",
                client=_client(api),
                installation_store=store,
                oauth_flow=AsyncOAuthFlow(client=_client(api), settings=oauth),
                process_before_response=True,
            )
        self._register()

    # -- mounting ----------------------------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        routes = [web.post("/slack/events", self._dispatch)]
        flow = self.app.oauth_flow
        if flow is not None:
            routes += [
                web.get(flow.install_path, self._install),
                web.get(flow.redirect_uri_path, self._oauth_redirect),
            ]
        return routes

    async def open(self, _app: web.Application | None = None) -> None:
        """Share one HTTP session (keep-alive connections) among all Web API calls and response_url posts;
        without it slack_sdk opens a session, and a connection, per call."""
        client = self.app.client
        if client.session is None or client.session.closed:
            client.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S))

    async def close(self, _app: web.Application | None = None) -> None:
        """Let answers in flight finish, then close the shared session."""
        if self._answering:
            await asyncio.wait(set(self._answering), timeout=HTTP_TIMEOUT_S)
        session = self.app.client.session
        if session is not None and not session.closed:
            await session.close()

    async def _dispatch(self, request: web.Request) -> web.Response:
        """Slack's requests: nothing of an unsigned one is read or acted on (401), and a signed one that is
        not a Slack payload is refused (400) before Bolt, which would fail on it with a 500 or mid-answer."""
        raw = await request.text()
        if not self._signed(request, raw):
            log.warning("slack request refused: signature missing, stale or invalid")
            return web.json_response({"error": "invalid request"}, status=401)
        problem = _malformed(raw, request.headers.get("Content-Type"))
        if problem is not None:
            log.warning("slack request refused: %s", problem)
            return web.Response(status=400, text=f"Bad request: {problem}.")
        return await to_aiohttp_response(await self.app.async_dispatch(await to_bolt_request(request)))

    def _signed(self, request: web.Request, raw: str) -> bool:
        """The request's Slack signature holds (Slack's v0 scheme, at most five minutes old)."""
        secret = self.ctx.settings.slack_signing_secret
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if not secret or not signature or not (timestamp.isascii() and timestamp.isdigit()):
            return False
        try:
            return SignatureVerifier(secret).is_valid(raw, timestamp, signature)
        except (ValueError, OverflowError):
            return False

    async def _install(self, request: web.Request) -> web.Response:
        return await to_aiohttp_response(
            await self.app.oauth_flow.handle_installation(await to_bolt_request(request))
        )

    async def _oauth_redirect(self, request: web.Request) -> web.Response:
        return await to_aiohttp_response(
            await self.app.oauth_flow.handle_callback(await to_bolt_request(request))
        )

    async def socket_mode(self) -> None:
        from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

        await self.open()
        try:
            await AsyncSocketModeHandler(self.app, self.ctx.settings.slack_app_token).start_async()
        finally:
            await self.close()

    # -- listeners ---------------------------------------------------------------------------------
    def _register(self) -> None:
        app = self.app
        app.event("app_mention")(self._acked(self._on_mention))
        app.event("message")(self._acked(self._on_message))
        app.event("app_home_opened")(self._acked(self._on_home))
        app.command("/playbook")(self._acked(self._on_command))
        app.action(re.compile(r"^bot:\d+$"))(self._acked(self._on_click))
        app.view(MODAL_CALLBACK)(self._on_view)
        app.error(self._on_error)

    def _acked(self, answer: Answer) -> Callable[..., Awaitable[None]]:
        """A Bolt listener that acks (an empty 200; a modal closes) and answers in a task of its own.

        Answers in one conversation run one after another, in the order Slack delivered the requests (a
        second click on a quiz is the second answer); different conversations are answered in parallel."""

        async def listener(
            ack, payload: dict[str, Any], body: dict[str, Any], client: AsyncWebClient, context
        ) -> None:  # type: ignore[no-untyped-def]
            await ack()
            BOT_USER.set(_bot_user(body, context.bot_user_id))  # copied into the answer task below
            key = _conversation(body)
            previous = self._latest.get(key)
            task = asyncio.create_task(self._answer_after_ack(previous, answer, payload, body, client))
            self._latest[key] = task
            self._answering.add(task)
            task.add_done_callback(lambda done: self._finished(key, done))

        return listener

    def _finished(self, key: str, task: asyncio.Task[None]) -> None:
        self._answering.discard(task)
        if self._latest.get(key) is task:
            del self._latest[key]

    async def _answer_after_ack(
        self,
        previous: asyncio.Task[None] | None,
        answer: Answer,
        payload: dict[str, Any],
        body: dict[str, Any],
        client: AsyncWebClient,
    ) -> None:
        if previous is not None:
            await asyncio.wait({previous})  # its outcome is its own; only the order matters here
        try:
            sender = _sender(body)
            if sender and sender == BOT_USER.get():
                return  # our own message or action, whatever the event says
            await answer(payload, body, client)
        except NotAPerson as refused:
            polite = refused.polite
            if polite is None and refused.user_id != _sender(body):  # a bot mentioned in the request
                polite = "That's a bot, not a person: I can only answer about people in this workspace."
            if polite is None:
                log.info("slack request ignored: %s is a bot, not a person", refused.user_id)
                return
            try:
                await self._tell(client, body, self.ctx.renderer.render("message.j2", text=polite))
            except Exception:  # noqa: BLE001 - Slack itself may be what failed
                log.warning("could not tell %s that %s is no person", _sender(body), refused.user_id)
        except Exception as error:  # noqa: BLE001 - reported to the person like any listener error
            await self._on_error(error, body, client)

    async def _on_mention(self, event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient) -> None:
        text = await self._plain_text(body, event.get("text", ""), client)
        reply = await self._reply(
            body,
            event.get("user", ""),
            client,
            lambda who: Request(
                who.workspace_id, who.person_id, text=text, channel_id=event.get("channel"), shared=True
            ),
            event_key=_event_key(body),
        )
        if reply is not None:
            await self._post(
                client,
                event["channel"],
                _form_button(reply, text),
                thread_ts=event.get("thread_ts") or event.get("ts"),
            )

    async def _on_message(self, event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient) -> None:
        # Only direct messages from people: no edits, deletions, joins, bot posts or our own messages.
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return
        text = await self._plain_text(body, event.get("text", ""), client)
        reply = await self._reply(
            body,
            event.get("user", ""),
            client,
            lambda who: Request(who.workspace_id, who.person_id, text=text, channel_id=event.get("channel")),
            event_key=_event_key(body),
        )
        if reply is not None:
            await self._post(client, event["channel"], _form_button(reply, text), thread_ts=event.get("thread_ts"))

    async def _on_command(
        self, command: dict[str, Any], body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        text = command.get("text", "").strip()
        in_channel = not str(command.get("channel_id", "")).startswith("D")
        reply = await self._answer(
            body,
            command.get("user_id", ""),
            client,
            lambda who: Request(
                who.workspace_id,
                who.person_id,
                text=text,
                channel_id=command.get("channel_id"),
                shared=in_channel,
            ),
        )
        if reply.form is not None and body.get("trigger_id"):  # "/playbook log coaching": the modal at once
            channel = command.get("channel_id")
            await client.views_open(trigger_id=body["trigger_id"], view=to_modal(reply, channel))
            return
        reply = _form_button(reply, text)
        if in_channel and reply.kind == "answer" and text and reply.form is None:
            reply = reply.with_buttons(Button("Share in channel", SHARE_ACTION, text[:1900]))
        for payload in to_messages(reply):
            await self._respond(client, body, response_type="ephemeral", replace_original=False, **payload)
        if reply.image is not None:  # files cannot be ephemeral: the chart goes to the person's DM
            await self._upload(client, command.get("user_id", ""), reply)

    async def _on_click(self, action: dict[str, Any], body: dict[str, Any], client: AsyncWebClient) -> None:
        click = click_from_action(action)
        if click is None:
            return
        user = body.get("user", {}).get("id", "")
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        if click.action == SHARE_ACTION:
            reply = await self._answer(
                body,
                user,
                client,
                lambda who: Request(
                    who.workspace_id, who.person_id, text=click.value, channel_id=channel, shared=True
                ),
            )
            for payload in to_messages(reply):
                await self._respond(
                    client,
                    body,
                    response_type="in_channel",
                    replace_original=False,
                    delete_original=True,
                    **payload,
                )
            return
        if click.action == FORM_ACTION:  # the typed command again, now with a trigger to open its form
            reply = await self._answer(
                body,
                user,
                client,
                lambda who: Request(who.workspace_id, who.person_id, text=click.value, channel_id=channel),
            )
        else:
            reply = await self._answer(
                body,
                user,
                client,
                lambda who: Request(
                    who.workspace_id, who.person_id, click=Click(click.action, click.value), channel_id=channel
                ),
            )
        if reply.form is not None and body.get("trigger_id"):
            await client.views_open(trigger_id=body["trigger_id"], view=to_modal(reply, channel))
            return
        if channel and channel.startswith("D"):
            await self._post(client, channel, reply)  # in a DM the answer belongs in the conversation
        elif body.get("response_url"):
            visibility = "in_channel" if reply.kind == "announcement" else "ephemeral"  # answers stay private
            for payload in to_messages(reply):
                await self._respond(client, body, response_type=visibility, replace_original=False, **payload)
        else:  # a button on the App Home: answer in the DM
            await self._post(client, user, reply)

    async def _on_view(
        self, ack, view: dict[str, Any], body: dict[str, Any], client: AsyncWebClient, context
    ) -> None:  # type: ignore[no-untyped-def]
        """A submitted modal. The answer is worked out before the ack when it comes quickly, so a field to
        fix keeps the modal open with Slack's `response_action: errors` (the answers stay in it); a slow
        answer is acked first and follows in the DM like any other."""
        BOT_USER.set(_bot_user(body, context.bot_user_id))
        task = asyncio.create_task(self._form_reply(view, body, client))
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)
        done, _ = await asyncio.wait({task}, timeout=VIEW_ANSWER_S)
        if done and not task.cancelled() and task.exception() is None:
            reply = task.result()
            if reply is not None and reply.form is not None and reply.form.errors:
                await ack(response_action="errors", errors=view_errors(reply.form))
                return
        await ack()
        try:
            reply = await task
            user = (body.get("user") or {}).get("id", "")
            if reply is None or not user:
                return
            own_dm = (await client.conversations_open(users=user))["channel"]["id"]
            await self._post(client, own_dm, reply)
        except Exception as error:  # noqa: BLE001 - reported to the person like any listener error
            await self._on_error(error, body, client)

    async def _form_reply(
        self, view: dict[str, Any], body: dict[str, Any], client: AsyncWebClient
    ) -> Reply | None:
        submission = form_submission(view)
        if submission is None:
            return None
        click, channel, answers = submission
        user = (body.get("user") or {}).get("id", "")
        return await self._answer(
            body,
            user,
            client,
            lambda who: Request(
                who.workspace_id, who.person_id, click=click, channel_id=channel or None, form=answers
            ),
        )

    async def _on_home(self, event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        who = await self._who(body, event.get("user", ""), client)
        reply = await asyncio.to_thread(
            handle, self.ctx, Request(who.workspace_id, who.person_id, click=Click("home.show"))
        )
        blocks = [block for payload in to_messages(reply) for block in payload["blocks"]][:HOME_BLOCK_LIMIT]
        await client.views_publish(user_id=event["user"], view={"type": "home", "blocks": blocks})

    async def _on_error(self, error: Exception, body: dict[str, Any], client: AsyncWebClient) -> None:
        """Anything that failed outside the router: log it with a reference, and tell the person."""
        reference = uuid.uuid4().hex[:8]
        log.error("slack error %s for %s", reference, body.get("type"), exc_info=error)
        event = body.get("event") or {}
        where = event.get("channel") or (body.get("channel") or {}).get("id") or body.get("channel_id")
        user = event.get("user") or (body.get("user") or {}).get("id") or body.get("user_id")
        if not where and not user:
            return
        apology = self.ctx.renderer.render("error.j2", kind="error", reference=reference)
        try:
            await self._post(
                client, where or user, apology, thread_ts=event.get("thread_ts") or event.get("ts")
            )
        except Exception:  # noqa: BLE001 - Slack itself may be what failed
            log.warning("could not tell the user about error %s", reference, exc_info=True)

    async def _tell(self, client: AsyncWebClient, body: dict[str, Any], reply: Reply) -> None:
        """A short answer where the request was made: privately for a slash command, else in the
        conversation (the thread of a mention) or the person's DM."""
        if body.get("command") and body.get("response_url"):
            for payload in to_messages(reply):
                await self._respond(
                    client, body, response_type="ephemeral", replace_original=False, **payload
                )
            return
        event = body.get("event") or {}
        where = event.get("channel") or (body.get("channel") or {}).get("id") or _sender(body)
        if where:
            await self._post(client, where, reply, thread_ts=event.get("thread_ts") or event.get("ts"))

    async def _profile(self, client: AsyncWebClient, user_id: str) -> dict[str, Any]:
        """users.info's user object for someone we are about to add; NotAPerson for our own bot user,
        other bots, and users Slack does not know (user_not_found)."""
        if not user_id or user_id == BOT_USER.get():
            raise NotAPerson(user_id)
        try:
            user = (await client.users_info(user=user_id)).get("user") or {}
        except SlackApiError as error:
            if error.response.get("error") in ("user_not_found", "users_not_found"):
                raise NotAPerson(user_id, UNKNOWN_USER) from None
            raise
        if user.get("is_bot") or user.get("id") == "USLACKBOT":
            raise NotAPerson(user_id)
        return user

    # -- helpers -----------------------------------------------------------------------------------
    async def _answer(
        self, body: dict[str, Any], user_id: str, client: AsyncWebClient, make: Callable[[Who], Request]
    ) -> Reply:
        reply = await self._reply(body, user_id, client, make)
        assert reply is not None  # only a repeated event_key answers nothing
        return reply

    async def _reply(
        self,
        body: dict[str, Any],
        user_id: str,
        client: AsyncWebClient,
        make: Callable[[Who], Request],
        event_key: str | None = None,
    ) -> Reply | None:
        """The answer to what `user_id` asked (`make` builds the request once we know who they are), or None
        for a retried delivery of `event_key`. Someone we know is answered in one database session on one
        worker thread; someone new is first looked up in Slack and added."""
        team_id, enterprise_id = _team_of(body)
        known = await asyncio.to_thread(self._answer_known, team_id, enterprise_id, user_id, make, event_key)
        if known.repeated or known.reply is not None:
            return known.reply
        profile = await self._profile(client, user_id)
        who = await asyncio.to_thread(self._lookup, team_id, enterprise_id, user_id, profile)
        return await asyncio.to_thread(handle, self.ctx, make(who))

    def _answer_known(
        self,
        team_id: str,
        enterprise_id: str | None,
        user_id: str,
        make: Callable[[Who], Request],
        event_key: str | None,
    ) -> _Known:
        with self.ctx.sessions() as db:
            if event_key is not None and not _remember(db, event_key):
                return _Known(repeated=True)
            found = _known_person(db, team_id, enterprise_id, user_id, self._join_single)
            if found is None:
                db.commit()  # perhaps a workspace seen for the first time
                return _Known()
            workspace, person = found  # held while answering: the session's identity map keeps weak refs
            return _Known(reply=answer(self.ctx, db, make(Who(workspace.id, person.id))))

    @staticmethod
    async def _respond(client: AsyncWebClient, body: dict[str, Any], **message: Any) -> None:
        """Post a message (text, blocks and response options) to the request's response_url, as Bolt's
        respond() does, but on the shared HTTP session."""
        url = body.get("response_url")
        if not url:
            raise ValueError("respond is unsupported here as there is no response_url")
        webhook = AsyncWebhookClient(url=url, session=client.session, timeout=HTTP_TIMEOUT_S)
        await webhook.send_dict(message)

    async def _post(
        self, client: AsyncWebClient, channel: str, reply: Reply, thread_ts: str | None = None
    ) -> None:
        for payload in to_messages(reply):
            response = await client.chat_postMessage(channel=channel, thread_ts=thread_ts, **payload)
        if reply.image is not None:
            await self._upload(client, response.get("channel") or channel, reply, thread_ts)

    @staticmethod
    async def _upload(
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

    async def _plain_text(self, body: dict[str, Any], text: str, client: AsyncWebClient) -> str:
        """The bot's own @mention removed; other people's mentions become their email, so "add @ana to my
        team" names a person the handlers can find."""
        bot_user = BOT_USER.get()
        for user_id in dict.fromkeys(MENTION.findall(text)):
            if user_id == bot_user:
                replacement = ""
            else:
                who = await self._who(body, user_id, client)
                replacement = await asyncio.to_thread(self._email_of, who.person_id) or ""
            text = re.sub(rf"<@{user_id}(?:\|[^>]*)?>", replacement, text)
        return " ".join(text.split())

    def _email_of(self, person_id: int) -> str | None:
        with self.ctx.sessions() as db:
            person = db.get(Person, person_id)
            return person.email if person else None

    async def _who(self, body: dict[str, Any], user_id: str, client: AsyncWebClient) -> Who:
        """Our workspace and person for a Slack team and user; unknown users are looked up and added."""
        team_id, enterprise_id = _team_of(body)
        found = await asyncio.to_thread(self._lookup, team_id, enterprise_id, user_id, None)
        if found.person_id:
            return found
        profile = await self._profile(client, user_id)
        return await asyncio.to_thread(self._lookup, team_id, enterprise_id, user_id, profile)

    def _lookup(
        self, team_id: str, enterprise_id: str | None, user_id: str, profile: dict[str, Any] | None
    ) -> Who:
        with self.ctx.sessions.begin() as db:
            return _find(db, team_id, enterprise_id, user_id, profile, self._join_single)


@dataclass(frozen=True)
class _Known:
    """What answering a known person came to: a reply, a repeated delivery, or neither (a new person)."""

    reply: Reply | None = None
    repeated: bool = False


def _form_button(reply: Reply, typed: str) -> Reply:
    """A reply with a form to a typed message: a button to open it (a modal needs a click's trigger)."""
    if reply.form is None or not typed or reply.form.errors:
        return reply
    label = f"Fill in: {reply.form.title}"
    return reply.with_buttons(Button(label, FORM_ACTION, typed[:1900], style="primary"))


def _find(
    db: Session,
    team_id: str,
    enterprise_id: str | None,
    user_id: str,
    profile: dict[str, Any] | None,
    join_single: bool,
) -> Who:
    workspace = get_or_create_workspace(
        db, Platform.SLACK, team_id, enterprise_id=enterprise_id, join_single=join_single
    )
    person = match_platform_person(
        db, workspace, Platform.SLACK, user_id, _profile_fields(profile) if profile else None
    )
    return Who(workspace.id, person.id if person else 0)


def _known_person(
    db: Session, team_id: str, enterprise_id: str | None, user_id: str, join_single: bool
) -> tuple[Workspace, Person] | None:
    """The workspace and person of a Slack user we know, in one query (the common case); else the general
    lookup, which also creates a new team's workspace and records a changed Enterprise Grid id."""
    statement = lambda_stmt(  # built and compiled once per process; each call binds its ids
        lambda: (
            select(Workspace, Person)
            .join(Person, Person.organization_id == Workspace.organization_id)
            .where(
                Workspace.platform == Platform.SLACK,
                Workspace.external_id == team_id,
                Person.slack_user_id == user_id,
            )
            .limit(1)
        )
    )
    row = db.execute(statement).first()
    if row is not None and (not enterprise_id or row[0].enterprise_id == enterprise_id):
        return row[0], row[1]
    workspace = get_or_create_workspace(
        db, Platform.SLACK, team_id, enterprise_id=enterprise_id, join_single=join_single
    )
    person = match_platform_person(db, workspace, Platform.SLACK, user_id, None)
    return (workspace, person) if person is not None else None


def _malformed(raw: str, content_type: str | None) -> str | None:
    """Why a (signed) body is no Slack payload Bolt can take (parsed the way Bolt parses it), or None."""
    try:
        body = parse_body(raw, (content_type or "").split(";")[0].strip() or None)
    except (ValueError, RecursionError):
        return "the body is not valid JSON"
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    if body.get("type") == "view_submission":
        view = body.get("view")
        state = view.get("state") if isinstance(view, dict) else None
        values = state.get("values") if isinstance(state, dict) else None
        if not isinstance(values, dict) or not all(
            isinstance(block, dict) and all(isinstance(element, dict) for element in block.values())
            for block in values.values()
        ):
            return "a view_submission without view.state"
    return None


def _conversation(body: dict[str, Any]) -> str:
    """Where a request was made (channel, DM, or else the person, e.g. on the App Home), per workspace."""
    event = body.get("event") or {}
    where = (
        event.get("channel")
        or (body.get("channel") or {}).get("id")
        or body.get("channel_id")
        or (body.get("container") or {}).get("channel_id")
        or event.get("user")
        or (body.get("user") or {}).get("id")
        or body.get("user_id")
        or ""
    )
    return f"{_team_of(body)[0]}:{where}"


def _event_key(body: dict[str, Any]) -> str | None:
    """The idempotency key of an Events API delivery (Slack retries a delivery with the same event id)."""
    event_id = body.get("event_id")
    return f"slack:{event_id}" if event_id else None


def _remember(db: Session, key: str) -> bool:
    """Record a delivery, committed at once; False if it was already recorded (a retry)."""
    db.add(ProcessedEvent(key=key))
    try:
        db.commit()
        return True
    except IntegrityError:
        db.rollback()
        return False


def _client(base_url: str, token: str | None = None) -> AsyncWebClient:
    """A Web API client that waits out 429s (Retry-After) and retries a refused connection once."""
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
        ],
    )


def _sender(body: dict[str, Any]) -> str:
    """The Slack user who made the request (event, action or command)."""
    event = body.get("event") or {}
    user = body.get("user")
    return (
        event.get("user") or (user.get("id") if isinstance(user, dict) else "") or body.get("user_id") or ""
    )


def _bot_user(body: dict[str, Any], known: str | None) -> str | None:
    """Our bot user in this workspace: Bolt's (auth.test or the installation), else the event's
    authorizations when they are about a bot."""
    if known:
        return known
    authorization = (body.get("authorizations") or [{}])[0]
    return authorization.get("user_id") if authorization.get("is_bot") else None


def _team_of(body: dict[str, Any]) -> tuple[str, str | None]:
    team = (
        body.get("team_id")
        or (body.get("team") or {}).get("id")
        or (body.get("user") or {}).get("team_id")
        or ""
    )
    enterprise = body.get("enterprise_id") or (body.get("enterprise") or {}).get("id")
    authorizations = body.get("authorizations") or []
    if not team and authorizations:
        team = authorizations[0].get("team_id") or ""
    return team, enterprise


def _profile_fields(user: dict[str, Any]) -> dict[str, str | None]:
    profile = user.get("profile") or {}
    return {
        "email": (profile.get("email") or "").lower() or None,
        "name": profile.get("real_name") or user.get("real_name") or user.get("name") or "Slack user",
        "timezone": user.get("tz"),
    }
