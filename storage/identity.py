"""Who is talking, for every platform: the storage side of the channels.

The channels (bot/channels/) translate platform payloads and nothing else; what they used to do with the
database lives here, shared by Slack and Teams and free of any platform SDK:
- one `Who` (the way in and the person a request comes from);
- finding the person behind a platform user (a known one in one query; anyone else through
  `storage.people.match_platform_person`, which adds them);
- one processed-delivery insert, so a platform's retried delivery is answered once;
- conversation references (where a Teams person is reached proactively) and the marks that say a person
  cannot be reached there, or can again.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Insert, Select, and_, bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import ConversationRef, Person, Platform, ProcessedEvent, Workspace
from storage.people import get_or_create_workspace, match_platform_person

Profile = dict[str, str | None]  # email, name, timezone: what a platform tells about a new person
DELIVERY_KEY_LENGTH = 200  # processed_events.key


@dataclass(frozen=True)
class Who:
    """The way in (Slack workspace, Teams tenant, terminal) and the person a request comes from."""

    workspace_id: int
    person_id: int  # 0: a platform user we do not know, and nothing told us enough to add them


# -- deliveries ------------------------------------------------------------------------------------------


@cache
def _delivery_insert() -> Insert:
    """The INSERT of a delivery's key, built once (each delivery binds its key)."""
    return insert(ProcessedEvent).values(key=bindparam("key"))


def record_delivery(db: Session, key: str) -> bool:
    """Record a platform delivery in the session's transaction; False (the transaction rolled back, so
    nothing else it held is written either) when it was recorded before: a retry."""
    try:
        db.execute(_delivery_insert(), {"key": key[:DELIVERY_KEY_LENGTH]})
    except IntegrityError:
        db.rollback()
        return False
    return True


def remember_delivery(db: Session, key: str) -> bool:
    """Record a delivery, committed at once; False if it was already recorded (a retry)."""
    if not record_delivery(db, key):
        return False
    db.commit()
    return True


# -- people ----------------------------------------------------------------------------------------------


def email_of(db: Session, person_id: int) -> str | None:
    person = db.get(Person, person_id)
    return person.email if person else None


@cache
def _known_slack_statement() -> Select[Workspace, Person]:
    """A Slack user's workspace and person by team and user id: built once, so each call only binds its
    values (SQLAlchemy caches the compiled form on the statement)."""
    return (
        select(Workspace, Person)
        .join(Person, Person.organization_id == Workspace.organization_id)
        .where(
            Workspace.platform == Platform.SLACK,
            Workspace.external_id == bindparam("team"),
            Person.slack_user_id == bindparam("user"),
        )
        .limit(1)
    )


def known_slack_person(
    db: Session, team_id: str, enterprise_id: str | None, user_id: str, join_single: bool
) -> tuple[Workspace, Person] | None:
    """The workspace and person of a Slack user we know, in one query (the common case); else the general
    lookup, which also creates a new team's workspace and records a changed Enterprise Grid id."""
    row = db.execute(_known_slack_statement(), {"team": team_id, "user": user_id}).first()
    if row is not None and (not enterprise_id or row[0].enterprise_id == enterprise_id):
        return row[0], row[1]
    workspace = get_or_create_workspace(
        db, Platform.SLACK, team_id, enterprise_id=enterprise_id, join_single=join_single
    )
    person = match_platform_person(db, workspace, Platform.SLACK, user_id, None)
    return (workspace, person) if person is not None else None


def find_slack_person(
    db: Session,
    team_id: str,
    enterprise_id: str | None,
    user_id: str,
    profile: Profile | None,
    join_single: bool,
) -> Who:
    """A Slack user's workspace and person (0 when unknown and no profile), added when `profile` is given."""
    workspace = get_or_create_workspace(
        db, Platform.SLACK, team_id, enterprise_id=enterprise_id, join_single=join_single
    )
    person = match_platform_person(db, workspace, Platform.SLACK, user_id, profile)
    return Who(workspace.id, person.id if person else 0)


@dataclass(frozen=True)
class TeamsUser:
    """Who sent a Teams activity, read from it on the event loop so the database work can run in a worker
    thread."""

    tenant: str
    user_id: str
    aad_id: str | None
    name: str | None
    reference: dict[str, Any] | None  # where to reach them proactively: from personal chats only


def find_teams_person(db: Session, user: TeamsUser, profile: Profile | None) -> Who:
    """The sender's workspace and person (0 when unknown and no profile), refreshing their reference."""
    return find_teams_person_loaded(db, user, profile)[0]


def find_teams_person_loaded(
    db: Session, user: TeamsUser, profile: Profile | None
) -> tuple[Who, tuple[Any, ...]]:
    """`find_teams_person`, also returning the rows it loaded (workspace, person) for the caller to keep
    alive.

    A known sender costs one query (person, workspace and reference together); anyone else goes through
    the general matching (workspace created on first contact, AAD id, email from the roster profile).
    """
    known = None if profile is not None else _known_teams_person(db, user)
    if known is not None:
        workspace, person, row = known
    else:
        workspace = get_or_create_workspace(db, Platform.TEAMS, user.tenant)
        matched = match_platform_person(
            db, workspace, Platform.TEAMS, user.user_id, profile, aad_object_id=user.aad_id
        )
        if matched is None:
            return Who(workspace.id, 0), (workspace,)
        person = matched
        row = conversation_reference(db, person.id, Platform.TEAMS) if user.reference is not None else None
    if user.reference is not None:
        _store_reference(db, row, workspace.organization_id, person.id, user.reference)
    return Who(workspace.id, person.id), (workspace, person)


def admit_teams_message(db: Session, key: str | None, user: TeamsUser) -> tuple[Who, tuple[Any, ...]] | None:
    """Find a message's sender and record its first delivery in one transaction; None if seen before
    (then nothing is written). The key goes in last, so SQLite's write lock is held only briefly."""
    who, loaded = find_teams_person_loaded(db, user, None)
    if key is not None and not record_delivery(db, key):
        return None
    db.commit()
    return who, loaded


@cache
def _known_teams_statement() -> Select[Workspace, Person, ConversationRef]:
    """A Teams user's workspace, person and conversation reference by tenant and user id, built once."""
    return (
        select(Workspace, Person, ConversationRef)
        .select_from(Person)
        .join(Workspace, Workspace.organization_id == Person.organization_id)
        .outerjoin(
            ConversationRef,
            and_(ConversationRef.person_id == Person.id, ConversationRef.platform == Platform.TEAMS),
        )
        .where(
            Workspace.platform == Platform.TEAMS,
            Workspace.external_id == bindparam("tenant"),
            Person.teams_user_id == bindparam("user"),
        )
        .limit(1)
    )


def _known_teams_person(
    db: Session, user: TeamsUser
) -> tuple[Workspace, Person, ConversationRef | None] | None:
    found = db.execute(_known_teams_statement(), {"tenant": user.tenant, "user": user.user_id}).first()
    return (found[0], found[1], found[2]) if found is not None else None


# -- conversation references and reachability ------------------------------------------------------------


def conversation_reference(db: Session, person_id: int, platform: Platform) -> ConversationRef | None:
    """Where `person_id` is reached proactively on `platform`, and whether they still can be."""
    return db.scalar(
        select(ConversationRef).where(
            ConversationRef.person_id == person_id, ConversationRef.platform == platform
        )
    )


def _store_reference(
    db: Session, row: ConversationRef | None, organization_id: int, person_id: int, reference: dict[str, Any]
) -> None:
    """Keep the newest personal conversation reference (and serviceUrl) for proactive messages; a person
    who writes to the bot is reachable again. Unchanged values are not written."""
    if row is None:
        row = ConversationRef(organization_id=organization_id, person_id=person_id, platform=Platform.TEAMS)
        db.add(row)
    if row.reference != reference:
        row.reference = reference
    if row.reachable is not True or row.unreachable_reason is not None:
        row.reachable = True
        row.unreachable_reason = None


def mark_unreachable(db: Session, person_id: int, platform: Platform, reason: str) -> None:
    """The platform refused to deliver to this person (app removed, blocked): say so, and why, until they
    write to the bot again."""
    row = conversation_reference(db, person_id, platform)
    if row is not None:
        row.reachable = False
        row.unreachable_reason = reason
