"""Coaching's domain reads: the areas and cadences, who on a team is due and on what (the ROAM focus
from the data the bot holds, with coaching questions from the playbook stage concerned), finding a person
by name, and reading a typed day or area.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select

from handlers.common import Turn
from handlers.summaries.queries import SKIPPED_WINDOW, STALLED_AFTER, last_activity, latest_confirmed
from playbooks.nearest import ranked
from storage.models import (
    CoachingSession,
    Deal,
    DealStageChange,
    DealStatus,
    Person,
)

AREAS = {
    "lead-opportunity": "Lead & opportunity",
    "pipeline": "Pipeline",
    "skills-behaviors": "Skills & behaviors",
    "account": "Account",
    "territory": "Territory",
}
AREA_WORDS = {
    "lead-opportunity": "lead opportunity opportunities deal deals opp",
    "pipeline": "pipeline forecast pipe",
    "skills-behaviors": "skills skill behaviors behaviours behavior behaviour methodology",
    "account": "account accounts customer",
    "territory": "territory territories patch region",
}
CADENCES = {"weekly": 7, "biweekly": 14, "monthly": 30}
DEFAULT_QUESTIONS = {
    "pipeline": [
        "Which new opportunities will you create in the next two weeks, and from where?",
        "Which deal in your pipeline would you drop today, and why haven't you?",
    ],
    "skills-behaviors": [
        "Walk me through your last buyer conversation: what did you learn that you didn't know before?",
        "What will you do differently in your next call?",
    ],
}


# -- rosters --------------------------------------------------------------------------------------------


def find_person(turn: Turn, words: str, among: list[Person] | None = None) -> Person | list[Person] | None:
    """A person by email, else by name (typo-tolerant); a list when the name fits several."""
    words = words.strip().strip("@").strip()
    people = (
        among
        if among is not None
        else list(
            turn.db.scalars(
                select(Person).where(Person.organization_id == turn.organization.id, Person.active.is_(True))
            )
        )
    )
    from bot.text import fold

    folded = fold(words)
    exact = [p for p in people if p.email.lower() == words.lower() or fold(p.name) == folded]
    if len(exact) == 1:
        return exact[0]
    first = [p for p in people if fold(p.name).split()[:1] == [folded]] if folded else []
    if len(first) == 1:
        return first[0]
    if len(first) > 1:
        return first
    scored = ranked(words, {p.id: p.name for p in people}, cutoff=85, limit=3, processor=fold)
    if not scored:
        return None
    by_id = {p.id: p for p in people}
    best = scored[0][1]
    close = [by_id[key] for key, score in scored if score >= best - 3]
    return close[0] if len(close) == 1 else close


# -- who is due, and on what ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Focus:
    area: str
    roam: str  # Results, Activity, Methodology
    text: str
    questions: tuple[str, ...]


@dataclass(frozen=True)
class RepDue:
    rep: Person
    days_since: int | None  # None: never coached
    overdue: bool
    focus: Focus


def cadence_days(manager: Person) -> int:
    return CADENCES.get((manager.preferences or {}).get("cadence", "weekly"), 7)


def due_reps(ctx, db, manager: Person, now: datetime) -> list[RepDue]:
    """Direct reports not coached within the cadence, each with a suggested focus."""
    reports = list(
        db.scalars(
            select(Person)
            .where(Person.manager_id == manager.id, Person.active.is_(True))
            .order_by(Person.name)
        )
    )
    if not reports:
        return []
    last = dict(
        db.execute(
            select(CoachingSession.rep_id, func.max(CoachingSession.occurred_at))
            .where(CoachingSession.rep_id.in_([r.id for r in reports]))
            .group_by(CoachingSession.rep_id)
        ).all()
    )
    interval = cadence_days(manager)
    owners = {r.id for r in reports}
    confirmed: dict[int, set[str]] = defaultdict(set)
    for deal_id, criterion_id in latest_confirmed(db, manager.organization_id, owners):
        confirmed[deal_id].add(criterion_id)
    activity = last_activity(db, manager.organization_id, owners)
    due = [rep for rep in reports if rep.id not in last or (now - last[rep.id]).days >= interval]
    weak = weak_topics(ctx, db, {rep.id for rep in due}, now)
    out = []
    for rep in due:
        days = (now - last[rep.id]).days if rep.id in last else None
        focus = suggest_focus(ctx, db, rep, now, confirmed, activity, weak)
        out.append(RepDue(rep, days, days is None or days >= 2 * interval, focus))
    return out


@dataclass(frozen=True)
class WeakTopic:
    """A rep's weakest knowledge-check topic over 90 days, and the playbook sections they last got wrong."""

    topic: str
    percent: int
    sections: tuple[str, ...]  # labels, e.g. "Evaluation · exit criterion “references-checked”"


def weak_topics(ctx, db, rep_ids: set[int], now: datetime) -> dict[int, WeakTopic]:
    """Per rep, the weakest topic (3+ answers, under 60% right, over 90 days) with the linked sections the rep
    last answered wrong: two queries for all the reps, whatever their number."""
    from handlers.quizzes.results import reread, weakest_topics

    if not rep_ids:
        return {}
    weakest = weakest_topics(db, rep_ids, now)
    sections = reread(db, ctx.playbooks, {rep: {topic} for rep, (topic, _) in weakest.items()}, stages=False)
    return {
        rep: WeakTopic(topic, percent, tuple(s.label for s in sections.get((rep, topic), [])))
        for rep, (topic, percent) in weakest.items()
    }


def suggest_focus(ctx, db, rep: Person, now: datetime, confirmed, activity, weak=None) -> Focus:
    """`weak`: the reps' weak knowledge-check topics (`weak_topics`), worked out once for all of them."""
    deals = list(
        db.scalars(
            select(Deal).where(Deal.owner_id == rep.id, Deal.status == DealStatus.OPEN).order_by(Deal.name)
        )
    )
    skipped = db.execute(
        select(DealStageChange, Deal.name, Deal.playbook_id)
        .join(Deal, Deal.id == DealStageChange.deal_id)
        .where(
            Deal.owner_id == rep.id,
            DealStageChange.changed_at >= now - SKIPPED_WINDOW,
            func.json_array_length(DealStageChange.skipped_criteria) > 0,
        )
        .order_by(DealStageChange.changed_at.desc())
    ).first()
    if skipped is not None:
        change, deal_name, playbook_id = skipped
        stage = _stage(ctx, playbook_id, change.from_stage_id)
        count = len(change.skipped_criteria)
        return Focus(
            "skills-behaviors",
            "Methodology",
            f"moved {deal_name} on from {stage.name if stage else change.from_stage_id} with "
            f"{count} exit {'criterion' if count == 1 else 'criteria'} unconfirmed",
            _questions(stage, "skills-behaviors"),
        )
    for deal in deals:
        latest = max(filter(None, (activity.get(deal.id), deal.stage_entered_at)))
        if now - latest >= STALLED_AFTER:
            stage = _stage(ctx, deal.playbook_id, deal.stage_id)
            return Focus(
                "lead-opportunity",
                "Activity",
                f"{deal.name} has had no exit-criteria progress in {(now - latest).days} days "
                f"({stage.name if stage else deal.stage_id})",
                _questions(stage, "lead-opportunity"),
            )
    found = (weak if weak is not None else weak_topics(ctx, db, {rep.id}, now)).get(rep.id)
    if found is not None:
        stage = next((s for p in ctx.playbooks.playbooks for s in p.stages if s.id == found.topic), None)
        wrong = f"; last answered wrong: {' and '.join(found.sections)}" if found.sections else ""
        return Focus(
            "skills-behaviors",
            "Methodology",
            f"knowledge checks on {stage.name if stage else found.topic} are {found.percent}% right over 90 "
            f"days{wrong}",
            _questions(stage, "skills-behaviors"),
        )
    open_criteria: Counter[tuple[str, str, str]] = Counter()
    for deal in deals:
        stage = _stage(ctx, deal.playbook_id, deal.stage_id)
        for criterion in stage.exit_criteria if stage else []:
            if criterion.id not in confirmed[deal.id]:
                open_criteria[(deal.playbook_id, deal.stage_id, criterion.text)] += 1
    if open_criteria:
        (playbook_id, stage_id, text), count = open_criteria.most_common(1)[0]
        stage = _stage(ctx, playbook_id, stage_id)
        return Focus(
            "lead-opportunity",
            "Results",
            f'"{text}" is unconfirmed on {count} of {len(deals)} deals',
            _questions(stage, "lead-opportunity"),
        )
    return Focus(
        "pipeline",
        "Results",
        "no open deals with open exit criteria: look at pipeline generation",
        tuple(DEFAULT_QUESTIONS["pipeline"]),
    )


def _stage(ctx, playbook_id: str, stage_id: str | None):
    playbook = ctx.playbooks.get(playbook_id)
    return playbook.stage(stage_id) if playbook and stage_id else None


def _questions(stage, area: str) -> tuple[str, ...]:
    questions = list(stage.coaching_questions if stage else []) or DEFAULT_QUESTIONS.get(
        area, DEFAULT_QUESTIONS["skills-behaviors"]
    )
    return tuple(questions[:3])


MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}


def parse_day(words: str, today: date) -> date | None:
    """ "2026-12-02", "2 Dec", "Dec 2", "december 2nd": the next such day."""
    words = words.strip().lower().rstrip(".")
    try:
        return date.fromisoformat(words)
    except ValueError:
        pass
    match = re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th)? ([a-z]+)|([a-z]+) (\d{1,2})(?:st|nd|rd|th)?", words)
    if not match:
        return None
    day, month = (match[1], match[2]) if match[1] else (match[4], match[3])
    number = MONTHS.get(month[:3])
    if number is None:
        return None
    try:
        candidate = date(today.year, number, int(day))
    except ValueError:
        return None
    return candidate if candidate >= today else candidate.replace(year=today.year + 1)


# -- logging coaching -------------------------------------------------------------------------------------


def area_of(words: str) -> str | None:
    words = words.lower().replace("&", " ").replace("-", " ")
    for area, synonyms in AREA_WORDS.items():
        if any(w in synonyms.split() for w in words.split()):
            return area
    return None
