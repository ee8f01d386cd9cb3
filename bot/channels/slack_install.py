"""Slack installations (OAuth, many workspaces) in our database, through slack_sdk's SQLAlchemy stores.

The stores are synchronous and share our engine; Bolt's AsyncApp wants async stores, so thin adapters
run each call in a worker thread. Also: which bot token sends proactive messages to a workspace.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from logging import Logger
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.context import AppContext
from storage.models import Platform, Workspace
from storage.people import get_or_create_workspace

STATE_EXPIRY_SECONDS = 600


ENCRYPTED = "enc:v1:"
TOKEN_FIELDS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")


class TokenCipher:
    """Slack tokens encrypted at rest with Fernet and the key in TOKEN_ENCRYPTION_KEY. Values written before a
    key was set stay readable (no prefix) until `python -m bot db encrypt-tokens` encrypts them."""

    def __init__(self, key: str | None):
        self._fernet = Fernet(key.encode()) if key else None

    @property
    def enabled(self) -> bool:
        return self._fernet is not None

    def seal(self, value: str | None) -> str | None:
        if not value or self._fernet is None or value.startswith(ENCRYPTED):
            return value
        return ENCRYPTED + self._fernet.encrypt(value.encode()).decode()

    def open(self, value: str | None) -> str | None:
        if not value or not value.startswith(ENCRYPTED):
            return value
        if self._fernet is None:
            raise RuntimeError("Slack tokens in the database are encrypted: set TOKEN_ENCRYPTION_KEY")
        try:
            return self._fernet.decrypt(value[len(ENCRYPTED) :].encode()).decode()
        except InvalidToken as exc:
            raise RuntimeError("TOKEN_ENCRYPTION_KEY does not decrypt the stored Slack tokens") from exc


class EncryptedInstallationStore(SQLAlchemyInstallationStore):
    """slack_sdk's SQLAlchemy store, with every token sealed before it is written and opened when read."""

    def __init__(self, client_id: str, engine: Engine, cipher: TokenCipher):
        super().__init__(client_id=client_id, engine=engine)
        self.cipher = cipher

    def _sealed(self, entity: Any) -> Any:
        entity = copy.copy(entity)
        for name in TOKEN_FIELDS:
            if hasattr(entity, name):
                setattr(entity, name, self.cipher.seal(getattr(entity, name)))
        return entity

    def _opened(self, entity: Any) -> Any:
        if entity is not None:
            for name in TOKEN_FIELDS:
                if hasattr(entity, name):
                    setattr(entity, name, self.cipher.open(getattr(entity, name)))
        return entity

    def save(self, installation: Installation) -> None:
        super().save(self._sealed(installation))

    def save_bot(self, bot: Bot) -> None:
        super().save_bot(self._sealed(bot))

    def find_bot(self, **kwargs: Any) -> Bot | None:
        return self._opened(super().find_bot(**kwargs))

    def find_installation(self, **kwargs: Any) -> Installation | None:
        return self._opened(super().find_installation(**kwargs))

    def encrypt_existing(self) -> int:
        """Seal every token still stored in plain text; returns how many rows changed."""
        changed = 0
        with self.engine.begin() as connection:
            for table in (self.installations, self.bots):
                columns = [table.c[name] for name in TOKEN_FIELDS if name in table.c]
                for row in connection.execute(select(table.c.id, *columns)).mappings().all():
                    values = {c.name: self.cipher.seal(row[c.name]) for c in columns}
                    if any(values[c.name] != row[c.name] for c in columns):
                        connection.execute(update(table).where(table.c.id == row["id"]).values(**values))
                        changed += 1
        return changed


def installation_store(engine: Engine, client_id: str, key: str | None = None) -> EncryptedInstallationStore:
    return EncryptedInstallationStore(client_id, engine, TokenCipher(key))


def state_store(engine: Engine):
    from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

    return SQLAlchemyOAuthStateStore(expiration_seconds=STATE_EXPIRY_SECONDS, engine=engine)


class AsyncInstallationStoreAdapter(AsyncInstallationStore):
    """slack_sdk's store in a worker thread; with `sessions`, an install also makes the workspace's row, so
    `import people --workspace slack:T…` works before anyone there has written to the bot."""

    def __init__(self, store: SQLAlchemyInstallationStore, sessions: sessionmaker[Session] | None = None):
        self._store = store
        self._sessions = sessions

    @property
    def logger(self) -> Logger:
        return self._store.logger

    async def async_save(self, installation: Installation) -> None:
        await asyncio.to_thread(self._store.save, installation)
        if self._sessions is not None and installation.team_id:
            await asyncio.to_thread(record_workspace, self._sessions, installation)

    async def async_save_bot(self, bot: Bot) -> None:
        await asyncio.to_thread(self._store.save_bot, bot)

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        return await asyncio.to_thread(
            self._store.find_bot,
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=is_enterprise_install,
        )

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        return await asyncio.to_thread(
            self._store.find_installation,
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
            is_enterprise_install=is_enterprise_install,
        )

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await asyncio.to_thread(self._store.delete_bot, enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        await asyncio.to_thread(
            self._store.delete_installation, enterprise_id=enterprise_id, team_id=team_id, user_id=user_id
        )


def record_workspace(sessions: sessionmaker[Session], installation: Installation) -> None:
    """The installed team's workspace row (named as Slack names the team), made or updated on install."""
    with sessions.begin() as db:
        workspace = get_or_create_workspace(
            db,
            Platform.SLACK,
            installation.team_id or "",
            name=installation.team_name or "",
            enterprise_id=installation.enterprise_id,
            join_single=False,  # an OAuth install starts its own organization until an admin links it
        )
        if installation.team_name:
            workspace.name = installation.team_name


class AsyncStateStoreAdapter(AsyncOAuthStateStore):
    def __init__(self, store: Any):
        self._store = store

    @property
    def logger(self) -> Logger:
        return self._store.logger

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        return await asyncio.to_thread(self._store.issue, *args, **kwargs)

    async def async_consume(self, state: str) -> bool:
        return await asyncio.to_thread(self._store.consume, state)


def token_lookup(ctx: AppContext) -> Callable[[int], str | None]:
    """workspace id -> bot token: SLACK_BOT_TOKEN for a single workspace, else that workspace's installation."""
    if ctx.settings.slack_bot_token:
        token = ctx.settings.slack_bot_token
        return lambda _workspace_id: token
    store = installation_store(
        ctx.engine, ctx.settings.slack_client_id or "", ctx.settings.token_encryption_key
    )

    def find(workspace_id: int) -> str | None:
        with ctx.sessions() as db:
            workspace = db.get(Workspace, workspace_id)
        if workspace is None:
            return None
        bot = store.find_bot(enterprise_id=workspace.enterprise_id, team_id=workspace.external_id)
        return bot.bot_token if bot else None

    return find
