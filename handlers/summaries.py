"""Where deals stand and stall: the manager's team summary and enablement's exit-criteria report.

The counting is done by the database over each criterion's current state (bot.confirmations keeps one
row per deal, stage and criterion beside the event log), so a summary never reads every event, and an
organization's summary is rolled up per team by the database rather than loaded deal by deal.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, distinct, func, literal, or_, select, text, tuple_
from sqlalchemy.orm import Session, aliased, joinedload

from bot.localtime import zone
from bot.messages import Reply
from handlers.charts import criteria_chart, progress_chart
from handlers.common import Turn, not_paused, open_deals_of, visible_owner_ids, weekly_due_groups
from storage.db import upsertable_insert
from storage.models import (
    CriterionStatus,
    Deal,
    DealStageChange,
    DealStatus,
    Person,
    Role,
    SummarySnapshot,
    UTCDateTime,
)

STALLED_AFTER = timedelta(days=14)
SKIPPED_WINDOW = timedelta(days=30)
TOP_CRITERIA = 3
MAX_BLOCKS = 25  # rep (or team) sections in one summary; Slack allows 50 blocks a message
MAX_ATTENTION = 15


def _open_deals(organization_id: int, owners: set[int] | None):  # type: ignore[no-untyped-def]
    return select(Deal.id).where(*open_deals_of(organization_id, owners))


def _in_current_stage(query, organization_id: int, owners: set[int] | None):  # type: ignore[no-untyped-def]
    """`query` over CriterionStatus, narrowed to open deals' current stages (older stages' states stay)."""
    return (
        query.select_from(CriterionStatus)
        .join(Deal, and_(Deal.id == CriterionStatus.deal_id, Deal.stage_id == CriterionStatus.stage_id))
        .where(*open_deals_of(organization_id, owners))
    )


def latest_confirmed(db: Session, organization_id: int, owners: set[int] | None) -> list[tuple[int, str]]:
    """(deal id, criterion id) for each criterion of a deal's current stage whose latest event confirms it."""
    query = select(CriterionStatus.deal_id, CriterionStatus.criterion_id).where(
        CriterionStatus.confirmed.is_(True)
    )
    rows = db.execute(_in_current_stage(query, organization_id, owners))
    return [(deal_id, criterion_id) for deal_id, criterion_id in rows]


def confirmed_per_criterion(
    db: Session, organization_id: int, owners: set[int] | None
) -> dict[tuple[str, str, str], int]:
    """(playbook, stage, criterion) -> how many open deals in that stage have it confirmed now."""
    rows = db.execute(confirmed_per_criterion_query(organization_id, owners))
    return {(playbook, stage, criterion): count for playbook, stage, criterion, count in rows}


def confirmed_per_criterion_query(organization_id: int, owners: set[int] | None):  # type: ignore[no-untyped-def]
    query = (
        select(Deal.playbook_id, Deal.stage_id, CriterionStatus.criterion_id, func.count())
        .where(CriterionStatus.confirmed.is_(True))
        .group_by(Deal.playbook_id, Deal.stage_id, CriterionStatus.criterion_id)
    )
    return _in_current_stage(query, organization_id, owners)


def _activity(organization_id: int, owners: set[int] | None):  # type: ignore[no-untyped-def]
    query = select(
        CriterionStatus.deal_id.label("deal_id"), func.max(CriterionStatus.changed_at).label("at")
    ).group_by(CriterionStatus.deal_id)
    return _in_current_stage(query, organization_id, owners)


def last_activity(db: Session, organization_id: int, owners: set[int] | None) -> dict[int, datetime]:
    """The newest confirmation event in each open deal's current stage."""
    return {deal_id: at for deal_id, at in db.execute(_activity(organization_id, owners)) if at is not None}


def _skips(organization_id: int, owners: set[int] | None, since: datetime):  # type: ignore[no-untyped-def]
    """(deal id, n): how many times each open deal moved on with unconfirmed criteria since `since`."""
    return (
        select(DealStageChange.deal_id.label("deal_id"), func.count().label("n"))
        .where(
            DealStageChange.deal_id.in_(_open_deals(organization_id, owners)),
            DealStageChange.changed_at >= since,
            func.json_array_length(DealStageChange.skipped_criteria) > 0,
        )
        .group_by(DealStageChange.deal_id)
    )


def skipped_gates(db: Session, organization_id: int, owners: set[int] | None, since: datetime) -> dict[int, int]:
    return dict(db.execute(_skips(organization_id, owners, since)).all())


def skipped_criteria_counts(
    db: Session, organization_id: int, owners: set[int] | None = None
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
            "WHERE c.workspace_id = :organization AND c.from_stage_id IS NOT NULL "
            f"{'' if owners is None else 'AND d.owner_id IN :owners '}"
            "GROUP BY d.playbook_id, c.from_stage_id, j.value"
        ).bindparams(*([] if owners is None else [bindparam("owners", expanding=True)])),
        {"organization": organization_id, **({} if owners is None else {"owners": sorted(owners)})},
    )
    return {(playbook, stage, str(criterion)): count for playbook, stage, criterion, count in rows}


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
    if owners is None:
        data, as_of = organization_view(ctx, db, person.organization_id, TEAM_SUMMARY, now)
    else:
        data, as_of = _team_summary(ctx, db, person.organization_id, owners, now), None
    return {**data, "as_of": _local_time(as_of, person)}


def _team_summary(ctx, db: Session, organization_id: int, owners: set[int] | None, now: datetime) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """Up to MAX_BLOCKS reps are listed deal by deal; beyond that (an organization) the database rolls the
    deals up per manager's team, and only the deals that need attention are loaded."""
    rep_count = db.scalar(
        select(func.count(distinct(Deal.owner_id))).where(*open_deals_of(organization_id, owners))
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


def _line(ctx, deal: Deal, confirmed: set[str], last: datetime, skipped: int, now: datetime) -> DealLine:  # type: ignore[no-untyped-def]
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


def _reps(ctx, db: Session, organization_id: int, owners: set[int] | None, now: datetime) -> list[RepBlock]:  # type: ignore[no-untyped-def]
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


def _teams(ctx, db: Session, organization_id: int, owners: set[int] | None) -> tuple[list[TeamBlock], int, int]:  # type: ignore[no-untyped-def]
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
        _in_current_stage(
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
) -> tuple[list[DealLine], int]:  # type: ignore[no-untyped-def]
    """The MAX_ATTENTION deals that need attention most (longest stalled first, then most skipped gates,
    then by name: the same order a manager's summary uses) and how many need attention, found by the
    database."""
    activity = _activity(organization_id, owners).subquery()
    skips = _skips(organization_id, owners, now - SKIPPED_WINDOW).subquery()
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
    for deal_id, criterion_id in db.execute(_in_current_stage(in_top, organization_id, owners)):
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


def criteria_report(turn: Turn) -> Reply:
    if turn.person.role == Role.REP:
        return turn.render(
            "refused.j2",
            kind="refusal",
            what="the exit-criteria report",
            why='it is for enablement and managers. Say "my deals" for yours.',
        )
    owners = visible_owner_ids(turn.db, turn.person)
    stages, as_of = criteria_report_data(turn, owners)
    reply = turn.render(
        "criteria_report.j2",
        stages=stages,
        scope="organization" if owners is None else "team",
        as_of=_local_time(as_of, turn.person),
    )
    rows = [(f"{s.stage_name}: {c.text}", c.unconfirmed, c.skipped) for s in stages for c in s.criteria]
    return replace(reply, image=criteria_chart(rows, "Exit criteria that hold deals back"))


def criteria_report_data(turn: Turn, owners: set[int] | None) -> tuple[list[StageBlock], datetime | None]:
    """The report for `owners`' deals, or the organization's (None); (stages, when they were counted if
    they come from a snapshot)."""
    if owners is None:
        return organization_view(turn.ctx, turn.db, turn.organization.id, CRITERIA_REPORT, turn.now())
    return _criteria_report(turn.ctx, turn.db, turn.organization.id, owners), None


def _criteria_report(ctx, db: Session, organization_id: int, owners: set[int] | None) -> list[StageBlock]:  # type: ignore[no-untyped-def]
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


# -- organization-wide snapshots -----------------------------------------------------------------------

SNAPSHOT_ABOVE = 20_000  # open deals: a larger workspace's organization-wide summaries are counted ahead
SNAPSHOT_EVERY = timedelta(minutes=10)  # the clock refreshes snapshots older than this
SNAPSHOT_MAX_AGE = timedelta(minutes=15)  # older than this (the clock is down), a reader recounts
TEAM_SUMMARY = "team-summary"
CRITERIA_REPORT = "criteria-report"


def organization_view(
    ctx, db: Session, organization_id: int, kind: str, now: datetime
) -> tuple[Any, datetime | None]:  # type: ignore[no-untyped-def]
    """An organization-wide summary: counted live, or for a workspace with more than SNAPSHOT_ABOVE open
    deals (where counting takes seconds) the snapshot the clock keeps fresh; (data, when it was counted,
    None if live)."""
    snapshot = db.get(SummarySnapshot, (organization_id, kind))
    if snapshot is not None and now - snapshot.computed_at < SNAPSHOT_MAX_AGE:
        return _decode(kind, snapshot.data), snapshot.computed_at
    if snapshot is None and not _large(db, organization_id):
        return _count(ctx, db, organization_id, kind, now), None
    return refresh_snapshot(ctx, db, organization_id, kind, now)


def refresh_snapshot(
    ctx, db: Session, organization_id: int, kind: str, now: datetime
) -> tuple[Any, datetime | None]:  # type: ignore[no-untyped-def]
    """Count `kind` now and keep it as the workspace's snapshot (or drop the snapshot of a workspace that
    has become small enough to count live)."""
    data = _count(ctx, db, organization_id, kind, now)
    if not _large(db, organization_id):
        db.execute(
            delete(SummarySnapshot).where(
                SummarySnapshot.organization_id == organization_id, SummarySnapshot.kind == kind
            )
        )
        return data, None
    row = {"organization_id": organization_id, "kind": kind, "data": _encode(kind, data), "computed_at": now}
    upsert = upsertable_insert(db, SummarySnapshot).values(**row)
    db.execute(
        upsert.on_conflict_do_update(
            index_elements=[SummarySnapshot.organization_id, SummarySnapshot.kind],
            set_={"data": upsert.excluded.data, "computed_at": upsert.excluded.computed_at},
        )
    )
    return data, now


def refresh_snapshots(ctx, now: datetime) -> int:  # type: ignore[no-untyped-def]
    """The clock's job: recount the snapshots of every large workspace that are older than SNAPSHOT_EVERY
    (and drop those of workspaces no longer large). Returns how many were recounted."""
    with ctx.sessions() as db:
        large = set(
            db.scalars(
                select(Deal.organization_id)
                .where(Deal.status == DealStatus.OPEN)
                .group_by(Deal.organization_id)
                .having(func.count() > SNAPSHOT_ABOVE)
            ).all()
        )
        kept = db.scalars(select(SummarySnapshot.organization_id).distinct()).all()
    recounted = 0
    for organization_id in sorted(large | set(kept)):
        for kind in (TEAM_SUMMARY, CRITERIA_REPORT):
            with ctx.sessions.begin() as db:
                snapshot = db.get(SummarySnapshot, (organization_id, kind))
                if organization_id not in large:
                    if snapshot is not None:
                        db.delete(snapshot)
                elif snapshot is None or now - snapshot.computed_at >= SNAPSHOT_EVERY:
                    refresh_snapshot(ctx, db, organization_id, kind, now)
                    recounted += 1
    return recounted


def _large(db: Session, organization_id: int) -> bool:
    open_deals = select(Deal.id).where(*open_deals_of(organization_id, None)).limit(SNAPSHOT_ABOVE + 1)
    return db.scalar(select(func.count()).select_from(open_deals.subquery())) > SNAPSHOT_ABOVE


def _count(ctx, db: Session, organization_id: int, kind: str, now: datetime) -> Any:  # type: ignore[no-untyped-def]
    if kind == TEAM_SUMMARY:
        return _team_summary(ctx, db, organization_id, None, now)
    return _criteria_report(ctx, db, organization_id, None)


def _encode(kind: str, data: Any) -> dict[str, Any]:
    """JSON for a snapshot: plain numbers and names, no database objects."""
    if kind == CRITERIA_REPORT:
        return {"stages": [asdict(block) for block in data]}

    def line(d: DealLine) -> dict[str, Any]:
        return {**asdict(d), "last_activity": d.last_activity.isoformat()}

    blocks = [
        {
            "name": b.name,
            "deal_count": b.deal_count,
            "confirmed": b.confirmed,
            "total": b.total,
            "deals": [line(d) for d in b.deals],
        }
        for b in data["reps"]
    ]
    return {**data, "reps": blocks, "attention": [line(d) for d in data["attention"]]}


def _decode(kind: str, data: dict[str, Any]) -> Any:
    if kind == CRITERIA_REPORT:
        return [
            StageBlock(**{**b, "criteria": [CriterionLine(**c) for c in b["criteria"]]})
            for b in data["stages"]
        ]

    def line(d: dict[str, Any]) -> DealLine:
        return DealLine(**{**d, "last_activity": datetime.fromisoformat(d["last_activity"])})

    blocks = [TeamBlock(**{**b, "deals": tuple(line(d) for d in b["deals"])}) for b in data["reps"]]
    return {**data, "reps": blocks, "attention": [line(d) for d in data["attention"]]}


def _local_time(at: datetime | None, person: Person) -> str | None:
    """'14:05 EST' in the person's time zone, for "figures as of"."""
    return at.astimezone(zone(person.timezone)).strftime("%H:%M %Z") if at else None


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
    from storage import outbox

    reports = aliased(Person)
    queued = 0
    with ctx.sessions.begin() as db:
        for group in weekly_due_groups(
            db, now, kind="digest", weekday=DIGEST_WEEKDAY, at=DIGEST_TIME, grace=DIGEST_GRACE
        ):
            with_team = select(Person.id).where(
                group.who,
                not_paused(group.local_date),  # a pause of nudges holds the digest too
                select(reports.id).where(reports.manager_id == Person.id).exists(),
            )
            queued += outbox.enqueue_to_people(
                db,
                with_team,
                kind="digest",
                key=("digest", group.week),
                payload=outbox.compose_later("digest", week=group.week),
                now=now,
            )
    return queued


def compose_digest(ctx, db: Session, manager: Person, now: datetime) -> Reply:  # type: ignore[no-untyped-def]
    data = team_summary_data(ctx, db, manager, now)
    reply = ctx.renderer.render("team_summary.j2", me=manager, **data)
    return replace(reply, image=digest_chart(data))


def digest_chart(data: dict):  # type: ignore[no-untyped-def,type-arg]
    """The digest's chart: per rep (per team in an organization-wide digest), the exit criteria of their
    open deals' current stages confirmed and still to confirm.

    Why this one: on a Monday a manager decides whom to spend the week with. Deals per stage says where
    the pipeline sits, which the CRM already shows; confirmed-versus-outstanding criteria per rep says
    whose deals are moving on unqualified, which is the coaching conversation the digest exists to start,
    and it reads at a glance (a long pale bar is a rep to sit down with). The lines below it name the deals.
    """
    rows = [(f"{block.name} ({block.deal_count})", block.confirmed, block.total) for block in data["reps"]]
    scope = "team" if data.get("scope") == "team" else "organization"
    return progress_chart(
        rows, f"Exit criteria confirmed in the current stage, your {scope} (open deals)", "weekly-digest.png"
    )
