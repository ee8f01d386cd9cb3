"""First contact is race-safe: Teams sends installationUpdate and conversationUpdate together, and a new
person's first messages can arrive at once; every delivery is answered and exactly one row is made."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from sqlalchemy import func, select

from storage.models import Organization, Person, Platform, Workspace
from tests.doubles.people import TEAMS_BOT

NEWBIE = {"id": "29:1newbie", "name": "Nia New", "aadObjectId": "aad-nia"}


def _activity(connector, tenant: str, n: int, kind: str, **fields) -> dict:
    return {
        "type": kind,
        "id": f"race-{tenant}-{n}",
        "timestamp": "2026-11-23T15:00:00.000Z",
        "serviceUrl": connector.url,
        "channelId": "msteams",
        "from": NEWBIE,
        "conversation": {"conversationType": "personal", "tenantId": tenant, "id": f"a:1nia-{tenant}"},
        "recipient": TEAMS_BOT,
        "locale": "en-US",
        "channelData": {"tenant": {"id": tenant}},
        **fields,
    }


async def _post_all(url: str, bodies: list[dict]) -> list[int]:
    async with aiohttp.ClientSession() as session:

        async def one(body: dict) -> int:
            async with session.post(
                f"{url}/api/messages", data=json.dumps(body), headers={"Content-Type": "application/json"}
            ) as response:
                return response.status

        return list(await asyncio.gather(*(one(b) for b in bodies)))


def test_concurrent_first_contacts_in_a_new_tenant_make_one_workspace_and_one_person(teams_web, ctx):
    web, connector = teams_web
    tenants = [f"new-tenant-{i}" for i in range(4)]
    for tenant in tenants:
        bodies = [
            _activity(connector, tenant, 1, "installationUpdate", action="add"),
            _activity(connector, tenant, 2, "conversationUpdate", membersAdded=[TEAMS_BOT]),
            _activity(connector, tenant, 3, "message", text="help", textFormat="plain"),
            _activity(connector, tenant, 4, "message", text="my deals", textFormat="plain"),
        ]
        statuses = asyncio.run(_post_all(web.url, bodies))
        assert all(status < 300 for status in statuses), statuses
    sent = connector.wait_for(len(tenants) * 3)  # a welcome and two answers per tenant
    assert not [s for s in sent if "went wrong" in json.dumps(s)], "an error reached a user"
    with ctx.sessions() as db:
        for tenant in tenants:
            organizations = db.scalars(
                select(Workspace.organization_id).where(
                    Workspace.platform == Platform.TEAMS, Workspace.external_id == tenant
                )
            ).all()
            assert len(organizations) == 1, tenant
            people = db.scalar(
                select(func.count()).select_from(Person).where(Person.organization_id == organizations[0])
            )
            assert people == 1, tenant
        # each new tenant has an organization of its own (the deployment's has its tenant already), and
        # none is left over from a first contact that lost the race
        assert db.scalar(select(func.count()).select_from(Organization)) == 1 + len(tenants)
