"""Database tables for the whole mission.

Every row that belongs to a customer carries `organization_id`, so one organization never sees another's
data; Slack workspaces, Teams tenants and the terminal are ways into an organization. Exit-criteria confirmations and coaching sessions are
append-only events; current state is derived from them. The outbox is the only way proactive messages
leave the bot (see scheduler/).
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, on SQLite (which stores naive text) too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use datetime.now(UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _utcnow_column() -> Mapped[datetime]:
    """Set in Python (so a frozen test clock applies) and by the database for rows written in SQL."""
    return mapped_column(UTCDateTime(), default=utcnow, server_default=func.now(), nullable=False)


class Platform(enum.StrEnum):
    LOCAL = "local"
    SLACK = "slack"
    TEAMS = "teams"
    CRM = "crm"  # outbox only: notes written back to an organization's CRM (handlers/crm/writeback.py)


class Role(enum.StrEnum):
    REP = "rep"
    MANAGER = "manager"
    ENABLEMENT = "enablement"


class DealStatus(enum.StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"
    SKIPPED = "skipped"  # composed at send time and found to have nothing to say (nobody due, ...)


def _organization_column(**kwargs: Any) -> Any:
    """The owning organization of a row. The column keeps its name from before organizations existed
    (`workspace_id`, migration 0010), so existing databases did not have to copy every table."""
    return mapped_column("workspace_id", ForeignKey("organizations.id", ondelete="CASCADE"), **kwargs)


def _enum(kind: type[enum.Enum], name: str) -> Enum:
    """Store enums as their readable values in a plain string column (no PostgreSQL ENUM type to migrate)."""
    return Enum(kind, name=name, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class Organization(Base):
    """The customer organization: owns people, deals, confirmations, coaching, quizzes and settings.

    Slack workspaces (or an Enterprise Grid org), Teams tenants and the terminal are ways into one (see
    Workspace). Migration 0010 turned each earlier workspace into an organization with the same id.
    """

    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)  # per-organization knobs (quiz count, ...)
    created_at: Mapped[datetime] = _utcnow_column()


class Workspace(Base):
    """A way into an organization: a Slack workspace, a Teams tenant, or the local terminal."""

    __tablename__ = "workspaces"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    platform: Mapped[Platform] = mapped_column(_enum(Platform, "platform"))
    external_id: Mapped[str] = mapped_column(String(64))  # Slack team id, Teams tenant id, "local"
    enterprise_id: Mapped[str | None] = mapped_column(String(64))  # Slack Enterprise Grid id
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = _utcnow_column()


class Person(Base):
    """A rep, manager or enablement member, matched to chat users by platform id or email."""

    __tablename__ = "people"
    __table_args__ = (
        UniqueConstraint("workspace_id", "email"),
        Index("ix_people_workspace_slack", "workspace_id", "slack_user_id"),
        Index("ix_people_workspace_teams", "workspace_id", "teams_user_id"),
        Index("ix_people_manager", "manager_id"),
        Index("ix_people_role_timezone", "role", "timezone"),  # the scheduler's weekly jobs
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = _organization_column()
    email: Mapped[str] = mapped_column(String(320))  # stored lower-case
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(_enum(Role, "role"), default=Role.REP)
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    slack_user_id: Mapped[str | None] = mapped_column(String(64))
    teams_user_id: Mapped[str | None] = mapped_column(String(200))
    teams_aad_object_id: Mapped[str | None] = mapped_column(String(64))
    # Quiet hours and working days apply to every proactive message (local time of `timezone`).
    quiet_start: Mapped[str] = mapped_column(String(5), default="19:00")
    quiet_end: Mapped[str] = mapped_column(String(5), default="08:00")
    working_days: Mapped[str] = mapped_column(String(40), default="mon,tue,wed,thu,fri")
    preferences: Mapped[dict[str, Any]] = mapped_column(default=dict)  # quiz count, nudge time, pause...
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = _utcnow_column()

    manager: Mapped[Person | None] = relationship(remote_side="Person.id", foreign_keys=[manager_id])


class Deal(Base):
    """An opportunity in the deal registry, at one stage of one playbook."""

    __tablename__ = "deals"
    __table_args__ = (
        UniqueConstraint("workspace_id", "crm_id"),
        Index("ix_deals_workspace_owner_status", "workspace_id", "owner_id", "status"),
        Index("ix_deals_workspace_stage", "workspace_id", "playbook_id", "stage_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = _organization_column()
    name: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="RESTRICT"))
    playbook_id: Mapped[str] = mapped_column(String(64))
    stage_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    close_date: Mapped[date | None] = mapped_column(Date)
    crm_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[DealStatus] = mapped_column(_enum(DealStatus, "deal_status"), default=DealStatus.OPEN)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # when it was won or lost
    closed_reason: Mapped[str | None] = mapped_column(Text)  # why it was lost (or what the rep said)
    stage_entered_at: Mapped[datetime] = _utcnow_column()
    created_at: Mapped[datetime] = _utcnow_column()

    owner: Mapped[Person] = relationship(foreign_keys=[owner_id])


class DealStageChange(Base):
    """Stage history: every move, with the exit criteria that were still unconfirmed (a skipped gate)."""

    __tablename__ = "deal_stage_changes"
    __table_args__ = (Index("ix_stage_changes_deal", "deal_id", "changed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = _organization_column()
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"))
    from_stage_id: Mapped[str | None] = mapped_column(String(64))  # None when the deal was created
    to_stage_id: Mapped[str] = mapped_column(String(64))
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    skipped_criteria: Mapped[list[Any]] = mapped_column(default=list)  # criterion ids unconfirmed at move
    changed_at: Mapped[datetime] = _utcnow_column()


class ChannelLink(Base):
    """A chat channel linked to a deal, so "what's next for this deal?" there needs no name."""

    __tablename__ = "channel_links"
    __table_args__ = (UniqueConstraint("workspace_id", "channel_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = _organization_column()
    channel_id: Mapped[str] = mapped_column(String(200))
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"))
    linked_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _utcnow_column()


class CriterionEvent(Base):
    """One confirmation or revocation of an exit criterion for a deal: append-only, never updated."""

    __tablename__ = "criterion_events"
    __table_args__ = (
        Index("ix_criterion_events_deal", "deal_id", "stage_id", "criterion_id", "created_at"),
        Index("ix_criterion_events_workspace_created", "workspace_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    organization_id: Mapped[int] = _organization_column()
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"))
    playbook_id: Mapped[str] = mapped_column(String(64))
    stage_id: Mapped[str] = mapped_column(String(64))
    criterion_id: Mapped[str] = mapped_column(String(64))
    criterion_text: Mapped[str] = mapped_column(Text, default="")  # text at the time, readable after removal
    confirmed: Mapped[bool] = mapped_column(Boolean)  # True = confirm, False = revoke
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    buyer_name: Mapped[str | None] = mapped_column(String(200))
    buyer_role: Mapped[str | None] = mapped_column(String(200))
    evidence: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = _utcnow_column()


class CriterionStatus(Base):
    """Where each exit criterion stands now, per deal and stage: the latest of its CriterionEvents.

    Written in the same transaction as each event (`bot.confirmations.record`), so organization-wide
    summaries read one row per deal and criterion instead of ranking a million events.
    """

    __tablename__ = "criterion_status"
    __table_args__ = (
        Index("ix_criterion_status_workspace_stage", "workspace_id", "playbook_id", "stage_id"),
    )

    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"), primary_key=True)
    stage_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    criterion_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[int] = _organization_column()
    playbook_id: Mapped[str] = mapped_column(String(64))
    confirmed: Mapped[bool] = mapped_column(Boolean)
    event_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SummarySnapshot(Base):
    """An organization-wide summary computed ahead of time, for a workspace too large to count live
    (handlers.summaries: more open deals than SNAPSHOT_ABOVE); the clock refreshes it."""

    __tablename__ = "summary_snapshots"

    organization_id: Mapped[int] = _organization_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)  # team-summary, criteria-report
    data: Mapped[dict[str, Any]] = mapped_column()
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CoachingSession(Base):
    """A logged coaching conversation between a manager and a rep (append-only)."""

    __tablename__ = "coaching_sessions"
    __table_args__ = (
        Index("ix_coaching_manager_time", "manager_id", "occurred_at"),
        Index("ix_coaching_rep_time", "rep_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = _organization_column()
    manager_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    rep_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    area: Mapped[str] = mapped_column(
        String(40)
    )  # lead-opportunity, pipeline, skills-behaviors, account, territory
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(Text)
    rep_takeaway: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = _utcnow_column()


class QuizQuestion(Base):
    """A micro-learning question; `external_id` is the author's stable id (re-import updates in place)."""

    __tablename__ = "quiz_questions"
    __table_args__ = (UniqueConstraint("workspace_id", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = _organization_column()
    external_id: Mapped[str] = mapped_column(String(100))
    topic: Mapped[str] = mapped_column(String(100))
    question: Mapped[str] = mapped_column(Text)
    choices: Mapped[list[Any]] = mapped_column()
    answer: Mapped[int] = mapped_column(Integer)
    explanation: Mapped[str] = mapped_column(Text, default="")
    audience: Mapped[str] = mapped_column(String(320), default="all reps")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(
        Integer, default=1
    )  # bumped when the question text or answer changes
    updated_at: Mapped[datetime] = _utcnow_column()
    # The playbook section the question tests (bot/quizlinks.py: "enterprise/evaluation/exit_criterion:fit-validated"),
    # the fingerprint of that section's text when the question was written or last reviewed, and the
    # fingerprint the bot last saw (a new one means the section changed: the question is flagged and the
    # reps who had learned it are asked again).
    section_ref: Mapped[str | None] = mapped_column(Text)
    section_fingerprint: Mapped[str | None] = mapped_column(String(64))
    section_seen: Mapped[str | None] = mapped_column(String(64))
    review_flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # waiting for enablement
    review_reason: Mapped[str | None] = mapped_column(String(300))


class ReviewCard(Base):
    """Spaced-repetition state of one question for one rep (an fsrs Card, serialized)."""

    __tablename__ = "review_cards"
    __table_args__ = (
        UniqueConstraint("person_id", "question_id"),
        Index("ix_review_cards_due", "workspace_id", "due"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = _organization_column()
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    question_id: Mapped[int] = mapped_column(ForeignKey("quiz_questions.id", ondelete="CASCADE"))
    card: Mapped[dict[str, Any]] = mapped_column(default=dict)
    due: Mapped[datetime] = mapped_column(UTCDateTime())
    pending_since: Mapped[datetime | None] = mapped_column(UTCDateTime())  # asked, not answered
    # the waiting question was asked for by the rep (seen at once), not pushed (seen whenever they look)
    pending_on_request: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = _utcnow_column()
    # when the card's memory was reset because the playbook section its question tests changed
    relearn_since: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ReviewLog(Base):
    """Every answer a rep gave, with its rating and response time, so FSRS parameters can be optimized."""

    __tablename__ = "review_logs"
    __table_args__ = (
        Index("ix_review_logs_card_time", "card_id", "reviewed_at"),
        Index("ix_review_logs_organization_id", "workspace_id", "id"),  # the organization's latest answers
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    organization_id: Mapped[int] = _organization_column()
    card_id: Mapped[int] = mapped_column(ForeignKey("review_cards.id", ondelete="CASCADE"))
    question_version: Mapped[int] = mapped_column(Integer, default=1)
    rating: Mapped[int] = mapped_column(Integer)  # fsrs Rating value
    chosen: Mapped[int | None] = mapped_column(Integer)  # None = "I'm not sure"
    correct: Mapped[bool] = mapped_column(Boolean)
    response_ms: Mapped[int | None] = mapped_column(Integer)  # only when measured from when the rep saw it
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # when the question was sent
    predicted_recall: Mapped[float | None] = mapped_column(Float)  # FSRS's recall estimate at the answer


class ConversationRef(Base):
    """Where a person can be reached proactively on a platform (Teams conversation reference, Slack DM)."""

    __tablename__ = "conversation_refs"
    __table_args__ = (UniqueConstraint("person_id", "platform"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = _organization_column()
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    platform: Mapped[Platform] = mapped_column(_enum(Platform, "platform"))
    reference: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reachable: Mapped[bool] = mapped_column(Boolean, default=True)
    unreachable_reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = _utcnow_column()


class OutboxMessage(Base):
    """A proactive message waiting to be sent, enqueued in the same transaction as the decision to send it.

    `idempotency_key` (e.g. "nudge:42:2026-W48") makes enqueuing twice a no-op. A queue, not a record: it
    refers to the workspace and person by id without foreign keys, whose checks (a row lock on the person
    per message) were over half the cost of a tick queueing 100k messages (migration 0006).
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_ready", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))  # nudge, quiz, digest, followup, ...
    person_id: Mapped[int | None] = mapped_column(Integer)
    platform: Mapped[Platform] = mapped_column(_enum(Platform, "platform"))
    target: Mapped[dict[str, Any]] = mapped_column(default=dict)  # channel / conversation to send to
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the neutral Reply, serialized
    status: Mapped[OutboxStatus] = mapped_column(
        _enum(OutboxStatus, "outbox_status"), default=OutboxStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Written with each claim; every later change to the row requires it (WHERE claim_token = ?), so a
    # drainer that was paused past the lease and lost the row to another changes and sends nothing.
    claim_token: Mapped[str | None] = mapped_column(String(64))
    # None until a send begins; then {"<part>": platform id} of each part the platform accepted (a long
    # Slack message is several messages): a retry checks the platform and sends only the missing parts.
    sent_parts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_error: Mapped[str | None] = mapped_column(Text)
    platform_message_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = _utcnow_column()
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ClockLease(Base):
    """Who runs the clock: exactly one process holds the lease; a standby takes over when it expires."""

    __tablename__ = "clock_leases"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ProcessedEvent(Base):
    """Platform deliveries already handled (Slack event ids, Teams activity ids): a retry is a no-op."""

    __tablename__ = "processed_events"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    created_at: Mapped[datetime] = _utcnow_column()


class ChannelQuiz(Base):
    """One question posted to a channel by enablement; anyone answers privately; results when closed."""

    __tablename__ = "channel_quizzes"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = _organization_column()
    question_id: Mapped[int] = mapped_column(ForeignKey("quiz_questions.id", ondelete="CASCADE"))
    channel_id: Mapped[str] = mapped_column(String(200))
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    show_names: Mapped[bool] = mapped_column(Boolean, default=False)
    opened_at: Mapped[datetime] = _utcnow_column()
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ChannelQuizAnswer(Base):
    """A person's answer to a channel quiz: the first one counts."""

    __tablename__ = "channel_quiz_answers"
    __table_args__ = (UniqueConstraint("quiz_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    quiz_id: Mapped[int] = mapped_column(ForeignKey("channel_quizzes.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    choice: Mapped[int | None] = mapped_column(Integer)
    correct: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = _utcnow_column()


# Slack OAuth installations and install states, in slack_sdk's table layout (its SQLAlchemy stores, built in
# bot/channels/slack_install.py, read and write them), declared here as migration 0003 created them so that
# Alembic and the tests know every table, and storage imports no platform SDK.
def _slack_workspace_columns() -> list[Column[Any]]:
    return [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("client_id", String(32), nullable=False),
        Column("app_id", String(32), nullable=False),
        Column("enterprise_id", String(32)),
        Column("enterprise_name", String(200)),
    ]


def _slack_bot_columns() -> list[Column[Any]]:
    return [
        Column("team_id", String(32)),
        Column("team_name", String(200)),
        Column("bot_token", String(200)),
        Column("bot_id", String(32)),
        Column("bot_user_id", String(32)),
        Column("bot_scopes", String(1000)),
        Column("bot_refresh_token", String(200)),
        Column("bot_token_expires_at", DateTime),
    ]


SLACK_BOTS = Table(
    "slack_bots",
    Base.metadata,
    *_slack_workspace_columns(),
    *_slack_bot_columns(),
    Column("is_enterprise_install", Boolean, nullable=False),
    Column("installed_at", DateTime, nullable=False),
    Index("slack_bots_idx", "client_id", "enterprise_id", "team_id", "installed_at"),
)
SLACK_INSTALLATIONS = Table(
    "slack_installations",
    Base.metadata,
    *_slack_workspace_columns(),
    Column("enterprise_url", String(200)),
    *_slack_bot_columns(),
    Column("user_id", String(32), nullable=False),
    Column("user_token", String(200)),
    Column("user_scopes", String(1000)),
    Column("user_refresh_token", String(200)),
    Column("user_token_expires_at", DateTime),
    Column("incoming_webhook_url", String(200)),
    Column("incoming_webhook_channel", String(200)),
    Column("incoming_webhook_channel_id", String(200)),
    Column("incoming_webhook_configuration_url", String(200)),
    Column("is_enterprise_install", Boolean, nullable=False),
    Column("token_type", String(32)),
    Column("installed_at", DateTime, nullable=False),
    Index("slack_installations_idx", "client_id", "enterprise_id", "team_id", "user_id", "installed_at"),
)
SLACK_OAUTH_STATES = Table(
    "slack_oauth_states",
    Base.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("state", String(200), nullable=False),
    Column("expire_at", DateTime, nullable=False),
)


class CrmConnection(Base):
    """An organization's CRM (Salesforce or HubSpot): how to reach it, where its sync stopped, how it went.

    Secrets are never stored here: `settings` names the environment variables that hold them. The cursor
    advances in the same transaction as each page of deals it covers, so a crash resumes where it stopped.
    """

    __tablename__ = "crm_connections"
    __table_args__ = (UniqueConstraint("workspace_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = _organization_column()
    system: Mapped[str] = mapped_column(String(20))  # salesforce, hubspot
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)  # URLs, user, key file, env var names
    account_id: Mapped[str | None] = mapped_column(String(64))  # HubSpot portal id (webhooks name it)
    cursor: Mapped[str | None] = mapped_column(String(64))  # last modified stamp read (CRM's own format)
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_result: Mapped[dict[str, Any]] = mapped_column(default=dict)  # counts, unmapped, unknown owners, errors
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = _utcnow_column()
