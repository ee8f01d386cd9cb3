"""The real processes a user starts: `python -m bot chat` on piped input, `serve` answering /healthz,
`db upgrade`; and the Alembic migrations producing exactly the schema the models describe."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import aiohttp.web
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from bot.context import AppContext
from bot.rendering import Renderer
from bot.web import create_app
from storage import db
from storage.models import Base
from tests.helpers.cli import REPO, run_cli


def test_chat_on_piped_input_answers_each_line(tmp_path, database_url):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/chat.db"}
    result = run_cli(
        "chat",
        "--as",
        "rep@example.com",
        env=env,
        stdin="what's next for Acme?\nhelp\nwhat's next for this deal?\n3\n",
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    out = result.stdout
    assert "> what's next for Acme?\nAcme Corp: Discovery\n" in out
    assert "Exit criteria not yet confirmed (1 of 4 confirmed)" in out
    assert "Discovery call guide <https://example.com/enablement/discovery-call-guide>" in out
    assert "> help\nHi Riley, I'm your sales playbook in chat" in out
    assert "  [3] Initech (Evaluation)\n" in out
    assert "> 3\nInitech: Evaluation\n" in out
    # State persists between runs (SQLite file), and the demo data is not loaded twice.
    again = run_cli("chat", env=env, stdin="move acme to evaluation\n")
    assert "Acme Corp moved to Evaluation" in again.stdout
    third = run_cli("chat", env=env, stdin="my deals\n")
    assert third.stdout.count("Acme Corp") == 1 and "Acme Corp**" not in third.stdout


def test_chat_on_the_test_database(database_url, demo):
    """The same command against the suite's database (PostgreSQL in CI's second run)."""
    result = run_cli(
        "chat", "--as", "sam@example.com", env={"DATABASE_URL": database_url}, stdin="my deals\n"
    )
    assert result.returncode == 0, result.stderr
    assert "Umbrella Health: Proposal and business case · 0/4 exit criteria confirmed" in result.stdout


def test_chat_as_unknown_person_lists_known_people(tmp_path):
    result = run_cli("chat", "--as", "who@example.com", env={"DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert result.returncode == 2
    assert (
        "no person who@example.com here. Known people: enablement@example.com, manager@example.com"
        in result.stderr
    )


def test_bad_database_url_is_a_clear_error(tmp_path):
    result = run_cli("db", "upgrade", env={"DATABASE_URL": "mysql://nope"})
    assert result.returncode == 2
    assert "invalid configuration: DATABASE_URL" in result.stderr and "Traceback" not in result.stderr


def test_db_upgrade_and_status(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/fresh.db"}
    before = run_cli("db", "status", env=env)
    assert "schema revision none (behind" in before.stdout
    upgraded = run_cli("db", "upgrade", env=env)
    assert upgraded.returncode == 0 and "(up to date)" in upgraded.stdout


def test_migrations_match_the_models(database_url):
    engine = db.make_engine(database_url)
    with engine.connect() as connection:
        diff = compare_metadata(
            MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata
        )
    engine.dispose()
    assert diff == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_healthz_over_http(tmp_path):
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/web.db", "PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"], cwd=REPO, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        body = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and body is None:
            try:
                body = asyncio.run(_get(f"http://127.0.0.1:{port}/healthz"))
            except aiohttp.ClientConnectionError:
                time.sleep(0.2)
        status, answer = body
        assert status == 200 and answer["status"] == "ok" and answer["playbooks"] == 2
    finally:
        process.terminate()
        process.wait(timeout=10)


async def _get(url: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json()


def _healthz_of(context: AppContext) -> tuple[int, dict]:
    async def scenario() -> tuple[int, dict]:
        runner = aiohttp.web.AppRunner(create_app(context))
        await runner.setup()
        site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            return await _get(f"http://127.0.0.1:{port}/healthz")
        finally:
            await runner.cleanup()

    return asyncio.run(scenario())


def test_healthz_is_503_until_the_schema_is_upgraded(ctx, tmp_path):
    fresh = db.make_engine(f"sqlite:///{tmp_path}/not-upgraded.db")
    context = AppContext(ctx.settings, fresh, db.make_sessionmaker(fresh), ctx.playbooks, Renderer())
    status, body = _healthz_of(context)
    assert status == 503 and "schema is at nothing" in body["reason"] and "db upgrade" in body["reason"]
    db.upgrade(fresh)
    status, body = _healthz_of(context)
    assert status == 200 and body["status"] == "ok"
    fresh.dispose()


def test_healthz_is_503_when_the_database_is_down(ctx, tmp_path):
    dead = db.make_engine(f"sqlite:///{tmp_path}/missing-dir/nothing/x.db")
    broken = AppContext(ctx.settings, dead, db.make_sessionmaker(dead), ctx.playbooks, Renderer())

    async def scenario() -> tuple[int, dict]:
        runner = aiohttp.web.AppRunner(create_app(broken))
        await runner.setup()
        site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            return await _get(f"http://127.0.0.1:{port}/healthz")
        finally:
            await runner.cleanup()

    status, body = asyncio.run(scenario())
    assert status == 503 and body["status"] == "unavailable"
    assert not Path(tmp_path / "missing-dir").exists()
