"""The Slack HTTP answer path: signed `/playbook` commands and `app_mention` events into `python -m bot serve`
(10k deals), beside a bare slack-bolt AsyncApp that only acks a slash command.

A second bare app acks and then answers each command with a fixed text through Bolt's `respond`: the
floor for any app that answers (no database, no playbook, no rendering).

``python -m benchmarks.slack_path [--total N] [--seed S] [--pg URL] [--sqlite]``

Both servers run as their own processes on loopback and get the same load generator (`benchmarks.load`,
16 keep-alive connections, each sending its next request as soon as the last is acked). The Slack Web API
double (`tests.doubles.slack_api`) runs in this process and stamps every call on arrival, so an event's
answer time is "request sent" to "chat.postMessage received"; a command's answer time is "request sent"
to "POST to its response_url received".

Answers come after the ack, so under that closed loop the acks can outrun the answering: "throughput
(answered)" is what the process sustains with its answers, and the answer latencies then include the
backlog. A third, open-loop phase sends app_mentions at a steady PACED_RATE (Slack delivers events
whenever they happen, not when we are ready) to time answers without a backlog the generator made.
"CPU per request" (the web process's user + system time over the phase) is the figure least disturbed
by other work on the machine. Past MAX_ANSWERS_IN_FLIGHT the process tells a request at once that it is
busy (bot/inflight.py): such replies are counted apart ("shed"), never as answers or in the latencies.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import make_url

from benchmarks import data, procs
from benchmarks.load import LoadResult, RequestFactory, paced_load, percentile, run_load
from benchmarks.report import NO_TARGET, Figure, Target, table
from bot.inflight import BUSY_TEXT
from tests.doubles.slack_api import SlackDouble

SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench-token"
APP_ID = "A0BENCH"
BOT_USER = "UBOT"
CONCURRENCY = 16
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_http_slack"
ANSWER_WAIT_S = 120.0
WARMUP = 50
THROUGHPUT_RATIO = 0.8  # the targets
ACK_P99_MS = 20.0
ANSWER_P99_MS = 50.0
RSS_MB = 150.0
PACED_RATE = 100.0  # app_mentions a second in the open-loop phase (a busy workspace sees a few)


# -- the Slack double, with the arrival time of each response_url post --------------------------------


@dataclass
class TimedSlackDouble(SlackDouble):
    """The shared Slack double, also stamping posts to response_url (the double keeps only their bodies)."""

    # response_url token -> (perf_counter, whether it was the busy reply of a shed request)
    responded: dict[str, tuple[float, bool]] = field(default_factory=dict)

    async def _respond(self, request: web.Request) -> web.Response:
        arrived = time.perf_counter()
        answer = await super()._respond(request)
        with self._lock:
            busy = BUSY_TEXT in str(self.responses[-1].get("text"))
            self.responded[request.match_info["token"]] = (arrived, busy)
        return answer


def is_busy(call_args: dict[str, Any]) -> bool:
    """A chat.postMessage that says the bot is busy (the request was shed), not an answer."""
    return BUSY_TEXT in str(call_args.get("text"))


# -- requests as Slack sends them -------------------------------------------------------------------


def channel_of(user: str) -> str:
    """Each rep asks in a deal channel of their own: the bot answers one conversation in order, so a single
    channel for the whole load would measure a queue no workspace has."""
    return f"C{user}"


def signed(body: bytes, content_type: str) -> dict[str, str]:
    """Slack's v0 signature: HMAC-SHA256 of "v0:{timestamp}:{body}" with the signing secret."""
    timestamp = str(int(time.time()))
    base = b"v0:" + timestamp.encode() + b":" + body
    signature = "v0=" + hmac.new(SECRET.encode(), base, hashlib.sha256).hexdigest()
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
    }


@dataclass
class Asks:
    """Who asks about which deal, round-robin over the data set's sample reps and their open deals."""

    team_id: str
    pairs: list[tuple[str, str]]  # (slack user id, deal name)
    sent: dict[int, float] = field(default_factory=dict)  # request number -> perf_counter when built
    run: int = field(default_factory=time.time_ns)  # tells this phase's answers from earlier ones

    @classmethod
    def of(cls, dataset: data.Dataset) -> Asks:
        pairs = [(s.slack_user_id, name) for s in dataset.samples for name in s.deal_names]
        return cls(dataset.workspace_external_id, pairs)

    def pick(self, i: int) -> tuple[str, str]:
        return self.pairs[(i * 7919) % len(self.pairs)]  # a prime stride: neighbours ask different reps

    def command(self, response_base: str) -> RequestFactory:
        def make(i: int) -> tuple[str, dict[str, str], bytes]:
            user, deal = self.pick(i)
            form = {
                "token": "legacy-token",
                "team_id": self.team_id,
                "team_domain": "bench",
                "channel_id": channel_of(user),
                "channel_name": "bench",
                "user_id": user,
                "user_name": user.lower(),
                "command": "/playbook",
                "text": f"what's next for {deal}",
                "api_app_id": APP_ID,
                "is_enterprise_install": "false",
                "response_url": f"{response_base}/respond/cmd-{self.run}-{i}",
                "trigger_id": f"{i}.738474920.8088930838d88f008e0",
            }
            body = urlencode(form).encode()
            self.sent[i] = time.perf_counter()
            return "/slack/events", signed(body, "application/x-www-form-urlencoded"), body

        return make

    def mention(self) -> RequestFactory:
        started = int(time.time())

        def make(i: int) -> tuple[str, dict[str, str], bytes]:
            user, deal = self.pick(i)
            ts = f"{self.run}.{i:06d}"
            body = json.dumps(
                {
                    "token": "legacy-token",
                    "team_id": self.team_id,
                    "api_app_id": APP_ID,
                    "event": {
                        "type": "app_mention",
                        "user": user,
                        "text": f"<@{BOT_USER}> what's next for {deal}",
                        "channel": channel_of(user),
                        "ts": ts,
                        "event_ts": ts,
                    },
                    "type": "event_callback",
                    "event_id": f"Ev{self.run}{i:07d}",
                    "event_time": started,
                    "authorizations": [
                        {"team_id": self.team_id, "user_id": BOT_USER, "is_bot": True, "enterprise_id": None}
                    ],
                    "is_ext_shared_channel": False,
                }
            ).encode()
            self.sent[i] = time.perf_counter()
            return "/slack/events", signed(body, "application/json"), body

        return make


# -- servers ---------------------------------------------------------------------------------------


def serve_bare(port: int, api_url: str, answering: bool = False) -> None:
    """A bare slack-bolt AsyncApp that only acks /playbook, mounted in aiohttp the way bot/channels/slack.py
    mounts ours (same signing secret, token and Web API double).

    With `answering` it also answers each command, after the ack, by posting a fixed text to its
    response_url with Bolt's own `respond`: no database, no playbook, no rendering. That is a floor for any
    Bolt app that answers: none can sustain more answers, or answer sooner, on the same machine."""
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.app.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    bolt = AsyncApp(signing_secret=SECRET, client=AsyncWebClient(token=TOKEN, base_url=api_url))

    if answering:

        @bolt.command("/playbook")
        async def ack_and_answer(
            ack: Callable[[], Any], respond: Callable[..., Any], command: dict[str, Any]
        ) -> None:
            await ack()
            await respond(f"You asked: {command['text']}")

    else:

        @bolt.command("/playbook")
        async def ack_only(ack: Callable[[], Any]) -> None:
            await ack()

    async def dispatch(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    app = web.Application()
    app.router.add_post("/slack/events", dispatch)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


# -- measuring --------------------------------------------------------------------------------------


# Request number -> (arrival at the double, whether it was the busy reply of a shed request).
Arrivals = dict[int, tuple[float, bool]]


@dataclass(frozen=True)
class Answers:
    """Request-to-answer latencies (ms) at the double, how many requests were shed (told the bot is busy)
    and how many got no reply at all, and the span from the first request sent to the last answer."""

    latencies_ms: list[float]
    missing: int
    span_s: float
    shed: int = 0

    @property
    def throughput(self) -> float:
        """Answers per second over the whole run: what the process sustains, acks and answers together."""
        return len(self.latencies_ms) / self.span_s if self.span_s else 0.0


def wait_answers(sent: dict[int, float], arrived: Callable[[], Arrivals]) -> Answers:
    """Wait until every request has its answer or busy reply at the double (or ANSWER_WAIT_S passed)."""
    deadline = time.monotonic() + ANSWER_WAIT_S
    got = arrived()
    while len(got) < len(sent) and time.monotonic() < deadline:
        time.sleep(0.02)
        got = arrived()
    answered = {i: at for i, (at, busy) in got.items() if not busy and i in sent}
    latencies = [(answered[i] - t) * 1000 for i, t in sent.items() if i in answered]
    shed = sum(1 for i, (_at, busy) in got.items() if busy and i in sent)
    span = max(answered.values(), default=0.0) - min(sent.values(), default=0.0)
    return Answers(latencies, len(sent) - len(latencies) - shed, max(span, 0.0), shed)


def command_answers(slack: TimedSlackDouble, asks: Asks) -> Callable[[], Arrivals]:
    """Request number -> arrival of the POST to its response_url."""
    prefix = f"cmd-{asks.run}-"

    def arrived() -> Arrivals:
        with slack._lock:
            items = list(slack.responded.items())
        return {int(token.removeprefix(prefix)): t for token, t in items if token.startswith(prefix)}

    return arrived


def mention_answers(slack: TimedSlackDouble, asks: Asks) -> Callable[[], Arrivals]:
    """Request number -> arrival of the chat.postMessage answering in its thread (or saying it is busy)."""
    prefix = f"{asks.run}."

    def arrived() -> Arrivals:
        found: Arrivals = {}
        for call in slack.calls_to("chat.postMessage"):
            thread = str(call.args.get("thread_ts") or "")
            if thread.startswith(prefix):
                found.setdefault(int(thread.removeprefix(prefix)), (call.received, is_busy(call.args)))
        return found

    return arrived


@dataclass(frozen=True)
class Phase:
    """One kind of request sent `total` times: the acks, the answers (if any) and the server's CPU time."""

    acks: LoadResult
    answers: Answers | None
    cpu_ms_per_request: float


def phase(
    base: str,
    pid: int,
    make: RequestFactory,
    total: int,
    answers: Callable[[], Answers] | None = None,
    rate: float | None = None,
) -> Phase:
    """Drive the server as fast as it acks (or at `rate` requests a second), then wait for the answers if
    there are any. The CPU figure includes the warm-up requests and the answering."""
    cpu = procs.cpu_seconds(pid)
    if rate is None:
        result = asyncio.run(run_load(base, make, total=total, concurrency=CONCURRENCY, warmup=WARMUP))
    else:
        result = asyncio.run(paced_load(base, make, rate=rate, total=total + WARMUP, concurrency=CONCURRENCY))
    if result.errors:
        raise RuntimeError(f"{base}: HTTP errors {result.statuses}")
    answered = answers() if answers else None
    return Phase(result, answered, (procs.cpu_seconds(pid) - cpu) * 1000 / (total + WARMUP))


def measure_bare(slack: TimedSlackDouble, asks: Asks, total: int, answering: bool = False) -> Phase:
    env = {"SLACK_API_URL": slack.url}
    flag = "--serve-bare-answering" if answering else "--serve-bare"

    def args(port: int) -> list[str]:
        return ["-m", "benchmarks.slack_path", "--api-url", slack.url, flag, str(port)]

    with procs.server(args, env, "/slack/events", "slack-bare" + ("-answering" if answering else "")) as (
        base,
        pid,
    ):
        make = asks.command(slack.url.removesuffix("/api/"))
        answers = (lambda: wait_answers(asks.sent, command_answers(slack, asks))) if answering else None
        return phase(base, pid, make, total, answers)


@dataclass(frozen=True)
class Ours:
    commands: Phase
    mentions: Phase
    paced: Phase  # app_mentions at PACED_RATE, open loop
    rss_mb: float


def measure_ours(slack: TimedSlackDouble, dataset: data.Dataset, total: int) -> Ours:
    env = {
        "DATABASE_URL": dataset.url,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_API_URL": slack.url,
    }
    name = make_url(dataset.url).get_backend_name()
    with procs.server(lambda _port: ["-m", "bot", "serve"], env, "/healthz", f"slack-ours-{name}") as (
        base,
        pid,
    ):
        asks = Asks.of(dataset)
        make = asks.command(slack.url.removesuffix("/api/"))
        commands = phase(
            base, pid, make, total, lambda: wait_answers(asks.sent, command_answers(slack, asks))
        )
        events = Asks.of(dataset)
        mentions = phase(
            base,
            pid,
            events.mention(),
            total,
            lambda: wait_answers(events.sent, mention_answers(slack, events)),
        )
        steady = Asks.of(dataset)
        paced = phase(
            base,
            pid,
            steady.mention(),
            total,
            lambda: wait_answers(steady.sent, mention_answers(slack, steady)),
            rate=PACED_RATE,
        )
        return Ours(commands, mentions, paced, procs.rss_mb(pid))


def figures(group: str, bare: Phase, ours: Ours, floor: Phase) -> list[Figure]:
    """The issue's figures (throughput against bare Bolt, ack and answer latencies, memory), and what the
    process sustains with the answering included, and its CPU per request, to explain them; and the floor,
    bare Bolt answering with a fixed text, which no answering app on this machine can beat."""
    assert floor.answers is not None
    commands, mentions, paced = ours.commands, ours.mentions, ours.paced
    assert commands.answers is not None and mentions.answers is not None and paced.answers is not None
    answered, events = commands.answers.latencies_ms, mentions.answers.latencies_ms
    steady = paced.answers.latencies_ms
    ack_target, answer_target = Target(at_most=ACK_P99_MS), Target(at_most=ANSWER_P99_MS)
    result = [
        Figure(
            group,
            "slash command throughput (ack)",
            commands.acks.throughput,
            "req/s",
            baseline=bare.acks.throughput,
            baseline_name="bare Bolt ack",
            target=Target(ratio_at_least=THROUGHPUT_RATIO),
        ),
        Figure(
            group,
            "slash command throughput (answered)",
            commands.answers.throughput,
            "req/s",
            baseline=bare.acks.throughput,
            baseline_name="bare Bolt ack",
        ),
        Figure(
            group,
            "slash command ack p50",
            commands.acks.percentile(50),
            "ms",
            bare.acks.percentile(50),
            "bare",
        ),
        Figure(
            group,
            "slash command ack p99",
            commands.acks.percentile(99),
            "ms",
            bare.acks.percentile(99),
            "bare",
            ack_target,
        ),
        Figure(group, "slash command → response_url p50", percentile(answered, 50), "ms"),
        Figure(group, "slash command → response_url p99", percentile(answered, 99), "ms"),
        Figure(group, "app_mention throughput (ack)", mentions.acks.throughput, "req/s"),
        Figure(group, "app_mention throughput (answered)", mentions.answers.throughput, "req/s"),
        Figure(group, "app_mention ack p50", mentions.acks.percentile(50), "ms"),
        Figure(group, "app_mention ack p99", mentions.acks.percentile(99), "ms", target=ack_target),
        Figure(group, "app_mention → chat.postMessage p50", percentile(events, 50), "ms"),
        Figure(
            group, "app_mention → chat.postMessage p99", percentile(events, 99), "ms", target=answer_target
        ),
        Figure(group, f"paced {PACED_RATE:.0f}/s: app_mention ack p99", paced.acks.percentile(99), "ms"),
        Figure(
            group,
            f"paced {PACED_RATE:.0f}/s: app_mention → chat.postMessage p50",
            percentile(steady, 50),
            "ms",
        ),
        Figure(
            group,
            f"paced {PACED_RATE:.0f}/s: app_mention → chat.postMessage p99",
            percentile(steady, 99),
            "ms",
            target=answer_target,
        ),
        Figure(
            group,
            "web process CPU per slash command",
            commands.cpu_ms_per_request,
            "ms",
            bare.cpu_ms_per_request,
            "bare Bolt ack",
        ),
        Figure(group, "web process CPU per app_mention", mentions.cpu_ms_per_request, "ms"),
        Figure(group, "web process RSS after load", ours.rss_mb, "MB", target=Target(at_most=RSS_MB)),
    ]
    floor_answers = floor.answers.latencies_ms
    result += [  # the floor, against bare Bolt's ack where there is one to compare with
        Figure(group, f"floor: bare Bolt acking and answering, {name}", value, unit, base, base_name, target)
        for name, value, unit, base, base_name, target in (
            (
                "throughput (ack)",
                floor.acks.throughput,
                "req/s",
                bare.acks.throughput,
                "bare Bolt ack",
                Target(ratio_at_least=THROUGHPUT_RATIO),
            ),
            (
                "throughput (answered)",
                floor.answers.throughput,
                "req/s",
                bare.acks.throughput,
                "bare Bolt ack",
                NO_TARGET,
            ),
            ("ack p99", floor.acks.percentile(99), "ms", None, "", ack_target),
            ("→ response_url p99", percentile(floor_answers, 99), "ms", None, "", answer_target),
            (
                "CPU per command",
                floor.cpu_ms_per_request,
                "ms",
                bare.cpu_ms_per_request,
                "bare Bolt ack",
                NO_TARGET,
            ),
        )
    ]
    result += [
        Figure(group, f"{name}: shed (told the bot is busy)", phase.answers.shed, "requests")
        for name, phase in (("slash commands", commands), ("app_mentions", mentions), ("paced", paced))
        if phase.answers is not None
    ]
    missing = commands.answers.missing + mentions.answers.missing + paced.answers.missing
    if missing:
        result.append(Figure(group, "answers missing", missing, "", target=Target(at_most=0)))
    return result


def run(pg_url: str, seed: int, total: int, *, sqlite: bool = False) -> list[Figure]:
    """Bare Bolt once, then our web process on PostgreSQL (and on SQLite when asked)."""
    urls = [pg_url] + ([f"sqlite:///{Path(tempfile.gettempdir()) / 'bench_http_slack.db'}"] if sqlite else [])
    datasets = [data.ensure(url, data.Scale.http(), seed) for url in urls]
    slack = TimedSlackDouble().start()
    try:
        bare = measure_bare(slack, Asks.of(datasets[0]), total)
        floor = measure_bare(slack, Asks.of(datasets[0]), total, answering=True)
        result: list[Figure] = []
        for dataset in datasets:
            group = f"Slack ({make_url(dataset.url).get_backend_name()})"
            result += figures(group, bare, measure_ours(slack, dataset, total), floor)
        return result
    finally:
        slack.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL URL of the benchmark database")
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--total", type=int, default=2000, help="measured requests per phase")
    parser.add_argument("--sqlite", action="store_true", help="also measure our process on SQLite")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help="(internal) run the bare Bolt app")
    parser.add_argument(
        "--serve-bare-answering", type=int, metavar="PORT", help="(internal) bare Bolt that also answers"
    )
    parser.add_argument(
        "--api-url", default="https://slack.com/api/", help="(internal) Web API for --serve-bare"
    )
    args = parser.parse_args(argv)
    if args.serve_bare:
        serve_bare(args.serve_bare, args.api_url)
        return
    if args.serve_bare_answering:
        serve_bare(args.serve_bare_answering, args.api_url, answering=True)
        return
    print(table(run(args.pg, args.seed, args.total, sqlite=args.sqlite)))


if __name__ == "__main__":
    main()
