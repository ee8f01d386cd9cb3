"""Quiz results: a rep's progress and what to re-read, the team's knowledge, enablement's quiz report."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, and_, func, select

from bot import quizlinks
from bot.messages import Button, Reply
from handlers.common import Turn, team_ids
from handlers.quizzes.review import _review_buttons, _to_review
from storage.models import (
    Person,
    QuizQuestion,
    ReviewCard,
    ReviewLog,
    Role,
)

RIGHT_ANSWERS = func.sum(func.cast(ReviewLog.correct, Integer))  # a count of right answers in a group
MASTERED_STABILITY = 21.0  # days of expected memory
WEAK_TOPIC = 0.6  # below this share of right answers a topic is weak


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


def sections_to_reread(db, library, rep: Person, topics: set[str]) -> dict[str, list[quizlinks.Section]]:
    """Per weak topic of one rep, the playbook sections to re-read (see `reread`)."""
    found = reread(db, library, {rep.id: topics})
    return {topic: sections for (_, topic), sections in found.items()}


def reread(
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
) -> dict[int, dict[str, tuple[int, int]]]:
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


def weakest_topics(db, rep_ids: set[int], now: datetime) -> dict[int, tuple[str, int]]:
    """Per rep, (topic, percent right) of the weakest topic over 90 days, for the reps that have a weak one
    (3+ answers, under WEAK_TOPIC right); one query for all of them."""
    weakest: dict[int, tuple[str, int]] = {}
    for rep_id, scores in topic_scores(db, rep_ids, now - timedelta(days=90)).items():
        weak = [
            (right / count, topic)
            for topic, (count, right) in scores.items()
            if count >= 3 and right / count < WEAK_TOPIC
        ]
        if weak:
            share, topic = min(weak)
            weakest[rep_id] = (topic, round(100 * share))
    return weakest


def team_knowledge(turn: Turn) -> Reply:
    if turn.person.role == Role.REP:
        return turn.render("replies/refusals.j2#team_knowledge_checks", kind="refusal")
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
        return turn.render("replies/refusals.j2#quiz_report", kind="refusal")
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
        if chosen is not None and count > top.get(qid, (0, -1))[0]:
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


def _retention_by_topic(db, organization_id: int) -> list[tuple[str, int, int]]:
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
