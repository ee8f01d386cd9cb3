"""The clock lease: one row in `clock_leases` says which process is the clock until when.

APScheduler 3 keeps its schedule in memory, so two clocks against one database would each fire every
job. The holder renews the lease well before it expires; a second clock stands by and takes over only
when the lease has expired (the first clock died or lost the database).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from storage.db import rows_changed
from storage.models import ClockLease

LEASE_NAME = "clock"


def acquire(sessions: sessionmaker[Session], holder: str, now: datetime, ttl: timedelta) -> bool:
    """Take or renew the lease; True when `holder` holds it until now + ttl."""
    with sessions() as db:
        renewed = rows_changed(
            db.execute(
                update(ClockLease)
                .where(
                    ClockLease.name == LEASE_NAME,
                    or_(ClockLease.holder == holder, ClockLease.expires_at < now),
                )
                .values(holder=holder, acquired_at=now, expires_at=now + ttl)
            )
        )
        if renewed:
            db.commit()
            return True
        if db.scalar(select(ClockLease.name).where(ClockLease.name == LEASE_NAME)) is not None:
            return False  # someone else holds a live lease
        db.add(ClockLease(name=LEASE_NAME, holder=holder, acquired_at=now, expires_at=now + ttl))
        try:
            db.commit()
            return True
        except IntegrityError:  # another clock inserted it first
            db.rollback()
            return False


def current(sessions: sessionmaker[Session]) -> ClockLease | None:
    with sessions() as db:
        return db.scalar(select(ClockLease).where(ClockLease.name == LEASE_NAME))


def release(sessions: sessionmaker[Session], holder: str) -> None:
    """Give the lease up on a clean shutdown so a standby takes over at once."""
    with sessions.begin() as db:
        db.execute(delete(ClockLease).where(ClockLease.name == LEASE_NAME, ClockLease.holder == holder))
