"""A quiz posted to a channel: everyone answers, enablement closes it and the results are shown."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.messages import Button, Reply
from handlers.common import Turn, small_number
from storage.db import insert_or_ignore
from storage.models import (
    ChannelQuiz,
    ChannelQuizAnswer,
    Person,
    QuizQuestion,
    Role,
)


def post_to_channel(turn: Turn, question_id: str, names: bool) -> Reply:
    if turn.person.role != Role.ENABLEMENT:
        return turn.render("replies/refusals.j2#channel_quizzes", kind="refusal")
    if not turn.request.shared or not turn.request.channel_id:
        return turn.render("replies/quizzes.j2#channel_quiz_needs_channel", kind="error")
    question = turn.db.scalar(
        select(QuizQuestion).where(
            QuizQuestion.organization_id == turn.organization.id,
            func.lower(QuizQuestion.external_id) == question_id.strip().lower(),
        )
    )
    if question is None:
        return turn.render("replies/quizzes.j2#no_such_question", kind="error", question_id=question_id)
    quiz = ChannelQuiz(
        organization_id=turn.organization.id,
        question_id=question.id,
        channel_id=turn.request.channel_id,
        opened_by_id=turn.person.id,
        show_names=names,
        opened_at=turn.now(),
    )
    turn.db.add(quiz)
    turn.db.flush()
    buttons = tuple(
        Button(choice, "cquiz.answer", f"{quiz.id}:{i}", choice=True)
        for i, choice in enumerate(question.choices)
    )
    buttons += (Button("Close and show results", "cquiz.close", str(quiz.id)),)
    return turn.render("channel_quiz.j2", buttons=buttons, question=question, names=names)


def channel_answer(turn: Turn, value: str) -> Reply:
    quiz_id, _, choice = value.partition(":")
    number, chosen = small_number(quiz_id), small_number(choice)
    quiz = turn.db.get(ChannelQuiz, number) if number is not None else None
    if quiz is None or quiz.organization_id != turn.organization.id or chosen is None:
        return turn.render("replies/quizzes.j2#quiz_gone", kind="error")
    if quiz.closed_at is not None:
        return turn.render("replies/quizzes.j2#quiz_closed")
    question = turn.db.get(QuizQuestion, quiz.question_id)
    if question is None:
        return turn.render("replies/quizzes.j2#quiz_gone", kind="error")
    added = insert_or_ignore(
        turn.db,
        ChannelQuizAnswer,
        {
            "quiz_id": quiz.id,
            "person_id": turn.person.id,
            "choice": chosen,
            "correct": chosen == question.answer,
            "created_at": turn.now(),
        },
        ["quiz_id", "person_id"],
    )
    if not added:
        return turn.render("replies/quizzes.j2#answered_already")
    return turn.render("replies/quizzes.j2#answer_in")


def channel_close(turn: Turn, value: str) -> Reply:
    number = small_number(value)
    quiz = turn.db.get(ChannelQuiz, number) if number is not None else None
    if quiz is None or quiz.organization_id != turn.organization.id:
        return turn.render("replies/quizzes.j2#quiz_gone", kind="error")
    if turn.person.role != Role.ENABLEMENT and turn.person.id != quiz.opened_by_id:
        return turn.render("replies/refusals.j2#close_channel_quiz", kind="refusal")
    if quiz.closed_at is None:
        quiz.closed_at = turn.now()
    question = turn.db.get(QuizQuestion, quiz.question_id)
    if question is None:
        return turn.render("replies/quizzes.j2#quiz_gone", kind="error")
    rows = turn.db.execute(
        select(ChannelQuizAnswer.choice, ChannelQuizAnswer.correct, Person.name)
        .join(Person, Person.id == ChannelQuizAnswer.person_id)
        .where(ChannelQuizAnswer.quiz_id == quiz.id)
        .order_by(Person.name)
    ).all()
    counts = [sum(1 for r in rows if r.choice == i) for i in range(len(question.choices))]
    right = [r.name for r in rows if r.correct]
    return turn.render(
        "channel_quiz_results.j2",
        kind="announcement",
        question=question,
        answers=len(rows),
        counts=counts,
        percent=round(100 * len(right) / len(rows)) if rows else 0,
        right=right if quiz.show_names else None,
    )
