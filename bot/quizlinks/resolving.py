"""Reading a `tests:` value (a mapping or the compact string) and finding the section it names in the
loaded playbooks; a wrong one is a LinkError naming the nearest name.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from bot.quizlinks.sections import (
    ITEMS,
    KINDS,
    MAPPING_KEYS,
    Section,
    SectionRef,
    fold,
    item_content,
    key_of,
    kind_content,
    stage_content,
)
from playbooks.nearest import nearest as nearest_name
from playbooks.schema import Playbook

log = logging.getLogger(__name__)


class LinkError(ValueError):
    """A reference that does not name a section; `path` is the key inside `tests:` the problem is at."""

    def __init__(self, message: str, path: tuple[str, ...] = ()):
        super().__init__(message)
        self.path = path


def _did_you_mean(wanted: str, choices: Iterable[str], what: str) -> str:
    choices = list(choices)
    near = nearest_name(wanted, choices)
    if near is not None:
        return f"; did you mean '{near}'?"
    shown = ", ".join(f"'{c}'" for c in choices[:8]) + (", …" if len(choices) > 8 else "")
    return f"; {what}: {shown}" if choices else ""


def parse(value: Any) -> tuple[str | None, str, str | None, str | None, tuple[str, ...]]:
    """(playbook, stage, part, name, path of the part) from a `tests:` value: a mapping or the compact string."""
    if isinstance(value, dict):
        unknown = [k for k in value if k not in MAPPING_KEYS]
        if unknown:
            key = str(unknown[0])
            near = nearest_name(key, MAPPING_KEYS)
            hint = f"did you mean '{near}'? " if near else ""
            raise LinkError(f"unknown key '{key}': {hint}use {', '.join(MAPPING_KEYS)}", (key,))
        for key, item in value.items():
            if not isinstance(item, str) or not item.strip():
                raise LinkError(f"'{key}' must be a non-empty text", (str(key),))
        if "stage" not in value:
            raise LinkError(
                "name the stage: `stage: STAGE_ID` (with `playbook:` when several playbooks have it)"
            )
        parts = [k for k in (*ITEMS, "section") if k in value]
        if len(parts) > 1:
            raise LinkError(
                f"name one section, not {' and '.join(parts)}: a question tests one thing", (parts[1],)
            )
        playbook = value.get("playbook")
        stage = value["stage"].strip()
        if not parts:
            return (playbook.strip() if playbook else None), stage, None, None, ()
        named = parts[0]
        if named == "section":
            return (
                (playbook.strip() if playbook else None),
                stage,
                value["section"].strip(),
                None,
                ("section",),
            )
        return (playbook.strip() if playbook else None), stage, named, fold(value[named]), (named,)
    if not isinstance(value, str) or not value.strip():
        raise LinkError(
            "`tests:` is a section of a playbook: `PLAYBOOK/STAGE[/PART]` such as "
            "`enterprise/evaluation/exit_criterion:fit-validated`, or a mapping with stage: and one of "
            "exit_criterion:, objection:, talk_track:, section:"
        )
    head, colon, name = value.strip().partition(":")
    segments = [s.strip() for s in head.split("/")]
    if any(not s for s in segments) or len(segments) > 3:
        raise LinkError(
            f"'{value.strip()}' is not `PLAYBOOK/STAGE[/PART]` (e.g. `enterprise/evaluation/tasks` or "
            "`enterprise/evaluation/objection:We need more time to evaluate`)"
        )
    part: str | None = None
    if colon or len(segments) == 3 or (len(segments) == 2 and _looks_like_part(segments[1])):
        part = segments.pop()
    if colon and part is None:
        raise LinkError(f"'{value.strip()}': write the part before ':' (e.g. `evaluation/objection:…`)")
    if not segments:
        raise LinkError(f"'{value.strip()}': name the stage before the part (e.g. `evaluation/objection:…`)")
    playbook = segments[0] if len(segments) == 2 else None
    return playbook, segments[-1], part, (fold(name) if colon else None), ()


def _looks_like_part(segment: str) -> bool:
    normal = segment.replace("-", "_").replace(" ", "_").lower()
    return normal in ITEMS or normal in KINDS


def resolve_value(value: Any, playbooks: list[Playbook]) -> Section:
    """The section a `tests:` value names in `playbooks`; LinkError saying what is wrong and the nearest name."""
    playbook_id, stage_id, part, name, path = parse(value)
    if playbook_id is not None:
        playbook = next((p for p in playbooks if p.id == playbook_id), None)
        if playbook is None:
            raise LinkError(
                f"no playbook '{playbook_id}'"
                + _did_you_mean(playbook_id, [p.id for p in playbooks], "playbooks"),
                ("playbook",) if isinstance(value, dict) else (),
            )
        candidates = [playbook]
    else:
        candidates = list(playbooks)
    stage_path: tuple[str, ...] = ("stage",) if isinstance(value, dict) else ()
    found = [(p, s) for p in candidates for s in p.stages if s.id == stage_id]
    if not found:
        ids = [s.id for p in candidates for s in p.stages]
        where = f" in playbook '{playbook_id}'" if playbook_id else ""
        raise LinkError(f"no stage '{stage_id}'{where}" + _did_you_mean(stage_id, ids, "stages"), stage_path)
    if len(found) > 1:
        books = " and ".join(f"'{p.id}'" for p, _ in found)
        raise LinkError(
            f"stage '{stage_id}' is in playbooks {books}: say which, e.g. `{found[0][0].id}/{stage_id}` "
            f"or `playbook: {found[0][0].id}`",
            stage_path,
        )
    playbook, stage = found[0]
    if part is None:
        return Section(SectionRef(playbook.id, stage.id), playbook, stage, stage_content(stage))
    normal = part.replace("-", "_").replace(" ", "_").lower()
    if name is None:
        if normal in ITEMS:
            noun = ITEMS[normal][2]
            raise LinkError(f"name the {noun}: `{normal}:…`, or the whole kind `{ITEMS[normal][0]}`", path)
        if normal not in KINDS:
            raise LinkError(
                f"'{part}' is not a section of a stage" + _did_you_mean(part, [*KINDS, *ITEMS], "sections"),
                path,
            )
        content = kind_content(stage, normal)
        if not content:
            raise LinkError(f"stage '{stage.id}' of playbook '{playbook.id}' has no {KINDS[normal]}", path)
        return Section(SectionRef(playbook.id, stage.id, normal), playbook, stage, content)
    if normal not in ITEMS:
        raise LinkError(
            f"'{part}' names no item: use exit_criterion:ID, objection:WORDING or talk_track:TITLE"
            + (f"; did you mean '{nearest_name(part, ITEMS)}'?" if nearest_name(part, ITEMS) else ""),
            path,
        )
    attribute, naming, noun = ITEMS[normal]
    items = getattr(stage, attribute)
    match = next((i for i in items if key_of(getattr(i, naming)) == key_of(name)), None)
    if match is None:
        names = [getattr(i, naming) for i in items]
        if not names:
            raise LinkError(
                f"stage '{stage.id}' of playbook '{playbook.id}' has no {attribute.replace('_', ' ')}", path
            )
        raise LinkError(
            f"stage '{stage.id}' of playbook '{playbook.id}' has no {noun} '{name}'"
            + _did_you_mean(name, names, f"its {attribute.replace('_', ' ')}"),
            path,
        )
    exact = getattr(match, naming)
    return Section(SectionRef(playbook.id, stage.id, normal, exact), playbook, stage, item_content(match))


def resolve(ref: SectionRef | str, playbooks: list[Playbook]) -> Section | None:
    """The section a stored reference names, or None when the playbooks no longer have it."""
    ref = SectionRef.from_key(ref) if isinstance(ref, str) else ref
    playbook = next((p for p in playbooks if p.id == ref.playbook), None)
    stage = playbook.stage(ref.stage) if playbook else None
    if playbook is None or stage is None:
        return None
    if ref.part is None:
        return Section(ref, playbook, stage, stage_content(stage))
    if ref.part in KINDS:
        content = kind_content(stage, ref.part)
        return Section(ref, playbook, stage, content) if content else None
    if ref.part in ITEMS and ref.name is not None:
        attribute, naming, _ = ITEMS[ref.part]
        match = next(
            (i for i in getattr(stage, attribute) if key_of(getattr(i, naming)) == key_of(ref.name)), None
        )
        return Section(ref, playbook, stage, item_content(match)) if match is not None else None
    return None


def nearest(ref: SectionRef, playbooks: list[Playbook]) -> str | None:
    """For a reference the playbooks no longer have: the nearest current one (its key), if any is close."""
    playbook = next((p for p in playbooks if p.id == ref.playbook), None)
    if playbook is None:
        near = nearest_name(ref.playbook, [p.id for p in playbooks])
        playbook = next((p for p in playbooks if p.id == near), None)
        if playbook is None:
            return None
    stage = playbook.stage(ref.stage)
    if stage is None:
        ids = {s.id: s for s in playbook.stages}
        names = {s.name: s for s in playbook.stages}
        near = nearest_name(ref.stage, [*ids, *names])
        stage = ids.get(near or "") or names.get(near or "")
        if stage is None:
            return None
    if ref.part in ITEMS and ref.name is not None:
        attribute, naming, _ = ITEMS[ref.part]
        item = nearest_name(ref.name, [getattr(i, naming) for i in getattr(stage, attribute)])
        if item is None:
            return SectionRef(playbook.id, stage.id).key
        return SectionRef(playbook.id, stage.id, ref.part, item).key
    part = ref.part if ref.part is None or kind_content(stage, ref.part) else None
    return SectionRef(playbook.id, stage.id, part).key
