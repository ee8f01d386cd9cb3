"""The counting queries summaries are built from: the latest confirmed criteria, activity and skipped
gates per deal, counted by the database over each criterion's current state.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, func, select, text
from sqlalchemy.orm import Session

from handlers.common import open_deals_of
from storage.models import (
    CriterionStatus,
    Deal,
    DealStageChange,
)

STALLED_AFTER = timedelta(days=14)
SKIPPED_WINDOW = timedelta(days=30)
TOP_CRITERIA = 3


def _open_deals(organization_id: int, owners: set[int] | None):
    return select(Deal.id).where(*open_deals_of(organization_id, owners))


def in_current_stage(query, organization_id: int, owners: set[int] | None):
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
    rows = db.execute(in_current_stage(query, organization_id, owners))
    return [(deal_id, criterion_id) for deal_id, criterion_id in rows]


def confirmed_per_criterion(
    db: Session, organization_id: int, owners: set[int] | None
) -> dict[tuple[str, str, str], int]:
    """(playbook, stage, criterion) -> how many open deals in that stage have it confirmed now."""
    rows = db.execute(confirmed_per_criterion_query(organization_id, owners))
    return {(playbook, stage, criterion): count for playbook, stage, criterion, count in rows}


def confirmed_per_criterion_query(organization_id: int, owners: set[int] | None):
    query = (
        select(Deal.playbook_id, Deal.stage_id, CriterionStatus.criterion_id, func.count())
        .where(CriterionStatus.confirmed.is_(True))
        .group_by(Deal.playbook_id, Deal.stage_id, CriterionStatus.criterion_id)
    )
    return in_current_stage(query, organization_id, owners)


def activity_query(organization_id: int, owners: set[int] | None):
    query = select(
        CriterionStatus.deal_id.label("deal_id"), func.max(CriterionStatus.changed_at).label("at")
    ).group_by(CriterionStatus.deal_id)
    return in_current_stage(query, organization_id, owners)


def last_activity(db: Session, organization_id: int, owners: set[int] | None) -> dict[int, datetime]:
    """The newest confirmation event in each open deal's current stage."""
    return {
        deal_id: at for deal_id, at in db.execute(activity_query(organization_id, owners)) if at is not None
    }


def skips_query(organization_id: int, owners: set[int] | None, since: datetime):
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


def skipped_gates(
    db: Session, organization_id: int, owners: set[int] | None, since: datetime
) -> dict[int, int]:
    return dict(db.execute(skips_query(organization_id, owners, since)).all())


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
