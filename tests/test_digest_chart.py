"""The manager's weekly digest carries its chart on every platform, through the outbox: a file shared in the
Slack DM, an image after the card in Teams, a PNG path in the terminal; a retry never uploads or posts twice."""

from __future__ import annotations

import base64
import re
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from sqlalchemy import select

from bot.channels.slack_outbound import SlackSender
from bot.channels.teams_outbound import TeamsSender
from bot.delivery import Drainer, DrainPolicy
from handlers.proactive import compose
from handlers.summaries.digest import enqueue_digests
from storage.models import OutboxMessage, OutboxStatus, Platform
from storage.people import get_or_create_workspace, person_by_email
from tests.doubles.people import SLACK_TEAM, TEAMS_TENANT
from tests.doubles.slack_api import server_error
from tests.helpers.charts import png_size
from tests.helpers.chat import deliver
from tests.helpers.teams import card, post, say

MONDAY_8AM_CHICAGO = datetime.fromisoformat("2026-11-23T14:00:00+00:00")  # Morgan's digest is due


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def morgan_on(ctx, platform: Platform, external_id: str, **ids: str) -> None:
    with ctx.sessions.begin() as db:
        organization = get_or_create_workspace(db, platform, external_id).organization_id
        morgan = person_by_email(db, organization, "manager@example.com")
        for name, value in ids.items():
            setattr(morgan, name, value)


def slack_drainer(ctx, slack, clock: Clock) -> Drainer:
    slack.clock = lambda: clock().timestamp()
    sender = SlackSender(lambda _ws: "xoxb-test", slack.url, timeout=5)
    return Drainer(
        ctx.sessions,
        {Platform.SLACK: sender},
        "test",
        clock,
        DrainPolicy(base_backoff=1.0),
        compose=partial(compose, ctx),
        sleep=clock.sleep,
    )


def the_digest(ctx) -> OutboxMessage:
    with ctx.sessions() as db:
        return db.scalar(select(OutboxMessage).where(OutboxMessage.kind == "digest"))


def test_the_weekly_digest_arrives_in_slack_with_its_chart_shared_in_the_dm(slack_ctx, slack):
    morgan_on(slack_ctx, Platform.SLACK, SLACK_TEAM, slack_user_id="UMORGAN")
    assert enqueue_digests(slack_ctx, MONDAY_8AM_CHICAGO) == 1
    report = slack_drainer(slack_ctx, slack, Clock(MONDAY_8AM_CHICAGO)).drain()
    assert report.sent == 1, report
    (message,) = slack.posted()
    assert message["channel"] == "DUMORGAN" and message["text"].startswith("Team summary: 5 open deals")
    (upload,) = slack.uploads.values()
    assert upload["completed"] and upload["channel"] == "DUMORGAN"
    assert upload["filename"] == "weekly-digest.png" and upload["title"] == message["text"][:250]
    assert png_size(upload["content"])[0] == 720
    assert "Riley Chen (3) 1 of 10 confirmed" in upload["alt_txt"]  # the summary's own figures
    (share,) = slack.shares
    assert share["channel"] == "DUMORGAN" and float(share["ts"]) > float(message["ts"])  # after the words
    row = the_digest(slack_ctx)
    assert row.status == OutboxStatus.SENT
    assert row.payload["chart"]["rows"][0] == ["Riley Chen (3)", 1, 10]  # numbers, never the picture
    assert "png" not in row.payload


def test_a_share_that_slack_applied_but_did_not_confirm_is_not_repeated(slack_ctx, slack):
    morgan_on(slack_ctx, Platform.SLACK, SLACK_TEAM, slack_user_id="UMORGAN")
    enqueue_digests(slack_ctx, MONDAY_8AM_CHICAGO)
    slack.fail("files.completeUploadExternal", server_error(503, after_posting=True))
    clock = Clock(MONDAY_8AM_CHICAGO)
    drainer = slack_drainer(slack_ctx, slack, clock)
    assert drainer.drain().retried == 1
    assert the_digest(slack_ctx).status == OutboxStatus.PENDING
    clock.now += timedelta(minutes=1)
    assert drainer.drain().sent == 1
    assert len(slack.posted()) == 1 and len(slack.shares) == 1  # found in the DM's history: done
    assert len(slack.calls_to("files.getUploadURLExternal")) == 1
    assert len(slack.calls_to("files.completeUploadExternal")) == 1
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_a_failed_share_reuses_the_uploaded_file(slack_ctx, slack):
    morgan_on(slack_ctx, Platform.SLACK, SLACK_TEAM, slack_user_id="UMORGAN")
    enqueue_digests(slack_ctx, MONDAY_8AM_CHICAGO)
    slack.fail("files.completeUploadExternal", server_error(500))  # refused before sharing
    clock = Clock(MONDAY_8AM_CHICAGO)
    drainer = slack_drainer(slack_ctx, slack, clock)
    assert drainer.drain().retried == 1
    assert slack.shares == []
    clock.now += timedelta(minutes=1)
    assert drainer.drain().sent == 1
    (upload_call,) = slack.calls_to("files.getUploadURLExternal")  # uploaded once, shared on the retry
    (share,) = slack.shares
    assert [f["id"] for f in share["files"]] == list(slack.uploads)
    assert len(slack.posted()) == 1


def test_an_upload_that_failed_midway_starts_again_and_the_message_is_not_posted_twice(slack_ctx, slack):
    morgan_on(slack_ctx, Platform.SLACK, SLACK_TEAM, slack_user_id="UMORGAN")
    enqueue_digests(slack_ctx, MONDAY_8AM_CHICAGO)
    slack.fail("files.getUploadURLExternal", server_error(502))
    clock = Clock(MONDAY_8AM_CHICAGO)
    drainer = slack_drainer(slack_ctx, slack, clock)
    assert drainer.drain().retried == 1
    assert len(slack.posted()) == 1  # the words are in; the chart is still to come
    clock.now += timedelta(minutes=1)
    assert drainer.drain().sent == 1
    assert len(slack.posted()) == 1 and len(slack.shares) == 1
    (upload,) = [u for u in slack.uploads.values() if u.get("completed")]
    assert png_size(upload["content"])[0] == 720


def test_the_slack_chart_needs_the_files_write_scope(slack_ctx, slack):
    morgan_on(slack_ctx, Platform.SLACK, SLACK_TEAM, slack_user_id="UMORGAN")
    slack.scopes = (slack.scopes or frozenset()) - {"files:write"}
    enqueue_digests(slack_ctx, MONDAY_8AM_CHICAGO)
    report = slack_drainer(slack_ctx, slack, Clock(MONDAY_8AM_CHICAGO)).drain()
    assert report.dead == 1 and len(slack.posted()) == 1
    assert the_digest(slack_ctx).last_error == "Slack error: missing_scope"


def test_the_weekly_digest_arrives_in_teams_with_its_chart(teams_ctx, teams_web):
    web, connector = teams_web
    morgan_on(teams_ctx, Platform.TEAMS, TEAMS_TENANT, teams_user_id="29:1morgan")
    conversation = {"conversationType": "personal", "tenantId": TEAMS_TENANT, "id": "a:1morgan-chat"}
    morgan = {"id": "29:1morgan", "name": "Morgan Patel"}
    post(web, say(connector, "help", user=morgan, conversation=conversation))  # the reference is stored
    connector.wait_for(1)
    assert enqueue_digests(teams_ctx, MONDAY_8AM_CHICAGO) == 1
    clock = Clock(MONDAY_8AM_CHICAGO)
    drainer = Drainer(
        teams_ctx.sessions, {Platform.TEAMS: TeamsSender(teams_ctx)}, "test", clock,
        compose=partial(compose, teams_ctx), sleep=clock.sleep,
    )
    assert drainer.drain().sent == 1
    summary, picture = connector.activities()[1:]
    assert summary["_conversation"] == picture["_conversation"] == "a:1morgan-chat"
    assert card(summary)["body"][0]["text"] == "Team summary: 5 open deals"
    (attachment,) = picture["attachments"]
    assert attachment["contentType"] == "image/png" and attachment["name"] == "weekly-digest.png"
    png = base64.b64decode(attachment["contentUrl"].removeprefix("data:image/png;base64,"))
    assert png_size(png)[0] == 720
    assert "Riley Chen (3) 1 of 10 confirmed" in picture["summary"]


def test_the_weekly_digest_in_the_terminal_gives_the_charts_png_path(ctx, demo):
    assert enqueue_digests(ctx, MONDAY_8AM_CHICAGO) == 1
    out = deliver(ctx, MONDAY_8AM_CHICAGO)
    assert "--- to Morgan Patel <manager@example.com> (digest)\nTeam summary: 5 open deals" in out
    path = Path(re.search(r"Chart saved to (\S+\.png)", out).group(1))
    assert path.exists() and png_size(path.read_bytes())[0] == 720
