"""The weekly coaching nudge and Thursday's follow-up: queued per manager in their own time zone,
composed when sent (the reps due then, each with a focus), skipped when paused, snoozed or logged.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import and_, or_, select

from bot.messages import Button, Reply
from handlers.coaching.queries import AREAS, due_reps
from handlers.common import not_paused, weekly_due_groups
from storage.models import (
    CoachingSession,
    OutboxMessage,
    OutboxStatus,
    Person,
)

NUDGE_WEEKDAY, NUDGE_TIME = 0, "09:00"  # Monday 09:00 in the manager's time zone
FOLLOWUP_WEEKDAY, FOLLOWUP_TIME = 3, "14:00"  # Thursday afternoon, only if nothing was logged
SEND_GRACE = timedelta(hours=48)


# -- the nudge ------------------------------------------------------------------------------------------


def nudge_reply(ctx, db, manager: Person, now: datetime, week: str, followup: bool = False) -> Reply | None:
    due = due_reps(ctx, db, manager, now)
    if not due:
        return None
    buttons = (
        Button("Log coaching", "coaching.form", "", style="primary"),
        Button("Snooze a week", "coaching.snooze", week),
        Button("Open team summary", "summary.show", ""),
    )
    reply = ctx.renderer.render(
        "coaching_nudge.j2",
        buttons=buttons,
        me=manager,
        due=due,
        areas=AREAS,
        cadence=(manager.preferences or {}).get("cadence", "weekly"),
        followup=followup,
    )
    return reply


def enqueue_nudges(ctx, now: datetime, followups: bool = False) -> int:
    """Queue the weekly nudge (or Thursday's follow-up) for every manager whose local time has come.

    Keys are per manager and ISO week: ticks every few minutes, restarts and late starts (up to
    SEND_GRACE) send each nudge once. Paused or snoozed managers get none. A follow-up goes only if that
    week's nudge went out and nothing was logged since. Who is due, and what to coach them on, is worked
    out when the message is sent (`compose_nudge`); a week with nobody due sends nothing.
    """
    from storage import outbox

    weekday, at, kind = (
        (FOLLOWUP_WEEKDAY, FOLLOWUP_TIME, "followup") if followups else (NUDGE_WEEKDAY, NUDGE_TIME, "nudge")
    )

    queued = 0
    with ctx.sessions.begin() as db:
        for group in weekly_due_groups(db, now, kind=kind, weekday=weekday, at=at, grace=SEND_GRACE):
            who = and_(group.who, _not_paused_or_snoozed(group.week, group.local_date))
            managers = _nudged_and_not_logged(who, group.week) if followups else select(Person.id).where(who)
            queued += outbox.enqueue_to_people(
                db,
                managers,
                kind=kind,
                key=(kind, group.week),
                payload=outbox.compose_later(kind, week=group.week),
                now=now,
            )
    return queued


def _not_paused_or_snoozed(week: str, local_date: date):
    """Managers who neither snoozed this week's nudge nor paused nudges past today (ISO dates compare as
    text)."""
    snoozed = Person.preferences["snoozed_week"].as_string()
    return and_(or_(snoozed.is_(None), snoozed != week), not_paused(local_date))


def _nudged_and_not_logged(managers, week: str):
    """Of these managers, those whose nudge this week was sent (or is on its way) and who logged no
    coaching since it was queued."""
    logged_since = (
        select(CoachingSession.id)
        .where(
            CoachingSession.manager_id == OutboxMessage.person_id,
            CoachingSession.created_at >= OutboxMessage.created_at,
        )
        .exists()
    )
    from storage.outbox import person_key

    return (
        select(Person.id)
        .join(OutboxMessage, OutboxMessage.idempotency_key == person_key("nudge", week))
        .where(
            managers,
            OutboxMessage.status.not_in([OutboxStatus.SKIPPED, OutboxStatus.DEAD]),
            ~logged_since,
        )
    )


def compose_nudge(ctx, db, manager: Person, now: datetime, week: str, followup: bool) -> Reply | None:
    """The nudge as it is sent: the reps due now, each with a focus from the latest data."""
    if followup and db.scalar(_nudged_and_not_logged(Person.id == manager.id, week).limit(1)) is None:
        return None  # coaching was logged between the tick and the send
    return nudge_reply(ctx, db, manager, now, week, followup=followup)
