"""A local stand-in for the Bot Connector service (the activities' serviceUrl points here): records every
activity the bot sends, answers roster look-ups, and can be told to fail like Teams does."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.doubles.server import BackgroundServer, HttpDouble


@dataclass
class ConnectorFault:
    status: int
    code: str = ""
    retry_after: int | None = None


@dataclass
class BotConnectorDouble(HttpDouble):
    members: dict[str, dict[str, Any]] = field(default_factory=dict)  # user id -> TeamsChannelAccount JSON
    sent: list[dict[str, Any]] = field(
        default_factory=list
    )  # every activity, with "_conversation", "_reply_to", "_authorization", "_received" and "_peer"
    faults: list[ConnectorFault] = field(default_factory=list)  # applied to the next sends, in order
    delays: list[float] = field(default_factory=list)  # seconds the next sends take (a slow connector)
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: BackgroundServer | None = None

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v3/conversations/{conversation}/activities", self._send),
            web.post("/v3/conversations/{conversation}/activities/{reply_to}", self._send),
            web.get("/v3/conversations/{conversation}/members/{member}", self._member),
        ]

    def activities(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.sent)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.activities()) >= count:
                return self.activities()
            time.sleep(0.02)
        raise AssertionError(f"expected {count} activities, got {self.activities()}")

    async def _send(self, request: web.Request) -> web.Response:
        received = time.perf_counter()  # when the request arrived (benchmarks time replies with it)
        body = await request.json()
        with self._lock:
            delay = self.delays.pop(0) if self.delays else 0.0
        if delay:
            await asyncio.sleep(delay)
        with self._lock:
            fault = self.faults.pop(0) if self.faults else None
            if fault is None:
                body["_conversation"] = request.match_info["conversation"]
                body["_reply_to"] = request.match_info.get("reply_to")
                body["_authorization"] = request.headers.get("Authorization")
                body["_received"] = received
                body["_peer"] = request.transport.get_extra_info("peername") if request.transport else None
                self.sent.append(body)
                activity_id = f"1:{len(self.sent)}"
        if fault is not None:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return web.json_response(
                {"error": {"code": fault.code, "message": fault.code}}, status=fault.status, headers=headers
            )
        return web.json_response({"id": activity_id})

    async def _member(self, request: web.Request) -> web.Response:
        member = self.members.get(request.match_info["member"])
        if member is None:
            return web.json_response(
                {"error": {"code": "MemberNotFoundInConversation", "message": "no such member"}}, status=404
            )
        return web.json_response(member)
