"""Linked questions waiting for enablement's review: the playbook section each tests changed or is gone."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from bot import quizlinks
from bot.localtime import zone
from bot.messages import Button, Reply
from handlers.common import Turn, small_number
from playbooks.nearest import nearest
from storage.models import (
    QuizQuestion,
    ReviewCard,
    Role,
)


@dataclass
class ToReview:
    """A linked question waiting for enablement: the playbook section it tests changed or is gone."""

    question: QuizQuestion
    section: quizlinks.Section | None  # None: no longer in the playbooks
    since: str  # the day it was flagged, in the reader's time zone
    reasked: int  # reps whose card was reset since then


def _to_review(turn: Turn) -> list[ToReview]:
    flagged = list(
        turn.db.scalars(
            select(QuizQuestion)
            .where(
                QuizQuestion.organization_id == turn.organization.id,
                QuizQuestion.review_flagged_at.is_not(None),
                QuizQuestion.active.is_(True),  # a retired question is nobody's to review
            )
            .order_by(QuizQuestion.review_flagged_at, QuizQuestion.external_id)
        )
    )
    reset = dict(
        turn.db.execute(
            select(ReviewCard.question_id, func.count(ReviewCard.id))
            .join(QuizQuestion, QuizQuestion.id == ReviewCard.question_id)
            .where(
                QuizQuestion.organization_id == turn.organization.id,
                QuizQuestion.review_flagged_at.is_not(None),
                ReviewCard.relearn_since >= QuizQuestion.review_flagged_at,
            )
            .group_by(ReviewCard.question_id)
        ).all()
    )
    tz = zone(turn.person.timezone)
    return [
        ToReview(
            q,
            quizlinks.resolve(q.section_ref or "", turn.ctx.playbooks.playbooks),
            flagged_at.astimezone(tz).strftime("%d %B %Y"),
            reset.get(q.id, 0),
        )
        for q in flagged
        if (flagged_at := q.review_flagged_at) is not None
    ]


def _review_buttons(review: list[ToReview]) -> tuple[Button, ...]:
    return tuple(
        Button(f"Mark {r.question.external_id} reviewed", "quiz.reviewed", str(r.question.id))
        for r in review[:5]
        if r.section is not None
    )


def questions_to_review(turn: Turn) -> Reply:
    """Enablement's list of linked questions whose playbook section changed (or is gone) since review."""
    if turn.person.role != Role.ENABLEMENT:
        return turn.render("replies/refusals.j2#questions_to_review", kind="refusal")
    review = _to_review(turn)
    return turn.render("quiz_review.j2", review=review, buttons=_review_buttons(review))


def mark_reviewed(turn: Turn, external_id: str) -> Reply:
    """'mark enterprise-evaluation-1 reviewed': the question stands against its section as it is now."""
    if turn.person.role != Role.ENABLEMENT:
        return turn.render("replies/refusals.j2#reviewing_questions", kind="refusal")
    question = turn.db.scalar(
        select(QuizQuestion).where(
            QuizQuestion.organization_id == turn.organization.id,
            func.lower(QuizQuestion.external_id) == external_id.strip().lower(),
        )
    )
    if question is None:
        ids = turn.db.scalars(
            select(QuizQuestion.external_id).where(QuizQuestion.organization_id == turn.organization.id)
        ).all()
        near = nearest(external_id, ids)
        return turn.render(
            "replies/quizzes.j2#no_such_question_to_review", kind="error", question_id=external_id, near=near
        )
    return _mark(turn, question)


def reviewed_clicked(turn: Turn, value: str) -> Reply:
    number = small_number(value)
    question = turn.db.get(QuizQuestion, number) if number is not None else None
    if question is None or question.organization_id != turn.organization.id:
        return turn.render("replies/quizzes.j2#question_gone", kind="error")
    return _mark(turn, question)


def _mark(turn: Turn, question: QuizQuestion) -> Reply:
    if question.section_ref is None:
        return turn.render("replies/quizzes.j2#names_no_section", question=question)
    if question.review_flagged_at is None:
        return turn.render("replies/quizzes.j2#not_waiting_for_review", question=question)
    try:
        marked = quizlinks.mark_reviewed(question, turn.ctx.playbooks.playbooks)
    except quizlinks.PlaybooksDiffer:
        return turn.render("replies/quizzes.j2#playbooks_rolling_out", kind="error", question=question)
    if not marked:
        return turn.render("replies/quizzes.j2#section_gone", kind="error", question=question)
    return turn.render("replies/quizzes.j2#marked_reviewed", question=question, left=len(_to_review(turn)))
