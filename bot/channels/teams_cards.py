"""Microsoft Teams: neutral Replies to Adaptive Cards, and card clicks back to Clicks.

Pure dicts in, dicts out (no botbuilder), so the translation is testable without Teams.

Markup. Teams renders a Markdown subset in TextBlock text and in Fact.Title/Fact.Value, and no HTML
(learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/cards-format): **bold**,
_italic_ and [title](url) are the same syntax as ours and pass through unchanged. The rest is
converted, following that page's "Newlines for Adaptive Cards" rules:

- bullets: consecutive "- " lines (blank lines between them ignored) form one list whose items are
  joined with "\\r"; "\\n\\n" inside a list would indent the next item.
- other lines: each line of ours is a line for the reader, but a single "\\n" is a soft break in
  Markdown, so lines and paragraphs are joined with "\\n\\n", the page's advice for newlines outside
  lists.
- each list and each run of paragraphs becomes its own TextBlock, so a list never has to share a
  block with text around it, and a long section can be split between those blocks.
- tag-like text such as "<deal>" or a user's "<b>" is shown as "‹deal›", "‹b›": Teams documents no
  HTML (nor entity decoding) in cards, yet it does read "<at>" tags in them, so rather than trusting
  "<" or "&lt;" to reach the reader intact we use single guillemets, which nothing parses. A "<" not
  followed by a letter, "/", "!" or "?" (as in "a < b", "<3") cannot open a tag and is kept.

Answers. A question's answers (buttons marked `choice`) are listed whole in the card, numbered
("1. …"), and their buttons carry the numbers alone: Teams cuts button titles short, and answers are
often longer than a button. Other buttons keep their labels, cut at MAX_TITLE.

Limits (cards-reference, format-your-bot-messages). Teams supports card version 1.5 or earlier.
Buttons beyond a card's maximum are not shown, so past MAX_CARD_ACTIONS they become ActionSets of
ACTION_SET_SIZE in the body. Bot messages are capped at 40 KB counted in UTF-16 (100 KB in newer
docs, 28 KB for webhooks and workflows): an activity is kept under MAX_ACTIVITY_BYTES both as sent
(ASCII-escaped JSON) and counted in UTF-16, and long replies become several messages.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from bot.messages import Button, Click, FormField, Reply, Section

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.5"
MAX_ACTIVITY_BYTES = 25_000
SECTION_CACHE = 2048  # distinct section texts and one-line texts whose card form is remembered
MAX_CARD_ACTIONS = 6
ACTION_SET_SIZE = 5
MAX_TITLE = 60
STYLES = {"primary": "positive", "danger": "destructive"}  # ignored by clients without styling

Element = dict[str, Any]
_TAG = re.compile(r"<([/!?]?[A-Za-z][^<>\n]*)>")
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")


def to_card(reply: Reply) -> dict[str, Any]:
    """The whole reply as one Adaptive Card, whatever its size (see `to_activities` for sending)."""
    return _card([element for group in _groups(reply) for element in group], _card_actions(reply))


def to_activities(reply: Reply) -> list[dict[str, Any]]:
    """Message activities ready to send, split so each stays under MAX_ACTIVITY_BYTES.

    Sections are kept whole when they fit in a message; one larger than a message is cut between
    its blocks (list items, paragraphs) and, as a last resort, between words. The header opens the
    first message; buttons and the footnote close the last one.
    """
    actions = _card_actions(reply)

    def fits(body: list[Element]) -> bool:  # every card is budgeted as if it were the last
        return _fits(_activity(reply, body, actions))

    groups = _groups(reply)
    whole = [element for group in groups for element in group]
    bodies = [whole] if fits(whole) else _split(groups, fits)  # most replies fit: one size check
    last = len(bodies) - 1
    activities = [_activity(reply, body, actions if i == last else []) for i, body in enumerate(bodies)]
    if reply.image is not None:  # an inline picture, as Teams shows in personal and group chats
        picture = "data:image/png;base64," + base64.b64encode(reply.image.png).decode()
        attachment = {"contentType": "image/png", "contentUrl": picture, "name": reply.image.filename}
        activities.append({"type": "message", "summary": reply.image.alt[:200], "attachments": [attachment]})
    return activities


def _split(groups: list[list[Element]], fits: Callable[[list[Element]], bool]) -> list[list[Element]]:
    """Card bodies for a reply too long for one message: whole groups where they fit, else pieces."""
    bodies: list[list[Element]] = [[]]
    for group in groups:
        if fits(bodies[-1] + group):
            bodies[-1] += group
        elif bodies[-1] and fits(group):
            bodies.append(list(group))
        else:
            for element in group:
                for piece in _pieces(element, fits):
                    if bodies[-1] and not fits([*bodies[-1], piece]):
                        bodies.append([])
                    bodies[-1].append(piece)
    return bodies


def click_from_value(value: Any) -> Click | None:
    """The Click behind an incoming card action, or None when it is not one of our buttons.

    Accepts an Action.Submit message's `value` (our data, plus any keys Teams adds) and an
    adaptiveCard/action invoke's `value` ({"action": {"type": "Action.Execute", "data": ...}}).
    """
    if isinstance(value, dict) and "bot_action" not in value and isinstance(value.get("action"), dict):
        value = value["action"].get("data")
    if not isinstance(value, dict):
        return None
    return Click.parse(value.get("bot_action"), value.get("bot_value", ""))


def _groups(reply: Reply) -> list[list[Element]]:
    """Body elements in groups that should stay in one message: header, each section, the tail."""
    groups: list[list[Element]] = []
    if reply.header:
        groups.append([_text(_line(reply.header), size="Large", weight="Bolder")])
    groups += [elements for section in reply.sections if (elements := _section(section))]
    if not groups and reply.text:
        groups.append([_text(_line(reply.text))])
    choices = [button.label for button in reply.buttons if button.choice]
    if choices:
        numbered = "\r".join(f"{n}. {_line(label)}" for n, label in enumerate(choices, 1))
        groups.append([_text(numbered, spacing="Medium")])
    tail: list[Element] = []
    if reply.form:
        answers, errors = dict(reply.form.answers), dict(reply.form.errors)
        for field in reply.form.fields:
            if field.id in errors:
                tail.append(_text(_line(errors[field.id]), color="Attention", weight="Bolder"))
            tail.append(_input(field, answers.get(field.id)))
    if len(reply.buttons) > MAX_CARD_ACTIONS:
        submits = _submits(reply.buttons)
        tail += [
            {"type": "ActionSet", "actions": submits[i : i + ACTION_SET_SIZE]}
            for i in range(0, len(submits), ACTION_SET_SIZE)
        ]
    if reply.context:
        tail.append(_text(_line(reply.context), isSubtle=True, size="Small", spacing="Medium"))
    if tail:
        groups.append(tail)
    return groups


def _section(section: Section) -> list[Element]:
    elements = [_text(_line(section.title), weight="Bolder", spacing="Medium")] if section.title else []
    elements += [_text(block) for block in _blocks(section.text)]
    if section.fields:
        facts = [{"title": _line(label), "value": _line(value)} for label, value in section.fields]
        elements.append({"type": "FactSet", "facts": facts})
    return elements


@lru_cache(maxsize=SECTION_CACHE)
def _blocks(text: str) -> tuple[str, ...]:
    """Our section markup as Teams TextBlock texts: one per list, one per run of paragraphs. Remembered
    per distinct text: the same stage guidance goes out for every deal at that stage (the elements built
    from these strings are new for every message)."""
    runs: list[tuple[bool, list[str]]] = []  # (is_list, lines)
    for raw in text.splitlines():
        line = _untag(raw.strip())
        if not line:
            continue
        is_item = line.startswith("- ")
        if not runs or runs[-1][0] != is_item:
            runs.append((is_item, []))
        runs[-1][1].append(line)
    return tuple(("\r" if is_list else "\n\n").join(lines) for is_list, lines in runs)


def _card_actions(reply: Reply) -> list[Element]:
    form = (
        [_submit(Button(reply.form.submit_label, reply.form.action, reply.form.value, "primary"))]
        if reply.form
        else []
    )
    if len(reply.buttons) > MAX_CARD_ACTIONS:
        return form  # the buttons are ActionSets in the body
    return form + _submits(reply.buttons)


def _submits(buttons: tuple[Button, ...]) -> list[Element]:
    """The reply's buttons as Action.Submits; answers titled with their number in the card's list."""
    numbers = iter(range(1, len(buttons) + 1))
    return [_submit(button, str(next(numbers)) if button.choice else None) for button in buttons]


def _input(field: FormField, answer: str | tuple[str, ...] | None = None) -> Element:
    """A form question as an Adaptive Card input; its answer arrives in the submit's value under field.id
    (several checked boxes as one comma-separated string). `answer` fills it in (a form sent back to fix)."""
    common = {
        "id": field.id,
        "label": field.label,
        "isRequired": not field.optional,
        "errorMessage": "This one is needed",
    }
    if field.kind in ("checkboxes", "choice"):
        many = field.kind == "checkboxes"
        choices = [{"title": label, "value": value} for value, label in field.options]
        style = "expanded" if many else "compact"
        choice_set: Element = {
            "type": "Input.ChoiceSet",
            **common,
            "isMultiSelect": many,
            "style": style,
            "choices": choices,
        }
        if answer:
            choice_set["value"] = ",".join(answer) if isinstance(answer, tuple) else answer
        return choice_set
    text: Element = {
        "type": "Input.Text",
        **common,
        "isMultiline": field.multiline,
        "maxLength": field.max_length,
    }
    if field.placeholder:
        text["placeholder"] = field.placeholder
    if answer:
        text["value"] = "\n".join(answer) if isinstance(answer, tuple) else answer
    return text


def _submit(button: Button, title: str | None = None) -> Element:
    title = title or " ".join(button.label.split())
    if len(title) > MAX_TITLE:
        title = title[: MAX_TITLE - 1].rstrip() + "…"
    action: Element = {
        "type": "Action.Submit",
        "title": title,
        "data": {"bot_action": button.action, "bot_value": button.value},
    }
    if button.style in STYLES:
        action["style"] = STYLES[button.style]
    return action


def _card(body: list[Element], actions: list[Element]) -> dict[str, Any]:
    return {
        "type": "AdaptiveCard",
        "$schema": CARD_SCHEMA,
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": body,
        "actions": actions,
    }


def _activity(reply: Reply, body: list[Element], actions: list[Element]) -> dict[str, Any]:
    attachment = {"contentType": CARD_CONTENT_TYPE, "content": _card(body, actions)}
    return {"type": "message", "summary": reply.text, "attachments": [attachment]}


def _fits(activity: dict[str, Any]) -> bool:
    """Whether the activity stays under MAX_ACTIVITY_BYTES both as sent (ASCII-escaped JSON) and as Teams
    counts it (UTF-16). A character takes at most as many UTF-16 code units as its ASCII escape has
    characters, so UTF-16 is at most twice the ASCII form: when that fits, the second count is not needed."""
    as_sent = len(json.dumps(activity))  # ASCII: characters are bytes
    if 2 * as_sent <= MAX_ACTIVITY_BYTES:
        return True
    as_counted = len(json.dumps(activity, ensure_ascii=False).encode("utf-16-le"))
    return max(as_sent, as_counted) <= MAX_ACTIVITY_BYTES


def _pieces(element: Element, fits: Callable[[list[Element]], bool]) -> list[Element]:
    """The element, cut into pieces that each fit a message alone (if it can be cut)."""
    if fits([element]):
        return [element]
    halves = _halves(element)
    if halves is None:
        return [element]  # cannot be cut (one huge fact or button): sent as is
    return [piece for half in halves for piece in _pieces(half, fits)]


def _halves(element: Element) -> tuple[Element, Element] | None:
    """Two smaller copies of a TextBlock, FactSet or ActionSet; None when it cannot be cut."""
    key = {"TextBlock": "text", "FactSet": "facts", "ActionSet": "actions"}.get(element["type"], "")
    content = element.get(key)
    if isinstance(content, list) and len(content) > 1:
        middle = len(content) // 2
        return {**element, key: content[:middle]}, {**element, key: content[middle:]}
    if not isinstance(content, str):
        return None
    for separator in ("\r", "\n\n", " "):  # between list items, then paragraphs, then words
        parts = content.split(separator)
        middle = len(parts) // 2
        first, second = separator.join(parts[:middle]).strip(), separator.join(parts[middle:]).strip()
        if first and second:
            return {**element, key: first}, {**element, key: second}
    middle = len(content) // 2
    if middle == 0:
        return None
    return {**element, key: content[:middle]}, {**element, key: content[middle:]}


def _text(text: str, **style: Any) -> Element:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


@lru_cache(maxsize=SECTION_CACHE)
def _line(text: str) -> str:
    """One-line text (header, title, fact, footnote) with tag-like sequences made harmless."""
    return _untag(" ".join(text.split()))


def _untag(text: str) -> str:
    """'<deal>' -> '‹deal›': nothing that looks like an HTML tag reaches the Teams renderer."""
    return _TAG_START.sub("‹", _TAG.sub(r"‹\1›", text))
