"""What a playbook change would strand in the database: `check-playbooks` warns before it is deployed.

Deals, confirmations and quiz questions refer to playbooks by id (playbook id, stage id, criterion id).
A stage whose id changed, or a criterion that was removed, leaves the rows that named it pointing at
nothing: the deal shows as `Initech: evaluation · 0/0`, a confirmation stops counting, a question for a
stage's audience reaches nobody. This module reads the configured database (read-only: SQLite is opened
with `mode=ro`, PostgreSQL in a READ ONLY transaction) and describes each such group with how to fix it.

No database (a SQLite file that does not exist), an empty file or a schema that was never migrated give no
warnings at all, and nothing is created.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bot import quizlinks
from playbooks import nearest
from playbooks.schema import ExitCriterion, Playbook, Stage
from storage.db import code_head
from storage.models import (
    CriterionEvent,
    CriterionStatus,
    Deal,
    DealStageChange,
    DealStatus,
    Organization,
    QuizQuestion,
    ReviewCard,
    ReviewLog,
)

NAMES_SHOWN = 3  # deal names (or question ids) quoted per warning; the rest are counted
NEAR = 70  # score (playbooks.nearest) from which an old id is said to look like a current stage or criterion
FEW = 5  # up to this many deals, moving them one by one in chat is the easy way


@dataclass
class Report:
    """The warnings found, each a first line and its indented follow-up lines (without `warning:`)."""

    database: str
    warnings: list[list[str]] = field(default_factory=list)
    unchecked: str | None = None  # why the database could not be compared (unreachable, old schema)
    # not problems: what these files will do to linked quiz questions (flag, re-ask), and those waiting
    notes: list[list[str]] = field(default_factory=list)

    def note_lines(self) -> list[str]:
        if self.unchecked:
            return []
        return [line for note in self.notes for line in (note[0], *(f"  {more}" for more in note[1:]))]

    def lines(self) -> list[str]:
        if self.unchecked:
            return [self.unchecked]
        if not self.warnings:
            return []
        out = [f"the database ({self.database}) has data these playbooks no longer fit:"]
        for warning in self.warnings:
            out += [warning[0], *(f"  {line}" for line in warning[1:])]
        count = len(self.warnings)
        out.append(
            f"{count} {'problem' if count == 1 else 'problems'} in the data: fix the playbooks or move the "
            "data before the bot loads these files"
        )
        return out


def check_database(database_url: str, playbooks: list[Playbook]) -> Report:
    """Compare the database at `database_url` with `playbooks`; never writes, never creates a file."""
    engine = _read_only_engine(database_url)
    shown = make_url(database_url).render_as_string(hide_password=True)
    report = Report(shown)
    if engine is None:
        return report
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text("SET TRANSACTION READ ONLY"))
            current = MigrationContext.configure(connection).get_current_revision()
            if current is None:
                return report  # never migrated: nothing in it can be stranded
            head = code_head(engine)
            if current != head:
                report.unchecked = (
                    f"the database ({shown}) schema is at {current} but this code needs {head}: its data was "
                    "not checked against these playbooks (run `python -m bot db upgrade`, then check again)"
                )
                return report
            check = _Check(connection, playbooks)
            report.warnings += check.run()
            report.notes += check.notes
            connection.rollback()
    except Exception as exc:  # noqa: BLE001 - an unreachable database is a warning, never a failed check
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        report.unchecked = (
            f"could not read the database ({shown}) to look for data these playbooks would strand: {reason}"
        )
    finally:
        engine.dispose()
    return report


def _read_only_engine(database_url: str) -> Engine | None:
    """An engine that cannot write, or None when there is no database to read (no SQLite file)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        name = url.database or ""
        if not name or name == ":memory:" or name.startswith("file:"):
            return None
        path = Path(name).resolve()
        if not path.is_file() or path.stat().st_size == 0:
            return None  # an empty file is no database either; opening it must not create one
        uri = f"file:{quote(str(path))}?mode=ro"
        return create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True), poolclass=NullPool)
    return create_engine(
        database_url, poolclass=NullPool, hide_parameters=True, connect_args={"connect_timeout": 10}
    )


def _names(names: list[str], total: int) -> str:
    shown = ", ".join(names[:NAMES_SHOWN])
    return shown if total <= NAMES_SHOWN else f"{shown} and {total - NAMES_SHOWN} more"


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else (plural or word + 's')}"


def nearest_stage(old_id: str, playbooks: Iterable[Playbook]) -> tuple[Playbook, Stage] | None:
    """The current stage whose name, id or alias is closest to an old stage id (None below NEAR)."""
    best: tuple[float, Playbook, Stage] | None = None
    for playbook in playbooks:
        for stage in playbook.stages:
            score = nearest.score(old_id, stage.name, stage.id, *stage.aliases)
            if score >= NEAR and (best is None or score > best[0]):
                best = (score, playbook, stage)
    return (best[1], best[2]) if best else None


def nearest_criterion(old_id: str, old_text: str, stage: Stage) -> ExitCriterion | None:
    best: tuple[float, ExitCriterion] | None = None
    for criterion in stage.exit_criteria:
        score = max(
            nearest.score(old_id, criterion.id),
            nearest.score(old_text, criterion.text) if old_text else 0,
        )
        if score >= NEAR and (best is None or score > best[0]):
            best = (score, criterion)
    return best[1] if best else None


class _Check:
    def __init__(self, connection: Connection, playbooks: list[Playbook]):
        self.db = connection
        self.playbook_list = list(playbooks)
        self.notes: list[list[str]] = []
        self.playbooks = {p.id: p for p in playbooks}
        self.stage_ids = {s.id for p in playbooks for s in p.stages}
        self.organizations = dict(self.db.execute(select(Organization.id, Organization.name)).all())

    def run(self) -> list[list[str]]:
        found: list[tuple[str, int, list[str]]] = []  # (organization name, order, warning)
        found += self.deals()
        found += self.confirmations()
        found += self.quiz_questions()
        found += self.quiz_links()
        found.sort(key=lambda f: (f[0].casefold(), f[1]))
        return [warning for _, _, warning in found]

    def org(self, organization_id: int) -> str:
        return self.organizations.get(organization_id) or f"#{organization_id}"

    # -- deals whose playbook or stage is gone ----------------------------------------------------------

    def deals(self) -> list[tuple[str, int, list[str]]]:
        groups = self.db.execute(
            select(Deal.organization_id, Deal.playbook_id, Deal.stage_id, func.count())
            .where(Deal.status == DealStatus.OPEN)
            .group_by(Deal.organization_id, Deal.playbook_id, Deal.stage_id)
            .order_by(Deal.organization_id, Deal.playbook_id, Deal.stage_id)
        ).all()
        lost_playbooks: dict[tuple[int, str], list[tuple[str, int]]] = defaultdict(list)
        out: list[tuple[str, int, list[str]]] = []
        for organization_id, playbook_id, stage_id, count in groups:
            playbook = self.playbooks.get(playbook_id)
            if playbook is None:
                lost_playbooks[(organization_id, playbook_id)].append((stage_id, count))
            elif playbook.stage(stage_id) is None:
                out.append(
                    (
                        self.org(organization_id),
                        0,
                        self.stranded_stage(organization_id, playbook, stage_id, count),
                    )
                )
        for (organization_id, playbook_id), stages in lost_playbooks.items():
            out.append(
                (self.org(organization_id), 0, self.stranded_playbook(organization_id, playbook_id, stages))
            )
        return out

    def deal_names(self, organization_id: int, playbook_id: str, stage_id: str | None = None) -> list[str]:
        query = select(Deal.name).where(
            Deal.organization_id == organization_id,
            Deal.playbook_id == playbook_id,
            Deal.status == DealStatus.OPEN,
        )
        if stage_id is not None:
            query = query.where(Deal.stage_id == stage_id)
        return list(self.db.scalars(query.order_by(Deal.name).limit(NAMES_SHOWN)))

    def confirmed_at(self, organization_id: int, playbook_id: str, stage_id: str) -> int:
        """Confirmations the stranded deals hold at their stranded stage (a move leaves them behind)."""
        return (
            self.db.scalar(
                select(func.count())
                .select_from(CriterionStatus)
                .join(Deal, Deal.id == CriterionStatus.deal_id)
                .where(
                    Deal.organization_id == organization_id,
                    Deal.playbook_id == playbook_id,
                    Deal.stage_id == stage_id,
                    Deal.status == DealStatus.OPEN,
                    CriterionStatus.stage_id == stage_id,
                    CriterionStatus.confirmed.is_(True),
                )
            )
            or 0
        )

    def stranded_stage(
        self, organization_id: int, playbook: Playbook, stage_id: str, count: int
    ) -> list[str]:
        names = self.deal_names(organization_id, playbook.id, stage_id)
        confirmed = self.confirmed_at(organization_id, playbook.id, stage_id)
        deals = _plural(count, "open deal")
        lines = [
            f"organization \"{self.org(organization_id)}\": {deals} at stage '{stage_id}' of playbook "
            f"'{playbook.id}', which that playbook no longer has: {_names(names, count)}"
        ]
        near = nearest_stage(stage_id, [playbook])
        kept = f" and their {_plural(confirmed, 'confirmation')} at that stage" if confirmed else ""
        left = (
            f" (their {_plural(confirmed, 'confirmation')} at '{stage_id}' stay with the old id)"
            if confirmed
            else ""
        )
        target = f'"{near[1].name}"' if near else "STAGE"
        example = f"`move {names[0]} to {near[1].name if near else 'STAGE'}`"
        if near:
            stage = near[1]
            lines.append(
                f"nearest current stage: \"{stage.name}\" (id '{stage.id}'). If that is the same stage renamed, "
                f"keep its id: put back `id: {stage_id}` on it and change only `name:` (the deals{kept} "
                "stay where they are; an alias alone does not move deals already stored)"
            )
        else:
            current = ", ".join(f'"{s.name}"' for s in playbook.stages)
            lines.append(
                f"no current stage looks like it (stages of '{playbook.id}': {current}); to keep the deals "
                f"where they are, keep a stage with `id: {stage_id}`"
            )
        way = "otherwise move them" if near else "or move them"
        chat = f"in chat {example}, one deal at a time"
        csv = (
            f"a deals CSV re-import with stage {target} for these deals (rows match by crm_id or name; "
            "`python -m bot import deals FILE.csv`)"
        )
        lines.append(f"{way}{left}: {chat}, or {csv}" if count <= FEW else f"{way}{left}: {csv}, or {chat}")
        return lines

    def stranded_playbook(
        self, organization_id: int, playbook_id: str, stages: list[tuple[str, int]]
    ) -> list[str]:
        count = sum(n for _, n in stages)
        names = self.deal_names(organization_id, playbook_id)
        at = ", ".join(f"'{stage}' {n}" for stage, n in stages)
        lines = [
            f'organization "{self.org(organization_id)}": {_plural(count, "open deal")} of playbook '
            f"'{playbook_id}', which no checked playbook has (stages: {at}): {_names(names, count)}"
        ]
        near = max(
            ((nearest.score(playbook_id, p.id, p.name), p) for p in self.playbooks.values()),
            key=lambda t: t[0],
            default=None,
        )
        if near and near[0] >= NEAR:
            lines.append(
                f"nearest current playbook: \"{near[1].name}\" (id '{near[1].id}'). If that is the same "
                f"playbook renamed, keep its id: put back `id: {playbook_id}` and change only `name:`"
            )
        else:
            lines.append(f"to keep the deals where they are, keep a playbook with `id: {playbook_id}`")
        lines.append(
            "or move them: a deals CSV re-import whose playbook and stage columns name a current playbook and "
            "stage (rows match by crm_id or name; `python -m bot import deals FILE.csv`); a move in chat "
            "stays within a deal's own playbook"
        )
        return lines

    # -- confirmations of criteria a stage no longer has ------------------------------------------------

    def confirmations(self) -> list[tuple[str, int, list[str]]]:
        groups = self.db.execute(
            select(
                CriterionStatus.organization_id,
                CriterionStatus.playbook_id,
                CriterionStatus.stage_id,
                CriterionStatus.criterion_id,
                func.count(),
                func.max(CriterionStatus.event_id),
            )
            .join(Deal, Deal.id == CriterionStatus.deal_id)
            .where(CriterionStatus.confirmed.is_(True), Deal.status == DealStatus.OPEN)
            .group_by(
                CriterionStatus.organization_id,
                CriterionStatus.playbook_id,
                CriterionStatus.stage_id,
                CriterionStatus.criterion_id,
            )
            .order_by(CriterionStatus.organization_id, CriterionStatus.stage_id, CriterionStatus.criterion_id)
        ).all()
        out = []
        for organization_id, playbook_id, stage_id, criterion_id, count, event_id in groups:
            playbook = self.playbooks.get(playbook_id)
            stage = playbook.stage(stage_id) if playbook else None
            if stage is None or stage.criterion(criterion_id) is not None:
                continue  # a missing stage or playbook is reported with its deals
            old_text = self.db.scalar(
                select(CriterionEvent.criterion_text).where(CriterionEvent.id == event_id)
            )
            names = list(
                self.db.scalars(
                    select(Deal.name)
                    .join(CriterionStatus, CriterionStatus.deal_id == Deal.id)
                    .where(
                        CriterionStatus.organization_id == organization_id,
                        CriterionStatus.stage_id == stage_id,
                        CriterionStatus.criterion_id == criterion_id,
                        CriterionStatus.confirmed.is_(True),
                        Deal.status == DealStatus.OPEN,
                    )
                    .order_by(Deal.name)
                    .limit(NAMES_SHOWN)
                )
            )
            said = f' ("{old_text}")' if old_text else ""
            lines = [
                f'organization "{self.org(organization_id)}": {_plural(count, "confirmation")} of exit criterion '
                f"'{criterion_id}'{said} at stage '{stage_id}' of playbook '{playbook_id}' no longer "
                f"{'counts' if count == 1 else 'count'}: the stage has no such criterion "
                f"({_plural(count, 'open deal')}: {_names(names, count)})"
            ]
            near = nearest_criterion(criterion_id, old_text or "", stage)
            if near:
                lines.append(
                    f"nearest current criterion: '{near.id}' (\"{near.text}\"). If it is the same criterion, "
                    f"keep its id: put back `id: {criterion_id}` (changing only its text is safe)"
                )
            lines.append(
                "otherwise these deals confirm the stage's current criteria anew; the confirmations stay in "
                "`python -m bot export confirmations`"
            )
            out.append((self.org(organization_id), 1, lines))
        return out

    # -- quiz questions for or about a stage that is gone -----------------------------------------------

    def old_stage_ids(self) -> dict[int, set[str]]:
        """Per organization, stage ids its data used that no checked playbook has."""
        known: dict[int, set[str]] = defaultdict(set)
        for organization_id, stage_id in [
            *self.db.execute(select(Deal.organization_id, Deal.stage_id).distinct()),
            *self.db.execute(select(DealStageChange.organization_id, DealStageChange.to_stage_id).distinct()),
            *self.db.execute(select(CriterionStatus.organization_id, CriterionStatus.stage_id).distinct()),
        ]:
            if stage_id and stage_id not in self.stage_ids:
                known[organization_id].add(stage_id)
        return known

    def quiz_questions(self) -> list[tuple[str, int, list[str]]]:
        old = self.old_stage_ids()
        by_audience: dict[tuple[int, str], list[str]] = defaultdict(list)
        by_topic: dict[tuple[int, str], list[str]] = defaultdict(list)
        rows = self.db.execute(
            select(
                QuizQuestion.organization_id,
                QuizQuestion.external_id,
                QuizQuestion.audience,
                QuizQuestion.topic,
            )
            .where(QuizQuestion.active.is_(True))
            .order_by(QuizQuestion.organization_id, QuizQuestion.external_id)
        ).all()
        for organization_id, external_id, audience, topic in rows:
            audience = (audience or "").strip().lower()
            # an audience is "all reps", a manager's email (their team) or a stage id (bot/quizfile.py)
            if audience and audience != "all reps" and "@" not in audience and audience not in self.stage_ids:
                by_audience[(organization_id, audience)].append(external_id)
            topic = (topic or "").strip().lower()
            if topic in old.get(organization_id, set()):
                by_topic[(organization_id, topic)].append(external_id)
        out = []
        fix = "in the quiz file and re-import it (`python -m bot import quizzes FILE.yaml`; the ids keep reps' history)"
        for (organization_id, stage_id), ids in by_audience.items():
            near = nearest_stage(stage_id, self.playbooks.values())
            lines = [
                f'organization "{self.org(organization_id)}": {_plural(len(ids), "quiz question")} for the reps '
                f"of stage '{stage_id}', which no checked playbook has, will reach nobody: {_names(ids, len(ids))}"
            ]
            to = f"'{near[1].id}' (\"{near[1].name}\")" if near else "a current stage id or 'all reps'"
            lines.append(f"set their audience to {to} {fix}")
            out.append((self.org(organization_id), 2, lines))
        for (organization_id, stage_id), ids in by_topic.items():
            near = nearest_stage(stage_id, self.playbooks.values())
            lines = [
                f'organization "{self.org(organization_id)}": {_plural(len(ids), "quiz question")} with topic '
                f"'{stage_id}', a stage no checked playbook has, no longer lead to their stage: {_names(ids, len(ids))}"
            ]
            to = f"'{near[1].id}' (\"{near[1].name}\")" if near else "a current stage id"
            lines.append(f"set their topic to {to} {fix}")
            out.append((self.org(organization_id), 3, lines))
        return out

    # -- quiz questions tied to a playbook section (`tests:` in quiz files, bot/quizlinks.py) ------------

    def learners(self, question_ids: list[int]) -> int:
        """Reps whose latest answer to one of these questions was right (they would be asked again)."""
        latest: dict[int, tuple[int, bool]] = {}
        for card_id, person_id, correct in self.db.execute(
            select(ReviewLog.card_id, ReviewCard.person_id, ReviewLog.correct)
            .join(ReviewCard, ReviewCard.id == ReviewLog.card_id)
            .where(ReviewCard.question_id.in_(question_ids))
            .order_by(ReviewLog.card_id, ReviewLog.reviewed_at, ReviewLog.id)
        ):
            latest[card_id] = (person_id, bool(correct))
        return len({person for person, correct in latest.values() if correct})  # reps, not answers

    def quiz_links(self) -> list[tuple[str, int, list[str]]]:
        """A linked section the files no longer have strands its questions (a warning, with the nearest
        section); a section whose text the files change will flag its questions and re-ask their learners
        (a note), and questions already waiting for review are listed (a note)."""
        rows = self.db.execute(
            select(
                QuizQuestion.id,
                QuizQuestion.organization_id,
                QuizQuestion.external_id,
                QuizQuestion.section_ref,
                QuizQuestion.section_fingerprint,
                QuizQuestion.section_seen,
                QuizQuestion.review_flagged_at,
            )
            .where(QuizQuestion.section_ref.is_not(None), QuizQuestion.active.is_(True))
            .order_by(QuizQuestion.organization_id, QuizQuestion.section_ref, QuizQuestion.external_id)
        ).all()
        gone: dict[tuple[int, str], list[str]] = defaultdict(list)
        changing: dict[tuple[int, str], list[tuple[int, str]]] = defaultdict(list)
        waiting: dict[int, list[str]] = defaultdict(list)
        for qid, organization_id, external_id, ref, reviewed, seen, flagged in rows:
            section = quizlinks.resolve(ref, self.playbook_list)
            if section is None:
                gone[(organization_id, ref)].append(external_id)
            elif section.fingerprint != reviewed and section.fingerprint != seen:
                changing[(organization_id, ref)].append((qid, external_id))
            elif flagged is not None:
                waiting[organization_id].append(external_id)
        out = []
        fix = "in the quiz file and re-import it (`python -m bot import quizzes FILE.yaml`; the ids keep reps' history)"
        for (organization_id, ref), ids in gone.items():
            lines = [
                f'organization "{self.org(organization_id)}": {_plural(len(ids), "quiz question")} '
                f"{'tests' if len(ids) == 1 else 'test'} `{ref}`, a playbook section these files no longer have: "
                f"{_names(ids, len(ids))}"
            ]
            near = quizlinks.nearest(quizlinks.SectionRef.from_key(ref), self.playbook_list)
            if near:
                lines.append(
                    f"nearest current section: `{near}`. If it is the same section renamed, keep its old id or "
                    f"wording in the playbook; otherwise point their `tests:` at it {fix}"
                )
            else:
                lines.append(f"point their `tests:` at a current section, or remove it, {fix}")
            lines.append("until then they are flagged for enablement's review when the bot loads these files")
            out.append((self.org(organization_id), 4, lines))
        for (organization_id, ref), questions in changing.items():
            ids = [external_id for _, external_id in questions]
            reps = self.learners([qid for qid, _ in questions])
            self.notes.append(
                [
                    f'organization "{self.org(organization_id)}": these files change the text of `{ref}`, which '
                    f"{_plural(len(ids), 'quiz question')} {'tests' if len(ids) == 1 else 'test'}: {_names(ids, len(ids))}",
                    "when the bot loads them, the questions are flagged for enablement's review and "
                    + (
                        f"asked again to the {_plural(reps, 'rep')} who had answered right"
                        if reps
                        else "asked again to whoever has answered right by then (nobody has yet)"
                    ),
                ]
            )
        for organization_id, ids in waiting.items():
            self.notes.append(
                [
                    f'organization "{self.org(organization_id)}": {_plural(len(ids), "quiz question")} '
                    f"{'waits' if len(ids) == 1 else 'wait'} for enablement's review, the playbook section "
                    f"{'it tests' if len(ids) == 1 else 'they test'} having changed: {_names(ids, len(ids))} "
                    '(in chat: "questions to review")'
                ]
            )
        return out
