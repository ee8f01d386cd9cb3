"""A web process holds at most MAX_ANSWERS_IN_FLIGHT answers at once: past it a request is told at once,
through the usual reply path, that the bot is busy, instead of joining a queue that grows for seconds; the
answers already taken, and every request once they are done, are answered as usual.

Signed Slack requests and Bot Framework activities into the real web app; the Slack and Bot Connector
doubles are told to be slow so that an answer is still in flight when the next request comes."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator

import pytest

from bot.context import AppContext
from bot.inflight import BUSY_TEXT
from bot.web import RUNNER_OPTIONS, create_app
from tests.doubles.bot_connector import BotConnectorDouble
from tests.doubles.server import BackgroundServer
from tests.doubles.slack_api import SlackDouble, slow
from tests.helpers.cli import run_cli
from tests.helpers.slack import chat_posts, command, event, header_of, mention
from tests.helpers.teams import activity, say
from tests.helpers.teams import post as teams_post

SLOW_S = 2.5  # long enough that the next request surely comes while the first answer is on its way


def _limited(ctx: AppContext, limit: int) -> AppContext:
    return dataclasses.replace(ctx, settings=ctx.settings.model_copy(update={"max_answers_in_flight": limit}))


@pytest.fixture
def one_slot(slack_ctx: AppContext) -> Iterator[BackgroundServer]:
    server = BackgroundServer(create_app(_limited(slack_ctx, 1)), **RUNNER_OPTIONS).start()
    yield server
    server.stop()


@pytest.fixture
def three_slots(slack_ctx: AppContext) -> Iterator[BackgroundServer]:
    server = BackgroundServer(create_app(_limited(slack_ctx, 3)), **RUNNER_OPTIONS).start()
    yield server
    server.stop()


def _busy(message: dict) -> bool:
    return BUSY_TEXT in json.dumps(message, ensure_ascii=False)


def test_past_the_limit_a_slack_request_is_told_at_once_that_the_bot_is_busy(one_slot, slack: SlackDouble):
    web = one_slot
    slack.fail("chat.postMessage", slow(SLOW_S))  # the first answer takes a while to reach Slack
    assert event(web, mention("what's next for Acme?", channel="C0SALES"))[0] == 200

    # A slash command elsewhere while that answer is in flight: acked, then the busy reply, privately.
    assert command(web, slack, "what's next for Umbrella", user="USAM", channel="C0OTHER") == (200, "")
    assert slack.wait_for(lambda: slack.responses, timeout=SLOW_S)
    (busy,) = slack.responses
    assert _busy(busy) and busy["response_type"] == "ephemeral"
    assert chat_posts(slack) == []  # told before the first answer even arrived

    # A mention in the first one's channel: its busy reply keeps its place after that channel's answer.
    second = mention("how's Initech doing", channel="C0SALES", user="USAM")
    assert event(web, second)[0] == 200
    assert slack.wait_for(lambda: len(chat_posts(slack)) == 2, timeout=3 * SLOW_S)
    answer, busy_in_thread = chat_posts(slack)
    assert header_of(answer) == "Acme Corp: Discovery" and not _busy(answer)
    assert _busy(busy_in_thread) and busy_in_thread["thread_ts"] == second["ts"]

    # With the answer delivered, the next requests are answered as usual.
    assert command(web, slack, "what's next for Umbrella", user="USAM", channel="C0OTHER")[0] == 200
    assert slack.wait_for(lambda: len(slack.responses) == 2)
    assert header_of(slack.responses[1]) == "Umbrella Health: Proposal and business case"
    assert event(web, mention("what's next for Acme?", channel="C0SALES"))[0] == 200
    assert slack.wait_for(lambda: len(chat_posts(slack)) == 3)
    assert header_of(chat_posts(slack)[2]) == "Acme Corp: Discovery"


def test_up_to_the_limit_every_slack_request_is_answered(three_slots, slack: SlackDouble):
    web = three_slots
    slack.fail("chat.postMessage", slow(SLOW_S), slow(SLOW_S), slow(SLOW_S))  # all three in flight at once
    for channel in ("C0ONE", "C0TWO", "C0THREE"):
        assert event(web, mention("what's next for Acme?", channel=channel))[0] == 200
    assert slack.wait_for(lambda: len(chat_posts(slack)) == 3, timeout=4 * SLOW_S)
    assert sorted(m["channel"] for m in chat_posts(slack)) == ["C0ONE", "C0THREE", "C0TWO"]
    assert [header_of(m) for m in chat_posts(slack)] == ["Acme Corp: Discovery"] * 3
    assert not any(_busy(m) for m in chat_posts(slack))


def test_past_the_limit_a_teams_message_is_answered_that_the_bot_is_busy(
    teams_ctx: AppContext, connector: BotConnectorDouble
):
    web = BackgroundServer(create_app(_limited(teams_ctx, 1)), **RUNNER_OPTIONS).start()
    try:
        connector.delays.append(SLOW_S)  # the first answer takes a while to reach Teams
        first: list[tuple[int, str]] = []
        sending = threading.Thread(target=lambda: first.append(teams_post(web, say(connector, "my deals"))))
        sending.start()
        assert _wait_until_in_flight(connector)
        status, _ = teams_post(web, say(connector, "what's next for Initech"))
        assert status == 201
        (busy,) = connector.wait_for(1, timeout=SLOW_S)
        assert BUSY_TEXT in json.dumps(busy, ensure_ascii=False)
        # A card's button meanwhile: the busy message comes back in the invoke response; the card stays.
        status, body = teams_post(web, _card_click(connector))
        response = json.loads(body)
        assert status == 200 and response["type"] == "application/vnd.microsoft.activity.message"
        assert response["value"] == BUSY_TEXT
        sending.join(10)
        assert first and first[0][0] == 201
        answer = connector.activities()[1]
        assert "Acme Corp" in json.dumps(answer) and BUSY_TEXT not in json.dumps(answer, ensure_ascii=False)
        # Free again: answered as usual.
        assert teams_post(web, say(connector, "what's next for Initech"))[0] == 201
        (*_, last) = connector.wait_for(3)
        assert "Initech: Evaluation" in json.dumps(last) and BUSY_TEXT not in json.dumps(
            last, ensure_ascii=False
        )
    finally:
        web.stop()


def _card_click(connector: BotConnectorDouble) -> dict:
    return activity(
        connector,
        "invoke",
        name="adaptiveCard/action",
        value={
            "action": {
                "type": "Action.Execute",
                "verb": "bot",
                "data": {"bot_action": "home.show", "bot_value": ""},
            },
            "trigger": "manual",
        },
    )


def _wait_until_in_flight(connector: BotConnectorDouble) -> bool:
    """The first answer has reached the (slow) connector: its delay has been taken."""
    import time

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with connector._lock:
            if not connector.delays:
                return True
        time.sleep(0.01)
    return False


def test_a_limit_below_one_is_refused_at_start_up_with_a_clear_message(tmp_path):
    result = run_cli(
        "serve", env={"DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "MAX_ANSWERS_IN_FLIGHT": "0"}
    )
    assert result.returncode == 2
    assert (
        "invalid configuration: MAX_ANSWERS_IN_FLIGHT" in result.stderr and "Traceback" not in result.stderr
    )


def test_answers_worked_out_at_once_in_worker_threads_read_words_as_one_at_a_time_does():
    """The web process works out several answers at once in worker threads; each reads the words of its
    question (word stems) exactly as a lone answer would. A stemmer shared between threads mixed their
    words up and failed the answer with an apology."""
    from concurrent.futures import ThreadPoolExecutor

    from playbooks.thesaurus import stem

    words = ["negotiations", "objections", "stakeholders", "evaluation", "procurement", "champion"] * 400
    alone = [stem(w) for w in words]
    with ThreadPoolExecutor(max_workers=6) as pool:
        together = list(pool.map(lambda _n: [stem(w) for w in words], range(12)))
    assert together == [alone] * 12
