"""Quiz questions tied to the playbook section they test, and what happens when that section changes.

A quiz item may name the section it tests (`tests:` in a quiz file, see README "Knowledge checks"): a
stage, and within it an exit criterion by id, an objection (by its wording), a talk track (by its title),
or one of the stage's section kinds (`tasks`, `objectives`, ...). The reference is stored in its canonical
form, `PLAYBOOK/STAGE[/PART]`, e.g. `enterprise/evaluation/exit_criterion:fit-validated`.

With the question the bot keeps the fingerprint (a hash of the section's text, whitespace folded) it was
written or last reviewed against, and the fingerprint it last saw. `refresh` compares them with the
playbooks the process loaded: a section whose text changed flags its questions for enablement's review
and resets the review cards of the reps who had learned the old version (their latest answer was right),
so the budget-aware queue asks them again as soon as it can. A section that disappeared (removed, or its
stage or id renamed) flags its questions too. Enablement clears a flag by marking the question reviewed,
or by re-importing its quiz file with the question updated.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fsrs import Card
from sqlalchemy import select
from sqlalchemy.orm import Session

from playbooks.nearest import nearest as nearest_name
from playbooks.schema import Playbook, Stage
from storage.models import QuizQuestion, ReviewCard, ReviewLog

log = logging.getLogger(__name__)

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


def _key(text: str) -> str:
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


def _item(model: Any) -> dict[str, Any]:
    """An objection, talk track, criterion or content item without its aliases (words to find it by)."""
    return model.model_dump(exclude={"aliases"})


def _kind_content(stage: Stage, kind: str) -> Any:
    value = getattr(stage, kind)
    if isinstance(value, str):
        return value
    return [_item(v) if hasattr(v, "model_dump") else v for v in value]


def _stage_content(stage: Stage) -> dict[str, Any]:
    """The words of a whole stage (not its id, name, aliases or CRM mapping: labels, not content)."""
    return {kind: _kind_content(stage, kind) for kind in KINDS}


class LinkError(ValueError):
    """A reference that does not name a section; `path` is the key inside `tests:` the problem is at."""

    def __init__(self, message: str, path: tuple[str, ...] = ()):
        super().__init__(message)
        self.path = path


# The project's "did you mean" matcher, under the name handlers.quizzes.review imports it by.
_suggest = nearest_name


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
        part = parts[0]
        if part == "section":
            return (
                (playbook.strip() if playbook else None),
                stage,
                value["section"].strip(),
                None,
                ("section",),
            )
        return (playbook.strip() if playbook else None), stage, part, fold(value[part]), (part,)
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
        return Section(SectionRef(playbook.id, stage.id), playbook, stage, _stage_content(stage))
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
        content = _kind_content(stage, normal)
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
    match = next((i for i in items if _key(getattr(i, naming)) == _key(name)), None)
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
    return Section(SectionRef(playbook.id, stage.id, normal, exact), playbook, stage, _item(match))


def resolve(ref: SectionRef | str, playbooks: list[Playbook]) -> Section | None:
    """The section a stored reference names, or None when the playbooks no longer have it."""
    ref = SectionRef.from_key(ref) if isinstance(ref, str) else ref
    playbook = next((p for p in playbooks if p.id == ref.playbook), None)
    stage = playbook.stage(ref.stage) if playbook else None
    if playbook is None or stage is None:
        return None
    if ref.part is None:
        return Section(ref, playbook, stage, _stage_content(stage))
    if ref.part in KINDS:
        content = _kind_content(stage, ref.part)
        return Section(ref, playbook, stage, content) if content else None
    if ref.part in ITEMS and ref.name is not None:
        attribute, naming, _ = ITEMS[ref.part]
        match = next(
            (i for i in getattr(stage, attribute) if _key(getattr(i, naming)) == _key(ref.name)), None
        )
        return Section(ref, playbook, stage, _item(match)) if match is not None else None
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
    part = ref.part if ref.part is None or _kind_content(stage, ref.part) else None
    return SectionRef(playbook.id, stage.id, part).key


# -- noticing a change ------------------------------------------------------------------------------


@dataclass
class Refresh:
    """What one comparison of linked questions with the loaded playbooks did."""

    flagged: list[str] = field(default_factory=list)  # question ids (external) newly flagged
    cleared: list[str] = field(default_factory=list)  # back to the reviewed text: flag lifted
    reasked: int = 0  # review cards reset so the rep is asked again

    def __bool__(self) -> bool:
        return bool(self.flagged or self.cleared or self.reasked)

    def summary(self) -> str:
        flagged = len(self.flagged)
        return (
            f"{flagged} linked quiz {'question' if flagged == 1 else 'questions'} flagged for review "
            f"(playbook section changed or gone), {self.reasked} review "
            f"{'card' if self.reasked == 1 else 'cards'} reset to be asked again"
        )


CHANGED = "its playbook section changed since the question was reviewed"
GONE = "its playbook section is no longer in the playbooks (removed, or its stage or id renamed)"


def refresh(
    db: Session, playbooks: list[Playbook], now: datetime, organization_id: int | None = None
) -> Refresh:
    """Compare every linked question (of one organization, or all) with `playbooks`; flag and re-ask.

    Cheap when nothing changed: one query of the linked questions, one fingerprint per section."""
    # a retired question is compared when it comes back (`active: true`): until then nobody is asked it
    linked = [QuizQuestion.section_ref.is_not(None), QuizQuestion.active.is_(True)]
    if organization_id is not None:
        linked.append(QuizQuestion.organization_id == organization_id)
    result = Refresh()
    seen: dict[str, str] = {}

    def now_seen(key: str) -> str:
        if key not in seen:
            section = resolve(key, playbooks)
            seen[key] = section.fingerprint if section is not None else MISSING
        return seen[key]

    rows = db.execute(
        select(QuizQuestion.id, QuizQuestion.section_ref, QuizQuestion.section_seen).where(*linked)
    )
    changed = [qid for qid, key, last in rows if now_seen(key or "") != last]
    if not changed:
        return result
    for question in db.scalars(
        select(QuizQuestion).where(QuizQuestion.id.in_(changed)).order_by(QuizQuestion.id)
    ):
        current = now_seen(question.section_ref or "")
        before, question.section_seen = question.section_seen, current
        if current == MISSING:
            if question.review_flagged_at is None or question.review_reason != GONE:
                result.flagged.append(question.external_id)
            question.review_flagged_at = question.review_flagged_at or now
            question.review_reason = GONE
            continue
        if current != question.section_fingerprint:
            if question.review_flagged_at is None:
                result.flagged.append(question.external_id)
            question.review_flagged_at = now
            question.review_reason = CHANGED
        elif question.review_flagged_at is not None:
            question.review_flagged_at = question.review_reason = None
            result.cleared.append(question.external_id)
        if before is not None and before != MISSING:
            result.reasked += reask(db, question, now)
    db.flush()
    if result:
        log.info("playbook links: %s", result.summary())
    return result


def reask(db: Session, question: QuizQuestion, now: datetime) -> int:
    """Reset the cards of the reps whose latest answer to `question` was right: they learned the section as
    it was, so FSRS treats the question as new to them and the queue asks it again soon. Returns how many."""
    latest = (
        select(ReviewLog.card_id, ReviewLog.correct, ReviewLog.reviewed_at, ReviewLog.id)
        .join(ReviewCard, ReviewCard.id == ReviewLog.card_id)
        .where(ReviewCard.question_id == question.id, ReviewLog.reviewed_at <= now)
        .order_by(ReviewLog.card_id, ReviewLog.reviewed_at, ReviewLog.id)
    )
    last: dict[int, bool] = {}
    for card_id, correct, _, _ in db.execute(latest):
        last[card_id] = bool(correct)
    learned = [card_id for card_id, correct in last.items() if correct]
    for card in db.scalars(select(ReviewCard).where(ReviewCard.id.in_(learned))) if learned else []:
        relearn(card, now)
    return len(learned)


def relearn(card: ReviewCard, now: datetime) -> None:
    """FSRS memory back to that of a question never answered (the log of past answers stays as it was)."""
    old = Card.from_dict(card.card) if card.card else None
    card.card = Card(card_id=old.card_id if old else card.question_id, due=now).to_dict()
    card.due = now
    card.relearn_since = now


class PlaybooksDiffer(Exception):
    """This process's playbooks are not the ones the clock compared the question with (a deploy under way)."""


def mark_reviewed(question: QuizQuestion, playbooks: list[Playbook]) -> bool:
    """Enablement looked at the question against the section as it is now: lift the flag. False when the
    section is no longer in the playbooks (the question's `tests:` must be fixed in its file first);
    PlaybooksDiffer when the section here is not the one the clock last saw, so enablement would mark it
    reviewed against text that is not (or no longer) the live one."""
    section = resolve(question.section_ref or "", playbooks)
    if section is None:
        return False
    if question.section_seen not in (None, MISSING, section.fingerprint):
        raise PlaybooksDiffer(question.external_id)
    question.section_fingerprint = section.fingerprint
    # the fingerprint last seen stays: a change the clock has not acted on yet still re-asks the reps
    question.section_seen = question.section_seen or section.fingerprint
    question.review_flagged_at = question.review_reason = None
    return True
