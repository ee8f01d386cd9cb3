"""Settings read from the environment (names and defaults are part of ../shared/CONTRACT.md)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

import playbooks

BUNDLED_PLAYBOOKS_DIR = Path(playbooks.__file__).resolve().parent


class Settings(BaseSettings):
    """Every knob the bot reads from the environment, validated once at start-up."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    database_url: str = "sqlite:///enablement.db"
    playbooks_dir: Path = BUNDLED_PLAYBOOKS_DIR
    port: int = Field(default=3978, ge=1, le=65535)
    # answers one web process holds queued or in flight (Slack and Teams together); past it a request is
    # answered at once with "I'm busy right now — please ask again in a moment"
    max_answers_in_flight: int = Field(default=64, ge=1, le=100_000)

    slack_signing_secret: str | None = None
    slack_bot_token: str | None = None
    slack_client_id: str | None = None
    slack_client_secret: str | None = None
    slack_state_secret: str | None = None
    slack_app_token: str | None = None
    token_encryption_key: str | None = None  # Fernet key: Slack tokens from OAuth installs encrypted at rest
    slack_api_url: str = "https://slack.com/api/"
    # how long a drainer's claim on an outbox row lasts before another drainer may take the row over
    outbox_claim_lease_seconds: float = Field(default=120.0, gt=0)

    microsoft_app_id: str | None = None
    microsoft_app_password: str | None = None
    microsoft_app_tenant_id: str | None = None
    microsoft_app_type: str | None = None

    # CRM sync (handlers/crm): connections themselves are set with `python -m bot crm connect`
    hubspot_app_secret: str | None = None  # verifies HubSpot webhooks (X-HubSpot-Signature-v3)
    hubspot_webhook_url: str | None = None  # the public URL HubSpot calls, as it signs it (behind a proxy)
    crm_backoff_seconds: float = Field(default=2.0, ge=0)  # first retry wait; doubles on each retry
    crm_max_attempts: int = Field(default=5, ge=1, le=20)

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("DATABASE_URL must be a sqlite:// or postgresql+psycopg:// URL")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
