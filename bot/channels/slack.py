"""The Slack channel: a slack-bolt AsyncApp behind POST /slack/events (and /slack/install for OAuth).

Bolt verifies every request's signature (bad, missing or older than five minutes: 401). Every listener acks
at once and answers in a task of its own (Bolt runs with process_before_response, so the HTTP answer goes
out as soon as ack() is called instead of Bolt polling for it every 10 ms); the answering itself runs off
the event loop, through the neutral router. Slack ids are turned into our workspace and person by
bot/channels/slack_people.py (its storage side is storage/identity.py, shared with Teams). One aiohttp session
(keep-alive connections) serves every Web API call and response_url post (bot/channels/slack_replies.py).
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.slack_blocks import (
    MODAL_CALLBACK,
    click_from_action,
    form_submission,
    to_messages,
    to_modal,
    view_errors,
)
from bot.channels.slack_bolt_app import build_app, signed
from bot.channels.slack_payloads import bot_user_of, conversation_of, event_key, malformed, sender_of
from bot.channels.slack_people import BOT_USER, NotAPerson, SlackPeople
from bot.channels.slack_replies import FORM_ACTION, HTTP_TIMEOUT_S, form_button, post, respond, upload
from bot.context import AppContext
from bot.inflight import BUSY_TEXT, AnswerSlots
from bot.messages import Button, Click, Reply, Request
from bot.router import handle

log = logging.getLogger(__name__)

SHARE_ACTION = "slack.share"
HOME_BLOCK_LIMIT = 100
VIEW_ANSWER_S = 2.0  # Slack waits 3 s for a view_submission's ack; errors must come with it

# What a listener does after its ack: (payload, body, client) -> None.
Answer = Callable[[dict[str, Any], dict[str, Any], AsyncWebClient], Awaitable[None]]
# Whether a listener answers this request at all: (payload, body) -> bool.
Wanted = Callable[[dict[str, Any], dict[str, Any]], bool]


def _direct_message(event: dict[str, Any], _body: dict[str, Any]) -> bool:
    """Only direct messages from people are answered: no edits, deletions, joins, bot posts or channel chatter."""
    return event.get("channel_type") == "im" and not event.get("subtype") and not event.get("bot_id")


def _home_tab(event: dict[str, Any], _body: dict[str, Any]) -> bool:
    return event.get("tab", "home") == "home"


class SlackNotConfigured(Exception):
    """SLACK_SIGNING_SECRET (and a token or OAuth client) are needed to serve Slack."""


class SlackChannel:
    """Owns the Bolt app; `routes()` mounts it in our aiohttp app, `socket_mode()` runs it over a websocket."""

    def __init__(self, ctx: AppContext, slots: AnswerSlots | None = None):
        settings = ctx.settings
        if not settings.slack_signing_secret and not settings.slack_app_token:
            raise SlackNotConfigured("set SLACK_SIGNING_SECRET to serve Slack")
        if not settings.slack_bot_token and not settings.slack_client_id:
            raise SlackNotConfigured(
                "set SLACK_BOT_TOKEN (one workspace) or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (OAuth install)"
            )
        self.ctx = ctx
        self.slots = slots or AnswerSlots(settings.max_answers_in_flight)
        self._answering: set[asyncio.Task[Any]] = set()  # strong references until each task ends
        self._latest: dict[str, asyncio.Task[None]] = {}  # conversation -> its latest answer task
        self.people = SlackPeople(ctx, join_single=not settings.slack_client_id)
        self.app = build_app(ctx)
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
        if not signed(self.ctx.settings.slack_signing_secret, request.headers, raw):
            log.warning("slack request refused: signature missing, stale or invalid")
            return web.json_response({"error": "invalid request"}, status=401)
        problem = malformed(raw, request.headers.get("Content-Type"))
        if problem is not None:
            log.warning("slack request refused: %s", problem)
            return web.Response(status=400, text=f"Bad request: {problem}.")
        return await to_aiohttp_response(await self.app.async_dispatch(await to_bolt_request(request)))

    async def _install(self, request: web.Request) -> web.Response:
        flow = self.app.oauth_flow
        if flow is None:  # (the routes are mounted only with OAuth settings)
            return web.Response(status=404, text="Not found: this bot is installed with a fixed token.")
        return await to_aiohttp_response(await flow.handle_installation(await to_bolt_request(request)))

    async def _oauth_redirect(self, request: web.Request) -> web.Response:
        flow = self.app.oauth_flow
        if flow is None:
            return web.Response(status=404, text="Not found: this bot is installed with a fixed token.")
        return await to_aiohttp_response(await flow.handle_callback(await to_bolt_request(request)))

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
        app.event("message")(self._acked(self._on_message, wanted=_direct_message))
        app.event("app_home_opened")(self._acked(self._on_home, wanted=_home_tab, busy_reply=False))
        app.command("/playbook")(self._acked(self._on_command))
        app.action(re.compile(r"^bot:\d+$"))(self._acked(self._on_click))
        app.view(MODAL_CALLBACK)(self._on_view)
        app.error(self._on_error)

    def _acked(
        self, answer: Answer, *, wanted: Wanted | None = None, busy_reply: bool = True
    ) -> Callable[..., Awaitable[None]]:
        """A Bolt listener that acks (an empty 200; a modal closes) and answers in a task of its own.

        Answers in one conversation run one after another, in the order Slack delivered the requests (a
        second click on a quiz is the second answer); different conversations are answered in parallel.
        A request the process has no slot for (see bot/inflight.py) gets the busy reply instead, in its
        place in the conversation's order (or nothing, without `busy_reply`: the App Home keeps its view).
        Events are acked either way: Slack retries a refused event at once (into the same full process),
        then after a minute and after five, later than anyone waits; and it may turn event delivery off
        for an app that acknowledges fewer than 5% of them in an hour."""

        async def listener(
            ack, payload: dict[str, Any], body: dict[str, Any], client: AsyncWebClient, context
        ) -> None:
            await ack()
            BOT_USER.set(bot_user_of(body, context.bot_user_id))  # copied into the answer task below
            sender = sender_of(body)
            if (sender and sender == BOT_USER.get()) or (wanted is not None and not wanted(payload, body)):
                return  # our own message or action, or nothing this listener answers
            key = conversation_of(body)
            previous = self._latest.get(key)
            taken = self.slots.take()
            if taken:
                work = self._answer_after_ack(previous, answer, payload, body, client)
            elif busy_reply:
                work = self._busy_after(previous, body, client)
            else:
                return
            task = asyncio.create_task(work)
            self._latest[key] = task
            self._answering.add(task)
            task.add_done_callback(lambda done: self._finished(key, done, taken))

        return listener

    def _finished(self, key: str, task: asyncio.Task[None], taken: bool = False) -> None:
        self._answering.discard(task)
        if taken:
            self.slots.give_back()
        if self._latest.get(key) is task:
            del self._latest[key]

    async def _busy_after(
        self, previous: asyncio.Task[None] | None, body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        """The busy reply, after the conversation's earlier answers, where the answer would have gone:
        privately through the response_url of a slash command or a button, else in the conversation (a
        mention's thread, the DM) or, for a button on the App Home, the person's DM."""
        if previous is not None:
            await asyncio.wait({previous})
        busy = Reply(text=BUSY_TEXT)
        event = body.get("event") or {}
        try:
            if body.get("response_url"):
                for payload in to_messages(busy):
                    await respond(client, body, response_type="ephemeral", replace_original=False, **payload)
            elif event:
                thread = event.get("thread_ts") or (
                    event.get("ts") if event.get("type") == "app_mention" else None
                )
                await post(client, event.get("channel") or sender_of(body), busy, thread_ts=thread)
            else:
                await post(client, (body.get("channel") or {}).get("id") or sender_of(body), busy)
        except Exception:  # noqa: BLE001 - Slack itself may be what is slow or failing
            log.warning("could not tell %s that the bot is busy", sender_of(body), exc_info=True)

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
            await answer(payload, body, client)
        except NotAPerson as refused:
            polite = refused.polite
            if polite is None and refused.user_id != sender_of(body):  # a bot mentioned in the request
                polite = "That's a bot, not a person: I can only answer about people in this workspace."
            if polite is None:
                log.info("slack request ignored: %s is a bot, not a person", refused.user_id)
                return
            try:
                await self._tell(client, body, self.ctx.renderer.render("message.j2", text=polite))
            except Exception:  # noqa: BLE001 - Slack itself may be what failed
                log.warning("could not tell %s that %s is no person", sender_of(body), refused.user_id)
        except Exception as error:  # noqa: BLE001 - reported to the person like any listener error
            await self._on_error(error, body, client)

    async def _on_mention(self, event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient) -> None:
        text = await self.people.plain_text(body, event.get("text", ""), client)
        reply = await self.people.reply(
            body,
            event.get("user", ""),
            client,
            lambda who: Request(
                who.workspace_id, who.person_id, text=text, channel_id=event.get("channel"), shared=True
            ),
            event_key=event_key(body),
        )
        if reply is not None:
            await post(
                client,
                event["channel"],
                form_button(reply, text),
                thread_ts=event.get("thread_ts") or event.get("ts"),
            )

    async def _on_message(self, event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient) -> None:
        text = await self.people.plain_text(body, event.get("text", ""), client)
        reply = await self.people.reply(
            body,
            event.get("user", ""),
            client,
            lambda who: Request(who.workspace_id, who.person_id, text=text, channel_id=event.get("channel")),
            event_key=event_key(body),
        )
        if reply is not None:
            await post(client, event["channel"], form_button(reply, text), thread_ts=event.get("thread_ts"))

    async def _on_command(
        self, command: dict[str, Any], body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        text = command.get("text", "").strip()
        in_channel = not str(command.get("channel_id", "")).startswith("D")
        reply = await self.people.answer(
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
        reply = form_button(reply, text)
        if in_channel and reply.kind == "answer" and text and reply.form is None:
            reply = reply.with_buttons(Button("Share in channel", SHARE_ACTION, text[:1900]))
        for payload in to_messages(reply):
            await respond(client, body, response_type="ephemeral", replace_original=False, **payload)
        if reply.image is not None:  # files cannot be ephemeral: the chart goes to the person's DM
            await upload(client, command.get("user_id", ""), reply)

    async def _on_click(self, action: dict[str, Any], body: dict[str, Any], client: AsyncWebClient) -> None:
        click = click_from_action(action)
        if click is None:
            return
        user = body.get("user", {}).get("id", "")
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        if click.action == SHARE_ACTION:
            reply = await self.people.answer(
                body,
                user,
                client,
                lambda who: Request(
                    who.workspace_id, who.person_id, text=click.value, channel_id=channel, shared=True
                ),
            )
            for payload in to_messages(reply):
                await respond(
                    client,
                    body,
                    response_type="in_channel",
                    replace_original=False,
                    delete_original=True,
                    **payload,
                )
            return
        if click.action == FORM_ACTION:  # the typed command again, now with a trigger to open its form
            reply = await self.people.answer(
                body,
                user,
                client,
                lambda who: Request(who.workspace_id, who.person_id, text=click.value, channel_id=channel),
            )
        else:
            reply = await self.people.answer(
                body,
                user,
                client,
                lambda who: Request(
                    who.workspace_id,
                    who.person_id,
                    click=Click(click.action, click.value),
                    channel_id=channel,
                ),
            )
        if reply.form is not None and body.get("trigger_id"):
            await client.views_open(trigger_id=body["trigger_id"], view=to_modal(reply, channel))
            return
        if channel and channel.startswith("D"):
            await post(client, channel, reply)  # in a DM the answer belongs in the conversation
        elif body.get("response_url"):
            visibility = "in_channel" if reply.kind == "announcement" else "ephemeral"  # answers stay private
            for payload in to_messages(reply):
                await respond(client, body, response_type=visibility, replace_original=False, **payload)
        else:  # a button on the App Home: answer in the DM
            await post(client, user, reply)

    async def _on_view(
        self, ack, view: dict[str, Any], body: dict[str, Any], client: AsyncWebClient, context
    ) -> None:
        """A submitted modal. The answer is worked out before the ack when it comes quickly, so a field to
        fix keeps the modal open with Slack's `response_action: errors` (the answers stay in it); a slow
        answer is acked first and follows in the DM like any other."""
        BOT_USER.set(bot_user_of(body, context.bot_user_id))
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
            await post(client, own_dm, reply)
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
        return await self.people.answer(
            body,
            user,
            client,
            lambda who: Request(
                who.workspace_id, who.person_id, click=click, channel_id=channel or None, form=answers
            ),
        )

    async def _on_home(self, event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient) -> None:
        who = await self.people.who(body, event.get("user", ""), client)
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
            await post(
                client, str(where or user), apology, thread_ts=event.get("thread_ts") or event.get("ts")
            )
        except Exception:  # noqa: BLE001 - Slack itself may be what failed
            log.warning("could not tell the user about error %s", reference, exc_info=True)

    async def _tell(self, client: AsyncWebClient, body: dict[str, Any], reply: Reply) -> None:
        """A short answer where the request was made: privately for a slash command, else in the
        conversation (the thread of a mention) or the person's DM."""
        if body.get("command") and body.get("response_url"):
            for payload in to_messages(reply):
                await respond(client, body, response_type="ephemeral", replace_original=False, **payload)
            return
        event = body.get("event") or {}
        where = event.get("channel") or (body.get("channel") or {}).get("id") or sender_of(body)
        if where:
            await post(client, where, reply, thread_ts=event.get("thread_ts") or event.get("ts"))

    # -- helpers -----------------------------------------------------------------------------------
