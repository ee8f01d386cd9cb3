"""The slack-bolt app behind the Slack channel: its configuration (one bot token, or OAuth installs with
their scopes), the signature check, and Bolt's loggers kept from logging request data."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.signature import SignatureVerifier

from bot.channels.slack_install import (
    AsyncInstallationStoreAdapter,
    AsyncStateStoreAdapter,
    installation_store,
    state_store,
)
from bot.channels.slack_replies import web_client
from bot.context import AppContext


class _NoRequestData(logging.Filter):
    """slack_bolt logs a refused request's whole body (request verification, at INFO) and a failed OAuth
    callback's query with its `code` and `state` (at DEBUG): keep only these loggers' warnings and errors
    (we log one line of our own for each refused request, without its data)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO


# Bolt copies a base logger's filters only onto a logger that has none, so these stay.
for _name in (
    "slack_bolt.AsyncRequestVerification",
    "slack_bolt.RequestVerification",
    "slack_bolt.oauth.async_callback_options",
    "slack_bolt.oauth.callback_options",
):
    logging.getLogger(_name).addFilter(_NoRequestData())

BOT_SCOPES = [
    "app_mentions:read",
    "chat:write",
    "commands",
    "files:write",  # charts (files.getUploadURLExternal and files.completeUploadExternal)
    "im:history",
    "im:write",
    "users:read",
    "users:read.email",
    "metadata.message:read",
]


def build_app(ctx: AppContext) -> AsyncApp:
    """The Bolt app: one bot token (one workspace), or OAuth installs kept in the database."""
    settings = ctx.settings
    api = settings.slack_api_url
    if settings.slack_bot_token:
        return AsyncApp(
            signing_secret=settings.slack_signing_secret or "socket-mode",
            client=web_client(api, settings.slack_bot_token),
            ignoring_self_events_enabled=True,
            process_before_response=True,
        )
    store = AsyncInstallationStoreAdapter(
        installation_store(ctx.engine, settings.slack_client_id or "", settings.token_encryption_key),
        ctx.sessions,
    )
    oauth = AsyncOAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret,
        scopes=BOT_SCOPES,
        installation_store=store,
        state_store=AsyncStateStoreAdapter(state_store(ctx.engine)),
        install_path="/slack/install",
        redirect_uri_path="/slack/oauth_redirect",
    )
    return AsyncApp(
        signing_secret=settings.slack_signing_secret or "socket-mode",
        client=web_client(api),
        installation_store=store,
        oauth_flow=AsyncOAuthFlow(client=web_client(api), settings=oauth),
        process_before_response=True,
    )


def signed(secret: str | None, headers: Mapping[str, str], raw: str) -> bool:
    """The request's Slack signature holds (Slack's v0 scheme, at most five minutes old)."""
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if not secret or not signature or not (timestamp.isascii() and timestamp.isdigit()):
        return False
    try:
        return SignatureVerifier(secret).is_valid(raw, timestamp, signature)
    except (ValueError, OverflowError):
        return False

