"""The terminal channel: `python -m bot chat`. Replies as readable text; buttons become numbered choices."""

from __future__ import annotations

import re
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from bot.context import AppContext
from bot.messages import Button, Click, Form, FormField, Image, Reply, Request, Section
from bot.router import handle

QUIT = {"quit", "exit", "bye", ":q"}


def to_text(reply: Reply, *, color: bool = False, width: int = 100) -> str:
    """Render a reply for a terminal; `color` adds ANSI bold for headers and **bold** text."""
    bold = (lambda s: f"\033[1m{s}\033[0m") if color else (lambda s: s)
    dim = (lambda s: f"\033[2m{s}\033[0m") if color else (lambda s: s)
    out: list[str] = []
    if reply.header:
        out += [bold(reply.header), "=" * min(len(reply.header), width)]
    for section in reply.sections:
        if section.title:
            out += ["", bold(section.title)]
        for line in section.text.splitlines():
            out.append(_wrap(_inline(line, bold), width))
        for label, value in section.fields:
            out.append(f"  {label}: {_inline(value, bold)}")
    if reply.buttons:
        out.append("")
        out += [f"  [{i}] {button.label}" for i, button in enumerate(reply.buttons, 1)]
        out.append(dim("  (type a number to choose)"))
    if reply.context:
        out += ["", dim(_inline(reply.context, lambda s: s))]
    return "\n".join(out).strip("\n")


def _inline(text: str, bold) -> str:  # type: ignore[no-untyped-def]
    text = re.sub(r"\[([^\]]+)\]\((\S+?)\)", r"\1 <\2>", text)
    text = re.sub(r"\*\*(.+?)\*\*", lambda m: bold(m.group(1)), text)
    return re.sub(r"(?<!\w)_(.+?)_(?!\w)", r"\1", text)


def _wrap(line: str, width: int) -> str:
    if len(line) <= width:
        return line  # (colour codes count as width, so a coloured line wraps a little early, never late)
    indent = "  " if line.startswith("- ") else ("      " if line.startswith("  [") else "")
    return textwrap.fill(
        line, width=width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False
    )


@dataclass
class PendingForm:
    """A form being filled in, one question per line typed."""

    form: Form
    answers: dict[str, str | list[str]] = field(default_factory=dict)
    index: int = 0


@dataclass
class ConsoleConversation:
    """One person chatting in the terminal; remembers the last buttons so "2" means the second choice,
    and walks through a form one question at a time ("cancel" leaves it)."""

    ctx: AppContext
    workspace_id: int
    person_id: int
    last_buttons: tuple[Button, ...] = field(default=())
    pending: PendingForm | None = None

    def say(self, text: str) -> Reply:
        if self.pending is not None:
            return self._answer(text)
        choice = text.strip()
        if choice.isdigit() and 1 <= int(choice) <= len(self.last_buttons):
            button = self.last_buttons[int(choice) - 1]
            request = Request(self.workspace_id, self.person_id, click=Click(button.action, button.value))
        else:
            request = Request(self.workspace_id, self.person_id, text=text, channel_id="console")
        return self._show(handle(self.ctx, request))

    def _show(self, reply: Reply) -> Reply:
        self.last_buttons = reply.buttons
        if reply.image is not None:
            path = save_image(reply.image)
            note = f"Chart saved to {path}"
            reply = replace(reply, context=f"{reply.context} {note}" if reply.context else note)
        if reply.form is None:
            return reply
        self.pending = PendingForm(reply.form)
        return replace(reply, sections=reply.sections + (self._question(),), buttons=())

    def _question(self, problem: str = "") -> Section:
        assert self.pending is not None
        form, index = self.pending.form, self.pending.index
        question = form.fields[index]
        lines = [f"{problem} " if problem else "", question.label, " (optional)" if question.optional else ""]
        text = "".join(lines)
        if question.kind in ("checkboxes", "choice"):
            text += "\n" + "\n".join(f"  [{i}] {label}" for i, (_, label) in enumerate(question.options, 1))
            text += (
                "\nType the numbers, separated by commas."
                if question.kind == "checkboxes"
                else "\nType a number."
            )
        text += ' Say "cancel" to stop.' if index == 0 else ""
        return Section(text, f"{form.title}: question {index + 1} of {len(form.fields)}")

    def _answer(self, text: str) -> Reply:
        pending = self.pending
        assert pending is not None
        if text.strip().lower() == "cancel":
            self.pending = None
            return Reply(
                "Cancelled: nothing was recorded.", sections=(Section("Cancelled: nothing was recorded."),)
            )
        question = pending.form.fields[pending.index]
        value, problem = _parse_answer(question, text.strip())
        if problem:
            return Reply(problem, sections=(self._question(problem),))
        pending.answers[question.id] = value
        pending.index += 1
        if pending.index < len(pending.form.fields):
            return Reply(question.label, sections=(self._question(),))
        self.pending = None
        click = Click(pending.form.action, pending.form.value)
        return self._show(
            handle(self.ctx, Request(self.workspace_id, self.person_id, click=click, form=pending.answers))
        )


def save_image(image: Image) -> Path:
    """A terminal cannot show a picture: keep it in the temp folder and say where."""
    folder = Path(tempfile.gettempdir()) / "enablement-charts"
    folder.mkdir(exist_ok=True)
    path = folder / image.filename
    path.write_bytes(image.png)
    return path


def _parse_answer(question: FormField, text: str) -> tuple[str | list[str], str]:
    """The answer to one question, or why it cannot be taken (then the question is asked again)."""
    if not text and not question.optional:
        return "", "This one is needed."
    if question.kind == "choice" and text:
        if not text.isdigit() or not 1 <= int(text) <= len(question.options):
            return "", f"Type one number from 1 to {len(question.options)}."
        return question.options[int(text) - 1][0], ""
    if question.kind == "checkboxes":
        numbers = [n for n in re.split(r"[,\s]+", text) if n]
        if not all(n.isdigit() and 1 <= int(n) <= len(question.options) for n in numbers):
            return [], f"Type numbers from 1 to {len(question.options)}."
        return [question.options[int(n) - 1][0] for n in numbers], ""
    if len(text) > question.max_length:
        return "", f"That is {len(text)} characters; the limit is {question.max_length}."
    return text, ""


def run(
    conversation: ConsoleConversation, name: str, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout
) -> None:
    """Read one message per line until EOF or "quit"; interactive terminals get a prompt and colour."""
    interactive = stdin.isatty() and stdout.isatty()
    if interactive:
        stdout.write(f'Chatting as {name}. Try "what\'s next for Acme?" or "help"; "quit" to leave.\n\n')
    while True:
        if interactive:
            stdout.write("you> ")
            stdout.flush()
        line = stdin.readline()
        if not line:
            break
        text = line.strip()
        if not text:
            continue
        if text.lower() in QUIT:
            break
        reply = conversation.say(text)
        if not interactive:
            stdout.write(f"> {text}\n")
        stdout.write(to_text(reply, color=interactive) + "\n\n")
        stdout.flush()


class LocalSender:
    """Delivers outbox messages of the local (terminal) workspace by printing them, addressed by name."""

    def __init__(self, stream: TextIO = sys.stdout):
        self._stream = stream

    def resolve_target(self, message, person):  # type: ignore[no-untyped-def]
        return {**message.target, "to": f"{person.name} <{person.email}>" if person else "everyone"}

    def send(self, message, reply: Reply) -> str | None:  # type: ignore[no-untyped-def]
        self._stream.write(
            f"--- to {message.target.get('to', 'everyone')} ({message.kind})\n{to_text(reply)}\n\n"
        )
        self._stream.flush()
        return f"local-{message.id}"

    def find_sent(self, message) -> str | None:  # type: ignore[no-untyped-def]
        return None

    def rate_key(self, message) -> tuple[str, float]:  # type: ignore[no-untyped-def]
        return "local", 0.0
