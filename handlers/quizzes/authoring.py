"""Quiz questions written in chat by enablement: the new-question form and its submission."""

from __future__ import annotations

import secrets

from bot import quizlinks
from bot.messages import Form, FormField, Reply
from handlers.common import Turn, small_number
from storage.db import insert_or_ignore
from storage.models import (
    QuizQuestion,
    Role,
)


def new_question_form(turn: Turn) -> Reply:
    if turn.person.role != Role.ENABLEMENT:
        return turn.render("replies/refusals.j2#quiz_authoring", kind="refusal")
    form = question_form(secrets.token_hex(6))
    return turn.render("replies/quizzes.j2#new_question_form", form=form)


def question_form(nonce: str) -> Form:
    """The new-question form (the same again, filled in, when a submission needs fixing)."""
    return Form(
        title="New quiz question",
        submit_label="Add question",
        action="quiz.create",
        value=nonce,
        fields=(
            FormField(
                "topic",
                "Topic (a stage id like discovery, or any topic)",
                "text",
                optional=False,
                max_length=100,
            ),
            FormField("question", "Question", "text", multiline=True, optional=False, max_length=500),
            FormField(
                "choices",
                "Choices, one per line (2 to 6)",
                "text",
                multiline=True,
                many=True,
                optional=False,
                max_length=900,
            ),
            FormField(
                "answer", "Number of the right choice (1 for the first)", "text", optional=False, max_length=2
            ),
            FormField(
                "explanation",
                "Why that is right (shown after answering)",
                "text",
                multiline=True,
                max_length=300,
            ),
            FormField(
                "tests",
                "Playbook section it tests, as in quiz files: PLAYBOOK/STAGE[/PART] "
                "(e.g. enterprise/evaluation/tasks)",
                "text",
                max_length=300,
                placeholder="enterprise/evaluation/exit_criterion:references-checked",
            ),
        ),
    )


def create_submitted(turn: Turn, nonce: str) -> Reply:
    """A question from the chat form, validated by the same rules as quiz files."""
    from pydantic import ValidationError

    from bot.quizfile import QuizItem

    if turn.person.role != Role.ENABLEMENT:
        return turn.render("replies/refusals.j2#quiz_authoring", kind="refusal")
    answers = turn.request.form or {}
    choices = [line.strip() for line in str(answers.get("choices") or "").splitlines() if line.strip()]
    number = str(answers.get("answer") or "").strip()
    topic = str(answers.get("topic") or "").strip().lower()
    external_id = f"chat-{topic or 'question'}-{nonce}"[:100]
    try:
        item = QuizItem(
            id=external_id,
            topic=topic,
            question=str(answers.get("question") or ""),
            choices=choices,
            answer=(small_number(number) or 0) - 1,
            explanation=str(answers.get("explanation") or "").strip(),
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        fields = {f.id for f in question_form(nonce).fields}
        wrong = {
            str(e["loc"][0]): (
                f"write at least {e['ctx']['min_length']}, one per line."
                if e["type"] == "too_short" and "min_length" in e.get("ctx", {})
                else e["msg"].removeprefix("Value error, ")
            )
            for e in exc.errors()
            if e["loc"] and str(e["loc"][0]) in fields
        }
        if wrong:
            from handlers.forms import send_back

            return send_back(turn, question_form(nonce), wrong)
        return turn.render("replies/quizzes.j2#nothing_added", kind="error", problems=problems)
    tests = str(answers.get("tests") or "").strip()
    section = None
    if tests:  # the same check as `tests:` in a quiz file, with the nearest name
        try:
            section = quizlinks.resolve_value(tests, turn.ctx.playbooks.playbooks)
        except quizlinks.LinkError as exc:
            from handlers.forms import send_back

            return send_back(
                turn,
                question_form(nonce),
                {"tests": str(exc).rstrip(".") + ("" if str(exc).endswith("?") else ".")},
            )
    added = insert_or_ignore(
        turn.db,
        QuizQuestion,
        {
            "organization_id": turn.organization.id,
            "external_id": item.id,
            "topic": item.topic,
            "question": item.question,
            "choices": item.choices,
            "answer": item.answer,
            "explanation": item.explanation,
            "audience": "all reps",
            "active": True,
            "version": 1,
            "updated_at": turn.now(),
            "section_ref": section.ref.key if section else None,
            "section_fingerprint": section.fingerprint if section else None,
            "section_seen": section.fingerprint if section else None,
        },
        ["organization_id", "external_id"],
    )
    if not added:
        return turn.render("replies/quizzes.j2#added_already")
    return turn.render("replies/quizzes.j2#question_added", item=item, section=section)
