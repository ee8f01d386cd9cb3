"""Reading and writing Bot Framework activities for the Teams channel: a request body checked and read as
an Activity, the neutral Request a message or a card's submit stands for, who sent it, and our activity
dicts (bot/channels/teams_cards.py) as the SDK's Activity objects."""

from __future__ import annotations

import html
import json
import re
import traceback
from collections.abc import Callable
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import Activity, Attachment
from msrest.serialization import Model

from bot.channels.teams_cards import click_from_value
from bot.messages import Request
from storage.identity import TeamsUser, Who

AT_TAG = re.compile(r"<at>.*?</at>", re.IGNORECASE)
FORM_META_KEYS = {"bot_action", "bot_value", "msteams"}  # everything else in a submit's value is an answer
SIMPLE_ACTIVITY_KEYS = {"type", "text", "summary", "attachments"}  # what _sdk_activity builds directly
SIMPLE_ATTACHMENT_KEYS = {"contentType", "content", "contentUrl", "name"}
MAX_JSON_DEPTH = 64  # Teams activities nest about 6 deep; a card submit's data a few levels more


def read_activity(raw: bytes) -> tuple[Activity | None, str]:
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


def message_request(activity: Activity) -> Callable[[Who], Request]:
    """The router request for a message, once we know who sent it (text, or a click with form answers)."""
    click = click_from_value(activity.value) if activity.value else None
    conversation_type = activity.conversation.conversation_type or "personal"
    shared = conversation_type != "personal"
    channel_id = activity.conversation.id
    if click is None:
        text = clean_text(activity)
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


def teams_user(activity: Activity) -> TeamsUser:
    """Who sent an activity (tenant, ids, name, and where to reach them proactively from a personal chat)."""
    user = activity.from_property
    personal = (activity.conversation.conversation_type or "personal") == "personal"
    reference = None
    if personal:
        # The message's own id is no use for a later message, and leaving it out means the stored
        # reference only changes (and is only rewritten) when the conversation or serviceUrl does.
        reference = TurnContext.get_conversation_reference(activity).serialize()
        reference.pop("activityId", None)
    return TeamsUser(tenant_of(activity), user.id, user.aad_object_id, user.name, reference)


def tenant_of(activity: Activity) -> str:
    data = activity.channel_data or {}
    tenant = activity.conversation.tenant_id if activity.conversation else None
    return tenant or (data.get("tenant") or {}).get("id") or "no-tenant"


def clean_text(activity: Activity) -> str:
    """The words a person typed: without the bot's @mention, tags or HTML entities."""
    text = TurnContext.remove_recipient_mention(activity) or activity.text or ""
    return html.unescape(AT_TAG.sub("", text)).strip()


def sdk_activity(activity: dict[str, Any]) -> Activity:
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


def activity_ids(activity: Activity) -> str:
    """What a log line may say about an activity: its kind and ids, never its text or values."""
    conversation = activity.conversation.id if activity.conversation else None
    sender = activity.from_property.id if activity.from_property else None
    return f"{activity.type} activity {activity.id} (conversation {conversation}, from {sender})"


def stack_of(error: BaseException) -> str:
    """The traceback's frames (file, line, function, source line) without the exception's message."""
    return "".join(traceback.format_list(traceback.extract_tb(error.__traceback__))).rstrip()
