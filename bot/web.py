"""The aiohttp web app (`python -m bot serve`): /healthz, and the Slack and Teams endpoints when configured."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from bot.context import AppContext
from bot.inflight import AnswerSlots
from storage import db

log = logging.getLogger(__name__)

CONTEXT_KEY: web.AppKey[AppContext] = web.AppKey("context", AppContext)
HEAD_KEY: web.AppKey[str] = web.AppKey("schema_head", str)


SLOW_REQUEST_S = 1.0  # a request that took longer than this is logged at INFO whatever its status


class PathOnlyAccessLogger(AbstractAccessLogger):
    """One access-log line per request without its query string: OAuth redirects carry `code` and `state`,
    which are credentials for a few minutes and must not end up in log files.

    Routine requests (answered below 400, faster than SLOW_REQUEST_S: every Slack event and Teams
    activity) are logged at DEBUG, so by default the log has one line per failed or slow request and none
    per answer, which cost as much CPU as a tenth of the answer itself. Set the `aiohttp.access` logger to
    DEBUG to see every request again."""

    @property
    def enabled(self) -> bool:
        """aiohttp skips the timing and the call altogether when the access logger is quieter than INFO."""
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        level = logging.INFO if response.status >= 400 or time > SLOW_REQUEST_S else logging.DEBUG
        if self.logger.isEnabledFor(level):
            self.logger.log(
                level,
                '%s "%s %s" %s %.3fs',
                request.remote,
                request.method,
                request.path,
                response.status,
                time,
            )


# How the app is served (`python -m bot serve`, and the tests' server).
RUNNER_OPTIONS: dict[str, Any] = {"access_log_class": PathOnlyAccessLogger}


def create_app(ctx: AppContext) -> web.Application:
    app = web.Application()
    app[CONTEXT_KEY] = ctx
    app.router.add_get("/healthz", healthz)
    slots = AnswerSlots(ctx.settings.max_answers_in_flight)  # one bound for Slack and Teams together
    _mount_slack(app, ctx, slots)
    _mount_teams(app, ctx, slots)
    from handlers.crm.webhook import routes as crm_routes

    app.router.add_routes(crm_routes(ctx))
    return app


def _mount_teams(app: web.Application, ctx: AppContext, slots: AnswerSlots) -> None:
    from bot.channels.teams import TeamsChannel

    app.router.add_routes(TeamsChannel(ctx, slots).routes())
    log.info(
        "Teams endpoint on at POST /api/messages%s",
        "" if ctx.settings.microsoft_app_id else " (UNAUTHENTICATED)",
    )


def _mount_slack(app: web.Application, ctx: AppContext, slots: AnswerSlots) -> None:
    from bot.channels.slack import SlackChannel, SlackNotConfigured

    try:
        slack = SlackChannel(ctx, slots)
    except SlackNotConfigured as exc:
        log.info("Slack endpoint off: %s", exc)
        app.router.add_post(
            "/slack/events", _not_configured(f"Slack is not configured on this server: {exc}")
        )
        return
    app.router.add_routes(slack.routes())
    app.on_startup.append(slack.open)
    app.on_cleanup.append(slack.close)
    log.info(
        "Slack endpoint on at POST /slack/events%s",
        " with OAuth install at /slack/install" if slack.app.oauth_flow else "",
    )


def _not_configured(message: str):
    async def answer(_request: web.Request) -> web.Response:
        return web.json_response({"error": message}, status=503)

    return answer


async def healthz(request: web.Request) -> web.Response:
    """Ready means: the database answers, its schema is the one this code needs, and playbooks are loaded.

    200 `{"status": "ok", ...}` when ready, 503 with the reason otherwise (load balancers poll this).
    """
    ctx = request.app[CONTEXT_KEY]
    if HEAD_KEY not in request.app:
        request.app[HEAD_KEY] = await asyncio.to_thread(db.code_head, ctx.engine)
    head = request.app[HEAD_KEY]
    ready, reason = await asyncio.to_thread(db.readiness, ctx.engine, head)
    playbooks = len(ctx.playbooks.playbooks)
    if ready and not playbooks:
        ready, reason = False, "no playbooks loaded"
    body = {"status": "ok" if ready else "unavailable", "schema": head, "playbooks": playbooks}
    if not ready:
        body["reason"] = reason
    return web.json_response(body, status=200 if ready else 503)
