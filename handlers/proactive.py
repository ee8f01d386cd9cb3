"""Composing scheduled messages at send time.

The scheduler's ticks only decide who gets which message this period (set-based, so a tick stays cheap at
100k reps); the outbox row says {"compose": kind, ...}. Just before sending, the drainer calls `compose`,
which writes the message from the data as it is then: the rep's most pressing question, the reps due for
coaching now, this morning's team summary. None means there is nothing to say any more.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot.context import AppContext
from bot.messages import Reply
from handlers.coaching.nudges import compose_nudge
from handlers.quizzes.daily import compose_knowledge_check
from handlers.summaries.digest import compose_digest
from storage.models import OutboxMessage, Person
from storage.outbox import COMPOSE


def compose(ctx: AppContext, db: Session, message: OutboxMessage, now: datetime) -> Reply | None:
    kind = message.payload[COMPOSE]
    person = db.get(Person, message.person_id) if message.person_id else None
    if person is None:
        raise ValueError(f"outbox message {message.id} ({kind}) has no person to compose for")
    if kind == "quiz":
        return compose_knowledge_check(ctx, db, person, now)
    if kind in ("nudge", "followup"):
        return compose_nudge(ctx, db, person, now, message.payload["week"], followup=kind == "followup")
    if kind in ("digest", "cdigest"):  # (cdigest: the same summary, posted to a subscribed channel)
        return compose_digest(ctx, db, person, now)
    if kind == "crm-stage":
        from handlers.crm.notify import compose_stage_change

        return compose_stage_change(ctx, db, person, message, now)
    if kind == "edigest":
        from handlers.enablement_digest import compose_enablement_digest

        return compose_enablement_digest(ctx, db, person, now)
    raise ValueError(f"no composer for {kind!r} messages")
