"""Workspaces and people: the local terminal workspace, and finding who is talking."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.models import Person, Platform, Workspace

LOCAL_WORKSPACE = (Platform.LOCAL, "local")


def get_or_create_workspace(db: Session, platform: Platform, external_id: str, name: str = "") -> Workspace:
    workspace = db.scalar(
        select(Workspace).where(Workspace.platform == platform, Workspace.external_id == external_id)
    )
    if workspace is None:
        workspace = Workspace(
            platform=platform, external_id=external_id, name=name or external_id, settings={}
        )
        db.add(workspace)
        db.flush()
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
