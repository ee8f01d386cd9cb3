"""The web process's access log: a line for each failed or slow request, none at INFO for routine ones
(every answered Slack event or Teams activity would otherwise cost a log line), all of them at DEBUG."""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from bot.web import RUNNER_OPTIONS, create_app
from tests.doubles.server import BackgroundServer


def _get_all(url: str, paths: list[str]) -> list[int]:
    async def get() -> list[int]:
        statuses = []
        async with aiohttp.ClientSession() as session:
            for path in paths:
                async with session.get(url + path) as response:
                    statuses.append(response.status)
        return statuses

    return asyncio.run(get())


def _access_lines(caplog, level: int, ctx) -> tuple[list[int], list[str]]:  # type: ignore[no-untyped-def]
    caplog.set_level(level, logger="aiohttp.access")
    server = BackgroundServer(create_app(ctx), **RUNNER_OPTIONS).start()
    try:
        statuses = _get_all(server.url, ["/healthz", "/no-such-page?code=SECRET1"])
    finally:
        server.stop()
    return statuses, [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]


def test_routine_requests_leave_no_access_line_and_failed_ones_do(caplog, ctx):
    statuses, lines = _access_lines(caplog, logging.INFO, ctx)
    assert statuses == [200, 404]
    assert not any("/healthz" in line for line in lines), lines
    assert any('"GET /no-such-page" 404' in line for line in lines), lines
    assert "SECRET1" not in caplog.text


def test_every_request_is_logged_when_the_access_log_is_set_to_debug(caplog, ctx):
    statuses, lines = _access_lines(caplog, logging.DEBUG, ctx)
    assert statuses == [200, 404]
    assert any('"GET /healthz" 200' in line for line in lines), lines
    assert any('"GET /no-such-page" 404' in line for line in lines), lines
