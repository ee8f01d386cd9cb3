"""Chatting through the real router as a person, and the people, deals and workspaces tests add."""

from __future__ import annotations

from datetime import datetime

from bot.context import AppContext
from bot.messages import Click, Reply, Request
from bot.router import handle
from storage.models import Deal, Person, Platform, Workspace
from storage.people import get_or_create_workspace, person_by_email


class Chat:
    """Talk to the real router as a person, the way a channel does, remembering the last buttons."""

    def __init__(self, ctx: AppContext, workspace: Workspace, email: str, channel_id: str | None = None):
        self.ctx = ctx
        with ctx.sessions() as session:
            person = person_by_email(session, workspace.organization_id, email)
            assert person is not None, email
            self.person_id = person.id
        self.workspace_id = workspace.id  # the way in (the terminal, unless a test says otherwise)
        self.channel_id = channel_id
        self.last: Reply | None = None

    def say(self, text: str) -> Reply:
        self.last = handle(
            self.ctx, Request(self.workspace_id, self.person_id, text=text, channel_id=self.channel_id)
        )
        return self.last

    def click(self, label_part: str) -> Reply:
        """Press the button of the last reply whose label contains `label_part`."""
        assert self.last is not None
        matches = [b for b in self.last.buttons if label_part in b.label]
        assert len(matches) == 1, f"buttons: {[b.label for b in self.last.buttons]}"
        return self.press(matches[0].action, matches[0].value)

    def press(self, action: str, value: str) -> Reply:
        self.last = handle(self.ctx, Request(self.workspace_id, self.person_id, click=Click(action, value)))
        return self.last


def add_person(
    ctx: AppContext,
    workspace: Workspace,
    email: str,
    name: str,
    role: str = "rep",
    manager: str | None = None,
) -> int:
    with ctx.sessions.begin() as session:
        boss = person_by_email(session, workspace.organization_id, manager) if manager else None
        person = Person(
            organization_id=workspace.organization_id,
            email=email,
            name=name,
            role=role,
            manager_id=boss.id if boss else None,
            preferences={},
        )
        session.add(person)
        session.flush()
        return person.id


def deliver(ctx: AppContext, now: datetime) -> str:
    """Send what is due in the local workspace's outbox at `now`, composing scheduled messages the way the
    clock's drainer does; returns what the terminal would show."""
    import io
    from functools import partial

    from bot.channels.console import LocalSender
    from bot.delivery import Drainer
    from handlers.proactive import compose

    out = io.StringIO()
    drainer = Drainer(
        ctx.sessions, {Platform.LOCAL: LocalSender(out)}, "test", lambda: now, compose=partial(compose, ctx)
    )
    drainer.drain()
    return out.getvalue()


def other_workspace(ctx: AppContext, external_id: str = "T0OTHER") -> Workspace:
    with ctx.sessions.begin() as session:
        # another customer's install: its own organization, never joined to the demo's
        return get_or_create_workspace(session, Platform.SLACK, external_id, name="Other", join_single=False)


def open_form(chat, deal: str = "acme"):  # type: ignore[no-untyped-def]
    """The exit-criteria confirmation form of a deal, opened with its button."""
    chat.say(f"confirm {deal}")
    reply = chat.click("Confirm criteria")
    assert reply.form is not None
    return reply.form


def submit(chat, form, **answers):  # type: ignore[no-untyped-def]
    """Send a form back filled in, as a channel does."""
    request = Request(chat.workspace_id, chat.person_id, click=Click(form.action, form.value), form=answers)
    chat.last = handle(chat.ctx, request)
    return chat.last


def add_deal(ctx: AppContext, demo: Workspace, name: str, owner: str = "rep@example.com") -> None:
    with ctx.sessions.begin() as db:
        rep = person_by_email(db, demo.organization_id, owner)
        db.add(
            Deal(
                organization_id=demo.organization_id,
                name=name,
                owner_id=rep.id,
                playbook_id="enterprise",
                stage_id="discovery",
            )
        )
