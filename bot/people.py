"""Workspaces and people: the local terminal workspace, and finding who is talking."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.db import insert_or_ignore
from bot.models import Person, Platform, Workspace, utcnow

LOCAL_WORKSPACE = (Platform.LOCAL, "local")


def get_or_create_workspace(
    db: Session, platform: Platform, external_id: str, name: str = "", enterprise_id: str | None = None
) -> Workspace:
    """The workspace for a Slack team / Teams tenant, created on first contact (Enterprise Grid id kept).

    Race-safe: Teams sends installationUpdate and conversationUpdate together, Slack may deliver two events
    at once, and web processes run side by side, so the row is inserted-or-ignored on its unique key and
    then read: every concurrent first contact gets the one row, none gets a unique violation.
    """
    where = (Workspace.platform == platform, Workspace.external_id == external_id)
    workspace = db.scalar(select(Workspace).where(*where))
    if workspace is None:
        insert_or_ignore(
            db,
            Workspace,
            {
                "platform": platform,
                "external_id": external_id,
                "name": name or external_id,
                "settings": {},
                "enterprise_id": enterprise_id,
                "created_at": utcnow(),
            },
            ["platform", "external_id"],
        )
        workspace = db.scalars(
            select(Workspace).where(*where).execution_options(populate_existing=True)
        ).one()
    if enterprise_id and workspace.enterprise_id != enterprise_id:
        workspace.enterprise_id = enterprise_id
    return workspace


def find_workspace(db: Session, spec: str) -> Workspace | None:
    """A workspace from "local", "slack:T0123" or "teams:<tenant id>" (CLI option --workspace)."""
    platform_name, _, external_id = spec.partition(":")
    try:
        platform = Platform(platform_name)
    except ValueError:
        return None
    external_id = external_id or ("local" if platform == Platform.LOCAL else "")
    return db.scalar(
        select(Workspace).where(Workspace.platform == platform, Workspace.external_id == external_id)
    )


def person_by_email(db: Session, workspace: Workspace, email: str) -> Person | None:
    return db.scalar(
        select(Person).where(
            Person.workspace_id == workspace.id, func.lower(Person.email) == email.strip().lower()
        )
    )


PLATFORM_ID_COLUMN = {Platform.SLACK: Person.slack_user_id, Platform.TEAMS: Person.teams_user_id}


def match_platform_person(
    db: Session,
    workspace: Workspace,
    platform: Platform,
    user_id: str,
    profile: dict[str, str | None] | None,
    aad_object_id: str | None = None,
) -> Person | None:
    """The person behind a chat user: by platform id; else (given their profile) by email, else a new rep.

    People imported from CSV are matched on first contact by email and keep their role and manager; the
    platform's time zone fills in a person still on the default (UTC).
    """
    column = PLATFORM_ID_COLUMN[platform]
    person = db.scalar(select(Person).where(Person.workspace_id == workspace.id, column == user_id))
    if person is None and aad_object_id:
        person = db.scalar(
            select(Person).where(
                Person.workspace_id == workspace.id, Person.teams_aad_object_id == aad_object_id
            )
        )
        if person is not None:
            setattr(person, column.key, user_id)
    if person is not None or profile is None:
        return person
    email = profile.get("email")
    person = person_by_email(db, workspace, email) if email else None
    if person is None:
        person = _insert_person(
            db, workspace, email or f"{user_id.lower()}@{platform.value}.invalid", profile.get("name")
        )
    setattr(person, column.key, user_id)
    if aad_object_id:
        person.teams_aad_object_id = aad_object_id
    if profile.get("timezone") and person.timezone in (None, "", "UTC"):
        person.timezone = profile["timezone"]
    db.flush()
    return person


def _insert_person(db: Session, workspace: Workspace, email: str, name: str | None) -> Person:
    """A new rep on first contact, inserted-or-ignored on (workspace, email) and then read, so two
    deliveries from the same new person at once make one row (the other finds it)."""
    insert_or_ignore(
        db,
        Person,
        {
            "workspace_id": workspace.id,
            "email": email.strip().lower(),
            "name": name or "Unknown",
            "preferences": {},
            "created_at": utcnow(),
        },
        ["workspace_id", "email"],
    )
    person = person_by_email(db, workspace, email)
    assert person is not None  # inserted just now, or by the concurrent delivery that won
    return person
