"""A local stand-in for the Slack Web API on 127.0.0.1: answers like Slack, records every call, and can be
told to fail (429 with Retry-After, 5xx, slow answers, going away) so tests see what the bot really sent.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import yaml
from aiohttp import web

from tests.doubles.server import BackgroundServer, HttpDouble


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str | None
    received: float = field(default_factory=time.perf_counter)  # when it arrived (benchmarks time replies)


@dataclass
class Fault:
    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    delay: float = 0.0
    apply_then_fail: bool = False  # do the work (e.g. post the message) and then answer slowly or badly
    passthrough: bool = False  # no fault: answer this call normally (to aim a fault at a later call)


OK = Fault(passthrough=True)


def slow(seconds: float) -> Fault:
    """A healthy answer that takes `seconds` (a busy Slack): the work is done, then the answer comes."""
    return Fault(passthrough=True, delay=seconds)


def rate_limited(retry_after: int = 1, *, after_posting: bool = False) -> Fault:
    """429 with Retry-After, before doing the work or (after_posting) after it."""
    return Fault(status=429, retry_after=retry_after, apply_then_fail=after_posting)


def server_error(status: int = 500, *, after_posting: bool = False) -> Fault:
    """A 5xx, before doing the work or (after_posting) after it: the caller cannot tell which."""
    return Fault(status=status, apply_then_fail=after_posting)


@dataclass
class RateLimit:
    """At most `calls` per `per_seconds`, counted per workspace token, or per channel as well."""

    calls: int
    per_seconds: float
    per_channel: bool = False


# Slack's documented limits (docs.slack.dev/apis/web-api/rate-limits): posting is about one message per
# second per channel; conversations.open and conversations.history are Tier 3 (50 a minute); users.info
# is Tier 4 (100 a minute).
SLACK_LIMITS = {
    "chat.postMessage": RateLimit(1, 1.0, per_channel=True),
    "conversations.open": RateLimit(50, 60.0),
    "conversations.history": RateLimit(50, 60.0),
    "users.info": RateLimit(100, 60.0),
}


# The bot scope each Web API method the bot calls needs (docs.slack.dev/reference/methods); a token without
# it gets Slack's answer {"ok": false, "error": "missing_scope", "needed": ...}. conversations.history
# needs the scope of the conversation's kind. Methods not listed (auth.test, views.*) need no scope.
METHOD_SCOPES = {
    "chat.postMessage": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.update": "chat:write",
    "chat.delete": "chat:write",
    "conversations.open": "im:write",
    "users.info": "users:read",
    "users.lookupByEmail": "users:read.email",
    "files.upload": "files:write",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
}
HISTORY_SCOPES = {"D": "im:history", "C": "channels:history", "G": "groups:history"}


def needed_scope(method: str, args: dict[str, Any]) -> str | None:
    if method == "conversations.history":
        return HISTORY_SCOPES.get(str(args.get("channel", ""))[:1], "channels:history")
    return METHOD_SCOPES.get(method)


def manifest_bot_scopes() -> frozenset[str]:
    """The bot scopes slack/manifest.yaml asks for: what an installed app's token is granted."""
    manifest = yaml.safe_load((Path(__file__).resolve().parents[2] / "slack" / "manifest.yaml").read_text())
    return frozenset(manifest["oauth_config"]["scopes"]["bot"])


@dataclass
class SlackDouble(HttpDouble):
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # user id -> users.info "user" object
    calls: list[Call] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    views: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)  # posts to response_url
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)  # file id -> name, bytes, channel
    shares: list[dict[str, Any]] = field(default_factory=list)  # file shares, as conversations.history has them
    latency: float = 0.0  # every answer takes this long (a slow but healthy Slack)
    limits: dict[str, RateLimit] = field(default_factory=dict)  # enforced with 429s, e.g. SLACK_LIMITS
    limited: list[Call] = field(default_factory=list)  # calls answered 429 by `limits`
    # the token's bot scopes, enforced (missing_scope): by default those slack/manifest.yaml asks for
    scopes: frozenset[str] | None = field(default_factory=lambda: manifest_bot_scopes())
    refused: list[Call] = field(default_factory=list)  # calls answered missing_scope
    _windows: dict[tuple[str, str, str], list[float]] = field(default_factory=dict)
    clock: Callable[[], float] = time.time  # message timestamps, like Slack's "ts" (tests may fake it)
    _ts: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: BackgroundServer | None = None
    port: int = 0

    # -- control -----------------------------------------------------------------------------------
    url_path = "/api/"

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/{method}", self._handle),
            web.get("/api/{method}", self._handle),
            web.post("/respond/{token}", self._respond),
            web.post("/upload/{file_id}", self._upload),
        ]

    def fail(self, method: str, *faults: Fault) -> None:
        with self._lock:
            self.faults.setdefault(method, []).extend(faults)

    def fail_call(self, method: str, n: int, fault: Fault) -> None:
        """Answer the n-th (0-based) call to `method` from now on with `fault`, the earlier ones normally."""
        with self._lock:
            queue = self.faults.setdefault(method, [])
            queue.extend([OK] * (n - len(queue)))
            if n < len(queue):
                queue[n] = fault
            else:
                queue.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def forget(self) -> None:
        """Start over between runs: no messages, no calls, no faults waiting."""
        with self._lock:
            self.messages.clear()
            self.shares.clear()
            self.calls.clear()
            self.faults.clear()

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def posted(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.messages)

    def wait_for(self, predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return False

    # -- server ------------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        body = await request.read()
        if body:
            if request.content_type == "application/json":
                args.update(json.loads(body))
            else:
                args.update(dict(parse_qsl(body.decode())))
        for key in ("blocks", "metadata", "view", "attachments", "files"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth else args.get("token")
        with self._lock:
            call = Call(method, args, token)
            wait = self._over_limit(method, args, token, call.received)
            if wait is not None:
                self.limited.append(call)
                return web.json_response(
                    {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": str(wait)}
                )
            self.calls.append(call)
            needed = needed_scope(method, args) if self.scopes is not None else None
            if needed is not None and needed not in (self.scopes or ()):
                self.refused.append(call)
                return web.json_response(
                    {
                        "ok": False,
                        "error": "missing_scope",
                        "needed": needed,
                        "provided": ",".join(sorted(self.scopes or ())),
                    }
                )
            queue = self.faults.get(method) or []
            fault = queue.pop(0) if queue else None
            slow = 0.0
            if fault is not None and fault.passthrough:
                fault, slow = None, fault.delay
        if self.latency or slow:
            await asyncio.sleep(self.latency + slow)
        if fault and not fault.apply_then_fail:
            return await self._fault(fault)
        result = self._answer(method, args)
        if fault:
            return await self._fault(fault)
        return web.json_response(result)

    def _over_limit(self, method: str, args: dict[str, Any], token: str | None, now: float) -> int | None:
        """Seconds to wait (Slack's Retry-After, whole seconds) if this call exceeds its limit, else None."""
        limit = self.limits.get(method)
        if limit is None:
            return None
        key = (method, token or "", str(args.get("channel", "")) if limit.per_channel else "")
        window = [t for t in self._windows.get(key, []) if now - t < limit.per_seconds]
        if len(window) >= limit.calls:
            self._windows[key] = window
            return max(1, math.ceil(limit.per_seconds - (now - window[0])))
        self._windows[key] = [*window, now]
        return None

    async def _fault(self, fault: Fault) -> web.Response:
        if fault.delay:
            await asyncio.sleep(fault.delay)
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        if fault.status == 429:
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429, headers=headers)
        if fault.status >= 500:
            return web.Response(status=fault.status, text="upstream trouble")
        return web.json_response({"ok": False, "error": fault.error or "fatal_error"}, headers=headers)

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if method == "oauth.v2.access":
                return {
                    "ok": True,
                    "app_id": "A0APP",
                    "authed_user": {"id": "UINSTALLER"},
                    "scope": "chat:write,commands",
                    "token_type": "bot",
                    "access_token": f"xoxb-installed-{args.get('code')}",
                    "bot_user_id": "UBOT",
                    "team": {"id": "T0NEW", "name": "New Co"},
                    "enterprise": None,
                    "is_enterprise_install": False,
                }
            if method == "files.getUploadURLExternal":
                file_id = f"F{len(self.uploads) + 1:06d}"
                self.uploads[file_id] = {
                    "filename": args.get("filename"),
                    "alt_txt": args.get("alt_txt"),
                    "content": b"",
                }
                return {
                    "ok": True,
                    "upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}",
                    "file_id": file_id,
                }
            if method == "files.completeUploadExternal":
                files = args.get("files") or []
                if any(item.get("id") not in self.uploads for item in files):
                    return {"ok": False, "error": "file_not_found"}
                for item in files:
                    self.uploads[item["id"]].update(
                        title=item.get("title"),
                        channel=args.get("channel_id"),
                        thread_ts=args.get("thread_ts"),
                        completed=True,
                    )
                if args.get("channel_id"):  # shared: Slack posts a message carrying the files in the channel
                    self._ts = max(self._ts + 0.000001, self.clock())
                    self.shares.append(
                        {
                            "ts": f"{self._ts:.6f}",
                            "channel": args.get("channel_id"),
                            "text": args.get("initial_comment") or "",
                            "thread_ts": args.get("thread_ts"),
                            "files": [
                                {"id": item["id"], "name": self.uploads[item["id"]].get("filename"),
                                 "title": item.get("title"), "mimetype": "image/png"}
                                for item in files
                            ],
                        }
                    )
                return {
                    "ok": True,
                    "files": [{"id": item["id"], "title": item.get("title")} for item in files],
                }
            if method == "auth.test":
                return {"ok": True, "team_id": "T0TEST", "user_id": "UBOT", "bot_id": "BBOT", "team": "Test"}
            if method == "conversations.open":
                user = str(args.get("users", "")).split(",")[0]
                return {"ok": True, "channel": {"id": f"D{user}"}}
            if method in ("chat.postMessage", "chat.postEphemeral"):
                self._ts = max(self._ts + 0.000001, self.clock())
                message = {
                    "ts": f"{self._ts:.6f}",
                    "channel": args.get("channel"),
                    "text": args.get("text"),
                    "blocks": args.get("blocks"),
                    "thread_ts": args.get("thread_ts"),
                    "metadata": args.get("metadata"),
                    "user": args.get("user"),
                    "method": method,
                }
                self.messages.append(message)
                return {"ok": True, "channel": args.get("channel"), "ts": message["ts"], "message": message}
            if method == "conversations.history":
                oldest = float(args.get("oldest", 0) or 0)
                found = sorted(
                    (
                        m
                        for m in self.messages + self.shares
                        if m["channel"] == args.get("channel") and float(m["ts"]) > oldest
                    ),
                    key=lambda m: float(m["ts"]),
                )
                return {"ok": True, "messages": list(reversed(found)), "has_more": False}
            if method == "users.info":
                user = self.users.get(str(args.get("user")))
                return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}
            if method == "users.lookupByEmail":
                match = next(
                    (
                        u
                        for u in self.users.values()
                        if u.get("profile", {}).get("email") == args.get("email")
                    ),
                    None,
                )
                return {"ok": True, "user": match} if match else {"ok": False, "error": "users_not_found"}
            if method in ("views.publish", "views.open", "views.update", "views.push"):
                self.views.append({"method": method, **args})
                return {"ok": True, "view": {"id": f"V{len(self.views)}", **(args.get("view") or {})}}
            return {"ok": True}

    async def _upload(self, request: web.Request) -> web.Response:
        body = await request.read()
        with self._lock:
            upload = self.uploads.get(request.match_info["file_id"])
            if upload is None:
                return web.Response(status=404)
            upload["content"] = body
        return web.Response(text=f"OK - {len(body)}")

    async def _respond(self, request: web.Request) -> web.Response:
        payload = await request.json()
        with self._lock:
            self.responses.append({"token": request.match_info["token"], **payload})
        return web.Response(text="ok")
