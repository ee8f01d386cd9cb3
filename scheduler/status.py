"""`python -m scheduler status`: is a clock running, and is the outbox keeping up? (operations, health checks)"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from scheduler import lease
from storage.models import OutboxMessage, OutboxStatus


def report(sessions: sessionmaker[Session], now: Callable[[], datetime]) -> tuple[bool, list[str]]:
    """(a clock holds a live lease, lines to print)."""
    moment = now()
    held = lease.current(sessions)
    lines: list[str] = []
    live = held is not None and held.expires_at > moment
    if held is None:
        lines.append("clock: none has ever run on this database (start `python -m scheduler`)")
    elif live:
        lines.append(
            f"clock: {held.holder} holds the lease until {held.expires_at:%Y-%m-%d %H:%M:%S} UTC "
            f"(last renewed {_ago(moment, held.acquired_at)} ago)"
        )
    else:
        lines.append(
            f"clock: NOT RUNNING; the last one ({held.holder}) let its lease lapse "
            f"{_ago(moment, held.expires_at)} ago"
        )
    with sessions() as db:
        counts = dict(
            db.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
        )
        oldest = db.scalar(
            select(func.min(OutboxMessage.created_at)).where(OutboxMessage.status == OutboxStatus.PENDING)
        )
    pending, dead = counts.get(OutboxStatus.PENDING, 0), counts.get(OutboxStatus.DEAD, 0)
    waiting = f", oldest waiting {_ago(moment, oldest)}" if oldest is not None else ""
    lines.append(f"outbox: {pending} pending{waiting}; {dead} given up (dead)")
    return live, lines


def _ago(now: datetime, then: datetime) -> str:
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"
