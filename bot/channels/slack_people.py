"""Slack users as our people: a request's Slack user becomes a `Who` (storage/identity.py), someone new is
looked up in Slack (users.info) first, and mentions of people become their email.

The database work is storage/identity.py's; what is Slack's here is reading users.info and mentions, and
refusing what is no person (our own bot user, other bots, users Slack does not know).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.slack_payloads import MENTION, profile_fields, team_of
from bot.context import AppContext
from bot.messages import Reply, Request
from bot.router import answer, handle
from storage.identity import Who, email_of, find_slack_person, known_slack_person, remember_delivery

# The app's own bot user in the workspace a request came from (Bolt's context.bot_user_id, from auth.test or
# the installation), set for each answer task: the bot is never looked up or stored as a person.
BOT_USER: ContextVar[str | None] = ContextVar("slack_bot_user", default=None)


UNKNOWN_USER = (
    "Sorry, I couldn't find that Slack user in this workspace, so I can't answer this. "
    "If you were just added, try again in a minute."
)


class NotAPerson(Exception):  # noqa: N818 - an outcome, not a failure
    """A Slack user id that is no person we answer or store: our own bot user, another bot, or a user Slack
    does not know (`polite` is what the person who asked is told, if anyone)."""

    def __init__(self, user_id: str, polite: str | None = None):
        super().__init__(user_id)
        self.user_id = user_id
        self.polite = polite


@dataclass(frozen=True)
class _Known:
    """What answering a known person came to: a reply, a repeated delivery, or neither (a new person)."""

    reply: Reply | None = None
    repeated: bool = False


class SlackPeople:
    """Finds (and adds) the person behind a Slack user, and answers them through the router."""

    def __init__(self, ctx: AppContext, *, join_single: bool):
        self.ctx = ctx
        # one bot token: every Slack user belongs to the deployment's one organization; OAuth installs start
        # an organization per workspace (or Grid org) until an admin links them (python -m bot org link)
        self._join_single = join_single

    async def reply(
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
        team_id, enterprise_id = team_of(body)
        known = await asyncio.to_thread(self._answer_known, team_id, enterprise_id, user_id, make, event_key)
        if known.repeated or known.reply is not None:
            return known.reply
        profile = await self.profile(client, user_id)
        who = await asyncio.to_thread(self._lookup, team_id, enterprise_id, user_id, profile)
        return await asyncio.to_thread(handle, self.ctx, make(who))

    async def answer(
        self, body: dict[str, Any], user_id: str, client: AsyncWebClient, make: Callable[[Who], Request]
    ) -> Reply:
        reply = await self.reply(body, user_id, client, make)
        assert reply is not None  # only a repeated event_key answers nothing
        return reply

    def _answer_known(
        self,
        team_id: str,
        enterprise_id: str | None,
        user_id: str,
        make: Callable[[Who], Request],
        event_key: str | None,
    ) -> _Known:
        with self.ctx.sessions() as db:
            if event_key is not None and not remember_delivery(db, event_key):
                return _Known(repeated=True)
            found = known_slack_person(db, team_id, enterprise_id, user_id, self._join_single)
            if found is None:
                db.commit()  # perhaps a workspace seen for the first time
                return _Known()
            workspace, person = found  # held while answering: the session's identity map keeps weak refs
            return _Known(reply=answer(self.ctx, db, make(Who(workspace.id, person.id))))

    async def who(self, body: dict[str, Any], user_id: str, client: AsyncWebClient) -> Who:
        """Our workspace and person for a Slack team and user; unknown users are looked up and added."""
        team_id, enterprise_id = team_of(body)
        found = await asyncio.to_thread(self._lookup, team_id, enterprise_id, user_id, None)
        if found.person_id:
            return found
        profile = await self.profile(client, user_id)
        return await asyncio.to_thread(self._lookup, team_id, enterprise_id, user_id, profile)

    def _lookup(
        self, team_id: str, enterprise_id: str | None, user_id: str, profile: dict[str, Any] | None
    ) -> Who:
        with self.ctx.sessions.begin() as db:
            fields = profile_fields(profile) if profile else None
            return find_slack_person(db, team_id, enterprise_id, user_id, fields, self._join_single)

    async def profile(self, client: AsyncWebClient, user_id: str) -> dict[str, Any]:
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

    async def plain_text(self, body: dict[str, Any], text: str, client: AsyncWebClient) -> str:
        """The bot's own @mention removed; other people's mentions become their email, so "add @ana to my
        team" names a person the handlers can find."""
        bot_user = BOT_USER.get()
        for user_id in dict.fromkeys(MENTION.findall(text)):
            if user_id == bot_user:
                replacement = ""
            else:
                who = await self.who(body, user_id, client)
                email = await asyncio.to_thread(self._email_of, who.person_id)
                replacement = email or ""
            text = re.sub(rf"<@{user_id}(?:\|[^>]*)?>", replacement, text)
        return " ".join(text.split())

    def _email_of(self, person_id: int) -> str | None:
        with self.ctx.sessions() as db:
            return email_of(db, person_id)
