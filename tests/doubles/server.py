"""Run an aiohttp application on 127.0.0.1 in a background thread, for tests that talk real HTTP to it."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aiohttp import web


class BackgroundServer:
    def __init__(self, app: web.Application, port: int = 0, ssl_context: Any = None, **runner_options: Any):
        self._app = app
        self._ssl_context = ssl_context
        self._runner_options = runner_options
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None

    def start(self) -> BackgroundServer:
        ready = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._runner = web.AppRunner(self._app, **self._runner_options)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=self._ssl_context)
            self._loop.run_until_complete(site.start())
            self.port = self._runner.addresses[0][1]
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("test server did not start")
        return self

    def stop(self) -> None:
        if self._loop and self._runner:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class HttpDouble:
    """Start, stop and address of a platform double; subclasses list their routes."""

    port: int
    url_path = "/"
    _server: BackgroundServer | None

    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    def start(self):  # type: ignore[no-untyped-def]
        app = web.Application()
        app.router.add_routes(self.routes())
        self._server = BackgroundServer(app, self.port).start()
        self.port = self._server.port
        return self

    def stop(self) -> None:
        if self._server:
            self._server.stop()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.url_path}"
