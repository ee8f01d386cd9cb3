"""Proactive messages go through the durable outbox: each arrives once, on time, and never in quiet hours,
whatever Slack answers (429, 5xx, slow, gone) and whenever a drainer dies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.channels.slack_outbound import SlackSender
from bot.delivery import Drainer, DrainPolicy
from bot.messages import Button, Reply, Section
from storage import outbox
from storage.models import OutboxMessage, OutboxStatus, Person, Platform
from tests.doubles.slack_api import Fault, SlackDouble, rate_limited, server_error
from tests.helpers import outbox as outbox_data
from tests.helpers.clock import FIXED_NOW
from tests.helpers.outbox import REPLY, keys_posted, put, rows

slack = outbox_data.slack  # fixture: a Slack double that knows no users (the outbox only posts)
team = outbox_data.team  # fixture: a Slack workspace with three managers in Chicago


class FakeTime:
    """A clock that only moves when the drainer sleeps (rate limits) or the test says so."""

    def __init__(self, now: datetime):
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += timedelta(seconds=seconds)

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def make_drainer(ctx, slack, clock, **policy) -> Drainer:
    slack.clock = lambda: clock().timestamp()
    sender = SlackSender(lambda _ws: "xoxb-test", slack.url, timeout=0.5)
    return Drainer(
        ctx.sessions,
        {Platform.SLACK: sender},
        "test-worker",
        clock,
        DrainPolicy(**{"base_backoff": 1.0, **policy}),
        sleep=clock.sleep,
    )


def test_enqueue_is_idempotent(ctx, team):
    assert put(ctx, team, "nudge:1:2026-W48") is True
    assert put(ctx, team, "nudge:1:2026-W48") is False
    with ctx.sessions() as db:
        assert db.scalar(select(func.count(OutboxMessage.id))) == 1


def test_a_message_is_sent_as_a_dm_with_blocks_and_its_key(ctx, team, slack):
    put(ctx, team, "nudge:1:2026-W48")
    report = make_drainer(ctx, slack, FakeTime(FIXED_NOW)).drain()
    assert (report.sent, report.retried, report.dead) == (1, 0, 0)
    assert slack.calls_to("conversations.open")[0].args["users"] == "U000"
    (posted,) = slack.posted()
    assert posted["channel"] == "DU000"
    assert posted["text"] == "Coaching nudge"
    assert (
        posted["blocks"][0]
        == {
            "type": "header",
            "text": {"type": "plain_text", "text": "3 reps are due for coaching", "emoji": True},
        }
        or posted["blocks"][0]["type"] == "header"
    )
    assert any(b["type"] == "actions" for b in posted["blocks"])
    assert slack.calls_to("chat.postMessage")[0].token == "xoxb-test"
    (row,) = rows(ctx)
    assert (row.status, row.platform_message_id, row.target) == (
        OutboxStatus.SENT,
        posted["ts"],
        {"channel": "DU000"},
    )
    assert make_drainer(ctx, slack, FakeTime(FIXED_NOW)).drain().sent == 0  # nothing sent twice


def test_429_waits_for_retry_after_then_sends_once(ctx, team, slack):
    put(ctx, team, "a")
    put(ctx, team, "b", person_index=1)
    slack.fail("chat.postMessage", Fault(status=429, retry_after=7))
    clock = FakeTime(FIXED_NOW)
    drainer = make_drainer(ctx, slack, clock)
    first = drainer.drain()
    assert (first.sent, first.retried, first.deferred) == (0, 1, 1)  # the workspace pauses: b waits too
    assert {r.next_attempt_at for r in rows(ctx)} == {FIXED_NOW + timedelta(seconds=7)}
    clock.advance(seconds=3)
    assert drainer.drain().sent == 0  # still inside Retry-After
    clock.advance(seconds=5)
    assert drainer.drain().sent == 2
    assert sorted(keys_posted(slack)) == ["a", "b"]


def test_server_errors_back_off_and_retry(ctx, team, slack):
    put(ctx, team, "a")
    slack.fail("chat.postMessage", Fault(status=500), Fault(status=503))
    clock = FakeTime(FIXED_NOW)
    drainer = make_drainer(ctx, slack, clock)
    assert drainer.drain().retried == 1
    (row,) = rows(ctx)
    assert row.attempts == 1 and "500" in row.last_error
    assert timedelta(seconds=0.5) <= row.next_attempt_at - FIXED_NOW <= timedelta(seconds=1.5)
    clock.advance(seconds=2)
    assert drainer.drain().retried == 1
    clock.advance(seconds=5)
    assert drainer.drain().sent == 1
    assert keys_posted(slack) == ["a"]


def test_a_message_slack_accepted_before_failing_is_not_posted_again(ctx, team, slack):
    """Slack posted it, then answered 500 (or too slowly): the retry finds it by its key instead of re-posting."""
    put(ctx, team, "slow")
    put(ctx, team, "broken", person_index=1)
    slack.fail(
        "chat.postMessage", Fault(delay=1.5, apply_then_fail=True), Fault(status=500, apply_then_fail=True)
    )
    clock = FakeTime(FIXED_NOW)
    drainer = make_drainer(ctx, slack, clock)
    assert drainer.drain().retried == 2
    clock.advance(seconds=60)
    assert drainer.drain().sent == 2
    assert sorted(keys_posted(slack)) == ["broken", "slow"]
    assert all(r.status == OutboxStatus.SENT and r.platform_message_id for r in rows(ctx))


def test_connection_refused_is_retried_until_slack_is_back(ctx, team, slack):
    put(ctx, team, "a")
    port = slack.port
    slack.stop()
    clock = FakeTime(FIXED_NOW)
    drainer = make_drainer(ctx, slack, clock)
    report = drainer.drain()
    assert report.retried == 1 and "network" in rows(ctx)[0].last_error
    revived = SlackDouble(port=port).start()
    try:
        clock.advance(minutes=5)
        assert drainer.drain().sent == 1
        assert keys_posted(revived) == ["a"]
    finally:
        revived.stop()
        slack.start()


def test_permanent_errors_dead_letter_at_once_and_can_be_retried(ctx, team, slack):
    put(ctx, team, "a")
    slack.fail("chat.postMessage", Fault(error="channel_not_found"))
    clock = FakeTime(FIXED_NOW)
    drainer = make_drainer(ctx, slack, clock)
    assert drainer.drain().dead == 1
    with ctx.sessions() as db:
        report = outbox.status(db)
    text = report.render(clock.now)
    assert (
        "dead 1" in text
        and "#1 nudge to m0@example.com (a): 0 attempts, last error: Slack error: channel_not_found" in text
    )
    with ctx.sessions.begin() as db:
        assert outbox.retry_dead(db, clock.now) == 1
    assert drainer.drain().sent == 1


def test_a_message_to_someone_removed_since_is_dead_not_sent(ctx, team, slack):
    """The outbox refers to people by id (no foreign key): a person deleted after their message was queued
    gets nothing, and the message says why."""
    put(ctx, team, "gone", person_index=1)
    put(ctx, team, "here", person_index=0)
    with ctx.sessions.begin() as db:
        db.delete(db.get(Person, team[1][1]))
    report = make_drainer(ctx, slack, FakeTime(FIXED_NOW)).drain()
    assert (report.sent, report.dead) == (1, 1)
    assert keys_posted(slack) == ["here"]
    with ctx.sessions() as db:
        text = outbox.status(db).render(FIXED_NOW)
    assert f"nudge to - (gone): 0 attempts, last error: person {team[1][1]} no longer exists" in text


def test_after_max_attempts_a_message_is_dead_not_dropped(ctx, team, slack):
    put(ctx, team, "a")
    slack.fail("chat.postMessage", *[Fault(status=500)] * 3)
    clock = FakeTime(FIXED_NOW)
    drainer = make_drainer(ctx, slack, clock, max_attempts=3)
    for _ in range(3):
        drainer.drain()
        clock.advance(hours=1)
    (row,) = rows(ctx)
    assert (row.status, row.attempts) == (OutboxStatus.DEAD, 3)
    assert keys_posted(slack) == []


def test_quiet_hours_hold_a_message_until_morning(ctx, team, slack):
    # 03:00 in Chicago on a Tuesday: inside the default quiet hours 19:00-08:00.
    night = datetime.fromisoformat("2026-11-24T09:00:00+00:00")
    put(ctx, team, "a", now=night)
    clock = FakeTime(night)
    drainer = make_drainer(ctx, slack, clock)
    assert drainer.drain().deferred == 1
    assert rows(ctx)[0].next_attempt_at == datetime.fromisoformat("2026-11-24T14:00:00+00:00")  # 08:00 CST
    clock.now = datetime.fromisoformat("2026-11-24T14:00:00+00:00")
    assert drainer.drain().sent == 1


def test_weekend_messages_wait_for_monday(ctx, team, slack):
    saturday_noon_chicago = datetime.fromisoformat("2026-11-28T18:00:00+00:00")
    put(ctx, team, "a", now=saturday_noon_chicago)
    make_drainer(ctx, slack, FakeTime(saturday_noon_chicago)).drain()
    assert rows(ctx)[0].next_attempt_at == datetime.fromisoformat("2026-11-30T14:00:00+00:00")


def test_one_message_per_second_per_channel(ctx, team, slack):
    for i in range(3):
        put(ctx, team, f"same-channel-{i}")
    put(ctx, team, "other-channel", person_index=1)
    clock = FakeTime(FIXED_NOW)
    report = make_drainer(ctx, slack, clock).drain()
    assert report.sent == 4
    assert clock.slept == [1.05, 1.05]  # a second and a margin for jitter; the other channel did not wait


def test_pacing_keeps_slack_from_answering_429_when_its_limits_are_enforced(ctx, team):
    from tests.doubles.slack_api import SLACK_LIMITS

    strict = SlackDouble(limits=dict(SLACK_LIMITS)).start()
    try:
        for i in range(3):
            put(ctx, team, f"same-channel-{i}")
        sender = SlackSender(lambda _ws: "xoxb-test", strict.url, timeout=5)
        started = datetime.now(UTC)
        real_time = lambda: FIXED_NOW + (datetime.now(UTC) - started)  # noqa: E731
        report = Drainer(ctx.sessions, {Platform.SLACK: sender}, "w", real_time).drain()
        assert report.sent == 3 and report.retried == 0
        assert strict.limited == [] and len(strict.calls_to("chat.postMessage")) == 3
    finally:
        strict.stop()


def test_a_drainer_that_died_mid_send_is_reconciled(ctx, team, slack):
    """Two rows stuck in `sending` by a dead drainer: one reached Slack, one did not."""
    put(ctx, team, "delivered")
    put(ctx, team, "lost", person_index=1)
    stale = FIXED_NOW - timedelta(minutes=10)
    with ctx.sessions.begin() as db:
        for row in db.scalars(select(OutboxMessage)):
            row.status, row.claimed_by, row.claimed_at = OutboxStatus.SENDING, "dead-worker", stale
            row.target = {"channel": f"DU00{0 if row.idempotency_key == 'delivered' else 1}"}
            row.created_at = stale
    drainer = make_drainer(ctx, slack, FakeTime(FIXED_NOW))
    SlackSender(lambda _ws: "xoxb-test", slack.url).send(rows(ctx)[0], REPLY)  # it had reached Slack
    report = drainer.drain()
    assert report.reconciled == 2 and report.sent == 1
    assert sorted(keys_posted(slack)) == ["delivered", "lost"]
    assert all(r.status == OutboxStatus.SENT for r in rows(ctx))


def test_a_fresh_claim_by_a_live_drainer_is_left_alone(ctx, team, slack):
    put(ctx, team, "a")
    with ctx.sessions.begin() as db:
        row = db.scalar(select(OutboxMessage))
        row.status, row.claimed_by, row.claimed_at = (
            OutboxStatus.SENDING,
            "live-worker",
            FIXED_NOW - timedelta(seconds=20),
        )
    report = make_drainer(ctx, slack, FakeTime(FIXED_NOW)).drain()
    assert (report.reconciled, report.sent) == (0, 0)
    assert keys_posted(slack) == []


def test_a_failed_delivery_check_defers_the_retry_instead_of_posting_again(ctx, team, slack):
    """Slack posted the message but answered 500; before the retry the drainer asks Slack whether it arrived,
    and that check gets 429 and then 500: "could not tell" is not "not delivered", so nothing is re-posted
    until a check answers, and the check's Retry-After is honoured."""
    put(ctx, team, "a")
    slack.fail("chat.postMessage", server_error(after_posting=True))
    slack.fail("conversations.history", rate_limited(9), server_error(503))
    clock = FakeTime(FIXED_NOW)
    drainer = make_drainer(ctx, slack, clock)
    assert drainer.drain().retried == 1
    clock.advance(seconds=60)
    assert drainer.drain().sent == 0  # check: 429
    (row,) = rows(ctx)
    assert row.status == OutboxStatus.PENDING and row.next_attempt_at == clock.now + timedelta(seconds=9)
    clock.advance(seconds=5)
    assert drainer.drain().sent == 0  # still inside Retry-After: not even a check
    assert len(slack.calls_to("conversations.history")) == 1
    clock.advance(seconds=60)
    assert drainer.drain().sent == 0  # check: 503
    clock.advance(minutes=10)
    assert drainer.drain().sent == 1  # check answers: it was there all along
    assert keys_posted(slack) == ["a"]
    (row,) = rows(ctx)
    assert row.status == OutboxStatus.SENT and row.platform_message_id == slack.posted()[0]["ts"]


def test_a_failed_check_of_a_dead_drainers_row_defers_it(ctx, team, slack):
    """A row left `sending` by a drainer that died after Slack accepted it; the reconciler's check fails."""
    put(ctx, team, "stuck")
    stale = FIXED_NOW - timedelta(minutes=10)
    with ctx.sessions.begin() as db:
        row = db.scalar(select(OutboxMessage))
        row.status, row.claimed_by, row.claimed_at = OutboxStatus.SENDING, "dead-worker", stale
        row.target, row.created_at = {"channel": "DU000"}, stale
    SlackSender(lambda _ws: "xoxb-test", slack.url).send(rows(ctx)[0], REPLY)
    slack.fail("conversations.history", server_error(500), rate_limited(3))
    clock = FakeTime(FIXED_NOW)
    drainer = make_drainer(ctx, slack, clock)
    for _ in range(4):
        drainer.drain()
        clock.advance(minutes=5)
    assert keys_posted(slack) == ["stuck"]
    assert rows(ctx)[0].status == OutboxStatus.SENT


LONG_REPLY = Reply(
    text="Pipeline review",
    header="Deals to look at this week",
    sections=tuple(Section(f"- Deal {i}: Acme {i} skipped the Discovery gate", "Due") for i in range(120)),
    buttons=(Button("Log coaching", "coaching.log", "42"),),
)


def put_long(ctx, team, key: str, **kwargs) -> None:
    workspace_id, people = team
    with ctx.sessions.begin() as db:
        outbox.enqueue(
            db,
            key=key,
            kind="digest",
            workspace_id=workspace_id,
            platform=Platform.SLACK,
            reply=LONG_REPLY,
            now=FIXED_NOW,
            person_id=people[0],
            **kwargs,
        )


def parts_posted(slack, key: str) -> list[int]:
    return [
        m["metadata"]["event_payload"]["part"]
        for m in slack.posted()
        if m["method"] == "chat.postMessage" and m["metadata"]["event_payload"]["outbox_key"] == key
    ]


def long_parts() -> int:
    from bot.channels.slack_blocks import to_messages

    count = len(to_messages(LONG_REPLY))
    assert count >= 3
    return count


@pytest.mark.parametrize("after_posting", [False, True], ids=["before-posting", "after-posting"])
def test_a_long_message_interrupted_at_any_part_arrives_whole_and_once(ctx, team, slack, after_posting):
    """A message of several Slack messages fails at part n (Slack refuses it, or posts it and answers 500):
    the retry asks Slack which parts arrived and sends exactly the missing ones, each once, in order."""
    total = long_parts()
    for broken in range(total):
        key = f"long-{broken}"
        put_long(ctx, team, key)
        slack.clear_faults()
        slack.fail_call("chat.postMessage", broken, server_error(500, after_posting=after_posting))
        clock = FakeTime(FIXED_NOW)
        drainer = make_drainer(ctx, slack, clock)
        assert drainer.drain().retried == 1
        clock.advance(minutes=5)
        assert drainer.drain().sent == 1
        assert parts_posted(slack, key) == list(range(total))
    assert all(r.status == OutboxStatus.SENT for r in rows(ctx))


def test_a_drainer_that_died_between_parts_is_completed_by_the_next(ctx, team, slack):
    """The drainer posted the first part and died before recording it: the reconciler sees part 0 on Slack
    and sends the rest (it used to check part 0 only, mark the row sent, and lose the rest)."""
    total = long_parts()
    put_long(ctx, team, "crashed")
    stale = FIXED_NOW - timedelta(minutes=10)
    with ctx.sessions.begin() as db:
        row = db.scalar(select(OutboxMessage))
        row.status, row.claimed_by, row.claimed_at = OutboxStatus.SENDING, "dead-worker", stale
        row.target, row.created_at = {"channel": "DU000"}, stale
    sender = SlackSender(lambda _ws: "xoxb-test", slack.url)
    (row,) = rows(ctx)
    sender.send_part(row, 0, sender.parts(LONG_REPLY)[0])
    clock = FakeTime(FIXED_NOW)
    report = make_drainer(ctx, slack, clock).drain()
    assert report.reconciled == 1 and report.sent == 1
    assert parts_posted(slack, "crashed") == list(range(total))
    (row,) = rows(ctx)
    assert row.status == OutboxStatus.SENT and sorted(row.sent_parts) == [str(i) for i in range(total)]


def test_a_drainer_paused_past_its_lease_does_not_send_what_another_sent(ctx, team, slack):
    """Drainer A claims two messages for one channel, sends the first, and freezes (here: while it waits
    for the channel's one-per-second slot) for ten minutes. Drainer B reconciles the second and sends it.
    When A wakes up it has lost its claim: it posts nothing and leaves B's row alone."""
    put(ctx, team, "first")
    put(ctx, team, "second")
    clock = FakeTime(FIXED_NOW)
    a = make_drainer(ctx, slack, clock)
    b = make_drainer(ctx, slack, clock)
    b.worker = "drainer-b"
    b_reports = []

    def frozen(seconds: float) -> None:
        clock.advance(minutes=10)
        b_reports.append(b.drain())

    a.sleep = frozen
    report = a.drain()
    assert (report.sent, report.lost_claims) == (1, 1)
    assert (b_reports[0].reconciled, b_reports[0].sent) == (1, 1)
    assert sorted(keys_posted(slack)) == ["first", "second"]
    second = next(r for r in rows(ctx) if r.idempotency_key == "second")
    assert second.status == OutboxStatus.SENT and second.claimed_by is None
    assert second.platform_message_id == slack.posted()[-1]["ts"]


def test_a_drainer_frozen_after_posting_does_not_overwrite_the_row_another_drainer_settled(ctx, team, slack):
    """A posts, then freezes past its lease before recording it; B finds the message on Slack and marks it
    sent. A wakes up: its write is fenced by the claim token, so it changes nothing and posts nothing."""
    put(ctx, team, "only")
    clock = FakeTime(FIXED_NOW)
    b = make_drainer(ctx, slack, clock)
    b.worker = "drainer-b"

    class FreezesAfterPosting(SlackSender):
        def send_part(self, message, index, part):  # type: ignore[no-untyped-def]
            ts = super().send_part(message, index, part)
            clock.advance(minutes=10)
            assert b.drain().reconciled == 1
            return ts

    a = make_drainer(ctx, slack, clock)
    a.senders = {Platform.SLACK: FreezesAfterPosting(lambda _ws: "xoxb-test", slack.url)}
    assert (a.drain().lost_claims, a.drain().sent) == (1, 0)
    assert keys_posted(slack) == ["only"]
    (row,) = rows(ctx)
    assert (row.status, row.claimed_by, row.claim_token) == (OutboxStatus.SENT, None, None)
    assert row.platform_message_id == slack.posted()[0]["ts"]


def test_the_fault_campaign_delivers_every_part_once():
    """benchmarks.faults, one seed on SQLite: a 429/5xx storm, long messages interrupted at every part,
    a drainer frozen past its lease; and hostile requests into the real web app."""
    from benchmarks.faults import run_on

    results, hostile = run_on(None, [7])
    assert [r.expected for r in results] == [r.once for r in results]
    assert all(r.expected > 0 and r.lost == 0 and r.duplicated == 0 for r in results)
    assert hostile.requests == hostile.client_errors > 0  # every hostile request refused with a 4xx
    assert (hostile.server_errors, hostile.tracebacks, hostile.unsigned_posts) == (0, 0, 0)
