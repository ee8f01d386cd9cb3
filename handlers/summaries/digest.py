"""The weekly digest: a manager's team summary (enablement's organization summary) with its chart,
queued every Monday 08:00 in each person's time zone and composed when sent.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from bot.messages import Image, Reply
from handlers.charts import progress_chart
from handlers.common import not_paused, weekly_due_groups
from handlers.summaries.snapshots import team_summary_data
from storage.models import (
    Person,
)

# -- the weekly digest ---------------------------------------------------------------------------------

DIGEST_WEEKDAY = 0  # Monday
DIGEST_TIME = "08:00"
DIGEST_GRACE = timedelta(hours=48)  # a clock down longer than this skips the week rather than send it stale


def enqueue_digests(ctx, now: datetime) -> int:
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


def compose_digest(ctx, db: Session, manager: Person, now: datetime) -> Reply:
    data = team_summary_data(ctx, db, manager, now)
    reply = ctx.renderer.render("team_summary.j2", me=manager, **data)
    return replace(reply, image=digest_chart(data))


def digest_chart(data: dict[str, Any]) -> Image | None:
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
