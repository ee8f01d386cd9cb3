"""Coaching cadence: who reports to whom, who is due for coaching and on what, logging it, reports.

The weekly nudge tells a manager which reps are due (by the team's cadence: weekly, biweekly, monthly)
and suggests a focus per rep from the data the bot holds, ROAM style: a deal moved on with exit
criteria unconfirmed (Methodology), a deal with no criteria progress (Activity), the criterion most
often open on the rep's deals (Results vs objectives), or an empty pipeline; with coaching questions
from the playbook stage concerned.
"""

from __future__ import annotations

import re
import secrets
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, or_, select

from bot.messages import Button, Form, FormField, Reply
from handlers.charts import bar_chart
from handlers.common import Turn, not_paused, small_number, team_ids, weekly_due_groups
from handlers.summaries import SKIPPED_WINDOW, STALLED_AFTER, last_activity, latest_confirmed
from playbooks.nearest import ranked
from storage.db import insert_or_ignore
from storage.models import (
    CoachingSession,
    Deal,
    DealStageChange,
    DealStatus,
    OutboxMessage,
    OutboxStatus,
    Person,
    Role,
)

AREAS = {
    "lead-opportunity": "Lead & opportunity",
    "pipeline": "Pipeline",
    "skills-behaviors": "Skills & behaviors",
    "account": "Account",
    "territory": "Territory",
}
AREA_WORDS = {
    "lead-opportunity": "lead opportunity opportunities deal deals opp",
    "pipeline": "pipeline forecast pipe",
    "skills-behaviors": "skills skill behaviors behaviours behavior behaviour methodology",
    "account": "account accounts customer",
    "territory": "territory territories patch region",
}
CADENCES = {"weekly": 7, "biweekly": 14, "monthly": 30}
DEFAULT_QUESTIONS = {
    "pipeline": [
        "Which new opportunities will you create in the next two weeks, and from where?",
        "Which deal in your pipeline would you drop today, and why haven't you?",
    ],
    "skills-behaviors": [
        "Walk me through your last buyer conversation: what did you learn that you didn't know before?",
        "What will you do differently in your next call?",
    ],
}
NUDGE_WEEKDAY, NUDGE_TIME = 0, "09:00"  # Monday 09:00 in the manager's time zone
FOLLOWUP_WEEKDAY, FOLLOWUP_TIME = 3, "14:00"  # Thursday afternoon, only if nothing was logged
SEND_GRACE = timedelta(hours=48)
MAX_NOTE = 1000


# -- rosters --------------------------------------------------------------------------------------------


def find_person(turn: Turn, words: str, among: list[Person] | None = None) -> Person | list[Person] | None:
    """A person by email, else by name (typo-tolerant); a list when the name fits several."""
    words = words.strip().strip("@").strip()
    people = (
        among
        if among is not None
        else list(
            turn.db.scalars(
                select(Person).where(Person.organization_id == turn.organization.id, Person.active.is_(True))
            )
        )
    )
    from bot.text import fold

    folded = fold(words)
    exact = [p for p in people if p.email.lower() == words.lower() or fold(p.name) == folded]
    if len(exact) == 1:
        return exact[0]
    first = [p for p in people if fold(p.name).split()[:1] == [folded]] if folded else []
    if len(first) == 1:
        return first[0]
    if len(first) > 1:
        return first
    scored = ranked(words, {p.id: p.name for p in people}, cutoff=85, limit=3, processor=fold)
    if not scored:
        return None
    by_id = {p.id: p for p in people}
    best = scored[0][1]
    close = [by_id[key] for key, score in scored if score >= best - 3]
    return close[0] if len(close) == 1 else close


def add_to_team(turn: Turn, words: str) -> Reply:
    if turn.person.role == Role.REP:
        return turn.render("refused.j2", kind="refusal", what="a team", why="only managers have teams here.")
    found = find_person(turn, words)
    if not isinstance(found, Person):
        return _who_do_you_mean(turn, words, found)
    if found.id == turn.person.id:
        return turn.render("message.j2", kind="error", text="You can't be your own manager.")
    chain, boss = set(), turn.person
    while boss is not None and boss.id not in chain:
        chain.add(boss.id)
        boss = boss.manager
    if found.id in chain:
        return turn.render(
            "message.j2",
            kind="error",
            text=f"{found.name} is above you in the reporting line, so they can't report to you (that would make a loop).",
        )
    previous = found.manager
    if previous is not None and previous.id == turn.person.id:
        return turn.render("message.j2", text=f"{found.name} is already on your team.")
    found.manager_id = turn.person.id
    moved = f" (moved from {previous.name}'s team)" if previous else ""
    return turn.render(
        "message.j2",
        text=f"Added {found.name} to your team{moved}. I'll include them in your coaching nudges.",
    )


def remove_from_team(turn: Turn, words: str) -> Reply:
    reports = list(turn.db.scalars(select(Person).where(Person.manager_id == turn.person.id)))
    found = find_person(turn, words, reports)
    if not isinstance(found, Person):
        return turn.render("message.j2", kind="error", text=f'"{words}" is not on your team.')
    found.manager_id = None
    return turn.render("message.j2", text=f"Removed {found.name} from your team.")


def _who_do_you_mean(turn: Turn, words: str, found: list[Person] | None) -> Reply:
    if found:
        names = ", ".join(f"{p.name} ({p.email})" for p in found)
        return turn.render(
            "message.j2", kind="choice", text=f'"{words}" could be {names}. Say it with their email.'
        )
    return turn.render(
        "message.j2",
        kind="error",
        text=f'I don\'t know anyone called "{words}". Use their email, or import people with the CSV.',
    )


# -- who is due, and on what ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Focus:
    area: str
    roam: str  # Results, Activity, Methodology
    text: str
    questions: tuple[str, ...]


@dataclass(frozen=True)
class RepDue:
    rep: Person
    days_since: int | None  # None: never coached
    overdue: bool
    focus: Focus


def cadence_days(manager: Person) -> int:
    return CADENCES.get((manager.preferences or {}).get("cadence", "weekly"), 7)


def due_reps(ctx, db, manager: Person, now: datetime) -> list[RepDue]:  # type: ignore[no-untyped-def]
    """Direct reports not coached within the cadence, each with a suggested focus."""
    reports = list(
        db.scalars(
            select(Person)
            .where(Person.manager_id == manager.id, Person.active.is_(True))
            .order_by(Person.name)
        )
    )
    if not reports:
        return []
    last = dict(
        db.execute(
            select(CoachingSession.rep_id, func.max(CoachingSession.occurred_at))
            .where(CoachingSession.rep_id.in_([r.id for r in reports]))
            .group_by(CoachingSession.rep_id)
        ).all()
    )
    interval = cadence_days(manager)
    owners = {r.id for r in reports}
    confirmed: dict[int, set[str]] = defaultdict(set)
    for deal_id, criterion_id in latest_confirmed(db, manager.organization_id, owners):
        confirmed[deal_id].add(criterion_id)
    activity = last_activity(db, manager.organization_id, owners)
    due = [rep for rep in reports if rep.id not in last or (now - last[rep.id]).days >= interval]
    weak = weak_topics(ctx, db, {rep.id for rep in due}, now)
    out = []
    for rep in due:
        days = (now - last[rep.id]).days if rep.id in last else None
        focus = suggest_focus(ctx, db, rep, now, confirmed, activity, weak)
        out.append(RepDue(rep, days, days is None or days >= 2 * interval, focus))
    return out


@dataclass(frozen=True)
class WeakTopic:
    """A rep's weakest knowledge-check topic over 90 days, and the playbook sections they last got wrong."""

    topic: str
    percent: int
    sections: tuple[str, ...]  # labels, e.g. "Evaluation · exit criterion “references-checked”"


def weak_topics(ctx, db, rep_ids: set[int], now: datetime) -> dict[int, WeakTopic]:  # type: ignore[no-untyped-def]
    """Per rep, the weakest topic (3+ answers, under 60% right, over 90 days) with the linked sections the rep
    last answered wrong: two queries for all the reps, whatever their number."""
    from handlers.quizzes.results import reread, weakest_topics

    if not rep_ids:
        return {}
    weakest = weakest_topics(db, rep_ids, now)
    sections = reread(db, ctx.playbooks, {rep: {topic} for rep, (topic, _) in weakest.items()}, stages=False)
    return {
        rep: WeakTopic(topic, percent, tuple(s.label for s in sections.get((rep, topic), [])))
        for rep, (topic, percent) in weakest.items()
    }


def suggest_focus(ctx, db, rep: Person, now: datetime, confirmed, activity, weak=None) -> Focus:  # type: ignore[no-untyped-def]
    """`weak`: the reps' weak knowledge-check topics (`weak_topics`), worked out once for all of them."""
    deals = list(
        db.scalars(
            select(Deal).where(Deal.owner_id == rep.id, Deal.status == DealStatus.OPEN).order_by(Deal.name)
        )
    )
    skipped = db.execute(
        select(DealStageChange, Deal.name, Deal.playbook_id)
        .join(Deal, Deal.id == DealStageChange.deal_id)
        .where(
            Deal.owner_id == rep.id,
            DealStageChange.changed_at >= now - SKIPPED_WINDOW,
            func.json_array_length(DealStageChange.skipped_criteria) > 0,
        )
        .order_by(DealStageChange.changed_at.desc())
    ).first()
    if skipped is not None:
        change, deal_name, playbook_id = skipped
        stage = _stage(ctx, playbook_id, change.from_stage_id)
        count = len(change.skipped_criteria)
        return Focus(
            "skills-behaviors",
            "Methodology",
            f"moved {deal_name} on from {stage.name if stage else change.from_stage_id} with "
            f"{count} exit {'criterion' if count == 1 else 'criteria'} unconfirmed",
            _questions(stage, "skills-behaviors"),
        )
    for deal in deals:
        latest = max(filter(None, (activity.get(deal.id), deal.stage_entered_at)))
        if now - latest >= STALLED_AFTER:
            stage = _stage(ctx, deal.playbook_id, deal.stage_id)
            return Focus(
                "lead-opportunity",
                "Activity",
                f"{deal.name} has had no exit-criteria progress in {(now - latest).days} days "
                f"({stage.name if stage else deal.stage_id})",
                _questions(stage, "lead-opportunity"),
            )
    found = (weak if weak is not None else weak_topics(ctx, db, {rep.id}, now)).get(rep.id)
    if found is not None:
        stage = next((s for p in ctx.playbooks.playbooks for s in p.stages if s.id == found.topic), None)
        wrong = f"; last answered wrong: {' and '.join(found.sections)}" if found.sections else ""
        return Focus(
            "skills-behaviors",
            "Methodology",
            f"knowledge checks on {stage.name if stage else found.topic} are {found.percent}% right over 90 "
            f"days{wrong}",
            _questions(stage, "skills-behaviors"),
        )
    open_criteria: Counter[tuple[str, str, str]] = Counter()
    for deal in deals:
        stage = _stage(ctx, deal.playbook_id, deal.stage_id)
        for criterion in stage.exit_criteria if stage else []:
            if criterion.id not in confirmed[deal.id]:
                open_criteria[(deal.playbook_id, deal.stage_id, criterion.text)] += 1
    if open_criteria:
        (playbook_id, stage_id, text), count = open_criteria.most_common(1)[0]
        stage = _stage(ctx, playbook_id, stage_id)
        return Focus(
            "lead-opportunity",
            "Results",
            f'"{text}" is unconfirmed on {count} of {len(deals)} deals',
            _questions(stage, "lead-opportunity"),
        )
    return Focus(
        "pipeline",
        "Results",
        "no open deals with open exit criteria: look at pipeline generation",
        tuple(DEFAULT_QUESTIONS["pipeline"]),
    )


def _stage(ctx, playbook_id: str, stage_id: str | None):  # type: ignore[no-untyped-def]
    playbook = ctx.playbooks.get(playbook_id)
    return playbook.stage(stage_id) if playbook and stage_id else None


def _questions(stage, area: str) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    questions = list(stage.coaching_questions if stage else []) or DEFAULT_QUESTIONS.get(
        area, DEFAULT_QUESTIONS["skills-behaviors"]
    )
    return tuple(questions[:3])


# -- the nudge ------------------------------------------------------------------------------------------


def nudge_reply(ctx, db, manager: Person, now: datetime, week: str, followup: bool = False) -> Reply | None:  # type: ignore[no-untyped-def]
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


def show_due(turn: Turn) -> Reply:
    """ "who should I coach?": the nudge, on demand."""
    from bot.localtime import parse_hhmm, weekly_slot, zone

    week, _ = weekly_slot(zone(turn.person.timezone), NUDGE_WEEKDAY, parse_hhmm(NUDGE_TIME), turn.now())
    reply = nudge_reply(turn.ctx, turn.db, turn.person, turn.now(), week)
    if reply is None:
        return turn.render(
            "message.j2",
            text="Nobody on your team is due for coaching: everyone was coached within your cadence.",
        )
    return reply


def enqueue_nudges(ctx, now: datetime, followups: bool = False) -> int:  # type: ignore[no-untyped-def]
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


def _not_paused_or_snoozed(week: str, local_date: date):  # type: ignore[no-untyped-def]
    """Managers who neither snoozed this week's nudge nor paused nudges past today (ISO dates compare as
    text)."""
    snoozed = Person.preferences["snoozed_week"].as_string()
    return and_(or_(snoozed.is_(None), snoozed != week), not_paused(local_date))


def _nudged_and_not_logged(managers, week: str):  # type: ignore[no-untyped-def]
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


def compose_nudge(ctx, db, manager: Person, now: datetime, week: str, followup: bool) -> Reply | None:  # type: ignore[no-untyped-def]
    """The nudge as it is sent: the reps due now, each with a focus from the latest data."""
    if followup and db.scalar(_nudged_and_not_logged(Person.id == manager.id, week).limit(1)) is None:
        return None  # coaching was logged between the tick and the send
    return nudge_reply(ctx, db, manager, now, week, followup=followup)


def snooze(turn: Turn, week: str) -> Reply:
    turn.person.preferences = {**(turn.person.preferences or {}), "snoozed_week": week}
    return turn.render(
        "message.j2", text=f"Snoozed: no more coaching reminders this week ({week}). See you next Monday."
    )


def pause(turn: Turn, until_words: str) -> Reply:
    """ "pause nudges until 2 Dec", "for 2 weeks", "until Friday": vacations and busy weeks. The day is read
    in the manager's time zone and stated in full; nudges, follow-ups and weekly digests start again on it."""
    from bot.dates import DateProblem, long_form, resolve
    from bot.localtime import zone

    today = turn.now().astimezone(zone(turn.person.timezone)).date()
    try:
        until = resolve(until_words, today)
    except DateProblem as problem:
        return turn.render("message.j2", kind="error", text=str(problem))
    turn.person.preferences = {**(turn.person.preferences or {}), "paused_until": until.day.isoformat()}
    note = f" ({until.note})" if until.note else ""
    return turn.render(
        "message.j2",
        text=f"Coaching nudges and weekly digests paused until {long_form(until.day)}{note}, "
        f"{turn.person.timezone} time: they start again that day. "
        'Say "resume nudges" to start again sooner.',
    )


def resume(turn: Turn) -> Reply:
    prefs = dict(turn.person.preferences or {})
    prefs.pop("paused_until", None)
    prefs.pop("snoozed_week", None)
    turn.person.preferences = prefs
    return turn.render("message.j2", text="Coaching nudges and weekly digests are on again.")


def set_cadence(turn: Turn, cadence: str) -> Reply:
    cadence = (
        cadence.lower()
        .replace("-", "")
        .replace("every two weeks", "biweekly")
        .replace("fortnightly", "biweekly")
    )
    if cadence not in CADENCES:
        return turn.render("message.j2", kind="error", text="Cadence can be weekly, biweekly or monthly.")
    turn.person.preferences = {**(turn.person.preferences or {}), "cadence": cadence}
    return turn.render(
        "message.j2",
        text=f"Your team's coaching cadence is now {cadence}: each rep is due every {CADENCES[cadence]} days.",
    )


MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}


def parse_day(words: str, today: date) -> date | None:
    """ "2026-12-02", "2 Dec", "Dec 2", "december 2nd": the next such day."""
    words = words.strip().lower().rstrip(".")
    try:
        return date.fromisoformat(words)
    except ValueError:
        pass
    match = re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th)? ([a-z]+)|([a-z]+) (\d{1,2})(?:st|nd|rd|th)?", words)
    if not match:
        return None
    day, month = (match[1], match[2]) if match[1] else (match[4], match[3])
    number = MONTHS.get(month[:3])
    if number is None:
        return None
    try:
        candidate = date(today.year, number, int(day))
    except ValueError:
        return None
    return candidate if candidate >= today else candidate.replace(year=today.year + 1)


# -- logging coaching -------------------------------------------------------------------------------------


def area_of(words: str) -> str | None:
    words = words.lower().replace("&", " ").replace("-", " ")
    for area, synonyms in AREA_WORDS.items():
        if any(w in synonyms.split() for w in words.split()):
            return area
    return None


def log_typed(turn: Turn, rep_words: str, area_words: str, note: str | None) -> Reply:
    """ "coached Ana on pipeline: talked about the Q1 forecast"."""
    if turn.person.role == Role.REP:
        return turn.render(
            "refused.j2", kind="refusal", what="coaching logs", why="coaching is logged by managers."
        )
    area = area_of(area_words)
    if area is None:
        return turn.render(
            "message.j2",
            kind="error",
            text=f'"{area_words}" is not a coaching area. Areas: {", ".join(AREAS.values())}.',
        )
    team = list(turn.db.scalars(select(Person).where(Person.id.in_(team_ids(turn.db, turn.person)))))
    rep = find_person(turn, rep_words, team)
    if not isinstance(rep, Person):
        anyone = find_person(turn, rep_words)
        if isinstance(anyone, Person):
            return turn.render(
                "refused.j2",
                kind="refusal",
                what=f"log coaching for {anyone.name}",
                why="they are not on your team.",
            )
        return _who_do_you_mean(turn, rep_words, rep)
    return _record(turn, rep, area, None, note, key=None)


def log_form(turn: Turn, _value: str = "") -> Reply:
    team = list(
        turn.db.scalars(
            select(Person).where(Person.id.in_(team_ids(turn.db, turn.person))).order_by(Person.name)
        )
    )
    if not team:
        return turn.render(
            "message.j2",
            kind="error",
            text='You have no reps on your team yet. Say "add ana@example.com to my team".',
        )
    form = coaching_form(team, secrets.token_hex(6))
    return turn.render(
        "message.j2", form=form, text="Log a coaching conversation: who, which area, and a short note."
    )


def coaching_form(team: list[Person], nonce: str) -> Form:
    return Form(
        title="Log coaching",
        submit_label="Log it",
        action="coaching.log",
        value=nonce,
        fields=(
            FormField(
                "rep",
                "Who did you coach?",
                "choice",
                options=tuple((str(p.id), p.name) for p in team),
                optional=False,
            ),
            FormField("area", "Coaching area", "choice", options=tuple(AREAS.items()), optional=False),
            FormField("deal", "Deal", "text", placeholder="Acme Corp"),
            FormField(
                "note",
                "A short note",
                "text",
                multiline=True,
                max_length=MAX_NOTE,
                placeholder="What you worked on and agreed",
            ),
        ),
    )


def log_submitted(turn: Turn, nonce: str) -> Reply:
    answers = turn.request.form or {}
    rep_id, area = str(answers.get("rep") or ""), str(answers.get("area") or "")
    number = small_number(rep_id)
    rep = turn.db.get(Person, number) if number is not None else None
    if rep is None or rep.id not in team_ids(turn.db, turn.person):
        return turn.render(
            "refused.j2", kind="refusal", what="that coaching log", why="the rep is not on your team."
        )
    if area not in AREAS:
        return turn.render("message.j2", kind="error", text="Pick one of the five coaching areas.")
    deal = None
    deal_words = str(answers.get("deal") or "").strip()
    if deal_words:
        from handlers.forms import deal_field, send_back

        found = deal_field(turn, rep, deal_words)
        if isinstance(found, str):
            team = list(
                turn.db.scalars(
                    select(Person).where(Person.id.in_(team_ids(turn.db, turn.person))).order_by(Person.name)
                )
            )
            return send_back(turn, coaching_form(team, nonce), {"deal": found})
        deal = found
    return _record(
        turn,
        rep,
        area,
        deal,
        str(answers.get("note") or "") or None,
        key=f"coaching:{turn.person.id}:{nonce}",
    )


def _record(
    turn: Turn, rep: Person, area: str, deal: Deal | None, note: str | None, key: str | None
) -> Reply:
    if note and len(note) > MAX_NOTE:
        return turn.render(
            "message.j2",
            kind="error",
            text=f"The note is limited to {MAX_NOTE} characters and yours has {len(note)}.",
        )
    added = insert_or_ignore(
        turn.db,
        CoachingSession,
        {
            "organization_id": turn.organization.id,
            "manager_id": turn.person.id,
            "rep_id": rep.id,
            "area": area,
            "deal_id": deal.id if deal else None,
            "note": note,
            "occurred_at": turn.now(),
            "created_at": turn.now(),
            "idempotency_key": key or f"coaching:{turn.person.id}:{secrets.token_hex(8)}",
        },
        ["idempotency_key"],
    )
    if not added:
        return turn.render("message.j2", text="Already logged: this form was submitted before.")
    from bot.localtime import zone

    next_due = (
        (turn.now() + timedelta(days=cadence_days(turn.person)))
        .astimezone(zone(turn.person.timezone))
        .strftime("%d %b")
    )
    button = Button(f"Ask {rep.name.split()[0]} for a takeaway", "coaching.ask-takeaway", str(rep.id))
    return turn.render(
        "message.j2",
        buttons=(button,),
        text=f"Logged: coaching with {rep.name} on {AREAS[area]}{f' ({deal.name})' if deal else ''}. "
        f"{rep.name.split()[0]} is next due around {next_due}.",
    )


def ask_takeaway(turn: Turn, rep_id: str) -> Reply:
    """DM the rep (through the outbox) asking for a one-line takeaway from their last session."""
    from storage import outbox

    number = small_number(rep_id)
    rep = turn.db.get(Person, number) if number is not None else None
    if rep is None or rep.id not in team_ids(turn.db, turn.person):
        return turn.render("refused.j2", kind="refusal", what="that rep", why="they are not on your team.")
    session = turn.db.scalar(
        select(CoachingSession)
        .where(CoachingSession.rep_id == rep.id)
        .order_by(CoachingSession.occurred_at.desc())
    )
    if session is None:
        return turn.render("message.j2", kind="error", text=f"No coaching with {rep.name} is logged yet.")
    question = turn.ctx.renderer.render(
        "message.j2",
        text=(
            f"{turn.person.name} logged a coaching conversation with you on {AREAS.get(session.area, session.area)}. "
            'What is your one-line takeaway? Reply "takeaway: " and your line.'
        ),
    )
    reach = outbox.reach(turn.db, rep.id)
    if reach is None:
        return turn.render(
            "message.j2",
            kind="error",
            text=f"I can't reach {rep.name} in Slack, Teams or here yet: they need to write to me once first.",
        )
    platform, way_in = reach
    outbox.enqueue(
        turn.db,
        key=f"takeaway:{session.id}",
        kind="takeaway",
        workspace_id=way_in,
        platform=platform,
        reply=question,
        now=turn.now(),
        person_id=rep.id,
    )
    return turn.render("message.j2", text=f"I'll ask {rep.name} for their takeaway.")


def takeaway(turn: Turn, line: str) -> Reply:
    session = turn.db.scalar(
        select(CoachingSession)
        .where(CoachingSession.rep_id == turn.person.id)
        .order_by(CoachingSession.occurred_at.desc())
    )
    if session is None:
        return turn.render(
            "message.j2", kind="error", text="There is no coaching conversation logged for you yet."
        )
    session.rep_takeaway = line.strip()[:500]
    return turn.render("message.j2", text="Thanks, your takeaway is saved with the coaching notes.")


# -- reports ---------------------------------------------------------------------------------------------


@dataclass
class RepCoaching:
    name: str
    last4: int
    last12: int
    areas: list[str]
    days_since: int | None


def my_coaching(turn: Turn) -> Reply:
    if turn.person.role == Role.REP:
        return turn.render("refused.j2", kind="refusal", what="a coaching report", why="it is for managers.")
    now = turn.now()
    reports = list(
        turn.db.scalars(select(Person).where(Person.manager_id == turn.person.id).order_by(Person.name))
    )
    sessions = turn.db.execute(
        select(CoachingSession.rep_id, CoachingSession.area, CoachingSession.occurred_at).where(
            CoachingSession.manager_id == turn.person.id,
            CoachingSession.occurred_at >= now - timedelta(weeks=12),
        )
    ).all()
    rows = []
    for rep in reports:
        mine = [s for s in sessions if s.rep_id == rep.id]
        last = max((s.occurred_at for s in mine), default=None)
        rows.append(
            RepCoaching(
                rep.name,
                sum(1 for s in mine if s.occurred_at >= now - timedelta(weeks=4)),
                len(mine),
                sorted({AREAS.get(s.area, s.area) for s in mine}),
                (now - last).days if last else None,
            )
        )
    return turn.render("my_coaching.j2", rows=rows, not_coached=[r for r in rows if r.last4 == 0])


@dataclass
class ManagerCoaching:
    name: str
    reps: int
    sessions: int
    kept: int  # percent of (rep, cadence period) slots with at least one session, over 12 weeks
    areas: int
    with_deal: int  # percent of sessions tied to a deal
    maturity: str


def maturity(kept: int, areas: int, with_deal: int) -> str:
    """The rule, from the coaching maturity model (random, informal, formal, dynamic)."""
    if kept >= 85 and areas >= 4 and with_deal >= 50:
        return "dynamic"
    if kept >= 70 and areas >= 3:
        return "formal"
    if kept >= 30:
        return "informal"
    return "random"


def coaching_report(turn: Turn) -> Reply:
    if turn.person.role == Role.REP:
        return turn.render(
            "refused.j2",
            kind="refusal",
            what="the coaching report",
            why="it is for enablement and sales leaders.",
        )
    now = turn.now()
    since = now - timedelta(weeks=12)
    scope = team_ids(turn.db, turn.person) if turn.person.role == Role.MANAGER else None
    query = select(Person).where(Person.organization_id == turn.organization.id, Person.role == Role.MANAGER)
    if scope is not None:
        query = query.where(Person.id.in_(scope | {turn.person.id}))
    rows = []
    for manager in turn.db.scalars(query.order_by(Person.name)):
        reps = list(turn.db.scalars(select(Person.id).where(Person.manager_id == manager.id)))
        if not reps:
            continue
        sessions = turn.db.execute(
            select(
                CoachingSession.rep_id,
                CoachingSession.area,
                CoachingSession.occurred_at,
                CoachingSession.deal_id,
            ).where(CoachingSession.manager_id == manager.id, CoachingSession.occurred_at >= since)
        ).all()
        interval = cadence_days(manager)
        periods = max(1, 84 // interval)
        slots = {(s.rep_id, int((s.occurred_at - since).days // interval)) for s in sessions}
        kept = round(100 * min(len(slots), len(reps) * periods) / (len(reps) * periods))
        areas = len({s.area for s in sessions})
        with_deal = round(100 * sum(1 for s in sessions if s.deal_id) / len(sessions)) if sessions else 0
        rows.append(
            ManagerCoaching(
                manager.name,
                len(reps),
                len(sessions),
                kept,
                areas,
                with_deal,
                maturity(kept, areas, with_deal),
            )
        )
    reply = turn.render("coaching_report.j2", rows=rows)
    image = bar_chart(
        [(r.name, r.kept) for r in rows],
        "Coaching cadence kept (%), last 12 weeks",
        "coaching-report.png",
        limit=100,
    )
    return replace(reply, image=image)
