"""What a summary shows, counted live: the team summary (deal by deal up to MAX_BLOCKS reps, rolled up
per manager's team beyond) and the exit-criteria report per stage.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, distinct, func, literal, or_, select, tuple_
from sqlalchemy.orm import Session, aliased, joinedload

from bot.context import AppContext
from handlers.common import open_deals_of
from handlers.summaries.queries import (
    SKIPPED_WINDOW,
    STALLED_AFTER,
    TOP_CRITERIA,
    activity_query,
    confirmed_per_criterion,
    in_current_stage,
    last_activity,
    latest_confirmed,
    skipped_criteria_counts,
    skipped_gates,
    skips_query,
)
from storage.models import (
    CriterionStatus,
    Deal,
    Person,
    UTCDateTime,
)

MAX_BLOCKS = 25  # rep (or team) sections in one summary; Slack allows 50 blocks a message
MAX_ATTENTION = 15


# -- the manager's team summary ------------------------------------------------------------------------


@dataclass
class DealLine:
    deal_name: str
    owner_name: str
    stage_name: str
    confirmed: int
    total: int
    stalled_days: int | None
    skipped: int
    last_activity: datetime  # the newest confirmation in this stage, or when the deal entered it


@dataclass
class RepBlock:
    """A rep and each of their deals."""

    name: str
    deals: list[DealLine] = field(default_factory=list)

    @property
    def deal_count(self) -> int:
        return len(self.deals)

    @property
    def confirmed(self) -> int:
        return sum(d.confirmed for d in self.deals)

    @property
    def total(self) -> int:
        return sum(d.total for d in self.deals)


@dataclass
class TeamBlock:
    """A manager's whole team in one line, for an organization too large to list deal by deal."""

    name: str
    deal_count: int = 0
    confirmed: int = 0
    total: int = 0
    deals: tuple[DealLine, ...] = ()


def count_team_summary(
    ctx: AppContext, db: Session, organization_id: int, owners: set[int] | None, now: datetime
) -> dict[str, Any]:
    """Up to MAX_BLOCKS reps are listed deal by deal; beyond that (an organization) the database rolls the
    deals up per manager's team, and only the deals that need attention are loaded."""
    rep_count = (
        db.scalar(select(func.count(distinct(Deal.owner_id))).where(*open_deals_of(organization_id, owners)))
        or 0
    )
    blocks: list[RepBlock] | list[TeamBlock]
    if rep_count > MAX_BLOCKS:
        blocks, more_blocks, deal_count = _teams(ctx, db, organization_id, owners)
        attention, attention_count = _attention(ctx, db, organization_id, owners, now)
    else:
        blocks, more_blocks = _reps(ctx, db, organization_id, owners, now), 0
        deal_count = sum(len(b.deals) for b in blocks)
        lines = [d for b in blocks for d in b.deals if d.stalled_days is not None or d.skipped]
        lines.sort(
            key=lambda d: (d.last_activity if d.stalled_days is not None else now, -d.skipped, d.deal_name)
        )
        attention, attention_count = lines[:MAX_ATTENTION], len(lines)
    return {
        "reps": blocks,
        "more_reps": more_blocks,
        "attention": attention,
        "more_attention": max(0, attention_count - MAX_ATTENTION),
        "deal_count": deal_count,
        "stalled_after": STALLED_AFTER.days,
        "skipped_window": SKIPPED_WINDOW.days,
        "scope": "organization" if owners is None else "team",
    }


def _line(ctx, deal: Deal, confirmed: set[str], last: datetime, skipped: int, now: datetime) -> DealLine:
    playbook = ctx.playbooks.get(deal.playbook_id)
    stage = playbook.stage(deal.stage_id) if playbook else None
    ids = {c.id for c in stage.exit_criteria} if stage else set()
    idle = now - last
    return DealLine(
        deal.name,
        deal.owner.name,
        stage.name if stage else deal.stage_id,
        len(confirmed & ids),
        len(ids),
        idle.days if idle >= STALLED_AFTER else None,
        skipped,
        last,
    )


def _reps(ctx, db: Session, organization_id: int, owners: set[int] | None, now: datetime) -> list[RepBlock]:
    """Each rep's open deals, one line each, reps in name order."""
    deals = db.scalars(
        select(Deal)
        .where(*open_deals_of(organization_id, owners))
        .options(joinedload(Deal.owner))  # names without a query per deal
        .order_by(Deal.name)
    ).all()
    confirmed: dict[int, set[str]] = defaultdict(set)
    for deal_id, criterion_id in latest_confirmed(db, organization_id, owners):
        confirmed[deal_id].add(criterion_id)
    activity = last_activity(db, organization_id, owners)
    skipped = skipped_gates(db, organization_id, owners, now - SKIPPED_WINDOW)
    reps: dict[int, RepBlock] = {}
    for deal in deals:
        last = max(filter(None, (activity.get(deal.id), deal.stage_entered_at)))
        line = _line(ctx, deal, confirmed[deal.id], last, skipped.get(deal.id, 0), now)
        reps.setdefault(deal.owner_id, RepBlock(deal.owner.name)).deals.append(line)
    return sorted(reps.values(), key=lambda r: r.name)


def _teams(
    ctx, db: Session, organization_id: int, owners: set[int] | None
) -> tuple[list[TeamBlock], int, int]:
    """Deals and confirmed criteria per manager's team, counted by the database (a row per team comes
    back, not per deal); (the largest MAX_BLOCKS teams, how many more teams, how many deals in all)."""
    stages = {
        (p.id, s.id): [c.id for c in s.exit_criteria] for p in ctx.playbooks.playbooks for s in p.stages
    }
    criteria_of_deal = (
        case(
            *((and_(Deal.playbook_id == p, Deal.stage_id == s), len(ids)) for (p, s), ids in stages.items()),
            else_=0,  # a stage the playbook no longer has
        )
        if stages
        else literal(0)
    )
    current = [(p, s, c) for (p, s), ids in stages.items() for c in ids]
    owner = aliased(Person)
    per_team = db.execute(
        select(owner.manager_id, func.count(), func.sum(criteria_of_deal))
        .join(owner, owner.id == Deal.owner_id)
        .where(*open_deals_of(organization_id, owners))
        .group_by(owner.manager_id)
    ).all()
    confirmed = db.execute(
        in_current_stage(
            select(owner.manager_id, func.count())
            .where(
                CriterionStatus.confirmed.is_(True),
                tuple_(Deal.playbook_id, Deal.stage_id, CriterionStatus.criterion_id).in_(current),
            )
            .group_by(owner.manager_id),
            organization_id,
            owners,
        ).join(owner, owner.id == Deal.owner_id)
    ).all()
    with_reports = select(owner.manager_id).where(owner.organization_id == organization_id).distinct()
    names = dict(db.execute(select(Person.id, Person.name).where(Person.id.in_(with_reports))).all())
    teams = {
        manager_id: TeamBlock(
            f"{names[manager_id]}'s team" if manager_id is not None else "Reps without a manager",
            deal_count,
            0,
            int(total or 0),
        )
        for manager_id, deal_count, total in per_team
    }
    for manager_id, count in confirmed:
        teams[manager_id].confirmed = count
    ordered = sorted(teams.values(), key=lambda t: (-t.deal_count, t.name))
    return ordered[:MAX_BLOCKS], max(0, len(ordered) - MAX_BLOCKS), sum(t.deal_count for t in ordered)


def _attention(
    ctx, db: Session, organization_id: int, owners: set[int] | None, now: datetime
) -> tuple[list[DealLine], int]:
    """The MAX_ATTENTION deals that need attention most (longest stalled first, then most skipped gates,
    then by name: the same order a manager's summary uses) and how many need attention, found by the
    database."""
    activity = activity_query(organization_id, owners).subquery()
    skips = skips_query(organization_id, owners, now - SKIPPED_WINDOW).subquery()
    last = case((activity.c.at > Deal.stage_entered_at, activity.c.at), else_=Deal.stage_entered_at)
    stalled = last <= literal(now - STALLED_AFTER, UTCDateTime())
    skipped = func.coalesce(skips.c.n, 0)
    needing = (
        select(Deal.id, last.label("last"), skipped.label("skipped"), func.count().over().label("total"))
        .outerjoin(activity, activity.c.deal_id == Deal.id)
        .outerjoin(skips, skips.c.deal_id == Deal.id)
        .where(*open_deals_of(organization_id, owners), or_(stalled, skips.c.n > 0))
    )
    top = db.execute(
        needing.order_by(
            case((stalled, last), else_=literal(now, UTCDateTime())), skipped.desc(), Deal.name
        ).limit(MAX_ATTENTION)
    ).all()
    deals = {
        d.id: d
        for d in db.scalars(
            select(Deal).where(Deal.id.in_([r.id for r in top])).options(joinedload(Deal.owner))
        )
    }
    confirmed: dict[int, set[str]] = defaultdict(set)
    in_top = select(CriterionStatus.deal_id, CriterionStatus.criterion_id).where(
        CriterionStatus.deal_id.in_(deals), CriterionStatus.confirmed.is_(True)
    )
    for deal_id, criterion_id in db.execute(in_current_stage(in_top, organization_id, owners)):
        confirmed[deal_id].add(criterion_id)
    lines = [_line(ctx, deals[r.id], confirmed[r.id], r.last, r.skipped, now) for r in top]
    return lines, top[0].total if top else 0


# -- enablement's exit-criteria report -----------------------------------------------------------------


@dataclass
class CriterionLine:
    text: str
    unconfirmed: int
    skipped: int


@dataclass
class StageBlock:
    playbook_name: str
    stage_name: str
    deals: int
    rate: int  # percent of the stage's criteria confirmed across its open deals
    criteria: list[CriterionLine]


def count_criteria_report(
    ctx, db: Session, organization_id: int, owners: set[int] | None
) -> list[StageBlock]:
    per_stage = db.execute(
        select(Deal.playbook_id, Deal.stage_id, func.count(Deal.id))
        .where(*open_deals_of(organization_id, owners))
        .group_by(Deal.playbook_id, Deal.stage_id)
    ).all()
    confirmed = confirmed_per_criterion(db, organization_id, owners)
    skipped = skipped_criteria_counts(db, organization_id, owners)
    blocks = []
    for playbook in ctx.playbooks.playbooks:
        counts = {stage_id: n for pid, stage_id, n in per_stage if pid == playbook.id}
        for stage in playbook.stages:
            deals = counts.get(stage.id, 0)
            stage_skips = {c.id: skipped.get((playbook.id, stage.id, c.id), 0) for c in stage.exit_criteria}
            if not deals and not any(stage_skips.values()):
                continue
            lines = [
                CriterionLine(
                    c.text, deals - confirmed.get((playbook.id, stage.id, c.id), 0), stage_skips[c.id]
                )
                for c in stage.exit_criteria
            ]
            done = sum(deals - line.unconfirmed for line in lines)
            rate = round(100 * done / (deals * len(lines))) if deals else 0
            lines.sort(key=lambda line: (-(line.unconfirmed + line.skipped), line.text))
            blocks.append(
                StageBlock(
                    playbook.name,
                    stage.name,
                    deals,
                    rate,
                    [x for x in lines if x.unconfirmed or x.skipped][:TOP_CRITERIA],
                )
            )
    return blocks
