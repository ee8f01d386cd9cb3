"""Jinja2 templates to neutral Replies.

Wording lives in `handlers/templates/*.j2`. A template renders a small document:

    # Header                     the message header (first one only)
    text                         a section; the lines before any "##" form an untitled first section
    ## Section title             starts a titled section
    Label:: value                a field (label/value pair) of the current section
    > footnote                   context shown small at the end

Short replies are macros in one file per capability, `handlers/templates/replies/<capability>.j2`, named
"replies/<capability>.j2#<macro>" (the macro's arguments are the data the reply shows); a longer reply has a
file of its own.

Buttons are not written in templates: they carry action ids and values, so handlers add them.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bot.messages import Button, Form, Reply, ReplyDraft, Section
from playbooks.schema import Stage

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "handlers" / "templates"
FIELD = re.compile(r"^([^:\s][^:]{0,60})::\s?(.*)$")
STAGE_BODIES = 4096  # stage bodies cached before the cache starts again (a playbook reload leaves old ones)


class Renderer:
    """Owns the Jinja2 environment; one per process, passed around in the AppContext."""

    def __init__(self, folder: Path = TEMPLATES_DIR):
        self.env = Environment(
            loader=FileSystemLoader(str(folder)),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            autoescape=False,  # output is chat markup, not HTML; channels escape for their platform
            auto_reload=False,  # templates ship with the code: no stat() of each file on every render
            cache_size=-1,  # keep every template compiled (there are a few dozen)
        )
        self.env.filters["money"] = money
        self.env.filters["plural"] = plural
        # (id of the Stage, full, focus, confirmed criteria of that stage) -> (the Stage, its rendered body)
        self._stage_bodies: dict[tuple[Any, ...], tuple[Stage, str]] = {}

    def stage_body(
        self, stage: Stage, *, confirmed: set[str] | None, focus: str | None = None, full: bool = False
    ) -> str:
        """The stage guidance of `_stage_body.j2` for a stage, rendered once per playbook version, stage and
        the set of its exit criteria confirmed (what the text depends on), not once per request.

        A playbook edit loads new Stage objects, so an entry is only reused for the very object it was
        rendered from (kept in the entry, so its id cannot be reused by another object meanwhile)."""
        shown = (
            None if confirmed is None else frozenset(c.id for c in stage.exit_criteria if c.id in confirmed)
        )
        key = (id(stage), full, focus, shown)
        cached = self._stage_bodies.get(key)
        if cached is not None and cached[0] is stage:
            return cached[1]
        if len(self._stage_bodies) >= STAGE_BODIES:
            self._stage_bodies.clear()
        template = self.env.get_template("_stage_body.j2")
        body = template.render(stage=stage, confirmed=shown, focus=focus, full=full)
        self._stage_bodies[key] = (stage, body)
        return body

    def render(
        self,
        template: str,
        *,
        buttons: tuple[Button, ...] = (),
        kind: str = "answer",
        form: Form | None = None,
        **values: Any,
    ) -> Reply:
        name, _, macro_name = template.partition("#")
        loaded = self.env.get_template(name)
        if macro_name:
            macro = getattr(loaded.module, macro_name, None)
            if macro is None:
                raise LookupError(f"{name} has no macro {macro_name!r}")
            if "me" not in macro.arguments:  # every turn offers the person talking; few replies name them
                values.pop("me", None)
            text = str(macro(**values))
        else:
            text = loaded.render(**values)
        return replace(parse(text, buttons=buttons, kind=kind), form=form)


def parse(text: str, *, buttons: tuple[Button, ...] = (), kind: str = "answer") -> Reply:
    """Split rendered template text into header, sections, fields and footnote."""
    draft = ReplyDraft()
    title: str | None = None
    body: list[str] = []
    fields: list[tuple[str, str]] = []

    def close_section() -> None:
        content = _tidy("\n".join(body))
        if content or fields or title:
            draft.sections.append(Section(content, title, tuple(fields)))

    for raw in text.splitlines():
        line = raw.rstrip()
        if line.startswith("# ") and draft.header is None and not draft.sections and not body:
            draft.header = line[2:].strip()
        elif line.startswith("## "):
            close_section()
            title, body, fields = line[3:].strip(), [], []
        elif line.startswith("> ") or line == ">":
            draft.context.append(line[2:].strip())
        elif (match := FIELD.match(line)) and match.group(2).strip():
            fields.append((match.group(1).strip(), match.group(2).strip()))
        else:
            body.append(line)
    close_section()
    summary = draft.header or next((s.text.splitlines()[0] for s in draft.sections if s.text), "")
    return Reply(
        text=strip_markup(summary),
        header=draft.header,
        sections=tuple(draft.sections),
        buttons=buttons,
        context=" ".join(draft.context) or None,
        kind=kind,
    )


def _tidy(text: str) -> str:
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def strip_markup(text: str) -> str:
    """Markup to plain text: **b** -> b, [t](u) -> t."""
    text = re.sub(r"\[([^\]]+)\]\((\S+?)\)", r"\1", text)
    return re.sub(r"\*\*(.+?)\*\*|(?<!\w)_(.+?)_(?!\w)", lambda m: m.group(1) or m.group(2), text)


def money(value: Any) -> str:
    if value is None:
        return "not set"
    amount = float(value)
    return f"${amount:,.0f}" if amount == int(amount) else f"${amount:,.2f}"


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count} {word}"
