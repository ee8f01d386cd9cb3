"""Quiz questions for a stage that is gone, and questions tied to a playbook section that changed or
disappeared (bot/quizlinks).
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select

from bot import quizlinks
from bot.stranded.base import (
    Check,
    names_listed,
    nearest_stage,
    plural,
)
from storage.models import (
    CriterionStatus,
    Deal,
    DealStageChange,
    QuizQuestion,
    ReviewCard,
    ReviewLog,
)


class QuizChecks(Check):
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
                f'organization "{self.org(organization_id)}": {plural(len(ids), "quiz question")} for the reps '
                f"of stage '{stage_id}', which no checked playbook has, will reach nobody: {names_listed(ids, len(ids))}"
            ]
            to = f"'{near[1].id}' (\"{near[1].name}\")" if near else "a current stage id or 'all reps'"
            lines.append(f"set their audience to {to} {fix}")
            out.append((self.org(organization_id), 2, lines))
        for (organization_id, stage_id), ids in by_topic.items():
            near = nearest_stage(stage_id, self.playbooks.values())
            lines = [
                f'organization "{self.org(organization_id)}": {plural(len(ids), "quiz question")} with topic '
                f"'{stage_id}', a stage no checked playbook has, no longer lead to their stage: {names_listed(ids, len(ids))}"
            ]
            to = f"'{near[1].id}' (\"{near[1].name}\")" if near else "a current stage id"
            lines.append(f"set their topic to {to} {fix}")
            out.append((self.org(organization_id), 3, lines))
        return out

    # -- quiz questions tied to a playbook section (`tests:` in quiz files, bot/quizlinks/) --------

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
            if ref is None:  # (the query reads linked questions only)
                continue
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
                f'organization "{self.org(organization_id)}": {plural(len(ids), "quiz question")} '
                f"{'tests' if len(ids) == 1 else 'test'} `{ref}`, a playbook section these files no longer have: "
                f"{names_listed(ids, len(ids))}"
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
                    f"{plural(len(ids), 'quiz question')} {'tests' if len(ids) == 1 else 'test'}: {names_listed(ids, len(ids))}",
                    "when the bot loads them, the questions are flagged for enablement's review and "
                    + (
                        f"asked again to the {plural(reps, 'rep')} who had answered right"
                        if reps
                        else "asked again to whoever has answered right by then (nobody has yet)"
                    ),
                ]
            )
        for organization_id, ids in waiting.items():
            self.notes.append(
                [
                    f'organization "{self.org(organization_id)}": {plural(len(ids), "quiz question")} '
                    f"{'waits' if len(ids) == 1 else 'wait'} for enablement's review, the playbook section "
                    f"{'it tests' if len(ids) == 1 else 'they test'} having changed: {names_listed(ids, len(ids))} "
                    '(in chat: "questions to review")'
                ]
            )
        return out
