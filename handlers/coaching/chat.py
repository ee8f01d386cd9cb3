"""Coaching's chat turns, the routes the router calls: rosters, who to coach now, snooze, pause and
cadence, logging a session (typed or with the form) and the rep's takeaway.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import select

from bot.messages import Button, Form, FormField, Reply
from handlers.coaching.nudges import NUDGE_TIME, NUDGE_WEEKDAY, nudge_reply
from handlers.coaching.queries import AREAS, CADENCES, area_of, cadence_days, find_person
from handlers.common import Turn, small_number, team_ids
from storage.db import insert_or_ignore
from storage.models import (
    CoachingSession,
    Deal,
    Person,
    Role,
)

MAX_NOTE = 1000


def add_to_team(turn: Turn, words: str) -> Reply:
    if turn.person.role == Role.REP:
        return turn.render("replies/refusals.j2#team_for_managers", kind="refusal")
    found = find_person(turn, words)
    if not isinstance(found, Person):
        return _who_do_you_mean(turn, words, found)
    if found.id == turn.person.id:
        return turn.render("replies/coaching.j2#own_manager", kind="error")
    chain: set[int] = set()
    boss: Person | None = turn.person
    while boss is not None and boss.id not in chain:
        chain.add(boss.id)
        boss = boss.manager
    if found.id in chain:
        return turn.render("replies/coaching.j2#reporting_loop", kind="error", person=found)
    previous = found.manager
    if previous is not None and previous.id == turn.person.id:
        return turn.render("replies/coaching.j2#on_team_already", person=found)
    found.manager_id = turn.person.id
    return turn.render("replies/coaching.j2#added_to_team", person=found, previous=previous)


def remove_from_team(turn: Turn, words: str) -> Reply:
    reports = list(turn.db.scalars(select(Person).where(Person.manager_id == turn.person.id)))
    found = find_person(turn, words, reports)
    if not isinstance(found, Person):
        return turn.render("replies/coaching.j2#not_on_team", kind="error", words=words)
    found.manager_id = None
    return turn.render("replies/coaching.j2#removed_from_team", person=found)


def _who_do_you_mean(turn: Turn, words: str, found: list[Person] | None) -> Reply:
    if found:
        return turn.render("replies/coaching.j2#which_person", kind="choice", words=words, people=found)
    return turn.render("replies/coaching.j2#unknown_person", kind="error", words=words)


def show_due(turn: Turn) -> Reply:
    """ "who should I coach?": the nudge, on demand."""
    from bot.localtime import parse_hhmm, weekly_slot, zone

    week, _ = weekly_slot(zone(turn.person.timezone), NUDGE_WEEKDAY, parse_hhmm(NUDGE_TIME), turn.now())
    reply = nudge_reply(turn.ctx, turn.db, turn.person, turn.now(), week)
    if reply is None:
        return turn.render("replies/coaching.j2#nobody_due")
    return reply


def snooze(turn: Turn, week: str) -> Reply:
    turn.person.preferences = {**(turn.person.preferences or {}), "snoozed_week": week}
    return turn.render("replies/coaching.j2#snoozed", week=week)


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
    return turn.render(
        "replies/coaching.j2#paused",
        until=long_form(until.day),
        note=until.note,
        timezone=turn.person.timezone,
    )


def resume(turn: Turn) -> Reply:
    prefs = dict(turn.person.preferences or {})
    prefs.pop("paused_until", None)
    prefs.pop("snoozed_week", None)
    turn.person.preferences = prefs
    return turn.render("replies/coaching.j2#resumed")


def set_cadence(turn: Turn, cadence: str) -> Reply:
    cadence = (
        cadence.lower()
        .replace("-", "")
        .replace("every two weeks", "biweekly")
        .replace("fortnightly", "biweekly")
    )
    if cadence not in CADENCES:
        return turn.render("replies/coaching.j2#cadence_choices", kind="error")
    turn.person.preferences = {**(turn.person.preferences or {}), "cadence": cadence}
    return turn.render("replies/coaching.j2#cadence_set", cadence=cadence, days=CADENCES[cadence])


def log_typed(turn: Turn, rep_words: str, area_words: str, note: str | None) -> Reply:
    """ "coached Ana on pipeline: talked about the Q1 forecast"."""
    if turn.person.role == Role.REP:
        return turn.render("replies/refusals.j2#coaching_logged_by_managers", kind="refusal")
    area = area_of(area_words)
    if area is None:
        return turn.render(
            "replies/coaching.j2#unknown_area", kind="error", words=area_words, areas=list(AREAS.values())
        )
    team = list(turn.db.scalars(select(Person).where(Person.id.in_(team_ids(turn.db, turn.person)))))
    rep = find_person(turn, rep_words, team)
    if not isinstance(rep, Person):
        anyone = find_person(turn, rep_words)
        if isinstance(anyone, Person):
            return turn.render("replies/refusals.j2#coaching_log_outside_team", kind="refusal", rep=anyone)
        return _who_do_you_mean(turn, rep_words, rep)
    return _record(turn, rep, area, None, note, key=None)


def log_form(turn: Turn, _value: str = "") -> Reply:
    team = list(
        turn.db.scalars(
            select(Person).where(Person.id.in_(team_ids(turn.db, turn.person))).order_by(Person.name)
        )
    )
    if not team:
        return turn.render("replies/coaching.j2#no_reps_yet", kind="error")
    form = coaching_form(team, secrets.token_hex(6))
    return turn.render("replies/coaching.j2#log_form", form=form)


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
        return turn.render("replies/refusals.j2#coaching_form_outside_team", kind="refusal")
    if area not in AREAS:
        return turn.render("replies/coaching.j2#pick_area", kind="error")
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
            "replies/coaching.j2#note_too_long", kind="error", limit=MAX_NOTE, length=len(note)
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
        return turn.render("replies/coaching.j2#logged_already")
    from bot.localtime import zone

    next_due = (
        (turn.now() + timedelta(days=cadence_days(turn.person)))
        .astimezone(zone(turn.person.timezone))
        .strftime("%d %b")
    )
    button = Button(f"Ask {rep.name.split()[0]} for a takeaway", "coaching.ask-takeaway", str(rep.id))
    return turn.render(
        "replies/coaching.j2#logged",
        buttons=(button,),
        rep=rep,
        area=AREAS[area],
        deal=deal,
        next_due=next_due,
    )


def ask_takeaway(turn: Turn, rep_id: str) -> Reply:
    """DM the rep (through the outbox) asking for a one-line takeaway from their last session."""
    from storage import outbox

    number = small_number(rep_id)
    rep = turn.db.get(Person, number) if number is not None else None
    if rep is None or rep.id not in team_ids(turn.db, turn.person):
        return turn.render("replies/refusals.j2#rep_outside_team", kind="refusal")
    session = turn.db.scalar(
        select(CoachingSession)
        .where(CoachingSession.rep_id == rep.id)
        .order_by(CoachingSession.occurred_at.desc())
    )
    if session is None:
        return turn.render("replies/coaching.j2#nothing_logged_for", kind="error", rep=rep)
    question = turn.ctx.renderer.render(
        "replies/coaching.j2#takeaway_question",
        manager=turn.person,
        area=AREAS.get(session.area, session.area),
    )
    reach = outbox.reach(turn.db, rep.id)
    if reach is None:
        return turn.render("replies/coaching.j2#unreachable", kind="error", person=rep)
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
    return turn.render("replies/coaching.j2#takeaway_asked", rep=rep)


def takeaway(turn: Turn, line: str) -> Reply:
    session = turn.db.scalar(
        select(CoachingSession)
        .where(CoachingSession.rep_id == turn.person.id)
        .order_by(CoachingSession.occurred_at.desc())
    )
    if session is None:
        return turn.render("replies/coaching.j2#nothing_logged_for_you", kind="error")
    session.rep_takeaway = line.strip()[:500]
    return turn.render("replies/coaching.j2#takeaway_saved")
