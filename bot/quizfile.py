"""Quiz files (`python -m bot import quizzes FILE.yaml`, format in ../shared/CONTRACT.md).

A file is imported whole or not at all: every problem is reported as `file:line: message` first.
Re-importing updates questions by id; changing a question's text, choices or answer bumps its version,
so an answer to the old wording is recognised, and every rep's history stays.

An item may name the playbook section it tests (`tests:`, see bot/quizlinks/); the reference is checked
against the loaded playbooks (`file:line`, with the nearest name), and the fingerprint of the section's
text is stored with the question: it is the version the question was written (or, when re-imported with
changes, reviewed) against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import quizlinks
from playbooks import yamlfile
from playbooks.loader import PlaybookLibrary
from playbooks.yamlfile import FileError, YamlFileError
from storage.models import Person, QuizQuestion, Role

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
ALL_REPS = "all reps"


class QuizItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][\w.-]*$"
        ),
    ]
    topic: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    question: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    choices: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=150)]] = (
        Field(min_length=2, max_length=6)
    )
    answer: int = Field(ge=0)
    explanation: str = ""
    audience: str = ALL_REPS
    active: bool = True
    # the playbook section it tests: "PLAYBOOK/STAGE[/PART]" or {playbook:, stage:, exit_criterion:|...}
    tests: Any = None

    @field_validator("answer")
    @classmethod
    def _answer_in_range(cls, answer: int, info: ValidationInfo) -> int:
        choices = info.data.get("choices")
        if choices is not None and answer >= len(choices):
            raise ValueError(
                f"answer {answer} is not a choice: answers count from 0, so use 0 to {len(choices) - 1}"
            )
        return answer


class QuizFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quizzes: list[QuizItem] = Field(min_length=1)


@dataclass
class QuizImport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    linked: int = 0  # questions of the file that name the playbook section they test
    cleared: list[str] = field(default_factory=list)  # flagged for review, updated by this file: flag lifted
    flagged: list[str] = field(default_factory=list)  # still (or newly) waiting for enablement's review

    def summary(self, file: str) -> str:
        line = f"{file}: {self.created} questions created, {self.updated} updated, {self.unchanged} unchanged"
        if self.cleared:
            line += f"\nreviewed (flag lifted): {', '.join(self.cleared)}"
        if self.flagged:
            line += (
                f"\nstill flagged for review, their playbook section changed: {', '.join(self.flagged)} "
                '(update them in this file and import it again, or say "mark ID reviewed" in chat)'
            )
        return line


def import_quizzes(
    db: Session,
    organization_id: int,
    path: Path,
    library: PlaybookLibrary,
    now: datetime | None = None,
    *,
    drop_unknown_links: bool = False,
) -> QuizImport:
    """Validate the whole file, then write it; raises YamlFileError (nothing written) on any problem.

    `drop_unknown_links`: a `tests:` the playbooks do not have imports the question without its link
    instead of failing (the demo's starter set, loaded into playbooks enablement may have edited).

    Afterwards the organization's linked questions are compared with `library` (quizlinks.refresh), so a
    section that changed since a question was reviewed is flagged and its learners re-asked."""
    now = now or datetime.now(UTC)
    doc = yamlfile.load(path)
    parsed = yamlfile.validate(doc, QuizFile) if not doc.errors and doc.data is not None else None
    sections: dict[int, quizlinks.Section] = {}
    if parsed is not None:
        doc.errors.extend(_cross_checks(db, organization_id, doc, parsed, library))
        link_errors = _link_checks(doc, parsed, library, sections)
        doc.errors.extend([] if drop_unknown_links else link_errors)
    if doc.errors or parsed is None:
        raise YamlFileError(doc.errors or [FileError(doc.file, 1, "the file is empty")])
    result = QuizImport()
    existing = {
        q.external_id: q
        for q in db.scalars(select(QuizQuestion).where(QuizQuestion.organization_id == organization_id))
    }
    for i, item in enumerate(parsed.quizzes):
        question = existing.get(item.id)
        section = sections.get(i)
        ref = section.ref.key if section else None
        result.linked += section is not None
        if question is None:
            db.add(
                QuizQuestion(
                    organization_id=organization_id,
                    external_id=item.id,
                    topic=item.topic,
                    question=item.question,
                    choices=item.choices,
                    answer=item.answer,
                    explanation=item.explanation,
                    audience=item.audience,
                    active=item.active,
                    version=1,
                    section_ref=ref,
                    section_fingerprint=section.fingerprint if section else None,
                    section_seen=section.fingerprint if section else None,
                )
            )
            result.created += 1
            continue
        changed_meaning = (question.question, question.choices, question.answer) != (
            item.question,
            item.choices,
            item.answer,
        )
        reviewed = changed_meaning or (question.explanation, question.section_ref) != (item.explanation, ref)
        changed = reviewed or (
            question.topic,
            question.audience,
            question.active,
        ) != (item.topic, item.audience, item.active)
        if not changed:
            result.unchanged += 1
            continue
        if reviewed:  # the question was worked on: it now stands against the section as it is
            if question.review_flagged_at is not None:
                result.cleared.append(item.id)
            if question.section_ref != ref or question.section_seen is None:
                question.section_seen = section.fingerprint if section else None
            question.section_ref = ref
            question.section_fingerprint = section.fingerprint if section else None
            question.review_flagged_at = question.review_reason = None
        question.topic, question.question, question.choices = item.topic, item.question, item.choices
        question.answer, question.explanation, question.audience, question.active = (
            item.answer,
            item.explanation,
            item.audience,
            item.active,
        )
        question.version += 1 if changed_meaning else 0
        result.updated += 1
    db.flush()
    quizlinks.refresh(db, library.playbooks, now, organization_id)
    result.flagged = list(
        db.scalars(
            select(QuizQuestion.external_id)
            .where(
                QuizQuestion.organization_id == organization_id,
                QuizQuestion.review_flagged_at.is_not(None),
                QuizQuestion.external_id.in_([item.id for item in parsed.quizzes]),
            )
            .order_by(QuizQuestion.external_id)
        )
    )
    return result


def _link_checks(
    doc: yamlfile.LoadedYaml,
    parsed: QuizFile,
    library: PlaybookLibrary,
    sections: dict[int, quizlinks.Section],
) -> list[FileError]:
    """Each `tests:` must name a section the loaded playbooks have; the error names the nearest one."""
    errors: list[FileError] = []
    for i, item in enumerate(parsed.quizzes):
        if item.tests is None:
            continue
        try:
            sections[i] = quizlinks.resolve_value(item.tests, library.playbooks)
        except quizlinks.LinkError as exc:
            line = doc.line_of(("quizzes", i, "tests", *exc.path))
            errors.append(FileError(doc.file, line, f"quizzes[{i}].tests: {exc}"))
    return errors


def _cross_checks(
    db: Session, organization_id: int, doc: yamlfile.LoadedYaml, parsed: QuizFile, library: PlaybookLibrary
) -> list[FileError]:
    errors: list[FileError] = []
    seen: dict[str, int] = {}
    stages = {s.id for p in library.playbooks for s in p.stages}
    managers = {
        p.email
        for p in db.scalars(
            select(Person).where(Person.organization_id == organization_id, Person.role == Role.MANAGER)
        )
    }
    for i, item in enumerate(parsed.quizzes):
        line = doc.line_of(("quizzes", i, "id"))
        if item.id in seen:
            errors.append(
                FileError(
                    doc.file,
                    line,
                    f"quizzes[{i}]: id '{item.id}' is used twice (first at line {seen[item.id]})",
                )
            )
        seen.setdefault(item.id, line)
        audience = item.audience.strip().lower()
        if audience != ALL_REPS and audience not in stages and audience not in managers:
            errors.append(
                FileError(
                    doc.file,
                    doc.line_of(("quizzes", i, "audience")),
                    f"quizzes[{i}].audience: '{item.audience}' is not 'all reps', a manager's email (their team) or a stage id",
                )
            )
    return errors
