"""The Microsoft Teams HTTP path: Bot Framework message activities into `python -m bot serve` (10k deals),
beside a bare botbuilder CloudAdapter echo bot.

A second echo bot, with the same connector-client reuse as ours and nothing else, is the floor: it does
no work of its own, so no bot built on botbuilder can do better on this machine.

``python -m benchmarks.teams_path [--total N] [--seed S] [--pg URL] [--sqlite]``

Both bots run as their own processes on loopback, unauthenticated (no MICROSOFT_APP_ID, as in local
testing), and get the same load generator (`benchmarks.load`, 16 keep-alive connections) and the same
realistic personal-chat activities ("what's next for <deal>"). Their replies go to the Bot Connector double
(`tests.doubles.bot_connector`), which stamps each one on arrival; an activity's reply time is "activity
sent" to "reply received at serviceUrl/v3/conversations/{id}/activities/{activity id}". Besides
throughput and latencies it reports each bot process's CPU time per activity, which moves much less than
throughput when other work shares the machine, and our process's resident memory after the load.

The double runs in a process of its own, not in a thread here: in this process it would share the GIL
with the load generator, and each would delay the other's clock readings. `time.perf_counter` is the
system-wide monotonic clock on Linux, so stamps taken in the two processes compare directly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import make_url

from benchmarks import data, procs
from benchmarks.load import LoadResult, RequestFactory, percentile, run_load
from benchmarks.report import NO_TARGET, Figure, Target, table
from tests.doubles.bot_connector import BotConnectorDouble

CONCURRENCY = 16
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_http_teams"
REPLY_WAIT_S = 120.0
REPLIES_PATH = "/_bench/replies"
BOT = {"id": "28:bench-bot", "name": "Enablement"}
NO_AUTH = {"MICROSOFT_APP_ID": "", "MICROSOFT_APP_PASSWORD": "", "MICROSOFT_APP_TENANT_ID": ""}


# -- the Bot Connector double, in its own process ---------------------------------------------------


def serve_connector(port: int) -> None:
    """The shared connector double plus one read-only route: the first reply's arrival per activity id."""
    double = BotConnectorDouble(port=port)

    async def replies(_request: web.Request) -> web.Response:
        first: dict[str, float] = {}
        for sent in double.activities():
            reply_to = sent.get("_reply_to")
            if reply_to and reply_to not in first:
                first[reply_to] = sent["_received"]
        return web.json_response(first)

    app = web.Application()
    app.router.add_routes([*double.routes(), web.get(REPLIES_PATH, replies)])
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def arrived_replies(connector_url: str) -> dict[str, float]:
    with urllib.request.urlopen(connector_url + REPLIES_PATH, timeout=30) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


# -- the bare baseline ------------------------------------------------------------------------------


def serve_echo(port: int, reusing: bool = False) -> None:
    """botbuilder's echo sample: a CloudAdapter with no app id, echoing the text through send_activity.

    With `reusing`, the adapter gets our connector-client reuse (bot/channels/teams_connector.py) and nothing else:
    the SDK's own cost per activity once that is done, a floor for any bot built on it."""
    from types import SimpleNamespace

    from botbuilder.core import ActivityHandler, MessageFactory, TurnContext
    from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication

    from bot.channels.teams_connector import CONNECTOR_CLIENTS_KEPT, ConnectorClients, ReusingAuthentication

    class EchoBot(ActivityHandler):
        async def on_message_activity(self, turn_context: TurnContext) -> None:
            await turn_context.send_activity(MessageFactory.text(f"Echo: {turn_context.activity.text}"))

    config = SimpleNamespace(APP_ID="", APP_PASSWORD="", APP_TYPE="MultiTenant", APP_TENANTID="")
    authentication = ConfigurationBotFrameworkAuthentication(config)
    if reusing:
        authentication = ReusingAuthentication(authentication, ConnectorClients(CONNECTOR_CLIENTS_KEPT))
    adapter = CloudAdapter(authentication)
    bot = EchoBot()

    async def messages(request: web.Request) -> web.Response:
        return await adapter.process(request, bot)

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


# -- activities as Teams sends them -----------------------------------------------------------------


@dataclass
class Asks:
    """Who asks about which deal, round-robin over the data set's sample reps and their open deals."""

    tenant: str
    pairs: list[tuple[data.RepSample, str]]
    sent: dict[str, float] = field(default_factory=dict)  # activity id -> perf_counter when built

    @classmethod
    def of(cls, dataset: data.Dataset) -> Asks:
        pairs = [(s, name) for s in dataset.samples for name in s.deal_names]
        return cls(dataset.workspace_external_id, pairs)

    def pick(self, i: int) -> tuple[data.RepSample, str]:
        return self.pairs[(i * 7919) % len(self.pairs)]  # a prime stride: neighbours ask different reps

    def messages(self, service_url: str, phase: str, warmup: int) -> RequestFactory:
        """Personal-chat messages; activity ids are unique per run, so our dedup table never skips one."""
        run = f"{phase}-{time.time_ns():x}"

        def make(i: int) -> tuple[str, dict[str, str], bytes]:
            rep, deal = self.pick(i)
            activity_id = f"{run}-{i}"
            body = json.dumps(self.activity(rep, deal, activity_id, service_url)).encode()
            if i >= warmup:
                self.sent[activity_id] = time.perf_counter()
            return "/api/messages", {"Content-Type": "application/json"}, body

        return make

    def activity(self, rep: data.RepSample, deal: str, activity_id: str, service_url: str) -> dict[str, Any]:
        return {
            "type": "message",
            "id": activity_id,
            "timestamp": "2026-11-23T15:00:00.000Z",
            "localTimestamp": "2026-11-23T09:00:00.000-06:00",
            "serviceUrl": service_url,
            "channelId": "msteams",
            "from": {
                "id": rep.teams_user_id,
                "name": rep.email.split("@")[0],
                "aadObjectId": f"aad-{rep.teams_user_id.split(':')[-1]}",
            },
            "conversation": {
                "conversationType": "personal",
                "tenantId": self.tenant,
                "id": f"a:personal-{rep.teams_user_id.split(':')[-1]}",
            },
            "recipient": BOT,
            "textFormat": "plain",
            "locale": "en-US",
            "text": f"what's next for {deal}",
            "entities": [
                {
                    "type": "clientInfo",
                    "locale": "en-US",
                    "country": "US",
                    "platform": "Web",
                    "timezone": rep.timezone,
                }
            ],
            "channelData": {"tenant": {"id": self.tenant}},
        }


# -- servers and measuring --------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One bot under load: HTTP results, activity-to-reply latencies (ms), replies missing, memory after,
    and the bot process's CPU time per activity (steadier than throughput on a busy machine)."""

    http: LoadResult
    replies_ms: list[float]
    missing: int
    rss_mb: float
    cpu_ms: float


def measure(base: str, pid: int, asks: Asks, connector_url: str, phase: str, total: int) -> Run:
    warmup = 50
    make = asks.messages(connector_url, phase, warmup)
    cpu_before = procs.cpu_seconds(pid)
    result = asyncio.run(run_load(base, make, total=total, concurrency=CONCURRENCY, warmup=warmup))
    cpu_ms = (procs.cpu_seconds(pid) - cpu_before) * 1000 / (total + warmup)
    if result.errors:
        raise RuntimeError(f"{base}: HTTP errors {result.statuses}")
    rss = procs.rss_mb(pid)
    deadline = time.monotonic() + REPLY_WAIT_S
    got = arrived_replies(connector_url)
    while any(a not in got for a in asks.sent) and time.monotonic() < deadline:
        time.sleep(0.1)
        got = arrived_replies(connector_url)
    latencies = [(got[a] - t) * 1000 for a, t in asks.sent.items() if a in got]
    return Run(result, latencies, len(asks.sent) - len(latencies), rss, cpu_ms)


def measure_echo(connector_url: str, dataset: data.Dataset, total: int, reusing: bool = False) -> Run:
    flag = "--serve-echo-reusing" if reusing else "--serve-echo"
    name = "echo-reusing" if reusing else "echo"

    def args(port: int) -> list[str]:
        return ["-m", "benchmarks.teams_path", flag, str(port)]

    with procs.server(args, NO_AUTH, "/api/messages", f"teams-{name}") as (base, pid):
        return measure(base, pid, Asks.of(dataset), connector_url, name, total)


def measure_ours(connector_url: str, dataset: data.Dataset, total: int) -> Run:
    env = {**NO_AUTH, "DATABASE_URL": dataset.url}
    name = make_url(dataset.url).get_backend_name()
    with procs.server(lambda _port: ["-m", "bot", "serve"], env, "/healthz", f"teams-ours-{name}") as (
        base,
        pid,
    ):
        return measure(base, pid, Asks.of(dataset), connector_url, f"ours-{name}", total)


def figures(group: str, echo: Run, ours: Run, floor: Run) -> list[Figure]:
    """The issue's figures: throughput against the bare echo bot, HTTP and reply latencies, memory; and the
    floor, the echo bot with client reuse, which does no work of its own: no bot on botbuilder, on the
    same machine, can beat its figures."""
    result = [
        Figure(
            group,
            "message throughput",
            ours.http.throughput,
            "req/s",
            baseline=echo.http.throughput,
            baseline_name="bare echo bot",
            target=Target(ratio_at_least=10),
        ),
        Figure(group, "HTTP latency p50", ours.http.percentile(50), "ms", echo.http.percentile(50), "echo"),
        Figure(
            group,
            "HTTP latency p99",
            ours.http.percentile(99),
            "ms",
            echo.http.percentile(99),
            "echo",
            Target(at_most=50),
        ),
        Figure(
            group,
            "activity → reply at connector p50",
            percentile(ours.replies_ms, 50),
            "ms",
            percentile(echo.replies_ms, 50),
            "echo",
        ),
        Figure(
            group,
            "activity → reply at connector p99",
            percentile(ours.replies_ms, 99),
            "ms",
            percentile(echo.replies_ms, 99),
            "echo",
        ),
        Figure(group, "web process CPU per activity", ours.cpu_ms, "ms", echo.cpu_ms, "echo"),
        Figure(
            group,
            "web process RSS after load",
            ours.rss_mb,
            "MB",
            echo.rss_mb,
            "echo",
            Target(at_most=150),
        ),
    ]
    result += [  # the floor, each figure against the bare echo bot's
        Figure(
            group, f"floor: echo bot with client reuse, {name}", value, unit, base, "bare echo bot", target
        )
        for name, value, unit, base, target in (
            ("throughput", floor.http.throughput, "req/s", echo.http.throughput, Target(ratio_at_least=10)),
            ("HTTP p99", floor.http.percentile(99), "ms", echo.http.percentile(99), Target(at_most=50)),
            ("CPU per activity", floor.cpu_ms, "ms", echo.cpu_ms, NO_TARGET),
        )
    ]
    if ours.missing or echo.missing:
        result.append(
            Figure(group, "replies missing", ours.missing, "", echo.missing, "echo", Target(at_most=0))
        )
    return result


def run(pg_url: str, seed: int, total: int, *, sqlite: bool = False) -> list[Figure]:
    """The echo bot once, then our web process on PostgreSQL (and on SQLite when asked)."""
    urls = [pg_url] + ([f"sqlite:///{Path(tempfile.gettempdir()) / 'bench_http_teams.db'}"] if sqlite else [])
    datasets = [data.ensure(url, data.Scale.http(platform="teams"), seed) for url in urls]

    def connector_args(port: int) -> list[str]:
        return ["-m", "benchmarks.teams_path", "--serve-connector", str(port)]

    with procs.server(connector_args, {}, REPLIES_PATH, "teams-connector") as (connector_url, _pid):
        echo = measure_echo(connector_url, datasets[0], total)
        floor = measure_echo(connector_url, datasets[0], total, reusing=True)
        result: list[Figure] = []
        for dataset in datasets:
            group = f"Teams ({make_url(dataset.url).get_backend_name()})"
            result += figures(group, echo, measure_ours(connector_url, dataset, total), floor)
        return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL URL of the benchmark database")
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--total", type=int, default=2000, help="measured activities per bot")
    parser.add_argument("--sqlite", action="store_true", help="also measure our process on SQLite")
    parser.add_argument("--serve-echo", type=int, metavar="PORT", help="(internal) run the bare echo bot")
    parser.add_argument(
        "--serve-echo-reusing", type=int, metavar="PORT", help="(internal) the echo bot with client reuse"
    )
    parser.add_argument(
        "--serve-connector", type=int, metavar="PORT", help="(internal) run the Bot Connector double"
    )
    args = parser.parse_args(argv)
    if args.serve_echo:
        serve_echo(args.serve_echo)
    elif args.serve_echo_reusing:
        serve_echo(args.serve_echo_reusing, reusing=True)
    elif args.serve_connector:
        serve_connector(args.serve_connector)
    else:
        print(table(run(args.pg, args.seed, args.total, sqlite=args.sqlite)))


if __name__ == "__main__":
    main()
