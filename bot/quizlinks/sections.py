"""A playbook section a quiz question tests: its reference (`PLAYBOOK/STAGE[/PART]`), its words and their
fingerprint (a hash of the section's text, whitespace folded).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from playbooks.schema import Playbook, Stage

# One item of a stage, named: the part's key -> (the attribute holding the items, what names an item, label)
ITEMS = {
    "exit_criterion": ("exit_criteria", "id", "exit criterion"),
    "objection": ("objections", "objection", "objection"),
    "talk_track": ("talk_tracks", "title", "talk track"),
}
# A whole kind of section of a stage -> its label
KINDS = {
    "summary": "summary",
    "objectives": "objectives",
    "tasks": "tasks",
    "exit_criteria": "exit criteria",
    "questions": "questions to ask",
    "coaching_questions": "coaching questions",
    "buyer_roles": "buyer roles",
    "talk_tracks": "talk tracks",
    "objections": "objections",
    "content": "content",
}
MAPPING_KEYS = ("playbook", "stage", *ITEMS, "section")
MISSING = "missing"  # the fingerprint seen when the section is no longer in the playbooks


def fold(text: str) -> str:
    return " ".join(str(text).split())


def key_of(text: str) -> str:
    return fold(text).casefold()


@dataclass(frozen=True)
class SectionRef:
    """A section of a playbook: a stage, one item of it (`part` in ITEMS, with `name`) or a kind (KINDS)."""

    playbook: str
    stage: str
    part: str | None = None
    name: str | None = None

    @property
    def key(self) -> str:
        tail = (
            "" if self.part is None else f"/{self.part}" + (f":{self.name}" if self.name is not None else "")
        )
        return f"{self.playbook}/{self.stage}{tail}"

    @classmethod
    def from_key(cls, key: str) -> SectionRef:
        playbook, _, rest = key.partition("/")
        stage, _, part = rest.partition("/")
        kind, colon, name = part.partition(":")
        return cls(playbook, stage, kind or None, name if colon else None)


@dataclass(frozen=True)
class Section:
    """A reference resolved against loaded playbooks."""

    ref: SectionRef
    playbook: Playbook
    stage: Stage
    content: Any  # what the fingerprint is taken of

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.content)

    @property
    def label(self) -> str:
        """ "Evaluation · exit criterion fit-validated" (the stage's name; the part a rep would recognise)."""
        ref = self.ref
        if ref.part is None:
            return f"{self.stage.name} stage"
        if ref.part in ITEMS:
            return f"{self.stage.name} · {ITEMS[ref.part][2]} “{ref.name}”"
        return f"{self.stage.name} · {KINDS[ref.part]}"

    @property
    def text(self) -> str:
        """The section's words, short enough to quote to a rep (the item, or the kind's first entries)."""
        content = self.content
        if self.ref.part == "exit_criterion":
            return content["text"]
        if self.ref.part == "objection":
            return f"“{content['objection']}”: {content['response']}"
        if self.ref.part == "talk_track":
            return content["text"]
        if self.ref.part == "summary" or self.ref.part is None:
            return self.stage.summary or ""
        lines = [_entry_text(entry) for entry in content]
        return "; ".join(lines[:3]) + (" …" if len(lines) > 3 else "")


def _entry_text(entry: Any) -> str:
    if isinstance(entry, dict):
        return entry.get("text") or entry.get("objection") or entry.get("title") or ""
    return str(entry)


def fingerprint(content: Any) -> str:
    """A hash of a section's words: the same text (however the YAML wraps it) gives the same fingerprint."""
    blob = json.dumps(_folded(content), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _folded(value: Any) -> Any:
    if isinstance(value, str):
        return fold(value)
    if isinstance(value, dict):
        return {k: _folded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_folded(v) for v in value]
    return value


def item_content(model: Any) -> dict[str, Any]:
    """An objection, talk track, criterion or content item without its aliases (words to find it by)."""
    return model.model_dump(exclude={"aliases"})


def kind_content(stage: Stage, kind: str) -> Any:
    value = getattr(stage, kind)
    if isinstance(value, str):
        return value
    return [item_content(v) if hasattr(v, "model_dump") else v for v in value]


def stage_content(stage: Stage) -> dict[str, Any]:
    """The words of a whole stage (not its id, name, aliases or CRM mapping: labels, not content)."""
    return {kind: kind_content(stage, kind) for kind in KINDS}
