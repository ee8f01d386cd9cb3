"""Platform-neutral requests and replies: what handlers take and return, and channels translate.

A Reply is a header, sections (light markup text plus label/value fields), buttons and a footnote. The
text markup is a small Markdown subset that every channel can render: **bold**, _italic_,
[title](https://url), and lines starting with "- " as bullets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

ButtonStyle = Literal["primary", "danger"] | None


@dataclass(frozen=True)
class Click:
    """A button press: the button's action id and its value, exactly as the reply defined them."""

    action: str
    value: str = ""

    @classmethod
    def parse(cls, action: Any, value: Any = "") -> Click | None:
        """A click from untrusted platform data: a non-empty text action and a text value, else None."""
        if not isinstance(action, str) or not action or not isinstance(value, str):
            return None
        return cls(action, value)


@dataclass(frozen=True)
class Request:
    """Who said or clicked what, where. Channels build it; handlers never see platform payloads."""

    workspace_id: int
    person_id: int
    text: str = ""
    click: Click | None = None
    channel_id: str | None = None  # the conversation it came from (a linked channel resolves "this deal")
    shared: bool = False  # said in a channel or group others read, not a direct message
    form: dict[str, str | list[str]] | None = None  # a submitted Form's values, by field id (with `click`)
    # The platform's kind of conversation when it matters (Teams: "personal", "groupChat" or "channel").
    conversation_type: str | None = None


@dataclass(frozen=True)
class Button:
    label: str
    action: str
    value: str = ""
    style: ButtonStyle = None
    # One of a question's answers: a channel whose buttons are short may list the answers, numbered,
    # in the message and label the buttons with the numbers alone.
    choice: bool = False


@dataclass(frozen=True)
class Section:
    text: str = ""
    title: str | None = None
    fields: tuple[tuple[str, str], ...] = ()


FieldKind = Literal["checkboxes", "choice", "text"]


@dataclass(frozen=True)
class FormField:
    """One input of a form: several checkboxes, one choice of several, or a line (or box) of text."""

    id: str
    label: str
    kind: FieldKind
    options: tuple[tuple[str, str], ...] = ()  # (value, label) for checkboxes and choice
    optional: bool = True
    multiline: bool = False
    max_length: int = 200
    placeholder: str = ""
    # Several values, one per line (the terminal reads lines until an empty one; chat platforms show a box).
    many: bool = False


@dataclass(frozen=True)
class Form:
    """Questions to fill in and submit at once (a Slack modal, a Teams card with inputs, terminal prompts).

    Submitting sends Click(action, value) with the answers in Request.form.
    """

    title: str
    submit_label: str
    action: str
    value: str
    fields: tuple[FormField, ...]
    # A submission sent back to be fixed: the answers given so far (shown filled in) and, per field id,
    # what is wrong with it (Slack: response_action errors; Teams: the card again; terminal: asked again).
    answers: tuple[tuple[str, str | tuple[str, ...]], ...] = ()
    errors: tuple[tuple[str, str], ...] = ()

    def again(self, answers: dict[str, str | list[str]] | None, errors: dict[str, str]) -> Form:
        """This form, to be submitted again: filled in with `answers`, each field of `errors` marked."""
        known = {f.id for f in self.fields}
        kept = tuple(
            (k, tuple(v) if isinstance(v, list) else str(v)) for k, v in (answers or {}).items() if k in known
        )
        return replace(self, answers=kept, errors=tuple((k, v) for k, v in errors.items() if k in known))


@dataclass(frozen=True)
class Image:
    """A picture sent with a reply (a chart): PNG bytes, a text alternative, and a file name."""

    png: bytes
    alt: str
    filename: str
    # How to draw it again (JSON): the outbox keeps this, never the PNG, and redraws the picture at send time.
    recipe: dict[str, Any] | None = None


@dataclass(frozen=True)
class Reply:
    """One message from the bot. `text` is a plain one-line summary (notifications, fallbacks)."""

    text: str
    header: str | None = None
    sections: tuple[Section, ...] = ()
    buttons: tuple[Button, ...] = ()
    context: str | None = None
    kind: str = "answer"  # answer, choice, error, refusal, announcement (for everyone in the channel)
    form: Form | None = None  # shown after the message (Slack opens it as a modal when it can)
    image: Image | None = None  # sent after the message

    def with_buttons(self, *buttons: Button) -> Reply:
        return replace(self, buttons=self.buttons + buttons)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, stored in the outbox and read back by the drainer (no forms or images there)."""
        data = asdict(self)
        data.pop("form")
        data.pop("image")
        if self.image is not None and self.image.recipe is not None:
            data["chart"] = self.image.recipe  # a few numbers; `handlers.charts.draw` makes the PNG again
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reply:
        return cls(
            text=data["text"],
            header=data.get("header"),
            sections=tuple(
                Section(s.get("text", ""), s.get("title"), tuple(tuple(f) for f in s.get("fields", ())))
                for s in data.get("sections", ())
            ),
            buttons=tuple(Button(**b) for b in data.get("buttons", ())),
            context=data.get("context"),
            kind=data.get("kind", "answer"),
        )  # forms are not sent proactively, so the outbox never stores one

    def plain_text(self) -> str:
        """Everything the reply says, as one string (search in tests, logs, fallbacks)."""
        parts = [self.header or ""]
        for section in self.sections:
            parts += [section.title or "", section.text, *(f"{k}: {v}" for k, v in section.fields)]
        parts += [b.label for b in self.buttons] + [self.context or ""]
        return "\n".join(p for p in parts if p)


@dataclass
class ReplyDraft:
    """Mutable builder the template parser fills in."""

    header: str | None = None
    sections: list[Section] = field(default_factory=list)
    context: list[str] = field(default_factory=list)
