"""The aiohttp web app (`python -m bot serve`): health now; the Slack and Teams endpoints mount here."""

from __future__ import annotations

import asyncio

from aiohttp import web

from bot import db
from bot.context import AppContext

CONTEXT_KEY: web.AppKey[AppContext] = web.AppKey("context", AppContext)


def create_app(ctx: AppContext) -> web.Application:
    app = web.Application()
    app[CONTEXT_KEY] = ctx
    app.router.add_get("/healthz", healthz)
    return app


async def healthz(request: web.Request) -> web.Response:
    """200 when the database answers, 503 otherwise (load balancers and uptime checks poll this)."""
    ctx = request.app[CONTEXT_KEY]
    healthy = await asyncio.to_thread(db.ping, ctx.engine)
    if healthy:
        return web.json_response({"status": "ok"})
    return web.json_response({"status": "unavailable", "reason": "database did not answer"}, status=503)
