"""POST /crm/hubspot/webhook: HubSpot's deal webhooks, verified with its v3 signature.

HubSpot signs `POST` + the full request URI + the raw body + the X-HubSpot-Request-Timestamp header with
the app's client secret (HMAC-SHA256, base64) in X-HubSpot-Signature-v3. A missing or wrong signature, or
a timestamp more than five minutes from now, is answered 401; a body that is not a list of events, 400.
The deals named are read back from HubSpot (a webhook says that something changed, the API says what it is
now) and applied exactly as the periodic sync applies them, so the owner's stage card is queued at once.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from collections import defaultdict
from datetime import datetime
from typing import Any

from aiohttp import web
from hubspot.utils.signature import Signature
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.context import AppContext
from handlers.crm.mapping import CrmDeal, CrmError
from handlers.crm.sync import Applier, SyncReport, client_for, connection_organization_name
from storage.models import CrmConnection

log = logging.getLogger(__name__)
MAX_SKEW_MS = 5 * 60 * 1000
MAX_BODY = 1_000_000
TIMESTAMP = re.compile(r"[0-9]{1,16}", re.ASCII)
DEAL_EVENTS = {"deal.creation", "deal.propertyChange", "deal.deletion", "deal.restore", "deal.merge"}


def routes(ctx: AppContext) -> list[web.RouteDef]:
    async def handle(request: web.Request) -> web.Response:
        return await hubspot_webhook(ctx, request)

    return [web.post("/crm/hubspot/webhook", handle)]


def verify(secret: str, uri: str, body: bytes, timestamp: str | None, signature: str | None, now: datetime) -> str | None:
    """None when HubSpot signed this request, else why not."""
    if not signature or not timestamp:
        return "missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp"
    # ASCII digits only, and no more than a millisecond clock needs ("²" is a digit to str.isdigit, and a
    # 400-digit number overflows a float).
    if not TIMESTAMP.fullmatch(timestamp):
        return "X-HubSpot-Request-Timestamp is not milliseconds since the epoch"
    if abs(now.timestamp() * 1000 - int(timestamp)) > MAX_SKEW_MS:
        return "the request timestamp is more than 5 minutes from now"
    if not signature.isascii():  # a base64 signature is ASCII; anything else cannot match
        return "the signature does not match"
    expected = Signature.get_signature(
        secret, body.decode("utf-8", "replace"), "v3", http_uri=uri, http_method="POST", timestamp=timestamp
    )
    if not hmac.compare_digest(expected.encode(), signature.encode("ascii")):
        return "the signature does not match"
    return None


async def hubspot_webhook(ctx: AppContext, request: web.Request) -> web.Response:
    secret = ctx.settings.hubspot_app_secret
    if not secret:
        return web.json_response({"error": "HubSpot webhooks are not configured (set HUBSPOT_APP_SECRET)"}, status=503)
    if (request.content_length or 0) > MAX_BODY:
        return web.json_response({"error": "body too large"}, status=413)
    body = await request.read()
    uri = ctx.settings.hubspot_webhook_url or str(request.url)
    problem = verify(
        secret,
        uri,
        body,
        request.headers.get("X-HubSpot-Request-Timestamp"),
        request.headers.get("X-HubSpot-Signature-v3"),
        ctx.clock(),
    )
    if problem:
        log.warning("HubSpot webhook refused: %s", problem)
        return web.json_response({"error": problem}, status=401)
    try:
        events = json.loads(body)
    except ValueError:
        return web.json_response({"error": "the body is not JSON"}, status=400)
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        return web.json_response({"error": "the body must be a JSON list of events"}, status=400)
    by_portal: dict[str, dict[str, bool]] = defaultdict(dict)  # portal -> deal id -> deleted
    for event in events:
        kind = str(event.get("subscriptionType", ""))
        if kind not in DEAL_EVENTS or event.get("objectId") is None or event.get("portalId") is None:
            continue
        by_portal[str(event["portalId"])][str(event["objectId"])] = kind == "deal.deletion"
    try:
        applied = await asyncio.to_thread(apply_events, ctx, by_portal)
    except CrmError as exc:
        # HubSpot retries a failed delivery; nothing of this one was written
        return web.json_response({"error": str(exc)}, status=503)
    except OperationalError:  # the database was busy (another writer, a failover): HubSpot delivers again
        log.warning("HubSpot webhook: the database was busy; asked HubSpot to retry")
        return web.json_response({"error": "busy, retry later"}, status=503)
    return web.json_response({"deals": applied})


def apply_events(ctx: AppContext, by_portal: dict[str, dict[str, bool]]) -> int:
    """Read the named deals back from HubSpot and apply them, one transaction per portal."""
    applied = 0
    for portal, deals in by_portal.items():
        with ctx.sessions() as db:
            connection = db.scalar(
                select(CrmConnection).where(
                    CrmConnection.system == "hubspot", CrmConnection.account_id == portal, CrmConnection.enabled.is_(True)
                )
            )
            if connection is None:
                log.warning("HubSpot webhook for portal %s, which no organization has connected", portal)
                continue
            client: Any = client_for(ctx, connection)
            now = ctx.clock()
            records: list[Any] = client.deals_by_id([d for d, deleted in deals.items() if not deleted])
            records += [
                CrmDeal(crm_id=d, name="(deleted)", stage="", owner_email=None, deleted=True)
                for d, deleted in deals.items()
                if deleted
            ]
            report = SyncReport("hubspot", connection_organization_name(db, connection))
            Applier(ctx, db, connection.organization_id, "hubspot", report, now).apply(records)
            db.commit()
            applied += len(records)
            if report.unmapped or report.errors or report.unknown_owners:
                log.warning("HubSpot webhook: %s", report.render())
    return applied
