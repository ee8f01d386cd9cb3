"""Summaries as readers get them: a team's counted live; an organization's counted live, or for a large
workspace the snapshot the clock keeps fresh.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot.context import AppContext
from bot.localtime import zone
from handlers.common import Turn, open_deals_of, visible_owner_ids
from handlers.summaries.views import (
    CriterionLine,
    DealLine,
    StageBlock,
    TeamBlock,
    count_criteria_report,
    count_team_summary,
)
from storage.db import upsertable_insert
from storage.models import (
    Deal,
    DealStatus,
    Person,
    SummarySnapshot,
)


def team_summary_data(ctx: AppContext, db: Session, person: Person, now: datetime) -> dict[str, Any]:
    """What the summary (and the weekly digest) shows for a manager's team, or enablement's workspace."""
    owners = visible_owner_ids(db, person)
    if owners is None:
        data, as_of = organization_view(ctx, db, person.organization_id, TEAM_SUMMARY, now)
    else:
        data, as_of = count_team_summary(ctx, db, person.organization_id, owners, now), None
    return {**data, "as_of": local_time(as_of, person)}


def criteria_report_data(turn: Turn, owners: set[int] | None) -> tuple[list[StageBlock], datetime | None]:
    """The report for `owners`' deals, or the organization's (None); (stages, when they were counted if
    they come from a snapshot)."""
    if owners is None:
        return organization_view(turn.ctx, turn.db, turn.organization.id, CRITERIA_REPORT, turn.now())
    return count_criteria_report(turn.ctx, turn.db, turn.organization.id, owners), None


# -- organization-wide snapshots -----------------------------------------------------------------------

SNAPSHOT_ABOVE = 20_000  # open deals: a larger workspace's organization-wide summaries are counted ahead
SNAPSHOT_EVERY = timedelta(minutes=10)  # the clock refreshes snapshots older than this
SNAPSHOT_MAX_AGE = timedelta(minutes=15)  # older than this (the clock is down), a reader recounts
TEAM_SUMMARY = "team-summary"
CRITERIA_REPORT = "criteria-report"


def organization_view(
    ctx, db: Session, organization_id: int, kind: str, now: datetime
) -> tuple[Any, datetime | None]:
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
) -> tuple[Any, datetime | None]:
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


def refresh_snapshots(ctx, now: datetime) -> int:
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
    return (db.scalar(select(func.count()).select_from(open_deals.subquery())) or 0) > SNAPSHOT_ABOVE


def _count(ctx, db: Session, organization_id: int, kind: str, now: datetime) -> Any:
    if kind == TEAM_SUMMARY:
        return count_team_summary(ctx, db, organization_id, None, now)
    return count_criteria_report(ctx, db, organization_id, None)


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


def local_time(at: datetime | None, person: Person) -> str | None:
    """'14:05 EST' in the person's time zone, for "figures as of"."""
    return at.astimezone(zone(person.timezone)).strftime("%H:%M %Z") if at else None
