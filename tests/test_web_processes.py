"""Several web processes on one PostgreSQL database (README "Operations"): real `python -m bot serve`
processes, signed Slack requests, and the Slack Web API double on 127.0.0.1 recording what they sent.

A Slack retry of an event (same event_id) may reach another process than the first delivery, even while
the first is still answering it: the database's record of each delivery makes exactly one of them answer.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest

from bot.context import AppContext
from tests.doubles.people import SLACK_SECRET, SLACK_TEAM
from tests.doubles.slack_api import SlackDouble
from tests.helpers.cli import REPO
from tests.helpers.slack import chat_posts, header_of, mention, signed_headers


@pytest.fixture
def pg_slack_ctx(slack_ctx: AppContext) -> AppContext:
    if slack_ctx.engine.dialect.name != "postgresql":
        pytest.skip("several web processes share one PostgreSQL database")
    return slack_ctx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    async def healthz() -> int:
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return response.status

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if asyncio.run(healthz()) == 200:
                return
        except aiohttp.ClientConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready:\n{log.read_text()}")


@contextmanager
def web_processes(
    ctx: AppContext, slack: SlackDouble, tmp_path: Path, ports: list[int], *extra: str
) -> Iterator[list[str]]:
    """`python -m bot serve` once per port (the same port twice with --reuse-port), all on the test database."""
    env = {
        **os.environ,
        "DATABASE_URL": ctx.settings.database_url,
        "SLACK_SIGNING_SECRET": SLACK_SECRET,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_API_URL": slack.url,
    }
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for n, port in enumerate(ports):
            log = tmp_path / f"web-{n}.log"
            process = subprocess.Popen(
                [sys.executable, "-m", "bot", "serve", "--port", str(port), *extra],
                cwd=REPO,
                env=env,
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
            )
            processes.append(process)
            _wait_ready(f"http://127.0.0.1:{port}/healthz", process, log)
        yield [f"http://127.0.0.1:{port}" for port in ports]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=15)


def _event_body(inner: dict, event_id: str) -> str:
    return json.dumps(
        {
            "token": "legacy-token",
            "team_id": SLACK_TEAM,
            "api_app_id": "A0APP",
            "event": inner,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [
                {"enterprise_id": None, "team_id": SLACK_TEAM, "user_id": "UBOT", "is_bot": True}
            ],
            "is_ext_shared_channel": False,
        }
    )


async def _deliver_to_each(bases: list[str], body: str) -> list[int]:
    """The same delivery to every process at once: the first as Slack sends it, the others as its retries."""

    async def one(session: aiohttp.ClientSession, base: str, retry: int) -> int:
        headers = {"Content-Type": "application/json", **signed_headers(body)}
        if retry:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        async with session.post(f"{base}/slack/events", data=body.encode(), headers=headers) as response:
            return response.status

    async with aiohttp.ClientSession() as session:
        return list(await asyncio.gather(*(one(session, base, n) for n, base in enumerate(bases))))


def test_an_event_delivered_to_two_web_processes_is_answered_exactly_once(
    pg_slack_ctx: AppContext, slack: SlackDouble, tmp_path: Path
):
    with web_processes(pg_slack_ctx, slack, tmp_path, [_free_port(), _free_port()]) as bases:
        asked = [
            mention(f"what's next for {deal}?", channel=f"C0DEAL{n}")
            for n, deal in enumerate(("Acme", "Initech", "Hooli"))
        ]
        for n, inner in enumerate(asked):
            assert asyncio.run(_deliver_to_each(bases, _event_body(inner, f"EvTWICE{n}"))) == [200, 200]
        assert slack.wait_for(lambda: len(chat_posts(slack)) >= len(asked), timeout=20)
        # Each process answers one channel's requests in the order they arrived (bot/channels/slack.py): once
        # every process has answered a later question in each channel, any second answer would be posted.
        later = []
        for n, inner in enumerate(asked):
            for p, base in enumerate(bases):
                question = mention("stage discovery", channel=inner["channel"])
                assert asyncio.run(_deliver_to_each([base], _event_body(question, f"EvLATER{n}{p}"))) == [200]
                later.append((question["channel"], question["ts"]))

        def answered() -> set[tuple[str, str]]:
            return {(p["channel"], p["thread_ts"]) for p in chat_posts(slack)}

        assert slack.wait_for(lambda: answered() >= set(later), timeout=20)
        posts = [p for p in chat_posts(slack) if (p["channel"], p["thread_ts"]) not in later]
        assert sorted((p["channel"], p["thread_ts"]) for p in posts) == sorted(
            (inner["channel"], inner["ts"]) for inner in asked
        )
        assert sorted(header_of(p) for p in posts) == [
            "Acme Corp: Discovery",
            "Hooli Express: Demo",
            "Initech: Evaluation",
        ]


def test_two_web_processes_share_one_port(pg_slack_ctx: AppContext, slack: SlackDouble, tmp_path: Path):
    """`serve --reuse-port` twice on one port: both start, and every request on that port is answered."""
    port = _free_port()
    with web_processes(pg_slack_ctx, slack, tmp_path, [port, port], "--reuse-port") as bases:
        asked = [mention("what's next for Acme?", channel=f"C0SHARE{n}") for n in range(6)]
        for n, inner in enumerate(asked):
            assert asyncio.run(_deliver_to_each(bases[:1], _event_body(inner, f"EvSHARED{n}"))) == [200]
        assert slack.wait_for(lambda: len(chat_posts(slack)) >= len(asked), timeout=20)
        assert sorted(p["channel"] for p in chat_posts(slack)) == sorted(i["channel"] for i in asked)
