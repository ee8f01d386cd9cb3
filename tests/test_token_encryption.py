"""Slack tokens from OAuth installs are encrypted at rest with TOKEN_ENCRYPTION_KEY; older plain-text rows
stay readable and `python -m bot db encrypt-tokens` seals them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet
from slack_sdk.oauth.installation_store import Installation
from sqlalchemy import select

from bot.channels.slack_install import installation_store
from tests.helpers.cli import run_cli

KEY = Fernet.generate_key().decode()


def _install(team: str) -> Installation:
    return Installation(
        app_id="A0APP",
        team_id=team,
        team_name="New Co",
        user_id="UINSTALLER",
        bot_token=f"xoxb-secret-{team}",
        bot_id="B0BOT",
        bot_user_id="UBOT",
        bot_scopes=["chat:write"],
        installed_at=datetime(2026, 11, 23, tzinfo=UTC).timestamp(),
    )


def _raw_tokens(store) -> list[str]:
    with store.engine.connect() as connection:
        rows = connection.execute(select(store.bots.c.bot_token)).all()
        rows += connection.execute(select(store.installations.c.bot_token)).all()
    return [r[0] for r in rows]


def test_tokens_are_stored_encrypted_and_read_back_in_the_clear(ctx):
    store = installation_store(ctx.engine, "111.222", KEY)
    store.save(_install("T0ENC"))
    raw = _raw_tokens(store)
    assert raw and all(t.startswith("enc:v1:") and "xoxb" not in t for t in raw)
    assert store.find_bot(enterprise_id=None, team_id="T0ENC").bot_token == "xoxb-secret-T0ENC"
    assert store.find_installation(enterprise_id=None, team_id="T0ENC").bot_token == "xoxb-secret-T0ENC"
    with pytest.raises(RuntimeError, match="set TOKEN_ENCRYPTION_KEY"):
        installation_store(ctx.engine, "111.222").find_bot(enterprise_id=None, team_id="T0ENC")


def test_plain_text_tokens_from_before_the_key_are_encrypted_by_the_command(ctx, database_url):
    plain = installation_store(ctx.engine, "111.222")
    plain.save(_install("T0OLD"))
    assert "xoxb-secret-T0OLD" in _raw_tokens(plain)
    refused = run_cli("db", "encrypt-tokens", env={"DATABASE_URL": database_url, "TOKEN_ENCRYPTION_KEY": ""})
    assert refused.returncode != 0 and "set TOKEN_ENCRYPTION_KEY first" in refused.stderr
    done = run_cli(
        "db",
        "encrypt-tokens",
        env={"DATABASE_URL": database_url, "SLACK_CLIENT_ID": "111.222", "TOKEN_ENCRYPTION_KEY": KEY},
    )
    assert done.returncode == 0, done.stderr
    assert "2 rows of stored installations" in done.stdout
    assert all(t.startswith("enc:v1:") for t in _raw_tokens(plain))
    sealed = installation_store(ctx.engine, "111.222", KEY)
    assert sealed.find_bot(enterprise_id=None, team_id="T0OLD").bot_token == "xoxb-secret-T0OLD"
