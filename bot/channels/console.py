"""The terminal channel: `python -m bot chat`. Replies as readable text; buttons become numbered choices."""

from __future__ import annotations

import contextlib
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


def _inline(text: str, bold) -> str:
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
    """A form being filled in, one question per line typed (a field of several values takes one line each,
    until an empty line). A form sent back to be fixed keeps its answers and asks only what was wrong."""

    form: Form
    answers: dict[str, str | list[str]] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)  # indexes of the fields still to ask, in order
    position: int = 0
    lines: list[str] | None = None  # the values of a several-values field, while they are being typed

    @classmethod
    def start(cls, form: Form) -> PendingForm:
        answers = {k: list(v) if isinstance(v, tuple) else v for k, v in form.answers}
        wrong = {k for k, _ in form.errors}
        order = [i for i, f in enumerate(form.fields) if not wrong or f.id in wrong]
        return cls(form, answers, order)

    @property
    def question(self) -> FormField:
        return self.form.fields[self.order[self.position]]


@dataclass
class ConsoleConversation:
    """One person chatting in the terminal; remembers the last buttons so "2" means the second choice,
    and walks through a form one question at a time ("cancel" leaves it)."""

    ctx: AppContext
    workspace_id: int
    person_id: int
    last_buttons: tuple[Button, ...] = field(default=())
    pending: PendingForm | None = None

    @property
    def in_form(self) -> bool:
        """A form is being filled in: an empty line is an answer (skip, or end of a list), not nothing."""
        return self.pending is not None

    @property
    def collecting_lines(self) -> bool:
        return self.pending is not None and self.pending.lines is not None

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
        self.pending = PendingForm.start(reply.form)
        if not self.pending.order:
            self.pending = None
            return replace(reply, buttons=())
        problem = dict(reply.form.errors).get(self.pending.question.id, "")
        return replace(reply, sections=reply.sections + (self._question(problem),), buttons=())

    def _question(self, problem: str = "") -> Section:
        assert self.pending is not None
        pending = self.pending
        question = pending.question
        index = pending.order[pending.position]
        lines = [f"{problem}\n" if problem else "", question.label]
        text = "".join(lines)
        if question.optional:
            text += " (optional: press Enter to skip)"
        previous = pending.answers.get(question.id)
        if previous and problem:
            shown = "; ".join(previous) if isinstance(previous, list) else previous.replace("\n", "; ")
            text += f"\nYou wrote: {shown[:200]}"
        if question.kind in ("checkboxes", "choice"):
            text += "\n" + "\n".join(f"  [{i}] {label}" for i, (_, label) in enumerate(question.options, 1))
            text += (
                "\nType the numbers, separated by commas."
                if question.kind == "checkboxes"
                else "\nType a number."
            )
        elif question.many:
            text += "\nOne per line; an empty line ends the list."
        text += ' Say "cancel" to stop.' if pending.position == 0 else ""
        return Section(text, f"{pending.form.title}: question {index + 1} of {len(pending.form.fields)}")

    def _answer(self, text: str) -> Reply:
        pending = self.pending
        assert pending is not None
        if text.strip().lower() == "cancel":
            self.pending = None
            return Reply(
                "Cancelled: nothing was recorded.", sections=(Section("Cancelled: nothing was recorded."),)
            )
        question = pending.question
        if question.many and question.kind == "text":
            if pending.lines is None:
                pending.lines = []
            if text.strip():
                pending.lines.append(text.strip())
                return Reply("", sections=())  # keep reading lines, quietly
            text = "\n".join(pending.lines)
            pending.lines = None
        value, problem = _parse_answer(question, text.strip())
        if problem:
            return Reply(problem, sections=(self._question(problem),))
        pending.answers[question.id] = value
        pending.position += 1
        if pending.position < len(pending.order):
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
    """The answer to one question, or why it cannot be taken (then the question is asked again). An
    optional question is skipped with Enter (or a lone "-"): it is left empty, never stored as "-"."""
    if question.optional and text in ("", "-"):
        return ([] if question.kind == "checkboxes" else ""), ""
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
    """Read one message per line until EOF (Ctrl-D) or "quit"; interactive terminals get a prompt with line
    editing and history (the standard `readline`), and colour. In a form, an empty line is an answer (it
    skips an optional question or ends a list); at the end of the input a list being typed is finished."""
    interactive = stdin.isatty() and stdout.isatty()
    read = _line_reader(stdin, stdout, interactive)
    if interactive:
        stdout.write(
            f'Chatting as {name}. Try "what\'s next for Acme?" or "help"; "quit" (or Ctrl-D) to leave.\n\n'
        )
    while True:
        prompt = "... " if conversation.collecting_lines else ("form> " if conversation.in_form else "you> ")
        line = read(prompt)
        if line is None:
            if conversation.collecting_lines:  # the input ended inside a list: that ends the list
                _print(conversation.say(""), stdout, interactive)
            if interactive:
                stdout.write("\n")
            break
        text = line.strip()
        if not text and not conversation.in_form:
            continue
        if text.lower() in QUIT:
            break
        collecting = conversation.collecting_lines or (
            conversation.pending is not None and conversation.pending.question.many
        )
        reply = conversation.say(text)
        if not interactive:
            stdout.write(f"> {trim_for_display(text)}\n")
        if collecting and conversation.collecting_lines:
            continue  # one more item of a list: nothing to say yet
        _print(reply, stdout, interactive)


def _print(reply: Reply, stdout: TextIO, interactive: bool) -> None:
    stdout.write(to_text(reply, color=interactive) + "\n\n")
    stdout.flush()


ECHO_LIMIT = 300


def trim_for_display(text: str, limit: int = ECHO_LIMIT) -> str:
    """What someone typed, shown back at most `limit` characters long (a pasted page is not echoed whole)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit].rstrip()}… ({len(text):,} characters in all)"


def _line_reader(stdin: TextIO, stdout: TextIO, interactive: bool):
    """A function returning the next line typed (None at the end of the input or on Ctrl-D / Ctrl-C).

    A terminal reads through `input()` with `readline` loaded, so arrow keys edit the line and recall
    earlier ones; the history lives in memory for the session only."""
    if interactive and stdin is sys.stdin and stdout is sys.stdout:
        with contextlib.suppress(ImportError):  # Windows without pyreadline: plain input still works
            import readline  # noqa: F401 - loading it gives input() line editing and history

        def from_terminal(prompt: str) -> str | None:
            try:
                return input(prompt)
            except (EOFError, KeyboardInterrupt):
                return None

        return from_terminal

    def from_stream(prompt: str) -> str | None:
        if interactive:
            stdout.write(prompt)
            stdout.flush()
        line = stdin.readline()
        return line.rstrip("\n") if line else None

    return from_stream


class LocalSender:
    """Delivers outbox messages of the local (terminal) workspace by printing them, addressed by name."""

    def __init__(self, stream: TextIO = sys.stdout):
        self._stream = stream

    def resolve_target(self, message, person):
        return {**message.target, "to": f"{person.name} <{person.email}>" if person else "everyone"}

    def send(self, message, reply: Reply) -> str | None:
        if reply.image is not None:  # a terminal shows no picture: the chart is saved, and its path given
            path = save_image(replace(reply.image, filename=f"outbox-{message.id}-{reply.image.filename}"))
            note = f"Chart saved to {path}"
            reply = replace(reply, context=f"{reply.context} {note}" if reply.context else note)
        self._stream.write(
            f"--- to {message.target.get('to', 'everyone')} ({message.kind})\n{to_text(reply)}\n\n"
        )
        self._stream.flush()
        return f"local-{message.id}"

    def find_sent(self, message) -> str | None:
        return None

    def rate_key(self, message) -> tuple[str, float]:
        return "local", 0.0
