"""Organizations and their ways in: list, rename, link a way in (`python -m bot org ...`), and choosing one.

Storage-level operations (no chat, no platform SDK): the CLI calls them; the channels find organizations
through their ways in (storage.people).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from playbooks.nearest import nearest_few
from storage.models import (
    ChannelLink,
    ChannelQuiz,
    CoachingSession,
    ConversationRef,
    CriterionEvent,
    Deal,
    Organization,
    OutboxMessage,
    Person,
    Platform,
    QuizQuestion,
    ReviewCard,
    Workspace,
)
from storage.people import find_workspace, local_organization


class OrganizationError(Exception):
    """A request about organizations that cannot be done as asked; the message says why and what to do."""


@dataclass(frozen=True)
class OrganizationSummary:
    id: int
    name: str
    ways_in: tuple[str, ...]
    people: int
    open_deals: int

    def line(self) -> str:
        ways = ", ".join(self.ways_in) or "no ways in"
        return f"{self.name} (id {self.id}): {ways}; {self.people} people, {self.open_deals} open deals"


def way_in_label(workspace: Workspace) -> str:
    return "local" if workspace.platform == Platform.LOCAL else f"{workspace.platform.value}:{workspace.external_id}"


def summaries(db: Session) -> list[OrganizationSummary]:
    ways: dict[int, list[str]] = {}
    for workspace in db.scalars(select(Workspace).order_by(Workspace.id)):
        ways.setdefault(workspace.organization_id, []).append(way_in_label(workspace))
    people = dict(db.execute(select(Person.organization_id, func.count()).group_by(Person.organization_id)).all())
    deals = dict(
        db.execute(
            select(Deal.organization_id, func.count()).where(Deal.status == "open").group_by(Deal.organization_id)
        ).all()
    )
    return [
        OrganizationSummary(o.id, o.name, tuple(ways.get(o.id, [])), people.get(o.id, 0), deals.get(o.id, 0))
        for o in db.scalars(select(Organization).order_by(Organization.id))
    ]


def _listing(db: Session) -> str:
    return "\n".join(f"  {s.line()}" for s in summaries(db))


def find(db: Session, spec: str) -> Organization:
    """An organization by name (any case), id, or one of its ways in ("slack:T0123", "teams:<tenant>",
    "local"); an unknown name is refused with the nearest names and the list."""
    wanted = spec.strip()
    organizations = db.scalars(select(Organization).order_by(Organization.id)).all()
    by_name = [o for o in organizations if o.name.casefold() == wanted.casefold()]
    if len(by_name) == 1:
        return by_name[0]
    if len(by_name) > 1:
        raise OrganizationError(
            f'{len(by_name)} organizations are called "{wanted}"; say which by id:\n{_listing(db)}'
        )
    if wanted.isdigit():
        found = db.get(Organization, int(wanted))
        if found is not None:
            return found
    workspace = find_workspace(db, wanted) if ":" in wanted or wanted == "local" else None
    if workspace is not None:
        organization = db.get(Organization, workspace.organization_id)
        assert organization is not None
        return organization
    near = nearest_few(wanted, [o.name for o in organizations])
    hint = f" Did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
    raise OrganizationError(
        f'No organization called "{wanted}".{hint} Organizations:\n{_listing(db) or "  none yet"}'
    )


def choose(db: Session, spec: str | None, way_in: str | None = None) -> Organization:
    """The organization an admin command works on: the one named (`--org`), the one a way in belongs to
    (`--workspace`, kept from before organizations), else the only one (made, with the terminal as its
    way in, when there is none yet). With several and no name, the error lists them."""
    if spec:
        return find(db, spec)
    if way_in:
        workspace = find_workspace(db, way_in)
        if workspace is None:
            if way_in == "local":
                return local_organization(db)
            raise OrganizationError(
                f"no workspace {way_in} (install the app there first, or use --workspace local)"
            )
        organization = db.get(Organization, workspace.organization_id)
        assert organization is not None
        return organization
    organizations = db.scalars(select(Organization).order_by(Organization.id).limit(2)).all()
    if not organizations:
        return local_organization(db)
    if len(organizations) == 1:
        return organizations[0]
    raise OrganizationError(f"There are several organizations; say which with --org NAME:\n{_listing(db)}")


def rename(db: Session, spec: str, new_name: str) -> Organization:
    name = new_name.strip()
    if not name:
        raise OrganizationError("the new name is empty")
    if len(name) > 200:
        raise OrganizationError(f"that name is {len(name)} characters; the limit is 200")
    organization = find(db, spec)
    clash = db.scalar(
        select(Organization.id).where(func.lower(Organization.name) == name.lower(), Organization.id != organization.id)
    )
    if clash is not None:
        raise OrganizationError(f'another organization (id {clash}) is already called "{name}"')
    organization.name = name
    return organization


# Rows that make an organization more than the people who wrote to the bot: link refuses to merge them.
OWN_DATA = (
    (Deal, "deals"),
    (QuizQuestion, "quiz questions"),
    (CriterionEvent, "confirmations"),
    (CoachingSession, "coaching sessions"),
    (ChannelLink, "channel links"),
    (ChannelQuiz, "channel quizzes"),
    (ReviewCard, "quiz cards"),
)


@dataclass(frozen=True)
class LinkResult:
    way_in: str
    organization: str
    merged: int  # people matched by email to someone already in the organization
    moved: int  # people new to the organization
    removed_organization: str | None  # the organization the way in left, when nothing else used it

    def summary(self) -> str:
        lines = [f"{self.way_in} now leads to {self.organization}."]
        if self.merged or self.moved:
            lines.append(
                f"{self.merged} {'person' if self.merged == 1 else 'people'} matched by email, "
                f"{self.moved} added."
            )
        if self.removed_organization:
            lines.append(f'The organization "{self.removed_organization}" had no other way in and was removed.')
        return "\n".join(lines)


def link(db: Session, way_in: str, target_spec: str) -> LinkResult:
    """Make a way in (e.g. a Slack workspace that installed the app) lead to an existing organization.

    The people who already wrote through it are matched to the organization's people by email (their
    Slack/Teams ids are added to the match) or added to it. An organization with data of its own (deals,
    confirmations, quizzes, coaching) is never merged silently: link refuses and says what is there.
    """
    workspace = find_workspace(db, way_in)
    if workspace is None:
        known = ", ".join(way_in_label(w) for w in db.scalars(select(Workspace).order_by(Workspace.id)))
        raise OrganizationError(f"no way in {way_in}. Known ways in: {known or 'none yet'}")
    target = find(db, target_spec)
    label = way_in_label(workspace)
    if workspace.organization_id == target.id:
        return LinkResult(label, target.name, 0, 0, None)
    source = db.get(Organization, workspace.organization_id)
    assert source is not None
    found = [
        f"{count} {what}"
        for model, what in OWN_DATA
        if (count := db.scalar(select(func.count()).select_from(model).where(model.organization_id == source.id)))
    ]
    if found:
        raise OrganizationError(
            f'{label} leads to "{source.name}", which has data of its own ({", ".join(found)}). '
            "Link moves ways in and the people who wrote through them, not deals or history; "
            "nothing was changed."
        )
    others = db.scalar(
        select(func.count()).select_from(Workspace).where(
            Workspace.organization_id == source.id, Workspace.id != workspace.id
        )
    )
    merged = moved = 0
    people = db.scalars(select(Person).where(Person.organization_id == source.id).order_by(Person.id)).all()
    if others:
        # the source keeps other ways in: take only the people known on this way's platform
        column = {Platform.SLACK: Person.slack_user_id, Platform.TEAMS: Person.teams_user_id}.get(workspace.platform)
        people = [p for p in people if column is not None and getattr(p, column.key)]
    for person in people:
        match = db.scalar(
            select(Person).where(
                Person.organization_id == target.id, func.lower(Person.email) == person.email.lower()
            )
        )
        if match is None:
            person.organization_id = target.id
            person.manager_id = None
            db.execute(
                update(ConversationRef)
                .where(ConversationRef.person_id == person.id)
                .values(organization_id=target.id)
            )
            moved += 1
            continue
        for key in ("slack_user_id", "teams_user_id", "teams_aad_object_id"):
            if getattr(person, key):  # the stand-in is deleted below: its ids go to the match
                setattr(match, key, getattr(person, key))
        taken = set(db.scalars(select(ConversationRef.platform).where(ConversationRef.person_id == match.id)))
        for ref in db.scalars(select(ConversationRef).where(ConversationRef.person_id == person.id)).all():
            if ref.platform in taken:
                db.delete(ref)
            else:
                ref.person_id, ref.organization_id = match.id, target.id
        db.execute(
            update(OutboxMessage).where(OutboxMessage.person_id == person.id).values(person_id=match.id)
        )
        db.flush()
        db.delete(person)
        merged += 1
    workspace.organization_id = target.id
    db.flush()
    removed = None
    if not others:
        removed = source.name
        db.delete(source)
        db.flush()
    return LinkResult(label, target.name, merged, moved, removed)
