"""Managers' team summaries, enablement's criteria report, the weekly digest, and the CSV export."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

from sqlalchemy import select

from handlers.summaries.digest import enqueue_digests
from storage.models import CriterionEvent, CriterionStatus, Deal, OutboxMessage, SummarySnapshot
from tests.helpers.charts import png_size
from tests.helpers.chat import deliver, open_form, submit
from tests.helpers.cli import run_cli, run_cli_scheduler
from tests.helpers.clock import FIXED_NOW


def age_deal(ctx, name: str, days: int) -> None:
    with ctx.sessions.begin() as db:
        deal = db.scalar(select(Deal).where(Deal.name == name))
        deal.stage_entered_at = FIXED_NOW - timedelta(days=days)
        for event in db.scalars(select(CriterionEvent).where(CriterionEvent.deal_id == deal.id)):
            event.created_at = FIXED_NOW - timedelta(days=days)
        for status in db.scalars(select(CriterionStatus).where(CriterionStatus.deal_id == deal.id)):
            status.changed_at = FIXED_NOW - timedelta(days=days)


def test_team_summary_per_rep_and_deal_with_stalled_and_skipped(ctx, chat_as):
    chat_as().say("move hooli to quote")  # skipped gate (0 of 2 confirmed)
    age_deal(ctx, "Initech", 20)
    age_deal(ctx, "Acme Corp", 3)
    reply = chat_as("manager@example.com").say("team summary")
    assert reply.header == "Team summary: 5 open deals"
    attention = next(s for s in reply.sections if s.title == "Needs attention").text
    assert "**Initech** (Riley Chen, Evaluation): no exit-criteria progress in 20 days" in attention
    assert "**Hooli Express** (Riley Chen, Quote): moved on with unconfirmed criteria" in attention
    assert "Acme" not in attention
    riley = next(s for s in reply.sections if (s.title or "").startswith("Riley Chen"))
    assert riley.title == "Riley Chen: 3 deals, 1/11 exit criteria confirmed"
    assert "**Acme Corp**: Discovery · 1/4 confirmed\n" in riley.text + "\n"
    assert "**Initech**: Evaluation · 0/4 confirmed · stalled 20 days" in riley.text
    sam = next(s for s in reply.sections if (s.title or "").startswith("Sam Ortiz"))
    assert "Umbrella Health" in sam.text


def test_summaries_are_refused_to_reps_and_scoped_for_enablement(chat_as):
    refused = chat_as().say("team summary")
    assert refused.kind == "refusal" and "summaries are for managers and enablement" in refused.plain_text()
    assert chat_as().say("criteria report").kind == "refusal"
    assert chat_as("enablement@example.com").say("summary").header == "Organization summary: 5 open deals"


def test_a_large_organization_summary_rolls_reps_up_into_teams(chat_as, monkeypatch):
    import handlers.summaries.snapshots
    import handlers.summaries.views

    monkeypatch.setattr(handlers.summaries.views, "MAX_BLOCKS", 1)  # two reps already count as "large"
    monkeypatch.setattr(handlers.summaries.views, "MAX_ATTENTION", 1)
    chat_as().say("move hooli to quote")  # a skipped gate: Riley's deal needs attention
    chat_as("sam@example.com").say("move umbrella to negotiation")
    reply = chat_as("enablement@example.com").say("summary")
    text = reply.plain_text()
    assert "Morgan Patel's team: 5 deals" in text
    assert "Umbrella Health" not in text.split("Morgan Patel's team")[1]  # no deal lines in a rolled-up team
    assert "…and 1 more deal needing attention" in text
    assert "Riley Chen:" not in text and "Sam Ortiz:" not in text


def test_a_rolled_up_summary_agrees_with_the_deal_by_deal_one(ctx, chat_as, monkeypatch):
    """The organization roll-up is counted by the database, the team view in Python: same figures."""
    import re

    import handlers.summaries.snapshots
    import handlers.summaries.views

    chat_as().say("move hooli to quote")
    age_deal(ctx, "Initech", 20)
    age_deal(ctx, "Acme Corp", 16)
    rep = chat_as()
    form = open_form(rep, "initech")
    submit(rep, form, criteria=[form.fields[0].options[0][0]])  # progress: Initech is no longer stalled
    age_deal(ctx, "Initech", 30)  # ...until that, too, is a month old
    detailed = chat_as("enablement@example.com").say("summary")
    monkeypatch.setattr(handlers.summaries.views, "MAX_BLOCKS", 1)
    rolled = chat_as("enablement@example.com").say("summary")

    def section(reply, title):  # type: ignore[no-untyped-def]
        return next(s.text for s in reply.sections if s.title == title)

    assert section(rolled, "Needs attention") == section(detailed, "Needs attention")
    lines = section(detailed, "Needs attention").splitlines()
    assert [line.split("**")[1] for line in lines if line.strip()] == [
        "Initech",
        "Acme Corp",
        "Hooli Express",
    ]
    reps = [re.match(r".*: (\d+) deals?, (\d+)/(\d+) exit", s.title).groups() for s in detailed.sections[1:]]
    sums = [sum(int(r[i]) for r in reps) for i in range(3)]
    team = next(s.title for s in rolled.sections if s.title.startswith("Morgan Patel's team"))
    assert team == f"Morgan Patel's team: {sums[0]} deals, {sums[1]}/{sums[2]} exit criteria confirmed"
    assert sums[1] == 2  # Acme's demo confirmation and Initech's


def test_a_large_organization_reads_summaries_counted_ahead_by_the_clock(ctx, chat_as, monkeypatch):
    """Above SNAPSHOT_ABOVE open deals, organization-wide figures come from a snapshot, say when they were
    counted (in the reader's time zone), and are recounted by the clock's `summaries` job; a manager's
    own summary stays live."""
    import handlers.summaries.snapshots
    import handlers.summaries.views
    from bot.channels.senders import build_senders
    from scheduler.jobs import make_jobs

    monkeypatch.setattr(
        handlers.summaries.snapshots, "SNAPSHOT_ABOVE", 3
    )  # the demo's 5 open deals count as large
    enablement = chat_as("enablement@example.com")
    summary = enablement.say("summary")
    assert "Figures as of 15:00 GMT" in summary.plain_text()  # Avery is in London
    riley = next(s.title for s in summary.sections if (s.title or "").startswith("Riley Chen"))
    assert riley == "Riley Chen: 3 deals, 1/10 exit criteria confirmed"
    assert "**Acme Corp**: Discovery · 1/4 confirmed" in summary.plain_text()
    assert "Figures as of 15:00 GMT" in enablement.say("criteria report").plain_text()

    rep = chat_as()
    form = open_form(rep, "initech")
    submit(rep, form, criteria=[form.fields[0].options[0][0]])
    assert "Riley Chen: 3 deals, 1/10" in enablement.say("summary").plain_text()  # as counted at 15:00
    assert "Riley Chen: 3 deals, 2/10" in chat_as("manager@example.com").say("summary").plain_text()

    later = FIXED_NOW + timedelta(minutes=11)
    ctx.clock = lambda: later
    job = make_jobs(build_senders)["summaries"]
    assert job.run(ctx, ctx.clock) == "summaries: 2 organization summaries recounted"
    assert job.run(ctx, ctx.clock) == "summaries: 0 organization summaries recounted"  # fresh already
    recounted = enablement.say("summary").plain_text()
    assert "Figures as of 15:11 GMT" in recounted and "Riley Chen: 3 deals, 2/10" in recounted

    monkeypatch.setattr(handlers.summaries.snapshots, "SNAPSHOT_ABOVE", 100)  # deals closed: small again
    ctx.clock = lambda: later + timedelta(minutes=20)  # the snapshot is too old to show: recounted live
    live = enablement.say("summary").plain_text()
    assert "Figures as of" not in live and "Riley Chen: 3 deals, 2/10" in live
    assert job.run(ctx, ctx.clock) == "summaries: 0 organization summaries recounted"
    with ctx.sessions() as db:
        assert db.scalars(select(SummarySnapshot)).all() == []  # the report's snapshot is dropped too


def test_criteria_report_counts_unconfirmed_and_skipped_per_stage(ctx, chat_as):
    rep = chat_as()
    form = open_form(rep, "initech")
    submit(rep, form, criteria=[form.fields[0].options[0][0]])  # one of Initech's four
    rep.say("new deal Wonka in discovery")
    rep.say("move wonka to evaluation")  # 4 discovery criteria skipped
    report = chat_as("enablement@example.com").say("where do deals stall?")
    assert report.header == "Exit criteria report: where deals stall"
    evaluation = next(
        s for s in report.sections if s.title.startswith("Enterprise new business · Evaluation")
    )
    assert evaluation.title == "Enterprise new business · Evaluation: 2 open deals, 12% of criteria confirmed"
    assert evaluation.text.count("unconfirmed on 2 of 2") == 3
    discovery = next(s for s in report.sections if s.title.startswith("Enterprise new business · Discovery"))
    assert discovery.title == "Enterprise new business · Discovery: 1 open deal, 25% of criteria confirmed"
    assert "skipped at 1 gate" in discovery.text
    assert (
        chat_as("manager@example.com").say("criteria report").header
        == "Exit criteria report: where deals stall"
    )


def test_weekly_digest_goes_to_each_manager_once_at_their_local_monday_8am(ctx, demo):
    sunday = datetime.fromisoformat("2026-11-22T20:00:00+00:00")
    assert enqueue_digests(ctx, sunday) == 0
    before = datetime.fromisoformat("2026-11-23T13:59:00+00:00")  # Monday 07:59 in Chicago
    assert enqueue_digests(ctx, before) == 0
    after = datetime.fromisoformat("2026-11-23T14:00:00+00:00")
    assert enqueue_digests(ctx, after) == 1
    assert enqueue_digests(ctx, after + timedelta(hours=5)) == 0  # later ticks, same week: nothing more
    assert "Team summary: 5 open deals" in deliver(ctx, after + timedelta(hours=5))
    with ctx.sessions() as db:
        (digest,) = db.scalars(select(OutboxMessage)).all()
    assert digest.idempotency_key.endswith(":2026-W48") and digest.kind == "digest"
    assert digest.payload["header"] == "Team summary: 5 open deals"
    assert enqueue_digests(ctx, after + timedelta(days=7)) == 1  # next week


def test_digest_follows_local_time_across_daylight_saving(ctx, demo):
    # Chicago leaves daylight saving on 1 November 2026: Monday 08:00 is 13:00 UTC before, 14:00 after.
    assert enqueue_digests(ctx, datetime.fromisoformat("2026-10-26T12:59:00+00:00")) == 0
    assert enqueue_digests(ctx, datetime.fromisoformat("2026-10-26T13:00:00+00:00")) == 1
    assert enqueue_digests(ctx, datetime.fromisoformat("2026-11-02T13:30:00+00:00")) == 0
    assert enqueue_digests(ctx, datetime.fromisoformat("2026-11-02T14:00:00+00:00")) == 1


def test_digests_job_and_delivery_from_the_command_line(demo, database_url):
    env = {"DATABASE_URL": database_url}
    queued = run_cli_scheduler(env, "digests", "2026-11-23T14:05:00Z")
    assert "digests: 2 queued" in queued.stdout  # Morgan's team summary, and Avery's enablement report
    sent = run_cli_scheduler(env, "outbox", "2026-11-23T14:06:00Z")
    assert "--- to Morgan Patel <manager@example.com> (digest)\nTeam summary: 5 open deals" in sent.stdout
    assert (
        "--- to Avery Brooks <enablement@example.com> (edigest)\nWeekly enablement report: Local"
        in sent.stdout
    )


def test_export_confirmations_as_csv(ctx, chat_as, database_url):
    rep = chat_as()
    rep.say("confirm acme")
    submit(rep, rep.click("Un-confirm").form, criteria=["pain-confirmed"], reason="Wrong buyer")
    result = run_cli("export", "confirmations", "--format", "csv", env={"DATABASE_URL": database_url})
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["action"] for r in rows] == ["confirm", "revoke"]
    first, second = rows
    assert first["organization"] == "Local" and first["deal"] == "Acme Corp" and first["crm_id"] == "DEMO-001"
    assert first["buyer_name"] == "Dana Lee" and first["criterion_id"] == "pain-confirmed"
    assert first["criterion"] == "The buying group has confirmed the business problem and what it costs them"
    assert second["reason"] == "Wrong buyer" and second["recorded_by"] == "rep@example.com"
    assert datetime.fromisoformat(second["recorded_at"]).tzinfo is not None
    other = run_cli(
        "export", "confirmations", "--workspace", "slack:T0NONE", env={"DATABASE_URL": database_url}
    )
    assert other.returncode == 2 and "no workspace slack:T0NONE" in other.stderr


def test_export_neutralizes_cells_a_spreadsheet_would_run_as_formulas(ctx, chat_as, database_url):
    rep = chat_as()
    submit(
        rep,
        open_form(rep),
        criteria=["requirements-documented"],
        buyer_name="@SUM(1+1)",
        buyer_role="+CFO",
        evidence='=HYPERLINK("http://evil.example","click")',
    )
    result = run_cli("export", "confirmations", env={"DATABASE_URL": database_url})
    assert result.returncode == 0, result.stderr
    last = list(csv.DictReader(io.StringIO(result.stdout)))[-1]
    assert last["evidence"] == '\'=HYPERLINK("http://evil.example","click")'
    assert (last["buyer_name"], last["buyer_role"]) == ("'@SUM(1+1)", "'+CFO")
    assert last["deal"] == "Acme Corp"  # ordinary text untouched


# -- the report's chart, in each channel --------------------------------------------------------------


def test_criteria_report_comes_with_a_chart(chat_as):
    chat_as().say("move acme to evaluation")
    reply = chat_as("enablement@example.com").say("criteria report")
    assert reply.image is not None and reply.image.filename == "criteria-report.png"
    width, height = png_size(reply.image.png)
    assert width == 720 and 200 < height < 1000
    assert "Discovery: The buyer has decided to look outside the organization" in reply.image.alt
    assert "unconfirmed on 0, skipped 1" in reply.image.alt


def test_no_chart_when_nothing_is_blocked(ctx, demo):
    from handlers.charts import criteria_chart

    assert criteria_chart([("Discovery: anything", 0, 0)], "title") is None


def test_the_chart_in_the_terminal_is_saved_to_a_file(database_url, demo):
    result = run_cli(
        "chat",
        "--as",
        "enablement@example.com",
        env={"DATABASE_URL": database_url},
        stdin="criteria report\n",
    )
    assert result.returncode == 0, result.stderr
    saved = result.stdout.split("Chart saved to ")[1].split()[0]
    from pathlib import Path

    assert png_size(Path(saved).read_bytes())[0] == 720


def test_the_chart_in_slack_is_uploaded_to_the_conversation(ctx, slack_web):
    from storage.models import Platform
    from storage.people import get_or_create_workspace, person_by_email
    from tests.helpers.slack import TEAM, dm, event, wait_posts

    web, slack_api = slack_web
    with ctx.sessions.begin() as db:
        person_by_email(
            db, get_or_create_workspace(db, Platform.SLACK, TEAM).organization_id, "enablement@example.com"
        ).slack_user_id = "UAVERY"
    event(web, dm("criteria report", user="UAVERY"))
    wait_posts(slack_api, 1)
    assert slack_api.wait_for(lambda: any(u.get("completed") for u in slack_api.uploads.values()))
    (upload,) = slack_api.uploads.values()
    assert upload["channel"] == "DUAVERY" and upload["filename"] == "criteria-report.png"
    assert png_size(upload["content"])[0] == 720 and upload["alt_txt"].startswith(
        "Exit criteria that hold deals back"
    )


def test_the_chart_in_teams_is_an_inline_image(ctx, teams_web):
    import base64

    from storage.models import Platform
    from storage.people import get_or_create_workspace, person_by_email
    from tests.helpers.teams import TENANT, post, say

    web, bot_connector = teams_web
    with ctx.sessions.begin() as db:
        avery = person_by_email(
            db, get_or_create_workspace(db, Platform.TEAMS, TENANT).organization_id, "enablement@example.com"
        )
        avery.teams_user_id = "29:1avery"
    post(web, say(bot_connector, "criteria report", user={"id": "29:1avery", "name": "Avery Brooks"}))
    report, picture = bot_connector.wait_for(2)[:2]
    assert report["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    (attachment,) = picture["attachments"]
    assert attachment["contentType"] == "image/png" and attachment["name"] == "criteria-report.png"
    assert (
        png_size(base64.b64decode(attachment["contentUrl"].removeprefix("data:image/png;base64,")))[0] == 720
    )


def test_criteria_report_keeps_playbooks_apart_when_stage_and_criterion_ids_match(ctx, demo, tmp_path):
    """Two playbooks may both have a "discovery" stage with a "pain-confirmed" criterion: one playbook's
    confirmations must not count for the other's deals."""
    import dataclasses
    import re

    from bot.rendering import Renderer
    from playbooks.loader import load_library
    from tests.helpers.chat import Chat

    source = ctx.settings.playbooks_dir
    (tmp_path / "enterprise.yaml").write_text((source / "enterprise.yaml").read_text())
    transactional = (source / "transactional.yaml").read_text().replace("id: qualify", "id: discovery", 1)
    first_criterion = re.search(r"exit_criteria:\s*\n\s*- id: ([a-z0-9-]+)", transactional).group(1)
    transactional = transactional.replace(f"id: {first_criterion}", "id: pain-confirmed", 1)
    (tmp_path / "transactional.yaml").write_text(transactional)
    shared = dataclasses.replace(ctx, playbooks=load_library(tmp_path), renderer=Renderer())
    Chat(shared, demo, "rep@example.com").say("new deal Tiny Co in discovery")
    with ctx.sessions.begin() as db:
        db.scalar(select(Deal).where(Deal.name == "Tiny Co")).playbook_id = "transactional"
    report = Chat(shared, demo, "enablement@example.com").say("criteria report")
    small = next(s for s in report.sections if s.title.startswith("Transactional sale · Qualify"))
    assert small.title == "Transactional sale · Qualify: 1 open deal, 0% of criteria confirmed"
    big = next(s for s in report.sections if s.title.startswith("Enterprise new business · Discovery"))
    assert big.title == "Enterprise new business · Discovery: 1 open deal, 25% of criteria confirmed"


def test_export_piped_into_a_reader_that_stops_early_ends_quietly(ctx, demo, database_url):
    """`python -m bot export confirmations | head -1`: no traceback when the pipe closes."""
    import os
    import subprocess
    import sys

    from tests.helpers.cli import REPO

    with ctx.sessions.begin() as db:
        acme = db.scalar(select(Deal).where(Deal.name == "Acme Corp"))
        db.add_all(
            CriterionEvent(
                organization_id=acme.organization_id,
                deal_id=acme.id,
                playbook_id="enterprise",
                stage_id="discovery",
                criterion_id="pain-confirmed",
                criterion_text="x" * 100,
                confirmed=True,
                evidence="e" * 100,
            )
            for _ in range(3000)
        )
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "export", "confirmations"],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "DATABASE_URL": database_url},
    )
    assert process.stdout.readline().startswith("organization,deal,crm_id")
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(timeout=60) == 0
    assert "Traceback" not in stderr
