"""Organizations, their ways in (Slack workspaces, Teams tenants, the terminal) and finding who is talking."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.db import insert_or_ignore
from storage.models import Organization, Person, Platform, Workspace, utcnow

LOCAL_WORKSPACE = (Platform.LOCAL, "local")


def get_or_create_workspace(
    db: Session,
    platform: Platform,
    external_id: str,
    name: str = "",
    enterprise_id: str | None = None,
    *,
    join_single: bool = True,
) -> Workspace:
    """The way in for a Slack team / Teams tenant / the terminal, created on first contact.

    A new way in joins an organization (`home_for_new_way_in`) or starts its own. Race-safe: Teams sends
    installationUpdate and conversationUpdate together, Slack may deliver two events at once, and web
    processes run side by side, so the row is inserted-or-ignored on its unique key and then read: every
    concurrent first contact gets the one row, none gets a unique violation (an organization made for the
    losing insert is removed again).
    """
    where = (Workspace.platform == platform, Workspace.external_id == external_id)
    workspace = db.scalar(select(Workspace).where(*where))
    if workspace is None:
        organization_id = home_for_new_way_in(db, platform, enterprise_id, join_single)
        made = None
        if organization_id is None:
            made = Organization(name=name or external_id, settings={})
            db.add(made)
            db.flush()
            organization_id = made.id
        insert_or_ignore(
            db,
            Workspace,
            {
                "organization_id": organization_id,
                "platform": platform,
                "external_id": external_id,
                "name": name or external_id,
                "enterprise_id": enterprise_id,
                "created_at": utcnow(),
            },
            ["platform", "external_id"],
        )
        workspace = db.scalars(
            select(Workspace).where(*where).execution_options(populate_existing=True)
        ).one()
        if made is not None and workspace.organization_id != made.id:
            db.delete(made)
            db.flush()
    if enterprise_id and workspace.enterprise_id != enterprise_id:
        workspace.enterprise_id = enterprise_id
    return workspace


def home_for_new_way_in(
    db: Session, platform: Platform, enterprise_id: str | None, join_single: bool
) -> int | None:
    """The organization a new way in belongs to, or None for a new organization of its own.

    - another workspace of the same Slack Enterprise Grid org: that organization;
    - a single-organization deployment (`join_single`: one bot token, one Teams app, the terminal): the one
      organization, unless it already has a way in on this platform. A second Slack workspace or Teams
      tenant is not let into existing data on its own; an admin links it (`python -m bot org link`).
    """
    if enterprise_id:
        same_grid = db.scalar(
            select(Workspace.organization_id).where(Workspace.enterprise_id == enterprise_id).limit(1)
        )
        if same_grid is not None:
            return same_grid
    if not join_single:
        return None
    organizations = db.scalars(select(Organization.id).order_by(Organization.id).limit(2)).all()
    if len(organizations) != 1:
        return None
    taken = db.scalar(
        select(Workspace.id).where(
            Workspace.organization_id == organizations[0], Workspace.platform == platform
        )
    )
    return None if taken is not None else organizations[0]


def find_workspace(db: Session, spec: str) -> Workspace | None:
    """A way in from "local", "slack:T0123" or "teams:<tenant id>" (CLI option --workspace)."""
    platform_name, _, external_id = spec.partition(":")
    try:
        platform = Platform(platform_name)
    except ValueError:
        return None
    external_id = external_id or ("local" if platform == Platform.LOCAL else "")
    return db.scalar(
        select(Workspace).where(Workspace.platform == platform, Workspace.external_id == external_id)
    )


def local_organization(db: Session) -> Organization:
    """The organization the terminal reaches (made, with its way in, on first use)."""
    workspace = get_or_create_workspace(db, *LOCAL_WORKSPACE, name="Local")
    organization = db.get(Organization, workspace.organization_id)
    assert organization is not None  # a way in always belongs to an organization (foreign key)
    return organization


def person_by_email(db: Session, organization_id: int, email: str) -> Person | None:
    return db.scalar(
        select(Person).where(
            Person.organization_id == organization_id, func.lower(Person.email) == email.strip().lower()
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
    organization_id = workspace.organization_id
    person = db.scalar(select(Person).where(Person.organization_id == organization_id, column == user_id))
    if person is None and aad_object_id:
        person = db.scalar(
            select(Person).where(
                Person.organization_id == organization_id, Person.teams_aad_object_id == aad_object_id
            )
        )
        if person is not None:
            setattr(person, column.key, user_id)
    if person is not None or profile is None:
        return person
    email = profile.get("email")
    person = person_by_email(db, organization_id, email) if email else None
    if person is None:
        person = _insert_person(
            db, organization_id, email or f"{user_id.lower()}@{platform.value}.invalid", profile.get("name")
        )
    setattr(person, column.key, user_id)
    if aad_object_id:
        person.teams_aad_object_id = aad_object_id
    timezone = profile.get("timezone")
    if timezone and person.timezone in (None, "", "UTC"):
        person.timezone = timezone
    db.flush()
    return person


def _insert_person(db: Session, organization_id: int, email: str, name: str | None) -> Person:
    """A new rep on first contact, inserted-or-ignored on (workspace, email) and then read, so two
    deliveries from the same new person at once make one row (the other finds it)."""
    insert_or_ignore(
        db,
        Person,
        {
            "organization_id": organization_id,
            "email": email.strip().lower(),
            "name": name or "Unknown",
            "preferences": {},
            "created_at": utcnow(),
        },
        ["organization_id", "email"],
    )
    person = person_by_email(db, organization_id, email)
    assert person is not None  # inserted just now, or by the concurrent delivery that won
    return person
