"""Spaced-repetition knowledge checks: each rep's questions, FSRS memory per card, a daily budget.

A rep has at most one question waiting at a time; a question missed is not resent in bulk, it simply
stays waiting and comes back. Which question comes next is chosen for the budget (handlers.learning): the
one whose review adds the most expected recall over the rep's whole set. Answers are rated by correctness
(wrong or "not sure": Again; right: Good); only a question the rep asked for ("quiz me", "Next question")
has a measured response time, and a slow right answer to it is Hard. Every review is logged with when the
question was delivered and answered, so the FSRS parameters can be optimized later from honest data.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from fsrs import Card, Rating, Scheduler
from sqlalchemy import Integer, and_, func, select

from bot import quizlinks
from bot.localtime import zone
from bot.messages import Button, Form, FormField, Reply
from handlers.common import Turn, not_paused, small_number, team_ids
from storage.db import insert_or_ignore
from storage.models import (
    ChannelQuiz,
    ChannelQuizAnswer,
    Deal,
    DealStatus,
    Organization,
    Person,
    QuizQuestion,
    ReviewCard,
    ReviewLog,
    Role,
)

DEFAULT_PER_DAY = 2
DEFAULT_RETENTION = 0.9
DEFAULT_MAX_INTERVAL = 120  # days: sales content goes stale
SLOW_ANSWER = timedelta(seconds=30)
RIGHT_ANSWERS = func.sum(func.cast(ReviewLog.correct, Integer))  # a count of right answers in a group
NOT_SURE = -1
MASTERED_STABILITY = 21.0  # days of expected memory
WEAK_TOPIC = 0.6  # below this share of right answers a topic is weak
CALIBRATION_REVIEWS = 50  # the rep's latest reviews that say how well FSRS's predictions fit them


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


def audiences(db, rep: Person) -> list[str]:  # type: ignore[no-untyped-def]
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


def _unseen(db, rep: Person):  # type: ignore[no-untyped-def]
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


def next_card(db, rep: Person, now: datetime, organization: Organization | None = None) -> ReviewCard | None:  # type: ignore[no-untyped-def]
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


def _best_choice(db, rep: Person, now: datetime, organization: Organization | None = None):  # type: ignore[no-untyped-def]
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
    fit = calibration(sum(1 for c, _ in logged if c), sum(p for _, p in logged))
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


def answered_today(db, rep: Person, now: datetime) -> int:  # type: ignore[no-untyped-def]
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
) -> Reply:  # type: ignore[no-untyped-def]
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
    before = Card.from_dict(card.card)
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
    card.card = reviewed.to_dict()
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


def _has_more(db, rep: Person, now: datetime) -> bool:  # type: ignore[no-untyped-def]
    """Whether another question is worth asking the rep now (to offer "Next question")."""
    return _best_choice(db, rep, now) is not None


def next_clicked(turn: Turn, _value: str = "") -> Reply:
    return quiz_me(turn)


# -- the daily knowledge check -----------------------------------------------------------------------------

QUIZ_TIME = "09:30"
QUIZ_GRACE = timedelta(hours=10)


def enqueue_knowledge_checks(ctx, now: datetime) -> int:  # type: ignore[no-untyped-def]
    """Queue today's knowledge check for every rep whose local 09:30 on a working day has passed.

    Set-based, because a tick may cover 100k reps: reps are grouped by (time zone, working days, quiz
    time), each group's slot is worked out once, and each group due now is queued with one INSERT ...
    SELECT. The key is per rep and local date; the question itself is chosen when the message is sent
    (`compose_knowledge_check`), so it is the rep's most pressing one at that moment.
    """
    from bot.localtime import daily_slot, parse_days, parse_hhmm, public_holidays
    from storage import outbox

    quiz_time = Person.preferences["quiz_time"].as_string()
    country = Person.preferences["country"].as_string()
    region = Person.preferences["region"].as_string()
    reps = and_(Person.role == Role.REP, Person.active.is_(True))
    queued = 0
    with ctx.sessions.begin() as db:
        # the clock's playbooks against the sections linked questions were reviewed against: a section
        # that changed flags its questions and re-asks their learners before today's questions are chosen
        quizlinks.refresh(db, ctx.playbooks.playbooks, now)
        groups = db.execute(
            select(Person.timezone, Person.working_days, quiz_time, country, region)
            .where(reps)
            .group_by(Person.timezone, Person.working_days, quiz_time, country, region)
        ).all()
        for tz_name, working_days, at, land, area in groups:
            tz = zone(tz_name)
            day, slot = daily_slot(tz, parse_hhmm(at or QUIZ_TIME), now)
            local_day = now.astimezone(tz).date()
            if not slot <= now < slot + QUIZ_GRACE or local_day.weekday() not in (
                parse_days(working_days or "") or frozenset(range(5))
            ):
                continue
            holidays = public_holidays(land, area)
            if holidays is not None and local_day in holidays:
                continue  # a public holiday where these reps work: no knowledge check today
            members = select(Person.id).where(
                reps,
                Person.timezone == tz_name,
                Person.working_days == working_days,
                quiz_time.is_not_distinct_from(at),
                country.is_not_distinct_from(land),
                region.is_not_distinct_from(area),
                not_paused(local_day, "quiz_paused_until"),  # "pause quizzes until 2 Jan"
            )
            queued += outbox.enqueue_to_people(
                db, members, kind="quiz", key=("quiz", day), payload=outbox.compose_later("quiz"), now=now
            )
    return queued


def compose_knowledge_check(ctx, db, rep: Person, now: datetime) -> Reply | None:  # type: ignore[no-untyped-def]
    """The daily question, chosen as it is sent. A question left unanswered from an earlier day is not
    resent in bulk: it stays the rep's one waiting question and is asked again today, alone. A rep who
    paused knowledge checks after it was queued gets nothing."""
    paused = (rep.preferences or {}).get("quiz_paused_until") or ""
    if paused > now.astimezone(zone(rep.timezone)).date().isoformat():
        return None
    card = next_card(db, rep, now)
    if card is None:
        return None
    if card.pending_since is not None:
        card.pending_since = None  # yesterday's question: ask it afresh, with new buttons
    return ask(ctx, db, rep, card, now, intro="Your knowledge check for today:", on_request=False)


# -- results --------------------------------------------------------------------------------------------


@dataclass
class TopicProgress:
    topic: str
    questions: int
    mastered: int
    correct: int
    answers: int


def my_progress(turn: Turn) -> Reply:
    rows = turn.db.execute(
        select(QuizQuestion.topic, ReviewCard.card)
        .join(ReviewCard, ReviewCard.question_id == QuizQuestion.id)
        .where(ReviewCard.person_id == turn.person.id)
    ).all()
    answers = topic_scores(turn.db, {turn.person.id}).get(turn.person.id, {})
    topics: dict[str, TopicProgress] = {}
    for topic, card in rows:
        count, right = answers.get(topic, (0, 0))
        entry = topics.setdefault(
            topic, TopicProgress(topic, questions=0, mastered=0, correct=right, answers=count)
        )
        entry.questions += 1
        entry.mastered += (card.get("stability") or 0) >= MASTERED_STABILITY
    from handlers.streaks import streak  # working days in a row; holidays, days off and pauses don't break it

    weak = {t.topic for t in topics.values() if t.answers >= 3 and t.correct / t.answers < WEAK_TOPIC}
    reread = sections_to_reread(turn.db, turn.ctx.playbooks, turn.person, weak)
    stages = {(s.playbook.id, s.stage.id): s for found in reread.values() for s in found}
    buttons = tuple(
        Button(f"Re-read {s.stage.name}", "stage.show", f"{playbook_id}:{stage_id}")
        for (playbook_id, stage_id), s in list(stages.items())[:3]
    )
    return turn.render(
        "quiz_progress.j2",
        buttons=buttons,
        reread=reread,
        topics=sorted(topics.values(), key=lambda t: t.topic),
        streak=streak(turn.db, turn.person, turn.now()),
    )


def sections_to_reread(db, library, rep: Person, topics: set[str]) -> dict[str, list[quizlinks.Section]]:  # type: ignore[no-untyped-def]
    """Per weak topic of one rep, the playbook sections to re-read (see `reread`)."""
    found = reread(db, library, {rep.id: topics})
    return {topic: sections for (_, topic), sections in found.items()}


def reread(  # type: ignore[no-untyped-def]
    db, library, weak: dict[int, set[str]], stages: bool = True
) -> dict[tuple[int, str], list[quizlinks.Section]]:
    """Per (rep, weak topic), the playbook sections to re-read: those tested by the topic's linked questions
    the rep last got wrong, else (with `stages`) the stage the topic names. At most two each; one query."""
    weak = {rep: topics for rep, topics in weak.items() if topics}
    if not weak:
        return {}
    rows = db.execute(
        select(ReviewCard.person_id, QuizQuestion.topic, QuizQuestion.section_ref, ReviewLog.correct)
        .join(ReviewCard, ReviewCard.question_id == QuizQuestion.id)
        .join(ReviewLog, ReviewLog.card_id == ReviewCard.id)
        .where(
            ReviewCard.person_id.in_(weak),
            QuizQuestion.topic.in_({t for topics in weak.values() for t in topics}),
            QuizQuestion.section_ref.is_not(None),
        )
        .order_by(ReviewLog.reviewed_at, ReviewLog.id)
    ).all()
    latest: dict[tuple[int, str, str], bool] = {}
    for rep, topic, ref, correct in rows:
        if topic in weak[rep]:
            latest[(rep, topic, ref)] = bool(correct)
    out: dict[tuple[int, str], list[quizlinks.Section]] = {}
    for (rep, topic, ref), correct in sorted(latest.items(), key=lambda kv: kv[0][2]):
        if correct:
            continue
        section = quizlinks.resolve(ref, library.playbooks)
        found = out.setdefault((rep, topic), [])
        if section is not None and len(found) < 2 and section.ref not in [f.ref for f in found]:
            found.append(section)
    by_id = {st.id: (p, st) for p in reversed(library.playbooks) for st in p.stages} if stages else {}
    for rep, topics in weak.items():
        for topic in topics:
            if not out.get((rep, topic)) and topic in by_id:
                playbook, stage = by_id[topic]
                section = quizlinks.resolve(quizlinks.SectionRef(playbook.id, stage.id), library.playbooks)
                out[(rep, topic)] = [section] if section is not None else []
    return {key: found for key, found in out.items() if found}


def topic_scores(
    db, rep_ids: set[int], since: datetime | None = None
) -> dict[int, dict[str, tuple[int, int]]]:  # type: ignore[no-untyped-def]
    """rep -> topic -> (answers, right), since `since` or ever, counted by the database."""
    query = (
        select(ReviewCard.person_id, QuizQuestion.topic, func.count(ReviewLog.id), RIGHT_ANSWERS)
        .join(ReviewCard, ReviewCard.id == ReviewLog.card_id)
        .join(QuizQuestion, QuizQuestion.id == ReviewCard.question_id)
        .where(ReviewCard.person_id.in_(rep_ids))
        .group_by(ReviewCard.person_id, QuizQuestion.topic)
    )
    if since is not None:
        query = query.where(ReviewLog.reviewed_at >= since)
    rows = db.execute(query).all()
    out: dict[int, dict[str, tuple[int, int]]] = defaultdict(dict)
    for person_id, topic, count, right in rows:
        out[person_id][topic] = (count, int(right or 0))
    return out


def weakest_topic(db, rep: Person, now: datetime) -> tuple[str, int] | None:  # type: ignore[no-untyped-def]
    """(topic, percent right) of the rep's weakest topic over 90 days, if it is weak (3+ answers)."""
    scores = topic_scores(db, {rep.id}, now - timedelta(days=90)).get(rep.id, {})
    weak = [
        (right / count, topic)
        for topic, (count, right) in scores.items()
        if count >= 3 and right / count < WEAK_TOPIC
    ]
    if not weak:
        return None
    share, topic = min(weak)
    return topic, round(100 * share)


def team_knowledge(turn: Turn) -> Reply:
    if turn.person.role == Role.REP:
        return turn.render(
            "refused.j2",
            kind="refusal",
            what="your team's knowledge checks",
            why='they are for managers. Say "my progress" for yours.',
        )
    ids = (
        team_ids(turn.db, turn.person)
        if turn.person.role == Role.MANAGER
        else set(turn.db.scalars(select(Person.id).where(Person.organization_id == turn.organization.id)))
    )
    names = dict(turn.db.execute(select(Person.id, Person.name).where(Person.id.in_(ids))).all())
    scores = topic_scores(turn.db, ids, turn.now() - timedelta(days=90))
    weak = {
        pid: {topic for topic, (count, right) in topics.items() if right / count < WEAK_TOPIC}
        for pid, topics in scores.items()
    }
    sections = reread(turn.db, turn.ctx.playbooks, weak, stages=False)  # the nudge names the stage
    rows = sorted(
        (
            (names[pid], topic, count, round(100 * right / count), sections.get((pid, topic), []))
            for pid, topics in scores.items()
            for topic, (count, right) in topics.items()
        ),
        key=lambda r: (r[3], r[0]),
    )
    return turn.render("team_knowledge.j2", rows=rows)


@dataclass
class QuestionStats:
    question: QuizQuestion
    assigned: int
    answered: int
    answers: int
    correct: int
    top_wrong: str | None
    top_wrong_share: int

    @property
    def confusing(self) -> bool:
        return self.answers >= 5 and self.correct / self.answers < 0.5 and self.top_wrong_share >= 40


def quiz_report(turn: Turn) -> Reply:
    if turn.person.role != Role.ENABLEMENT:
        return turn.render("refused.j2", kind="refusal", what="the quiz report", why="it is for enablement.")
    db = turn.db
    questions = list(
        db.scalars(
            select(QuizQuestion)
            .where(QuizQuestion.organization_id == turn.organization.id)
            .order_by(QuizQuestion.topic, QuizQuestion.external_id)
        )
    )
    assigned = dict(
        db.execute(
            select(ReviewCard.question_id, func.count(ReviewCard.id)).group_by(ReviewCard.question_id)
        ).all()
    )
    answered = dict(
        db.execute(
            select(ReviewCard.question_id, func.count(func.distinct(ReviewCard.id)))
            .join(ReviewLog, ReviewLog.card_id == ReviewCard.id)
            .group_by(ReviewCard.question_id)
        ).all()
    )
    totals = {
        qid: (n, int(r or 0))
        for qid, n, r in db.execute(
            select(
                ReviewCard.question_id,
                func.count(ReviewLog.id),
                RIGHT_ANSWERS,
            )
            .join(ReviewLog, ReviewLog.card_id == ReviewCard.id)
            .group_by(ReviewCard.question_id)
        ).all()
    }
    wrong = db.execute(
        select(ReviewCard.question_id, ReviewLog.chosen, func.count(ReviewLog.id))
        .join(ReviewLog, ReviewLog.card_id == ReviewCard.id)
        .where(ReviewLog.correct.is_(False), ReviewLog.chosen.is_not(None))
        .group_by(ReviewCard.question_id, ReviewLog.chosen)
    ).all()
    top: dict[int, tuple[int, int]] = {}
    for qid, chosen, count in wrong:
        if count > top.get(qid, (0, -1))[0]:
            top[qid] = (count, chosen)
    stats = []
    for q in questions:
        answers, right = totals.get(q.id, (0, 0))
        count, chosen = top.get(q.id, (0, -1))
        label = q.choices[chosen] if 0 <= chosen < len(q.choices) else None
        stats.append(
            QuestionStats(
                q,
                assigned.get(q.id, 0),
                answered.get(q.id, 0),
                answers,
                right,
                label,
                round(100 * count / answers) if answers else 0,
            )
        )
    retention = _retention_by_topic(db, turn.organization.id)
    review = _to_review(turn)
    return turn.render(
        "quiz_report.j2", stats=stats, retention=retention, review=review, buttons=_review_buttons(review)
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
            q.review_flagged_at.astimezone(tz).strftime("%d %B %Y"),
            reset.get(q.id, 0),
        )
        for q in flagged
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
        return turn.render(
            "refused.j2", kind="refusal", what="questions to review", why="they are for enablement."
        )
    review = _to_review(turn)
    return turn.render("quiz_review.j2", review=review, buttons=_review_buttons(review))


def mark_reviewed(turn: Turn, external_id: str) -> Reply:
    """'mark enterprise-evaluation-1 reviewed': the question stands against its section as it is now."""
    if turn.person.role != Role.ENABLEMENT:
        return turn.render(
            "refused.j2", kind="refusal", what="reviewing questions", why="it is for enablement."
        )
    question = turn.db.scalar(
        select(QuizQuestion).where(
            QuizQuestion.organization_id == turn.organization.id,
            func.lower(QuizQuestion.external_id) == external_id.strip().lower(),
        )
    )
    if question is None:
        from bot.quizlinks import _suggest

        ids = turn.db.scalars(
            select(QuizQuestion.external_id).where(QuizQuestion.organization_id == turn.organization.id)
        ).all()
        near = _suggest(external_id, ids)
        hint = f' Did you mean "{near}"?' if near else ' Say "questions to review" for the list.'
        return turn.render(
            "message.j2", kind="error", text=f"There is no question with id {external_id}.{hint}"
        )
    return _mark(turn, question)


def reviewed_clicked(turn: Turn, value: str) -> Reply:
    number = small_number(value)
    question = turn.db.get(QuizQuestion, number) if number is not None else None
    if question is None or question.organization_id != turn.organization.id:
        return turn.render("message.j2", kind="error", text="That question no longer exists.")
    return _mark(turn, question)


def _mark(turn: Turn, question: QuizQuestion) -> Reply:
    if question.section_ref is None:
        return turn.render(
            "message.j2",
            text=f"Question {question.external_id} names no playbook section (`tests:`), so there is nothing to review.",
        )
    if question.review_flagged_at is None:
        return turn.render("message.j2", text=f"Question {question.external_id} is not waiting for review.")
    try:
        marked = quizlinks.mark_reviewed(question, turn.ctx.playbooks.playbooks)
    except quizlinks.PlaybooksDiffer:
        return turn.render(
            "message.j2",
            kind="error",
            text=(
                f"The playbook section question {question.external_id} tests is not the same here as in the "
                "bot's scheduler (new playbooks are being rolled out): nothing was marked. Try again in a few "
                "minutes, once every part of the bot runs the new playbooks."
            ),
        )
    if not marked:
        return turn.render(
            "message.j2",
            kind="error",
            text=(
                f"The section question {question.external_id} tests ({question.section_ref}) is no longer in the "
                "playbooks: point its `tests:` at a current section in its quiz file and import it again."
            ),
        )
    left = len(_to_review(turn))
    more = f" {left} still to review." if left else " Nothing else to review."
    return turn.render(
        "message.j2",
        text=f"Marked {question.external_id} reviewed against the playbook as it is now.{more}",
    )


def _retention_by_topic(db, organization_id: int) -> list[tuple[str, int, int]]:  # type: ignore[no-untyped-def]
    """(topic, reviews after the first, percent right): how well answers hold up when asked again later."""
    first = (
        select(ReviewLog.card_id, func.min(ReviewLog.reviewed_at).label("first"))
        .group_by(ReviewLog.card_id)
        .subquery()
    )
    rows = db.execute(
        select(QuizQuestion.topic, func.count(ReviewLog.id), RIGHT_ANSWERS)
        .join(ReviewCard, ReviewCard.id == ReviewLog.card_id)
        .join(QuizQuestion, QuizQuestion.id == ReviewCard.question_id)
        .join(first, and_(first.c.card_id == ReviewLog.card_id, ReviewLog.reviewed_at > first.c.first))
        .where(ReviewLog.organization_id == organization_id)
        .group_by(QuizQuestion.topic)
        .order_by(QuizQuestion.topic)
    ).all()
    return [(topic, count, round(100 * int(right or 0) / count)) for topic, count, right in rows if count]


# -- authoring in chat ---------------------------------------------------------------------------------


def new_question_form(turn: Turn) -> Reply:
    if turn.person.role != Role.ENABLEMENT:
        return turn.render(
            "refused.j2", kind="refusal", what="quiz authoring", why="questions are written by enablement."
        )
    form = question_form(secrets.token_hex(6))
    return turn.render("message.j2", form=form, text="Write a question for all reps: it goes live at once.")


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
        return turn.render(
            "refused.j2", kind="refusal", what="quiz authoring", why="questions are written by enablement."
        )
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
        return turn.render("message.j2", kind="error", text=f"Nothing was added: {problems}.")
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
        return turn.render("message.j2", text="Already added: this form was submitted before.")
    tested = f" It tests the playbook's {section.label} (`{section.ref.key}`)." if section else ""
    return turn.render(
        "message.j2",
        text=f'Added question {item.id} ("{item.question}") for all reps. They get it in their daily checks.{tested}',
    )


# -- a quiz posted to a channel ------------------------------------------------------------------------


def post_to_channel(turn: Turn, question_id: str, names: bool) -> Reply:
    if turn.person.role != Role.ENABLEMENT:
        return turn.render(
            "refused.j2", kind="refusal", what="channel quizzes", why="they are posted by enablement."
        )
    if not turn.request.shared or not turn.request.channel_id:
        return turn.render(
            "message.j2", kind="error", text="Post a channel quiz in the channel itself: mention me there."
        )
    question = turn.db.scalar(
        select(QuizQuestion).where(
            QuizQuestion.organization_id == turn.organization.id,
            func.lower(QuizQuestion.external_id) == question_id.strip().lower(),
        )
    )
    if question is None:
        return turn.render(
            "message.j2",
            kind="error",
            text=f'There is no question with id {question_id}. Say "quiz report" for the list.',
        )
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


def _timestamp(text: str) -> bool:
    digits = text.removeprefix("-")
    return digits.isascii() and digits.isdigit() and len(digits) <= 12


def channel_answer(turn: Turn, value: str) -> Reply:
    quiz_id, _, choice = value.partition(":")
    number, chosen = small_number(quiz_id), small_number(choice)
    quiz = turn.db.get(ChannelQuiz, number) if number is not None else None
    if quiz is None or quiz.organization_id != turn.organization.id or chosen is None:
        return turn.render("message.j2", kind="error", text="That quiz no longer exists.")
    if quiz.closed_at is not None:
        return turn.render("message.j2", text="This quiz is closed; the results are in the channel.")
    question = turn.db.get(QuizQuestion, quiz.question_id)
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
        return turn.render("message.j2", text="You already answered this one: your first answer counts.")
    return turn.render("message.j2", text="Thanks, your answer is in. The results come when the quiz closes.")


def channel_close(turn: Turn, value: str) -> Reply:
    number = small_number(value)
    quiz = turn.db.get(ChannelQuiz, number) if number is not None else None
    if quiz is None or quiz.organization_id != turn.organization.id:
        return turn.render("message.j2", kind="error", text="That quiz no longer exists.")
    if turn.person.role != Role.ENABLEMENT and turn.person.id != quiz.opened_by_id:
        return turn.render(
            "refused.j2", kind="refusal", what="close this quiz", why="enablement closes channel quizzes."
        )
    if quiz.closed_at is None:
        quiz.closed_at = turn.now()
    question = turn.db.get(QuizQuestion, quiz.question_id)
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
