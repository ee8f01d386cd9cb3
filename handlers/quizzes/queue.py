"""Spaced-repetition knowledge checks: each rep's questions, FSRS memory per card, a daily budget.

A rep has at most one question waiting at a time; a question missed is not resent in bulk, it simply
stays waiting and comes back. Which question comes next is chosen for the budget (handlers.learning): the
one whose review adds the most expected recall over the rep's whole set. Answers are rated by correctness
(wrong or "not sure": Again; right: Good); only a question the rep asked for ("quiz me", "Next question")
has a measured response time, and a slow right answer to it is Hard. Every review is logged with when the
question was delivered and answered, so the FSRS parameters can be optimized later from honest data.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from fsrs import Card, Rating, Scheduler
from sqlalchemy import func, select

from bot import quizlinks
from bot.localtime import zone
from bot.messages import Button, Reply
from handlers.common import Turn, small_number
from storage.db import insert_or_ignore
from storage.models import (
    Deal,
    DealStatus,
    Organization,
    Person,
    QuizQuestion,
    ReviewCard,
    ReviewLog,
)

DEFAULT_PER_DAY = 2
DEFAULT_RETENTION = 0.9
DEFAULT_MAX_INTERVAL = 120  # days: sales content goes stale
SLOW_ANSWER = timedelta(seconds=30)
NOT_SURE = -1
CALIBRATION_REVIEWS = 50  # the rep's latest reviews that say how well FSRS's predictions fit them
WORKSPACE_REVIEWS = 200  # the workspace's latest reviews, the prior for a rep with few answers of their own


def scheduler_for(organization: Organization) -> Scheduler:
    """No minute-level learning steps in chat; a maximum interval; the workspace's desired retention."""
    settings = organization.settings or {}
    return Scheduler(
        desired_retention=float(settings.get("quiz_retention", DEFAULT_RETENTION)),
        learning_steps=(),
        relearning_steps=(),
        maximum_interval=int(settings.get("quiz_max_interval_days", DEFAULT_MAX_INTERVAL)),
        enable_fuzzing=False,
    )


def per_day(rep: Person, organization: Organization) -> int:
    return int(
        (rep.preferences or {}).get("quiz_per_day")
        or (organization.settings or {}).get("quiz_per_day")
        or DEFAULT_PER_DAY
    )


def audiences(db, rep: Person) -> list[str]:
    """Which audiences a rep belongs to: all reps, their manager's team, the stages their deals are in."""
    names = ["all reps"]
    if rep.manager is not None:
        names.append(rep.manager.email.lower())
    names += list(
        db.scalars(
            select(Deal.stage_id).where(Deal.owner_id == rep.id, Deal.status == DealStatus.OPEN).distinct()
        )
    )
    return names


def _unseen(db, rep: Person):
    """Active questions for the rep's audiences that they have never been asked."""
    seen = select(ReviewCard.question_id).where(ReviewCard.person_id == rep.id)
    return (
        select(QuizQuestion)
        .where(
            QuizQuestion.organization_id == rep.organization_id,
            QuizQuestion.active.is_(True),
            func.lower(QuizQuestion.audience).in_(audiences(db, rep)),
            QuizQuestion.id.not_in(seen),
        )
        .order_by(QuizQuestion.id)
    )


def next_card(db, rep: Person, now: datetime, organization: Organization | None = None) -> ReviewCard | None:
    """The rep's waiting question, else the one whose review now adds the most expected recall across the
    rep's whole set under the daily budget (handlers.learning), which may be a question never asked."""
    active = select(QuizQuestion.id).where(QuizQuestion.active.is_(True))
    pending = db.scalar(
        select(ReviewCard).where(
            ReviewCard.person_id == rep.id,
            ReviewCard.pending_since.is_not(None),
            ReviewCard.question_id.in_(active),
        )
    )
    if pending is not None:
        return pending
    choice = _best_choice(db, rep, now, organization)
    if choice is None:
        return None
    if not choice.new:
        return db.get(ReviewCard, choice.key)
    card = ReviewCard(
        organization_id=rep.organization_id,
        person_id=rep.id,
        question_id=choice.key,
        card=Card(card_id=choice.key, due=now).to_dict(),
        due=now,
        created_at=now,
    )
    db.add(card)
    db.flush()
    return card


def _best_choice(db, rep: Person, now: datetime, organization: Organization | None = None):
    from bot.localtime import parse_days
    from handlers.learning import SUSTAIN_RETENTION, best, calibration, horizon_days

    organization = organization or db.get(Organization, rep.organization_id)
    scheduler = scheduler_for(organization)
    active = select(QuizQuestion.id).where(QuizQuestion.active.is_(True))
    cards = db.execute(
        select(ReviewCard.id, ReviewCard.card, ReviewCard.created_at)
        .where(ReviewCard.person_id == rep.id, ReviewCard.question_id.in_(active))
        .order_by(ReviewCard.id)
    ).all()
    new = list(db.scalars(_unseen(db, rep).with_only_columns(QuizQuestion.id).limit(1)))
    unseen_count = db.scalar(_unseen(db, rep).with_only_columns(func.count()).order_by(None)) or 0
    budget, working = per_day(rep, organization), len(parse_days(rep.working_days or "") or range(5))
    horizon = horizon_days(len(cards) + unseen_count, budget, working, scheduler.maximum_interval)
    capacity = budget * working / 7  # reviews per calendar day
    retention = float((organization.settings or {}).get("quiz_sustain_retention", SUSTAIN_RETENTION))
    last_new = max((created for _, _, created in cards), default=None)
    recent = (
        select(ReviewLog.correct, ReviewLog.predicted_recall)
        .join(ReviewCard, ReviewCard.id == ReviewLog.card_id)
        .where(ReviewCard.person_id == rep.id, ReviewLog.predicted_recall > 0)
        .order_by(ReviewLog.id.desc())
        .limit(CALIBRATION_REVIEWS)
    )
    logged = db.execute(recent).all()
    workspace = db.execute(
        select(ReviewLog.correct, ReviewLog.predicted_recall)
        .where(ReviewLog.organization_id == rep.organization_id, ReviewLog.predicted_recall > 0)
        .order_by(ReviewLog.id.desc())
        .limit(WORKSPACE_REVIEWS)
    ).all()
    fit = calibration(
        sum(1 for c, _ in logged if c),
        sum(p for _, p in logged),
        sum(1 for c, _ in workspace if c),
        sum(p for _, p in workspace),
    )
    return best(
        scheduler,
        ((cid, Card.from_dict(c)) for cid, c, _ in cards),
        new,
        now,
        horizon,
        capacity,
        retention,
        last_new,
        fit,
    )


def answered_today(db, rep: Person, now: datetime) -> int:
    local = now.astimezone(zone(rep.timezone))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return (
        db.scalar(
            select(func.count(ReviewLog.id))
            .join(ReviewCard, ReviewCard.id == ReviewLog.card_id)
            .where(ReviewCard.person_id == rep.id, ReviewLog.reviewed_at >= midnight)
        )
        or 0
    )


def ask(
    ctx, db, rep: Person, card: ReviewCard, now: datetime, intro: str = "", on_request: bool = True
) -> Reply:
    """The question as a message with one button per choice and "I'm not sure"; the card waits for it.

    `on_request`: the rep asked for it ("quiz me", "Next question"), so they see it as it is sent and the
    time to answer is a response time. A pushed daily question is seen whenever the rep opens the chat,
    which no platform reports, so its answer is graded by correctness alone."""
    question = db.get(QuizQuestion, card.question_id)
    if (
        card.relearn_since is not None
        and not (card.card or {}).get("last_review")
        and not intro.startswith("That")
    ):
        section = quizlinks.resolve(question.section_ref or "", ctx.playbooks.playbooks)
        if section is not None:  # reset because the section it tests changed (bot/quizlinks.py)
            changed = f"The playbook's {section.label} changed since you answered this; here it is again."
            intro = f"{intro} {changed}".strip()
    if card.pending_since is None:
        card.pending_since = now
        card.pending_on_request = on_request
    asked = int(card.pending_since.timestamp())
    buttons = tuple(
        Button(choice, "quiz.answer", f"{card.id}:{i}:{question.version}:{asked}", choice=True)
        for i, choice in enumerate(question.choices)
    )
    buttons += (Button("I'm not sure", "quiz.answer", f"{card.id}:{NOT_SURE}:{question.version}:{asked}"),)
    return ctx.renderer.render("quiz_question.j2", buttons=buttons, me=rep, question=question, intro=intro)


def quiz_me(turn: Turn) -> Reply:
    card = next_card(turn.db, turn.person, turn.now(), turn.organization)
    if card is None:
        upcoming = turn.db.scalar(
            select(func.min(ReviewCard.due)).where(ReviewCard.person_id == turn.person.id)
        )
        when = (
            f" Your next question is due on {upcoming.astimezone(zone(turn.person.timezone)).strftime('%A %d %B')}."
            if upcoming
            else ""
        )
        return turn.render("message.j2", text=f"You're all caught up: no question is due.{when}")
    return ask(turn.ctx, turn.db, turn.person, card, turn.now())


def answer(turn: Turn, value: str) -> Reply:
    parts = value.split(":")
    # card, choice (-1: not sure) and version are small numbers; the asked time a Unix timestamp (2038 and beyond)
    if (
        len(parts) != 4
        or None in [small_number(p.removeprefix("-")) for p in parts[:3]]
        or not _timestamp(parts[3])
    ):
        return turn.render("message.j2", kind="error", text="That answer button is not valid any more.")
    card_id, choice, version, asked = (int(p) for p in parts)
    card = turn.db.get(ReviewCard, card_id)
    if card is None or card.person_id != turn.person.id:
        return turn.render(
            "refused.j2", kind="refusal", what="that question", why="it was sent to someone else."
        )
    question = turn.db.get(QuizQuestion, card.question_id)
    if question is None:
        return turn.render("message.j2", text='That question no longer exists. Say "quiz me" for another.')
    if card.pending_since is None or int(card.pending_since.timestamp()) != asked:
        return turn.render(
            "message.j2", text='You already answered this question. Say "quiz me" for the next one.'
        )
    if question.version != version or not question.active:
        if not question.active:
            card.pending_since = None
            return turn.render(
                "message.j2",
                text='That question was retired by enablement, so it no longer counts. Say "quiz me" for another.',
            )
        return ask(
            turn.ctx,
            turn.db,
            turn.person,
            card,
            turn.now(),
            intro="That question was edited since I sent it. Here is the new version:",
        )
    now = turn.now()
    took = now - card.pending_since
    timed = bool(card.pending_on_request)  # else: time since delivery, not since the rep saw it
    correct = choice == question.answer
    rating = Rating.Again if not correct else (Rating.Hard if timed and took > SLOW_ANSWER else Rating.Good)
    from handlers.learning import retrievability

    scheduler = scheduler_for(turn.organization)
    before = Card.from_dict(cast(Any, card.card))
    predicted = retrievability(scheduler, before, now) if before.last_review is not None else None
    reviewed, _ = scheduler.review_card(before, rating, review_datetime=now)
    added = insert_or_ignore(
        turn.db,
        ReviewLog,
        {
            "organization_id": card.organization_id,
            "card_id": card.id,
            "question_version": question.version,
            "rating": int(rating),
            "chosen": None if choice == NOT_SURE else choice,
            "correct": correct,
            "response_ms": int(took.total_seconds() * 1000) if timed else None,
            "delivered_at": card.pending_since,
            "predicted_recall": predicted,
            "idempotency_key": f"review:{card.id}:{asked}",
            "reviewed_at": now,
        },
        ["idempotency_key"],
    )
    if not added:
        return turn.render("message.j2", text="You already answered this question.")
    card.card = dict(reviewed.to_dict())
    card.due = reviewed.due
    card.pending_since = None
    card.pending_on_request = None
    turn.db.flush()
    # the playbook section the question tests (`tests:`), else the stage its topic names
    section = (
        quizlinks.resolve(question.section_ref, turn.ctx.playbooks.playbooks)
        if question.section_ref
        else None
    )
    stage = (
        (section.playbook, section.stage)
        if section is not None
        else next(
            ((p, s) for p in turn.ctx.playbooks.playbooks for s in p.stages if s.id == question.topic), None
        )
    )
    buttons: tuple[Button, ...] = ()
    if stage:
        label = (
            f"Re-read {stage[1].name}"
            if section is not None and not correct
            else f"Open the {stage[1].name} stage"
        )
        buttons += (Button(label, "stage.show", f"{stage[0].id}:{stage[1].id}"),)
    if answered_today(turn.db, turn.person, now) < per_day(turn.person, turn.organization) and _has_more(
        turn.db, turn.person, now
    ):
        buttons += (Button("Next question", "quiz.next", "", style="primary"),)
    from handlers.streaks import with_streak

    result = turn.render(
        "quiz_result.j2",
        buttons=buttons,
        question=question,
        choice=choice,
        correct=correct,
        not_sure=choice == NOT_SURE,
        next_due=reviewed.due.astimezone(zone(turn.person.timezone)),
        stage=stage[1] if stage else None,
        section=section,
    )
    return with_streak(turn, result)  # "🔥 5-day streak" (working days, handlers.streaks)


def _has_more(db, rep: Person, now: datetime) -> bool:
    """Whether another question is worth asking the rep now (to offer "Next question")."""
    return _best_choice(db, rep, now) is not None


def next_clicked(turn: Turn, _value: str = "") -> Reply:
    return quiz_me(turn)


def _timestamp(text: str) -> bool:
    digits = text.removeprefix("-")
    return digits.isascii() and digits.isdigit() and len(digits) <= 12
