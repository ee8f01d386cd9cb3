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
        return turn.render("replies/availability.j2#working_days_unchanged", kind="error", problem=problem)
    turn.person.working_days = ",".join(DAYS[d] for d in days)
    return turn.render("replies/availability.j2#working_days_set", days=[DAY_NAMES[d].title() for d in days])


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
            return turn.render("replies/availability.j2#unreadable_time", kind="error", words=words.strip())
    if start == end:
        return turn.render("replies/availability.j2#quiet_hours_empty", kind="error")
    turn.person.quiet_start, turn.person.quiet_end = f"{start:%H:%M}", f"{end:%H:%M}"
    return turn.render(
        "replies/availability.j2#quiet_hours_set", start=start, end=end, timezone=turn.person.timezone
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
        return turn.render(
            "replies/availability.j2#unknown_country", kind="error", words=words, suggestions=shown
        )
    region = None
    if region_words:
        region = _region(code, region_words, supported)
        if region is None:
            regions = [r for r in supported.get(code, []) if len(r) <= 4]
            near = nearest_few(region_words.strip().upper(), regions, 3)
            return turn.render(
                "replies/availability.j2#unknown_region",
                kind="error",
                words=region_words.strip(),
                country=names.get(code, code),
                suggestions=near,
                regions=regions,
            )
    prefs = dict(turn.person.preferences or {})
    prefs["country"] = code
    if region:
        prefs["region"] = region
    elif prefs.get("country") != (turn.person.preferences or {}).get("country"):
        prefs.pop("region", None)
    turn.person.preferences = prefs
    return turn.render(
        "replies/availability.j2#holidays_set",
        country=names.get(code, code),
        region=prefs.get("region"),
        upcoming=_next_holiday(public_holidays(code, prefs.get("region")), _today(turn)),
    )


def set_region(turn: Turn, region_words: str) -> Reply:
    country = (turn.person.preferences or {}).get("country")
    if not country:
        return turn.render("replies/availability.j2#country_first", kind="error")
    return set_country(turn, country, region_words)


def _region(code: str, words: str, supported: dict[str, list[str]]) -> str | None:
    wanted = words.strip().rstrip(".").upper()
    for region in supported.get(code, []):
        if region.upper() == wanted:
            return region
    return None


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
    return turn.render("replies/availability.j2#quizzes_paused", until=long_form(until.day), note=until.note)


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
    return turn.render("replies/availability.j2#quizzes_resumed", was_paused=bool(was))


def show(turn: Turn) -> Reply:
    person = turn.person
    prefs = person.preferences or {}
    available = Availability.of(person)
    country = prefs.get("country")
    paused = prefs.get("quiz_paused_until")
    return turn.render(
        "replies/availability.j2#settings",
        timezone=person.timezone,
        days=[DAY_NAMES[d].title() for d in sorted(available.working_days)],
        quiet_start=person.quiet_start,
        quiet_end=person.quiet_end,
        country=_countries().get(country, country) if country else None,
        region=prefs.get("region") if country else None,
        upcoming=_next_holiday(available.holidays, _today(turn)) if country else None,
        paused_until=date.fromisoformat(paused) if paused and paused > _today(turn).isoformat() else None,
    )
