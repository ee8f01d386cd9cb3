"""The daily knowledge check: queued at each rep's local 09:30 on a working day, composed when sent."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, select

from bot import quizlinks
from bot.localtime import zone
from bot.messages import Reply
from handlers.common import not_paused
from handlers.quizzes.queue import (
    ask,
    next_card,
)
from storage.models import (
    Person,
    Role,
)

QUIZ_TIME = "09:30"
QUIZ_GRACE = timedelta(hours=10)


def enqueue_knowledge_checks(ctx, now: datetime) -> int:
    """Queue today's knowledge check for every rep whose local 09:30 on a working day has passed.

    Set-based, because a tick may cover 100k reps: reps are grouped by (time zone, working days, quiz
    time), each group's slot is worked out once, and each group due now is queued with one INSERT ...
    SELECT. The key is per rep and local date; the question itself is chosen when the message is sent
    (`compose_knowledge_check`), so it is the rep's most pressing one at that moment.
    """
    from bot.localtime import daily_slot, parse_days, parse_hhmm, public_holidays
    from storage import outbox

    quiz_time = Person.preferences["quiz_time"].as_string()
    country = Person.preferences["country"].as_string()
    region = Person.preferences["region"].as_string()
    reps = and_(Person.role == Role.REP, Person.active.is_(True))
    queued = 0
    with ctx.sessions.begin() as db:
        # the clock's playbooks against the sections linked questions were reviewed against: a section
        # that changed flags its questions and re-asks their learners before today's questions are chosen
        quizlinks.refresh(db, ctx.playbooks.playbooks, now)
        groups = db.execute(
            select(Person.timezone, Person.working_days, quiz_time, country, region)
            .where(reps)
            .group_by(Person.timezone, Person.working_days, quiz_time, country, region)
        ).all()
        for tz_name, working_days, at, land, area in groups:
            tz = zone(tz_name)
            day, slot = daily_slot(tz, parse_hhmm(at or QUIZ_TIME), now)
            local_day = now.astimezone(tz).date()
            if not slot <= now < slot + QUIZ_GRACE or local_day.weekday() not in (
                parse_days(working_days or "") or frozenset(range(5))
            ):
                continue
            holidays = public_holidays(land, area)
            if holidays is not None and local_day in holidays:
                continue  # a public holiday where these reps work: no knowledge check today
            members = select(Person.id).where(
                reps,
                Person.timezone == tz_name,
                Person.working_days == working_days,
                quiz_time.is_not_distinct_from(at),
                country.is_not_distinct_from(land),
                region.is_not_distinct_from(area),
                not_paused(local_day, "quiz_paused_until"),  # "pause quizzes until 2 Jan"
            )
            queued += outbox.enqueue_to_people(
                db, members, kind="quiz", key=("quiz", day), payload=outbox.compose_later("quiz"), now=now
            )
    return queued


def compose_knowledge_check(ctx, db, rep: Person, now: datetime) -> Reply | None:
    """The daily question, chosen as it is sent. A question left unanswered from an earlier day is not
    resent in bulk: it stays the rep's one waiting question and is asked again today, alone. A rep who
    paused knowledge checks after it was queued gets nothing."""
    paused = (rep.preferences or {}).get("quiz_paused_until") or ""
    if paused > now.astimezone(zone(rep.timezone)).date().isoformat():
        return None
    card = next_card(db, rep, now)
    if card is None:
        return None
    if card.pending_since is not None:
        card.pending_since = None  # yesterday's question: ask it afresh, with new buttons
    return ask(ctx, db, rep, card, now, intro="Your knowledge check for today:", on_request=False)
