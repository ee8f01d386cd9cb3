"""Reading Slack's payloads (Events API, interactivity, slash commands): who, where, which team, which
delivery. Pure functions of the payload; nothing here talks to Slack or the database."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.request.internals import parse_body

MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")


def malformed(raw: str, content_type: str | None) -> str | None:
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


def conversation_of(body: dict[str, Any]) -> str:
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
    return f"{team_of(body)[0]}:{where}"


def event_key(body: dict[str, Any]) -> str | None:
    """The idempotency key of an Events API delivery (Slack retries a delivery with the same event id)."""
    event_id = body.get("event_id")
    return f"slack:{event_id}" if event_id else None


def sender_of(body: dict[str, Any]) -> str:
    """The Slack user who made the request (event, action or command)."""
    event = body.get("event") or {}
    user = body.get("user")
    return (
        event.get("user") or (user.get("id") if isinstance(user, dict) else "") or body.get("user_id") or ""
    )


def bot_user_of(body: dict[str, Any], known: str | None) -> str | None:
    """Our bot user in this workspace: Bolt's (auth.test or the installation), else the event's
    authorizations when they are about a bot."""
    if known:
        return known
    authorization = (body.get("authorizations") or [{}])[0]
    return authorization.get("user_id") if authorization.get("is_bot") else None


def team_of(body: dict[str, Any]) -> tuple[str, str | None]:
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


def profile_fields(user: dict[str, Any]) -> dict[str, str | None]:
    profile = user.get("profile") or {}
    return {
        "email": (profile.get("email") or "").lower() or None,
        "name": profile.get("real_name") or user.get("real_name") or user.get("name") or "Slack user",
        "timezone": user.get("tz"),
    }
