"""Days in plain language, for pauses and anything else that asks "until when?".

One parser, given the person's local date (so "tomorrow" is their tomorrow): "tomorrow", "today",
"for 2 weeks", "for a month", "for three days", "next week" (next Monday), "until Friday" / "next Friday"
(the next such day after today), "1 Dec" / "Dec 1st" / "december 1" (the next time that day comes, saying
so when it is next year), "2 Dec 2027" / "Dec 2, 2027", and ISO dates ("2027-12-02"). A leading "until",
"till", "to" or "through" is optional. Past days, and today, are refused with a sentence saying why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        1,
    )
    for name in names
}
WEEKDAYS = {
    name: number
    for number, names in enumerate(
        (
            ("mon", "monday"),
            ("tue", "tues", "tuesday"),
            ("wed", "wednesday"),
            ("thu", "thur", "thurs", "thursday"),
            ("fri", "friday"),
            ("sat", "saturday"),
            ("sun", "sunday"),
        )
    )
    for name in names
}
NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "a couple of": 2,
    "a few": 3,
}
UNITS = {"day": 1, "week": 7, "fortnight": 14}
MAX_AHEAD = timedelta(days=366)
EXAMPLES = '"tomorrow", "for 2 weeks", "until Friday", "until 2 Dec" or "until 2027-12-02"'


@dataclass(frozen=True)
class Day:
    """A resolved day, and a note when it is not the obvious reading (e.g. the date is next year)."""

    day: date
    note: str = ""


class DateProblem(ValueError):
    """Words that are not a usable day; the message says why, in a sentence for the person."""


def long_form(day: date) -> str:
    """ "Friday 11 December 2026": the day stated in full, so nobody has to guess the year."""
    return day.strftime("%A %d %B %Y")


def resolve(words: str, today: date) -> Day:
    """The day `words` name, counted from `today` (the person's local date); DateProblem if it cannot be
    read, is today or past, or is more than a year away."""
    text = " ".join(words.strip().lower().rstrip(".!").replace(",", " ").split())
    text = re.sub(r"^(?:until|till|til|to|through|thru|up to)\s+", "", text)
    found = _read(text, today)
    if found is None:
        raise DateProblem(f'I couldn\'t read "{words.strip()}" as a day. Try {EXAMPLES}.')
    if found.day < today:
        raise DateProblem(f"{long_form(found.day)} is in the past; pick a day after today.")
    if found.day == today:
        raise DateProblem(f"That is today ({long_form(today)}); pick a day after today.")
    if found.day - today > MAX_AHEAD:
        raise DateProblem(f"{long_form(found.day)} is more than a year away; pick a nearer day.")
    return found


def _read(text: str, today: date) -> Day | None:
    if text in ("tomorrow", "tmrw", "tmr"):
        return Day(today + timedelta(days=1))
    if text == "today":
        return Day(today)
    if text in ("next week", "the next week"):
        return Day(today + timedelta(days=7 - today.weekday()))
    if text in ("next month", "the end of the month", "end of month", "the end of this month"):
        return Day(_add_months(today.replace(day=1), 1))
    span = re.fullmatch(r"(?:for )?(?:the next )?(\d{1,3}|[a-z]+(?: [a-z]+)?(?: of)?) (day|week|fortnight|month)s?", text)
    if span:
        amount = int(span[1]) if span[1].isdigit() else NUMBERS.get(span[1])
        if amount is None:
            return None
        if span[2] == "month":
            return Day(_add_months(today, amount))
        return Day(today + timedelta(days=amount * UNITS[span[2]]))
    weekday = re.fullmatch(r"(?:next |this |the )?([a-z]+)", text)
    if weekday and weekday[1] in WEEKDAYS:
        ahead = (WEEKDAYS[weekday[1]] - today.weekday()) % 7 or 7
        return Day(today + timedelta(days=ahead))
    try:
        return Day(date.fromisoformat(text))
    except ValueError:
        pass
    named = re.fullmatch(
        r"(?:the )?(\d{1,2})(?:st|nd|rd|th)?(?: of)? ([a-z]+)(?: (\d{4}))?|([a-z]+) (?:the )?(\d{1,2})(?:st|nd|rd|th)?(?: (\d{4}))?",
        text,
    )
    if not named:
        return None
    day, month, year = (named[1], named[2], named[3]) if named[1] else (named[5], named[4], named[6])
    number = MONTHS.get(month)
    if number is None:
        return None
    if year:
        try:
            return Day(date(int(year), number, int(day)))
        except ValueError:
            return None
    try:
        this_year = date(today.year, number, int(day))
    except ValueError:
        this_year = None
    if this_year is not None and this_year >= today:  # today itself is refused as today, not moved a year
        return Day(this_year)
    try:
        next_year = date(today.year + 1, number, int(day))
    except ValueError:
        return None
    if this_year is None:  # 29 Feb of a year without one
        return Day(next_year, note=f"there is no {int(day)} {next_year.strftime('%b')} this year, so that is next year")
    return Day(next_year, note=f"{int(day)} {next_year.strftime('%b')} has passed this year, so that is next year")


def _add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("every month has a 28th")
