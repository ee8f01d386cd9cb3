"""The enablement digest: each enablement person's weekly organization-wide report, Monday 08:00 in their
time zone (their `digest_weekday` / `digest_time` preferences override it), held by a pause like a
manager's digest. It is the criteria report (where deals stall) and the quiz report (what reps know),
composed when it is sent, from the data as it is then."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.messages import Reply, Request, Section
from handlers.common import Turn, not_paused, weekly_due_groups
from handlers.quizzes import results
from handlers.summaries import chat as summaries_chat
from handlers.summaries import digest
from storage.models import Organization, Person, Role, Workspace

KIND = "edigest"
QUIZ_LINES = 15  # the weakest questions first; the whole report is one "quiz report" away


def enqueue_enablement_digests(ctx, now: datetime) -> int:
    from storage import outbox

    queued = 0
    with ctx.sessions.begin() as db:
        for group in weekly_due_groups(
            db,
            now,
            kind="digest",
            weekday=digest.DIGEST_WEEKDAY,
            at=digest.DIGEST_TIME,
            grace=digest.DIGEST_GRACE,
            role=Role.ENABLEMENT,
        ):
            queued += outbox.enqueue_to_people(
                db,
                select(Person.id).where(group.who, not_paused(group.local_date)),
                kind=KIND,
                key=(KIND, group.week),
                payload=outbox.compose_later(KIND, week=group.week),
                now=now,
            )
    return queued


def compose_enablement_digest(ctx, db: Session, person: Person, now: datetime) -> Reply | None:
    if person.role != Role.ENABLEMENT:
        return None  # the role changed since it was queued
    organization = db.get(Organization, person.organization_id)
    workspace = db.scalar(select(Workspace).where(Workspace.organization_id == person.organization_id).limit(1))
    if organization is None or workspace is None:
        return None
    turn = Turn(ctx, db, Request(workspace.id, person.id), person, workspace, organization)
    criteria = summaries_chat.criteria_report(turn)
    quiz = results.quiz_report(turn)
    quiz_sections = _shortened(quiz.sections)
    title = organization.name or "your organization"
    return Reply(
        text=f"Weekly enablement report for {title}",
        header=f"Weekly enablement report: {title}",
        sections=(
            Section(criteria.header or "", "Where deals stall"),
            *criteria.sections,
            Section(quiz.header or "", "What reps know"),
            *quiz_sections,
        ),
        context='Say "criteria report" or "quiz report" for the whole reports; "pause digests for 2 weeks" to '
        "hold this one.",
        kind="answer",
    )


def _shortened(sections: tuple[Section, ...]) -> tuple[Section, ...]:
    out = []
    for section in sections:
        lines = section.text.splitlines()
        if len(lines) > QUIZ_LINES:
            lines = lines[:QUIZ_LINES] + [f"- … and {len(lines) - QUIZ_LINES} more"]
        out.append(Section("\n".join(lines), section.title, section.fields))
    return tuple(out)
