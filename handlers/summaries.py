"""Where deals stand and stall: the manager's team summary and enablement's exit-criteria report.

The counting is done by the database (window functions over the confirmation events, aggregates per
deal and per criterion), so a summary reads a row per deal or per criterion, never every event.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, func, select, text
from sqlalchemy.orm import Session, aliased, joinedload

from bot.messages import Reply
from bot.models import CriterionEvent, Deal, DealStageChange, DealStatus, Person, Role
from handlers.charts import criteria_chart
from handlers.common import Turn, visible_owner_ids, weekly_due_ids

STALLED_AFTER = timedelta(days=14)
SKIPPED_WINDOW = timedelta(days=30)
TOP_CRITERIA = 3
MAX_BLOCKS = 25  # rep (or team) sections in one summary; Slack allows 50 blocks a message
MAX_ATTENTION = 15


def _open_deals(workspace_id: int, owners: set[int] | None):  # type: ignore[no-untyped-def]
    query = select(Deal.id).where(Deal.workspace_id == workspace_id, Deal.status == DealStatus.OPEN)
    return query.where(Deal.owner_id.in_(owners)) if owners is not None else query


def _latest_events(workspace_id: int, owners: set[int] | None):  # type: ignore[no-untyped-def]
    """Confirmation events in open deals' current stages, numbered newest first per deal and criterion."""
    return (
        select(
            CriterionEvent.deal_id,
            CriterionEvent.playbook_id,
            CriterionEvent.stage_id,
            CriterionEvent.criterion_id,
            CriterionEvent.confirmed,
            func.row_number()
            .over(
                partition_by=(CriterionEvent.deal_id, CriterionEvent.criterion_id),
                order_by=(CriterionEvent.created_at.desc(), CriterionEvent.id.desc()),
            )
            .label("position"),
        )
        .join(Deal, and_(Deal.id == CriterionEvent.deal_id, Deal.stage_id == CriterionEvent.stage_id))
        .where(CriterionEvent.deal_id.in_(_open_deals(workspace_id, owners)))
        .subquery()
    )


def latest_confirmed(db: Session, workspace_id: int, owners: set[int] | None) -> list[tuple[int, str]]:
    """(deal id, criterion id) for each criterion of a deal's current stage whose latest event confirms it."""
    ranked = _latest_events(workspace_id, owners)
    rows = db.execute(
        select(ranked.c.deal_id, ranked.c.criterion_id).where(
            ranked.c.position == 1, ranked.c.confirmed.is_(True)
        )
    )
    return [(deal_id, criterion_id) for deal_id, criterion_id in rows]


def confirmed_per_criterion(
    db: Session, workspace_id: int, owners: set[int] | None
) -> dict[tuple[str, str, str], int]:
    """(playbook, stage, criterion) -> how many open deals in that stage have it confirmed now."""
    ranked = _latest_events(workspace_id, owners)
    rows = db.execute(
        select(ranked.c.playbook_id, ranked.c.stage_id, ranked.c.criterion_id, func.count())
        .where(ranked.c.position == 1, ranked.c.confirmed.is_(True))
        .group_by(ranked.c.playbook_id, ranked.c.stage_id, ranked.c.criterion_id)
    )
    return {(playbook, stage, criterion): count for playbook, stage, criterion, count in rows}


def last_activity(db: Session, workspace_id: int, owners: set[int] | None) -> dict[int, datetime]:
    """The newest confirmation event in each open deal's current stage."""
    rows = db.execute(
        select(CriterionEvent.deal_id, func.max(CriterionEvent.created_at))
        .join(Deal, and_(Deal.id == CriterionEvent.deal_id, Deal.stage_id == CriterionEvent.stage_id))
        .where(CriterionEvent.deal_id.in_(_open_deals(workspace_id, owners)))
        .group_by(CriterionEvent.deal_id)
    )
    return {deal_id: at for deal_id, at in rows if at is not None}


def skipped_gates(db: Session, workspace_id: int, owners: set[int] | None, since: datetime) -> dict[int, int]:
    """How many times each open deal moved on with unconfirmed criteria since `since`."""
    rows = db.execute(
        select(DealStageChange.deal_id, func.count())
        .where(
            DealStageChange.deal_id.in_(_open_deals(workspace_id, owners)),
            DealStageChange.changed_at >= since,
            func.json_array_length(DealStageChange.skipped_criteria) > 0,
        )
        .group_by(DealStageChange.deal_id)
    )
    return dict(rows.all())


def skipped_criteria_counts(
    db: Session, workspace_id: int, owners: set[int] | None = None
) -> dict[tuple[str, str, str], int]:
    """(playbook, stage left, criterion) -> how often deals (of `owners`, or all) moved on with it
    unconfirmed, ever."""
    if db.get_bind().dialect.name == "postgresql":
        expand = "CROSS JOIN LATERAL json_array_elements_text(c.skipped_criteria) AS j(value)"
    else:
        expand = "JOIN json_each(c.skipped_criteria) AS j"
    rows = db.execute(
        text(
            "SELECT d.playbook_id, c.from_stage_id, j.value, count(*) FROM deal_stage_changes AS c "
            f"JOIN deals AS d ON d.id = c.deal_id {expand} "
            "WHERE c.workspace_id = :workspace AND c.from_stage_id IS NOT NULL "
            f"{'' if owners is None else 'AND d.owner_id IN :owners '}"
            "GROUP BY d.playbook_id, c.from_stage_id, j.value"
        ).bindparams(*([] if owners is None else [bindparam("owners", expanding=True)])),
        {"workspace": workspace_id, **({} if owners is None else {"owners": sorted(owners)})},
    )
    return {(playbook, stage, str(criterion)): count for playbook, stage, criterion, count in rows}


# -- the manager's team summary ------------------------------------------------------------------------


@dataclass
class DealLine:
    deal: Deal
    stage_name: str
    confirmed: int
    total: int
    stalled_days: int | None
    skipped: int


@dataclass
class RepBlock:
    """A rep and their deals; in a large organization, a manager's whole team rolled up (no deal lines)."""

    name: str
    deals: list[DealLine] = field(default_factory=list)
    show_deals: bool = True

    @property
    def confirmed(self) -> int:
        return sum(d.confirmed for d in self.deals)

    @property
    def total(self) -> int:
        return sum(d.total for d in self.deals)


def team_summary(turn: Turn) -> Reply:
    if turn.person.role == Role.REP:
        return turn.render(
            "refused.j2",
            kind="refusal",
            what="a team summary",
            why='summaries are for managers and enablement. Say "my deals" for yours.',
        )
    return turn.render("team_summary.j2", **team_summary_data(turn.ctx, turn.db, turn.person, turn.now()))


def team_summary_data(ctx, db: Session, person: Person, now: datetime) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """What the summary (and the weekly digest) shows for a manager's team, or enablement's workspace."""
    owners = visible_owner_ids(db, person)
    deals = db.scalars(
        select(Deal)
        .where(Deal.id.in_(_open_deals(person.workspace_id, owners)))
        .options(joinedload(Deal.owner).joinedload(Person.manager))  # names without a query per deal
        .order_by(Deal.name)
    ).all()
    confirmed: dict[int, set[str]] = defaultdict(set)
    for deal_id, criterion_id in latest_confirmed(db, person.workspace_id, owners):
        confirmed[deal_id].add(criterion_id)
    activity = last_activity(db, person.workspace_id, owners)
    skipped = skipped_gates(db, person.workspace_id, owners, now - SKIPPED_WINDOW)
    reps: dict[int, RepBlock] = {}
    for deal in deals:
        playbook = ctx.playbooks.get(deal.playbook_id)
        stage = playbook.stage(deal.stage_id) if playbook else None
        ids = {c.id for c in stage.exit_criteria} if stage else set()
        latest = max(filter(None, (activity.get(deal.id), deal.stage_entered_at)))
        idle = now - latest
        line = DealLine(
            deal,
            stage.name if stage else deal.stage_id,
            len(confirmed[deal.id] & ids),
            len(ids),
            idle.days if idle >= STALLED_AFTER else None,
            skipped.get(deal.id, 0),
        )
        reps.setdefault(deal.owner_id, RepBlock(deal.owner.name)).deals.append(line)
    blocks = sorted(reps.values(), key=lambda r: r.name)
    attention = [d for r in blocks for d in r.deals if d.stalled_days is not None or d.skipped]
    attention.sort(key=lambda d: (-(d.stalled_days or 0), -d.skipped, d.deal.name))
    more_blocks = 0
    if len(blocks) > MAX_BLOCKS:  # a chat message cannot hold an organization deal by deal: roll up teams
        blocks, more_blocks = _by_team(blocks, deals)
    return {
        "reps": blocks,
        "more_reps": more_blocks,
        "attention": attention[:MAX_ATTENTION],
        "more_attention": max(0, len(attention) - MAX_ATTENTION),
        "deal_count": len(deals),
        "stalled_after": STALLED_AFTER.days,
        "skipped_window": SKIPPED_WINDOW.days,
        "scope": "organization" if owners is None else "team",
    }


def _by_team(blocks: list[RepBlock], deals) -> tuple[list[RepBlock], int]:  # type: ignore[no-untyped-def]
    """Rep blocks rolled up per manager, largest teams first; (the first MAX_BLOCKS, how many more)."""
    teams: dict[str, RepBlock] = {}
    for block in blocks:
        owner = next(line.deal.owner for line in block.deals)
        name = f"{owner.manager.name}'s team" if owner.manager else "Reps without a manager"
        teams.setdefault(name, RepBlock(name, show_deals=False)).deals.extend(block.deals)
    ordered = sorted(teams.values(), key=lambda t: (-len(t.deals), t.name))
    return ordered[:MAX_BLOCKS], max(0, len(ordered) - MAX_BLOCKS)


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


def criteria_report(turn: Turn) -> Reply:
    if turn.person.role == Role.REP:
        return turn.render(
            "refused.j2",
            kind="refusal",
            what="the exit-criteria report",
            why='it is for enablement and managers. Say "my deals" for yours.',
        )
    owners = visible_owner_ids(turn.db, turn.person)
    stages = criteria_report_data(turn, owners)
    reply = turn.render(
        "criteria_report.j2", stages=stages, scope="organization" if owners is None else "team"
    )
    rows = [(f"{s.stage_name}: {c.text}", c.unconfirmed, c.skipped) for s in stages for c in s.criteria]
    return replace(reply, image=criteria_chart(rows, "Exit criteria that hold deals back"))


def criteria_report_data(turn: Turn, owners: set[int] | None) -> list[StageBlock]:
    db, workspace_id = turn.db, turn.workspace.id
    per_stage = db.execute(
        select(Deal.playbook_id, Deal.stage_id, func.count(Deal.id))
        .where(Deal.id.in_(_open_deals(workspace_id, owners)))
        .group_by(Deal.playbook_id, Deal.stage_id)
    ).all()
    confirmed = confirmed_per_criterion(db, workspace_id, owners)
    skipped = skipped_criteria_counts(db, workspace_id, owners)
    blocks = []
    for playbook in turn.ctx.playbooks.playbooks:
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


# -- the weekly digest ---------------------------------------------------------------------------------

DIGEST_WEEKDAY = 0  # Monday
DIGEST_TIME = "08:00"
DIGEST_GRACE = timedelta(hours=48)  # a clock down longer than this skips the week rather than send it stale


def enqueue_digests(ctx, now: datetime) -> int:  # type: ignore[no-untyped-def]
    """Queue this week's team summary for every manager with a team whose local Monday 08:00 has passed.

    The outbox key is per manager and ISO week, so running this every few minutes, late (up to
    DIGEST_GRACE), or twice sends each manager one digest a week. The summary is computed when it is
    sent (`compose_digest`), from the data as it is then.
    """
    from bot import outbox

    reports = aliased(Person)
    queued = 0
    with ctx.sessions.begin() as db:
        for week, ids in weekly_due_ids(
            db, now, kind="digest", weekday=DIGEST_WEEKDAY, at=DIGEST_TIME, grace=DIGEST_GRACE
        ):
            with_team = select(Person.id).where(
                Person.id.in_(ids), select(reports.id).where(reports.manager_id == Person.id).exists()
            )
            queued += outbox.enqueue_to_people(
                db,
                with_team,
                kind="digest",
                key=("digest", week),
                payload=outbox.compose_later("digest", week=week),
                now=now,
            )
    return queued


def compose_digest(ctx, db: Session, manager: Person, now: datetime) -> Reply:  # type: ignore[no-untyped-def]
    return ctx.renderer.render("team_summary.j2", me=manager, **team_summary_data(ctx, db, manager, now))
