"""Noticing a change: questions whose section changed or disappeared are flagged for enablement's review
and the reps who had learned the old version are asked again; marking a question reviewed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from fsrs import Card
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from bot.quizlinks.resolving import resolve
from bot.quizlinks.sections import MISSING
from playbooks.schema import Playbook
from storage.models import QuizQuestion, ReviewCard, ReviewLog

# -- noticing a change ------------------------------------------------------------------------------


log = logging.getLogger(__name__)


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
    linked: list[ColumnElement[bool]] = [QuizQuestion.section_ref.is_not(None), QuizQuestion.active.is_(True)]
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
    old = Card.from_dict(cast(Any, card.card)) if card.card else None
    card.card = dict(Card(card_id=old.card_id if old else card.question_id, due=now).to_dict())
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
