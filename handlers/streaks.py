"""Motivation without pressure: a rep's knowledge-check streak (the leaderboard is in handlers/leaderboard.py).

**Streak.** The working days in a row on which the rep answered a knowledge check, counted back from today
in their own time zone. A day counts only if it is one of the rep's working days and not a public holiday
where they work (`bot.localtime.Availability`, the same rule every proactive flow uses); a day on which the
rep's knowledge checks were paused ("pause quizzes until ...") is skipped when it has no answer, so a
vacation never breaks a streak. Today does not break it before the day is over. Derived from the review log;
nothing is stored but the pauses themselves (`preferences.quiz_pauses`, [first day, last day] pairs written
by `handlers.availability` when a rep pauses or resumes knowledge checks in chat, because `quiz_paused_until` only says
when the current pause ends).
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.localtime import Availability, local_at
from bot.messages import Reply, Section
from handlers import availability
from handlers.common import Turn
from storage.models import Person, ReviewCard, ReviewLog

FIRST_WINDOW_DAYS = 42  # answers read at first; a longer streak reads further back
LONGEST_DAYS = 5 * 366  # a streak is never counted back further than this


# -- streaks ------------------------------------------------------------------------------------------


def _paused_spans(person: Person, today: date) -> list[tuple[date, date]]:
    """Days on which the person's knowledge checks were (or are) paused, as inclusive spans."""
    prefs = person.preferences or {}
    spans = []
    for entry in prefs.get(availability.PAUSES) or []:
        try:
            first, last = (date.fromisoformat(str(d)) for d in entry)
        except (TypeError, ValueError):
            continue  # a hand-edited value: ignore it rather than fail the answer
        spans.append((first, last))
    until = prefs.get("quiz_paused_until")
    try:
        end = date.fromisoformat(str(until)) if until else None
    except ValueError:
        end = None
    if end is not None and end > today:  # the current pause, even if it was set before pauses were kept
        spans.append((today, end - timedelta(days=1)))
    return spans


def _answered_days(db: Session, person: Person, since: datetime, tz) -> set[date]:
    """The local days (in `tz`) on which the person answered a knowledge check since `since`."""
    times = db.scalars(
        select(ReviewLog.reviewed_at)
        .join(ReviewCard, ReviewCard.id == ReviewLog.card_id)
        .where(ReviewCard.person_id == person.id, ReviewLog.reviewed_at >= since)
    )
    return {t.astimezone(tz).date() for t in times}


def streak(db: Session, person: Person, now: datetime) -> int:
    """Working days in a row, back from today in the person's time zone, with a knowledge check answered.

    A working day (their week, no public holiday where they work) with an answer adds one; one without an
    answer ends the streak, unless it is today (not over yet) or their knowledge checks were paused that
    day. Days off and holidays are stepped over, answered or not."""
    available = Availability.of(person)
    today = now.astimezone(available.tz).date()
    spans = _paused_spans(person, today)
    first = db.scalar(
        select(func.min(ReviewLog.reviewed_at))
        .join(ReviewCard, ReviewCard.id == ReviewLog.card_id)
        .where(ReviewCard.person_id == person.id)
    )
    if first is None:
        return 0
    first_day = first.astimezone(available.tz).date()
    window = FIRST_WINDOW_DAYS
    while True:
        start = max(today - timedelta(days=window), first_day, today - timedelta(days=LONGEST_DAYS))
        answered = _answered_days(db, person, local_at(start, time(0), available.tz), available.tz)
        count, day = 0, today
        while day >= start:
            if available.working(day):
                if day in answered:
                    count += 1
                elif day != today and not any(a <= day <= b for a, b in spans):
                    return count  # a working day missed
            day -= timedelta(days=1)
        if start in (first_day, today - timedelta(days=LONGEST_DAYS)):
            return count  # nothing answered before `start`: the streak cannot go further back
        window *= 4


def with_streak(turn: Turn, reply: Reply) -> Reply:
    """An answer's reply with the rep's streak under it ("🔥 5-day streak") when there is one."""
    days = streak(turn.db, turn.person, turn.now())
    if days < 1:
        return reply
    return dataclasses.replace(reply, sections=reply.sections + (Section(f"🔥 {days}-day streak"),))

