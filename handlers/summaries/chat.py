"""Summaries' chat turns, the routes the router calls: `team summary` and `criteria report`."""

from __future__ import annotations

from dataclasses import replace

from bot.messages import Reply
from handlers.charts import criteria_chart
from handlers.common import Turn, visible_owner_ids
from handlers.summaries.snapshots import criteria_report_data, local_time, team_summary_data
from storage.models import (
    Role,
)


def team_summary(turn: Turn) -> Reply:
    if turn.person.role == Role.REP:
        return turn.render("replies/refusals.j2#team_summary", kind="refusal")
    return turn.render("team_summary.j2", **team_summary_data(turn.ctx, turn.db, turn.person, turn.now()))


def criteria_report(turn: Turn) -> Reply:
    if turn.person.role == Role.REP:
        return turn.render("replies/refusals.j2#criteria_report", kind="refusal")
    owners = visible_owner_ids(turn.db, turn.person)
    stages, as_of = criteria_report_data(turn, owners)
    reply = turn.render(
        "criteria_report.j2",
        stages=stages,
        scope="organization" if owners is None else "team",
        as_of=local_time(as_of, turn.person),
    )
    rows = [(f"{s.stage_name}: {c.text}", c.unconfirmed, c.skipped) for s in stages for c in s.criteria]
    return replace(reply, image=criteria_chart(rows, "Exit criteria that hold deals back"))
