"""When the bot may reach a person, set in chat: working days, quiet hours, country and region (public
holidays), and pausing knowledge checks.

"my working days are Sun-Thu", "quiet hours 20:00-07:00", "my country is DE", "my region is BY",
"pause quizzes until 2 Jan", "resume quizzes", "my availability". The settings are the person's own
(`people.working_days`, `quiet_start`, `quiet_end`, and `preferences.country / region / quiz_paused_until`)
and every proactive flow honours them (bot.localtime.Availability, handlers.quizzes.daily).
"""

from __future__ import annotations

import re
from datetime import date, time, timedelta

from bot.localtime import DAYS, Availability, public_holidays, zone
from bot.messages import Reply
from handlers.common import Turn
from playbooks.nearest import nearest, nearest_few

DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
PAUSES = "quiz_pauses"  # preferences: [[first ISO day, last ISO day], ...] of past and current quiz pauses
KEPT_PAUSES = 50  # the latest pauses kept (a year of weekly pauses is far more than anyone needs)
GROUPS = {"weekdays": "mon-fri", "weekends": "sat-sun", "every day": "mon-sun", "all week": "mon-sun"}


def _today(turn: Turn) -> date:
    return turn.now().astimezone(zone(turn.person.timezone)).date()


def _error(turn: Turn, text: str) -> Reply:
    return turn.render("message.j2", kind="error", text=text)


def _day(word: str) -> int | None:
    word = word.strip().lower().rstrip(".")
    if len(word) >= 2:
        for index, name in enumerate(DAY_NAMES):
            if name.startswith(word) or (len(word) >= 3 and word.startswith(name[:3])):
                return index
    return None


def parse_working_days(words: str) -> tuple[list[int] | None, str | None]:
    """ "Sun-Thu", "mon to fri", "mon, tue, thu", "weekdays" -> weekday numbers (Monday 0) in the order
    written, or an error."""
    text = GROUPS.get(words.strip().lower().rstrip("."), words).lower()
    parts = [
        p
        for p in re.split(
            r"\s*(?:,|\band\b|&|\s)\s*", re.sub(r"\s*(?:-|–|—|\bto\b|\bthrough\b|\bthru\b)\s*", "-", text)
        )
        if p
    ]
    chosen: list[int] = []
    for part in parts:
        ends = part.split("-")
        found = [_day(e) for e in ends]
        for word, number in zip(ends, found, strict=True):
            if number is None:
                near = nearest(word, DAY_NAMES)
                hint = f' Did you mean "{near.title()}"?' if near else ""
                return None, f'"{word}" is not a day of the week.{hint}'
        numbers = [n for n in found if n is not None]  # (all of them: a None has returned above)
        if len(numbers) == 1:
            span = [numbers[0]]
        elif len(numbers) == 2:
            first, last = numbers
            span = [(first + i) % 7 for i in range((last - first) % 7 + 1)]  # Sun-Thu wraps round the week
        else:
            return None, f'"{part}" is not a range: write it like "Sun-Thu".'
        chosen += [d for d in span if d not in chosen]
    if not chosen:
        return None, 'Name at least one day, like "my working days are Mon-Fri".'
    return chosen, None


def set_working_days(turn: Turn, words: str) -> Reply:
    days, problem = parse_working_days(words)
    if days is None:
        return _error(turn, f"Your working days are unchanged: {problem}")
    turn.person.working_days = ",".join(DAYS[d] for d in days)
    names = ", ".join(DAY_NAMES[d].title() for d in days)
    return turn.render(
        "message.j2",
        text=f"Your working days are now {names}. Knowledge checks and other messages from me come only on these days.",
    )


def parse_clock(words: str) -> time | None:
    """ "20:00", "7", "7am", "8:30 pm", "2000" -> a time of day."""
    match = re.fullmatch(r"(\d{1,2})(?::?(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?", words.strip().lower())
    if not match:
        return None
    hour, minute, half = int(match[1]), int(match[2] or 0), (match[3] or "").replace(".", "")
    if half:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def set_quiet_hours(turn: Turn, start_words: str, end_words: str) -> Reply:
    start, end = parse_clock(start_words), parse_clock(end_words)
    for words, parsed in ((start_words, start), (end_words, end)):
        if parsed is None:
            return _error(
                turn,
                f'Your quiet hours are unchanged: I couldn\'t read "{words.strip()}" as a time. '
                'Try "quiet hours 20:00-07:00" or "quiet hours 8pm to 7am".',
            )
    if start == end:
        return _error(turn, "Your quiet hours are unchanged: they would start and end at the same time.")
    turn.person.quiet_start, turn.person.quiet_end = f"{start:%H:%M}", f"{end:%H:%M}"
    return turn.render(
        "message.j2",
        text=f"Quiet hours set: I won't message you between {start:%H:%M} and {end:%H:%M} "
        f"({turn.person.timezone or 'UTC'} time). Anything due then waits until {end:%H:%M}.",
    )


def _countries() -> dict[str, str]:
    """ISO code -> English name of every country the holidays library knows."""
    from holidays.registry import COUNTRIES

    names = {}
    for _module, (class_name, code, *_rest) in COUNTRIES.items():
        names[code] = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", class_name)
    return names


def set_country(turn: Turn, country_words: str, region_words: str | None = None) -> Reply:
    import holidays

    supported = holidays.list_supported_countries()
    names = _countries()
    words = country_words.strip().rstrip(".")
    code = words.upper() if words.upper() in supported and len(words) == 2 else None
    if code is None:
        by_name = {name.lower(): c for c, name in names.items()}
        code = by_name.get(words.lower())
    if code is None:
        options = list(names) + [n.lower() for n in names.values()]
        near = nearest_few(words.lower(), [o.lower() for o in options], 3, cutoff=70)
        shown = [o.upper() if len(o) == 2 else o.title() for o in near]
        hint = (
            f" Did you mean {' or '.join(shown)}?" if shown else ' Use a two-letter code like "DE" or "US".'
        )
        return _error(
            turn, f'Your country is unchanged: I don\'t know the public holidays of "{words}".{hint}'
        )
    region = None
    if region_words:
        region = _region(code, region_words, supported)
        if region is None:
            regions = [r for r in supported.get(code, []) if len(r) <= 4]
            near = nearest_few(region_words.strip().upper(), regions, 3)
            listed = ", ".join(regions[:40]) + (f" and {len(regions) - 40} more" if len(regions) > 40 else "")
            hint = f" Did you mean {' or '.join(near)}?" if near else ""
            return _error(
                turn,
                f'Your country is unchanged: "{region_words.strip()}" is not a region of {names.get(code, code)}.{hint} '
                f"Its regions: {listed or 'none'}.",
            )
    prefs = dict(turn.person.preferences or {})
    prefs["country"] = code
    if region:
        prefs["region"] = region
    elif prefs.get("country") != (turn.person.preferences or {}).get("country"):
        prefs.pop("region", None)
    turn.person.preferences = prefs
    return turn.render("message.j2", text=_holidays_sentence(turn, code, prefs.get("region")))


def set_region(turn: Turn, region_words: str) -> Reply:
    country = (turn.person.preferences or {}).get("country")
    if not country:
        return _error(turn, 'Tell me your country first, like "my country is DE", then your region.')
    return set_country(turn, country, region_words)


def _region(code: str, words: str, supported: dict[str, list[str]]) -> str | None:
    wanted = words.strip().rstrip(".").upper()
    for region in supported.get(code, []):
        if region.upper() == wanted:
            return region
    return None


def _holidays_sentence(turn: Turn, code: str, region: str | None) -> str:
    calendar = public_holidays(code, region)
    where = f"{_countries().get(code, code)}{f' ({region})' if region else ''}"
    upcoming = _next_holiday(calendar, _today(turn))
    after = f" The next one is {upcoming[1]} on {upcoming[0]:%A %d %B %Y}." if upcoming else ""
    return f"Got it: you work in {where}. I won't send you knowledge checks, nudges or digests on its public holidays.{after}"


def _next_holiday(calendar, today: date) -> tuple[date, str] | None:
    if calendar is None:
        return None
    for offset in range(0, 400):
        day = today + timedelta(days=offset)
        if day in calendar:
            return day, calendar.get(day)
    return None


def pause_quizzes(turn: Turn, until_words: str) -> Reply:
    """ "pause quizzes until 2 Jan", "for 2 weeks", "until Friday": vacations, busy quarters. Days are read
    like "pause nudges until" (bot.dates): in the rep's time zone, stated in full, past days refused."""
    from bot.dates import DateProblem, long_form, resolve

    try:
        until = resolve(until_words, _today(turn))
    except DateProblem as problem:
        return _error(turn, str(problem))
    prefs = dict(turn.person.preferences or {})
    if prefs.get("quiz_paused_until") != until.day.isoformat():  # the paused days, kept for streaks
        kept = [list(p) for p in prefs.get(PAUSES) or [] if isinstance(p, list | tuple) and len(p) == 2]
        kept.append([_today(turn).isoformat(), (until.day - timedelta(days=1)).isoformat()])
        prefs[PAUSES] = kept[-KEPT_PAUSES:]
    prefs["quiz_paused_until"] = until.day.isoformat()
    turn.person.preferences = prefs
    note = f" ({until.note})" if until.note else ""
    return turn.render(
        "message.j2",
        text=f"Knowledge checks paused: the next one comes on your first working day from "
        f"{long_form(until.day)}{note}. "
        'Say "resume quizzes" to start again sooner.',
    )


def resume_quizzes(turn: Turn) -> Reply:
    """ "resume quizzes": the pause ends today (today itself stays excused for streaks)."""
    prefs = dict(turn.person.preferences or {})
    was = prefs.pop("quiz_paused_until", None)
    today = _today(turn).isoformat()
    spans = [list(p) for p in prefs.get(PAUSES) or [] if isinstance(p, list | tuple) and len(p) == 2]
    for span in spans:
        if str(span[0]) <= today < str(span[1]):
            span[1] = today  # ISO days compare as text
    if spans:
        prefs[PAUSES] = spans
    turn.person.preferences = prefs
    return turn.render(
        "message.j2",
        text="Knowledge checks are on again." if was else "Knowledge checks were not paused: they are on.",
    )


def show(turn: Turn) -> Reply:
    person = turn.person
    prefs = person.preferences or {}
    available = Availability.of(person)
    days = ", ".join(DAY_NAMES[d].title() for d in sorted(available.working_days))
    lines = [
        f"Time zone: {person.timezone or 'UTC'}",
        f"Working days: {days}",
        f"Quiet hours: {person.quiet_start}-{person.quiet_end}",
    ]
    if prefs.get("country"):
        region = f" ({prefs['region']})" if prefs.get("region") else ""
        upcoming = _next_holiday(available.holidays, _today(turn))
        nxt = f"; next: {upcoming[1]}, {upcoming[0]:%d %B}" if upcoming else ""
        lines.append(f"Public holidays: {_countries().get(prefs['country'], prefs['country'])}{region}{nxt}")
    else:
        lines.append('Public holidays: none set (say "my country is DE")')
    paused = prefs.get("quiz_paused_until")
    if paused and paused > _today(turn).isoformat():
        lines.append(f"Knowledge checks: paused until {date.fromisoformat(paused):%A %d %B %Y}")
    return turn.render("message.j2", text="When I message you:\n" + "\n".join(f"- {line}" for line in lines))
