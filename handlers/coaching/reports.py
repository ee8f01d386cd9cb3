"""Coaching reports: a manager's sessions per rep and area (`my coaching`), and per manager the cadence
kept, areas covered, share tied to deals and a maturity label (`coaching report`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy import select

from bot.messages import Reply
from handlers.charts import bar_chart
from handlers.coaching.queries import AREAS, cadence_days
from handlers.common import Turn, team_ids
from storage.models import (
    CoachingSession,
    Person,
    Role,
)

# -- reports ---------------------------------------------------------------------------------------------


@dataclass
class RepCoaching:
    name: str
    last4: int
    last12: int
    areas: list[str]
    days_since: int | None


def my_coaching(turn: Turn) -> Reply:
    if turn.person.role == Role.REP:
        return turn.render("replies/refusals.j2#coaching_report_for_managers", kind="refusal")
    now = turn.now()
    reports = list(
        turn.db.scalars(select(Person).where(Person.manager_id == turn.person.id).order_by(Person.name))
    )
    sessions = turn.db.execute(
        select(CoachingSession.rep_id, CoachingSession.area, CoachingSession.occurred_at).where(
            CoachingSession.manager_id == turn.person.id,
            CoachingSession.occurred_at >= now - timedelta(weeks=12),
        )
    ).all()
    rows = []
    for rep in reports:
        mine = [s for s in sessions if s.rep_id == rep.id]
        last = max((s.occurred_at for s in mine), default=None)
        rows.append(
            RepCoaching(
                rep.name,
                sum(1 for s in mine if s.occurred_at >= now - timedelta(weeks=4)),
                len(mine),
                sorted({AREAS.get(s.area, s.area) for s in mine}),
                (now - last).days if last else None,
            )
        )
    return turn.render("my_coaching.j2", rows=rows, not_coached=[r for r in rows if r.last4 == 0])


@dataclass
class ManagerCoaching:
    name: str
    reps: int
    sessions: int
    kept: int  # percent of (rep, cadence period) slots with at least one session, over 12 weeks
    areas: int
    with_deal: int  # percent of sessions tied to a deal
    maturity: str


def maturity(kept: int, areas: int, with_deal: int) -> str:
    """The rule, from the coaching maturity model (random, informal, formal, dynamic)."""
    if kept >= 85 and areas >= 4 and with_deal >= 50:
        return "dynamic"
    if kept >= 70 and areas >= 3:
        return "formal"
    if kept >= 30:
        return "informal"
    return "random"


def coaching_report(turn: Turn) -> Reply:
    if turn.person.role == Role.REP:
        return turn.render("replies/refusals.j2#organization_coaching_report", kind="refusal")
    now = turn.now()
    since = now - timedelta(weeks=12)
    scope = team_ids(turn.db, turn.person) if turn.person.role == Role.MANAGER else None
    query = select(Person).where(Person.organization_id == turn.organization.id, Person.role == Role.MANAGER)
    if scope is not None:
        query = query.where(Person.id.in_(scope | {turn.person.id}))
    rows = []
    for manager in turn.db.scalars(query.order_by(Person.name)):
        reps = list(turn.db.scalars(select(Person.id).where(Person.manager_id == manager.id)))
        if not reps:
            continue
        sessions = turn.db.execute(
            select(
                CoachingSession.rep_id,
                CoachingSession.area,
                CoachingSession.occurred_at,
                CoachingSession.deal_id,
            ).where(CoachingSession.manager_id == manager.id, CoachingSession.occurred_at >= since)
        ).all()
        interval = cadence_days(manager)
        periods = max(1, 84 // interval)
        slots = {(s.rep_id, int((s.occurred_at - since).days // interval)) for s in sessions}
        kept = round(100 * min(len(slots), len(reps) * periods) / (len(reps) * periods))
        areas = len({s.area for s in sessions})
        with_deal = round(100 * sum(1 for s in sessions if s.deal_id) / len(sessions)) if sessions else 0
        rows.append(
            ManagerCoaching(
                manager.name,
                len(reps),
                len(sessions),
                kept,
                areas,
                with_deal,
                maturity(kept, areas, with_deal),
            )
        )
    reply = turn.render("coaching_report.j2", rows=rows)
    image = bar_chart(
        [(r.name, r.kept) for r in rows],
        "Coaching cadence kept (%), last 12 weeks",
        "coaching-report.png",
        limit=100,
    )
    return replace(reply, image=image)
