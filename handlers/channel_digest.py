"""`post weekly summary to #channel` / `post weekly summary here`: a manager (their team's summary) or
enablement (the organization's) subscribes a Slack channel or a Microsoft Teams channel to the weekly
digest; `stop posting weekly summary` ends it. The subscription is the person's (one channel each, kept
in their preferences with the platform, the way-in workspace id and the channel or Teams channel
conversation id); the digest job queues it with their own digest, one outbox message per person and ISO
week, posted to the channel and composed when sent.

In Teams only "here", said in the channel itself, names a channel (Teams mentions of channels carry no
id a bot can post to); the Teams sender posts there proactively through the person's stored reference
(its serviceUrl and tenant) with the conversation replaced by the channel's. "here" in a personal or
group chat is refused with a sentence saying where to say it. The terminal has no channel to post to:
the reply says so and the person keeps their own digest."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select

from bot.messages import Reply
from handlers.common import Turn, not_paused, weekly_due_groups
from storage.db import insert_or_ignore
from storage.models import OutboxMessage, OutboxStatus, Person, Platform, Role

KIND = "cdigest"
SLACK_CHANNEL = re.compile(r"<#([CG][A-Z0-9]+)(?:\|([^>]*))?>")
PREFERENCE = "summary_channel"


HERE = ("", "here", "this channel", "to this channel", "in this channel")


def teams_channel_conversation(conversation_id: str) -> str:
    """The channel's own conversation id: a message in a channel thread carries `;messageid=` after it."""
    return conversation_id.split(";messageid=", 1)[0]


def _subscribe_teams(turn: Turn, where: str | None) -> Reply:
    words = (where or "").strip().lower()
    request = turn.request
    if words not in HERE or request.conversation_type != "channel" or not request.channel_id:
        return turn.render("replies/summaries.j2#teams_say_it_in_the_channel", kind="error")
    turn.person.preferences = {
        **(turn.person.preferences or {}),
        PREFERENCE: {
            "platform": "teams",
            "workspace_id": turn.workspace.id,
            "channel": teams_channel_conversation(request.channel_id),
        },
    }
    return turn.render(
        "replies/summaries.j2#posting_to_channel",
        organization=turn.person.role == Role.ENABLEMENT,
        channel=None,
    )


def subscribe(turn: Turn, where: str | None) -> Reply:
    if turn.workspace.platform == Platform.TEAMS:
        return _subscribe_teams(turn, where)
    if turn.workspace.platform != Platform.SLACK:
        return turn.render("replies/summaries.j2#channel_posting_slack_only", kind="error")
    words = (where or "").strip()
    mentioned = SLACK_CHANNEL.search(words)
    if mentioned:
        channel = mentioned[1]
    elif words.lower() in HERE and (turn.request.shared and turn.request.channel_id):
        channel = turn.request.channel_id
    else:
        return turn.render("replies/summaries.j2#name_the_channel", kind="error")
    turn.person.preferences = {
        **(turn.person.preferences or {}),
        PREFERENCE: {"platform": "slack", "workspace_id": turn.workspace.id, "channel": channel},
    }
    return turn.render(
        "replies/summaries.j2#posting_to_channel",
        organization=turn.person.role == Role.ENABLEMENT,
        channel=f"#{mentioned[2] or mentioned[1]}" if mentioned else None,
    )


def unsubscribe(turn: Turn) -> Reply:
    prefs = dict(turn.person.preferences or {})
    if prefs.pop(PREFERENCE, None) is None:
        return turn.render("replies/summaries.j2#no_channel_posting")
    turn.person.preferences = prefs
    return turn.render("replies/summaries.j2#channel_posting_stopped")


def enqueue_channel_digests(ctx, now: datetime) -> int:
    """A channel post for each subscriber whose weekly digest slot has come (managers and enablement)."""
    from handlers.summaries.digest import DIGEST_GRACE, DIGEST_TIME, DIGEST_WEEKDAY
    from storage.outbox import compose_later

    queued = 0
    subscription = Person.preferences[PREFERENCE]
    with ctx.sessions.begin() as db:
        for role in (Role.MANAGER, Role.ENABLEMENT):
            for group in weekly_due_groups(
                db, now, kind="digest", weekday=DIGEST_WEEKDAY, at=DIGEST_TIME, grace=DIGEST_GRACE, role=role
            ):
                people = db.scalars(
                    select(Person).where(
                        group.who, not_paused(group.local_date), subscription.as_string().is_not(None)
                    )
                ).all()
                for person in people:
                    sub = (person.preferences or {}).get(PREFERENCE) or {}
                    if not isinstance(sub, dict) or not sub.get("channel") or not sub.get("workspace_id"):
                        continue
                    if sub.get("platform") == "teams":
                        platform, target = Platform.TEAMS, {"conversation": str(sub["channel"])}
                    else:
                        platform, target = Platform.SLACK, {"channel": str(sub["channel"])}
                    queued += insert_or_ignore(
                        db,
                        OutboxMessage,
                        {
                            "idempotency_key": f"{KIND}:{person.id}:{group.week}",
                            "kind": KIND,
                            "workspace_id": int(sub["workspace_id"]),
                            "platform": platform,
                            "person_id": person.id,
                            "target": target,
                            "payload": compose_later(KIND, week=group.week),
                            "status": OutboxStatus.PENDING,
                            "attempts": 0,
                            "next_attempt_at": now,
                            "created_at": now,
                        },
                        ["idempotency_key"],
                    )
    return queued
