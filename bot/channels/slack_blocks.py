"""Neutral Replies to Slack Block Kit payloads, and button presses back to Clicks.

Pure functions, no Slack client: the Slack channel posts what `to_messages` returns and feeds each
element of a block_actions payload's "actions" list to `click_from_action`. Every length below is a
documented Block Kit limit; Slack rejects the whole message (invalid_blocks) when one is exceeded, so
we split or truncate here instead of losing the reply.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from functools import lru_cache
from typing import Any

from bot.messages import Button, Click, Form, FormField, Reply, Section
from bot.rendering import strip_markup

log = logging.getLogger(__name__)

MAX_BLOCKS = 50  # blocks per message
HEADER_MAX = 150  # header block plain_text
SECTION_TEXT_MAX = 3000  # section block text
FIELDS_MAX = 10  # fields per section block
FIELD_TEXT_MAX = 2000  # each field's text
CONTEXT_TEXT_MAX = 3000  # context elements are text objects: 3000 like any text object
BUTTONS_PER_BLOCK = 5  # the actions block allows 25; 5 keeps a row readable
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
FALLBACK_TEXT_MAX = 3000  # the top-level `text`, shown in notifications
TITLE_MAX = 300  # ours, not Slack's: a title must leave room for its section's text
SECTION_CACHE = 2048  # distinct sections whose mrkdwn is remembered (a few playbooks' stages over)

ACTION_ID = re.compile(r"bot:\d+")
_LINK = re.compile(r"\[([^\]]+)\]\(((?:https?://|mailto:)[^\s|<>]+?)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_BULLET = re.compile(r"^([ \t]*)- ", re.MULTILINE)
_OPEN_ENTITY = re.compile(r"&[a-z]{0,4}$")


def to_mrkdwn(text: str) -> str:
    """Neutral markup to Slack mrkdwn. Escaping comes first so user text can't forge links or mentions."""
    text = _escape(text)
    text = _LINK.sub(lambda m: f"<{m.group(2)}|{m.group(1)}>", text)
    text = _BOLD.sub(r"*\1*", text)
    return _BULLET.sub("\\1• ", text)


def to_messages(reply: Reply) -> list[dict[str, Any]]:
    """chat.postMessage payloads for one reply: usually one; more when it needs over 50 blocks."""
    head = [_header_block(reply.header)] if reply.header and reply.header.strip() else []
    body = [block for section in reply.sections for block in _section_blocks(section)]
    if not head and not body:  # a bare one-liner: show its text, not only a notification
        body = _section_blocks(Section(reply.text))
    tail = _actions_blocks(reply.buttons)
    if reply.context and reply.context.strip():
        element = {"type": "mrkdwn", "text": _clip(to_mrkdwn(reply.context), CONTEXT_TEXT_MAX)}
        tail.append({"type": "context", "elements": [element]})

    chunks = _chunk(head + body) or [[]]
    last = chunks[-1]
    overflow = len(last) + len(tail) - MAX_BLOCKS
    if overflow > 0:
        # Buttons and footnote stay together at the end; take a few sections along so they don't stand alone.
        movable = len(last) - (len(head) if len(chunks) == 1 else 0)
        moved = last[len(last) - overflow :] if overflow <= movable else []
        del last[len(last) - len(moved) :]
        chunks += _chunk(moved + tail)
    else:
        last += tail
    text = _clip(_escape(reply.text or strip_markup(reply.header or "")), FALLBACK_TEXT_MAX)
    return [{"text": text, "blocks": blocks} for blocks in chunks if blocks]


def click_from_action(action: dict[str, Any]) -> Click | None:
    """The Click our button encoded, or None for anything we didn't make (other apps, forged values)."""
    if action.get("type") != "button" or not ACTION_ID.fullmatch(str(action.get("action_id", ""))):
        return None
    raw = action.get("value")
    if not isinstance(raw, str):
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return Click.parse(data.get("a"), data.get("v", ""))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _truncate(text: str, limit: int) -> str:
    """Plain text cut to `limit` characters, with an ellipsis when something was cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _clip(text: str, limit: int) -> str:
    """Like _truncate for mrkdwn, without leaving half an &amp; or half a <url|link> behind."""
    if len(text) <= limit:
        return text
    return _safe_cut(text[: limit - 1]).rstrip() + "…"


def _safe_cut(piece: str) -> str:
    """Shorten a cut piece so it doesn't end inside an entity or an unclosed <...> link."""
    if (entity := _OPEN_ENTITY.search(piece)) is not None:
        piece = piece[: entity.start()]
    opened = piece.rfind("<")
    if opened > piece.rfind(">") and opened > 0:
        piece = piece[:opened]
    return piece


def _header_block(header: str) -> dict[str, Any]:
    text = _truncate(strip_markup(header).strip(), HEADER_MAX)
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}


def _section_blocks(section: Section) -> list[dict[str, Any]]:
    """One section as blocks: text split at lines to fit 3000, fields 10 to a block after the text."""
    texts = _section_texts(section.title or "", section.text)
    fields = [_field(label, value) for label, value in section.fields if label or value]
    field_groups = [fields[i : i + FIELDS_MAX] for i in range(0, len(fields), FIELDS_MAX)]
    if not texts and not field_groups:
        return []
    blocks: list[dict[str, Any]] = [_mrkdwn_section(text) for text in texts]
    for group in field_groups:
        if blocks and "fields" not in blocks[-1]:
            blocks[-1]["fields"] = group
        else:
            blocks.append({"type": "section", "fields": group})
    return blocks


@lru_cache(maxsize=SECTION_CACHE)
def _section_texts(title: str, text: str) -> tuple[str, ...]:
    """A section's title and text as mrkdwn pieces of at most 3000 characters. The same stage guidance is
    shown for every deal at that stage, so the conversion (escaping, links, bold, bullets, splitting) is
    done once per distinct section and remembered; the pieces are strings, so the blocks built from them
    are new for every message."""
    heading = f"*{_escape(_truncate(strip_markup(title).strip(), TITLE_MAX))}*" if title else ""
    return tuple(_split_lines(to_mrkdwn(text).strip("\n"), SECTION_TEXT_MAX, first_prefix=heading))


def _mrkdwn_section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _field(label: str, value: str) -> dict[str, str]:
    label_text = f"*{_escape(strip_markup(label).strip())}*" if label.strip() else ""
    text = "\n".join(part for part in (label_text, to_mrkdwn(value)) if part)
    return {"type": "mrkdwn", "text": _clip(text, FIELD_TEXT_MAX)}


def _split_lines(text: str, limit: int, *, first_prefix: str = "") -> list[str]:
    """Pack whole lines into pieces of at most `limit`; only a line longer than that is cut, at a space
    when one is near. The first piece starts with `first_prefix` (the section title) on its own line."""
    pieces: list[str] = []
    current = first_prefix
    for line in text.split("\n") if text else []:
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= limit:
            current = candidate
            continue
        if current.strip():
            pieces.append(current)
        current = ""
        while len(line) > limit:
            cut = _safe_cut(line[:limit]) or line[:limit]
            space = cut.rfind(" ")
            cut = cut[: space + 1] if space > limit // 2 else cut
            pieces.append(cut)
            line = line[len(cut) :]
        current = line
    if current.strip():
        pieces.append(current)
    return [piece.strip("\n") for piece in pieces]


def _actions_blocks(buttons: tuple[Button, ...]) -> list[dict[str, Any]]:
    elements = [e for i, button in enumerate(buttons) if (e := _button(i, button)) is not None]
    return [
        {"type": "actions", "elements": elements[i : i + BUTTONS_PER_BLOCK]}
        for i in range(0, len(elements), BUTTONS_PER_BLOCK)
    ]


def _button(index: int, button: Button) -> dict[str, Any] | None:
    """A Slack button whose value carries the neutral (action, value); None when that can't fit."""
    value = json.dumps({"a": button.action, "v": button.value}, ensure_ascii=False, separators=(",", ":"))
    if len(value) > BUTTON_VALUE_MAX:
        log.warning(
            "dropping button %r: its value is %d characters (Slack allows %d)",
            button.label,
            len(value),
            BUTTON_VALUE_MAX,
        )
        return None
    label = _truncate(button.label.strip() or button.action, BUTTON_TEXT_MAX)
    element: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "action_id": f"bot:{index}",
        "value": value,
    }
    if button.style in ("primary", "danger"):
        element["style"] = button.style
    return element


def _chunk(blocks: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [blocks[i : i + MAX_BLOCKS] for i in range(0, len(blocks), MAX_BLOCKS)]


MODAL_CALLBACK = "bot-form"
MODAL_TEXT_LIMIT = 24  # modal title, submit and close labels
OPTION_TEXT_LIMIT = 75  # checkbox option text and description
MAX_CHECKBOX_OPTIONS = 10
VIEW_ERROR_LIMIT = 300  # ours: an error under an input should be a sentence or two


def to_modal(reply: Reply, channel: str | None) -> dict[str, Any]:
    """A form reply as a modal view for views.open; submitting it comes back as a view_submission."""
    form = reply.form
    if form is None:
        raise ValueError("reply has no form")
    intro = [
        b for b in to_messages(replace(reply, buttons=(), form=None))[0]["blocks"] if b["type"] != "header"
    ]
    metadata = json.dumps({"a": form.action, "v": form.value, "c": channel or ""}, separators=(",", ":"))
    return {
        "type": "modal",
        "callback_id": MODAL_CALLBACK,
        "title": {"type": "plain_text", "text": _truncate(form.title, MODAL_TEXT_LIMIT)},
        "submit": {"type": "plain_text", "text": _truncate(form.submit_label, MODAL_TEXT_LIMIT)},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": metadata,
        "blocks": intro[:20] + [_input_block(f) for f in form.fields],
    }


def _input_block(field: FormField) -> dict[str, Any]:
    if field.kind == "checkboxes":
        options = [_option(value, label) for value, label in field.options[:MAX_CHECKBOX_OPTIONS]]
        element: dict[str, Any] = {"type": "checkboxes", "action_id": field.id, "options": options}
    elif field.kind == "choice":
        options = [_option(value, label, description=False) for value, label in field.options[:100]]
        element = {"type": "static_select", "action_id": field.id, "options": options}
    else:
        element = {
            "type": "plain_text_input",
            "action_id": field.id,
            "multiline": field.multiline,
            "max_length": field.max_length,
        }
        if field.placeholder:
            element["placeholder"] = {"type": "plain_text", "text": _truncate(field.placeholder, 150)}
    return {
        "type": "input",
        "block_id": field.id,
        "optional": field.optional,
        "label": {"type": "plain_text", "text": _truncate(field.label, 2000)},
        "element": element,
    }


def _option(value: str, label: str, description: bool = True) -> dict[str, Any]:
    """Long labels (exit criteria are sentences) continue in the option's description."""
    option: dict[str, Any] = {
        "text": {"type": "plain_text", "text": _truncate(label, OPTION_TEXT_LIMIT)},
        "value": value,
    }
    if description and len(label) > OPTION_TEXT_LIMIT:
        cut = label[: OPTION_TEXT_LIMIT - 1].rsplit(" ", 1)[0]
        option["text"]["text"] = cut + " …"
        option["description"] = {
            "type": "plain_text",
            "text": _truncate("… " + label[len(cut) :].strip(), OPTION_TEXT_LIMIT),
        }
    return option


def view_errors(form: Form) -> dict[str, str]:
    """A form's field errors as a view_submission ack's `errors` (by block id, which is the field id)."""
    return {field_id: _truncate(message, VIEW_ERROR_LIMIT) for field_id, message in form.errors}


def form_submission(view: dict[str, Any]) -> tuple[Click, str, dict[str, str | list[str]]] | None:
    """(click, channel, answers) from a view_submission's view, or None if it is not our form."""
    try:
        metadata = json.loads(view.get("private_metadata") or "{}")
    except json.JSONDecodeError:
        return None
    click = Click.parse(metadata.get("a"), metadata.get("v", "")) if isinstance(metadata, dict) else None
    if click is None:
        return None
    answers: dict[str, str | list[str]] = {}
    for block_id, actions in ((view.get("state") or {}).get("values") or {}).items():
        for element in actions.values():
            if element.get("type") == "checkboxes":
                answers[block_id] = [o.get("value", "") for o in element.get("selected_options") or []]
            elif element.get("type") == "static_select":
                answers[block_id] = (element.get("selected_option") or {}).get("value", "")
            else:
                answers[block_id] = element.get("value") or ""
    return click, str(metadata.get("c") or ""), answers
