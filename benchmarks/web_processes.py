"""Several web processes on one PostgreSQL database: answered throughput of one `python -m bot serve` and of
two, in the same run, and how many retried Slack events were answered twice.

``python -m benchmarks.web_processes [--total N] [--pg URL] [--processes 1,2]``

Each process runs on its own port (as behind a load balancer), on the data set of the Slack benchmark
(10k deals) and with its default MAX_ANSWERS_IN_FLIGHT. The load is app_mentions in a closed loop over
CONCURRENCY connections in all, spread evenly over the processes; every RETRY_EVERY-th event is delivered
a second time at once, with Slack's retry headers, to the next process (to the same one when there is
only one), as Slack does when an ack was late. Answers are counted at the Slack Web API double in this
process: "answered" is real answers a second from the first request sent to the last answer received;
a request shed with the busy reply is counted apart; a "duplicate" is a second real answer in one thread.

The load generator and the Slack double run in this process, beside the web processes, on the same
cores: with 2 cores, two web processes cannot reach twice one's rate here.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from benchmarks import data, procs
from benchmarks.load import percentile
from benchmarks.report import Figure, Target, table
from benchmarks.slack_path import (
    SECRET,
    TOKEN,
    Answers,
    Asks,
    TimedSlackDouble,
    is_busy,
    mention_answers,
    wait_answers,
)

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_web_processes"
CONCURRENCY = 16
RETRY_EVERY = 10
WARMUP = 50
SCALING_TARGET = 1.7  # issue 22: two processes answer at least 1.7× one process's rate, where cores allow


async def drive(bases: list[str], asks: Asks, numbers: range) -> Counter[int]:
    """Send app_mention i to process i % n, and every RETRY_EVERY-th again, as a retry, to the next one.
    Returns the HTTP statuses."""
    make = asks.mention()
    statuses: Counter[int] = Counter()
    timeout = aiohttp.ClientTimeout(total=30)
    sessions = [
        aiohttp.ClientSession(base, connector=aiohttp.TCPConnector(limit=CONCURRENCY), timeout=timeout)
        for base in bases
    ]
    pending = iter(numbers)

    async def send(session: aiohttp.ClientSession, path: str, headers: dict[str, str], body: bytes) -> None:
        async with session.post(path, data=body, headers=headers) as response:
            await response.read()
            statuses[response.status] += 1

    async def worker() -> None:
        for i in pending:
            k = i % len(bases)
            path, headers, body = make(i)
            await send(sessions[k], path, headers, body)
            if i % RETRY_EVERY == 0:
                retry = {**headers, "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
                await send(sessions[(k + 1) % len(bases)], path, retry, body)

    try:
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    finally:
        for session in sessions:
            await session.close()
    return statuses


def duplicates(slack: TimedSlackDouble, asks: Asks) -> int:
    """Real answers beyond the first in any thread of this run."""
    prefix = f"{asks.run}."
    threads = Counter(
        str(call.args.get("thread_ts"))
        for call in slack.calls_to("chat.postMessage")
        if str(call.args.get("thread_ts") or "").startswith(prefix) and not is_busy(call.args)
    )
    return sum(count - 1 for count in threads.values() if count > 1)


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores (from /proc/stat: Linux only)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - idle) / tick, sum(fields) / tick


@dataclass(frozen=True)
class Measured:
    answers: Answers
    duplicates: int
    cpu_ms_per_answer: float  # the web processes' user + system time, all of them, per real answer
    machine_busy: float  # share of all the machine's cores busy (with anything) during the load


def measure(slack: TimedSlackDouble, dataset: data.Dataset, processes: int, total: int) -> Measured:
    """`processes` web processes on the data set: the answers to `total` app_mentions, and the duplicates."""
    env = {
        "DATABASE_URL": dataset.url,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_API_URL": slack.url,
    }
    with ExitStack() as stack:
        servers = [
            stack.enter_context(
                procs.server(lambda _port: ["-m", "bot", "serve"], env, "/healthz", f"web-{processes}-{n}")
            )
            for n in range(processes)
        ]
        bases = [base for base, _pid in servers]
        asyncio.run(drive(bases, Asks.of(dataset), range(WARMUP)))  # connections, caches, compiled statements
        asks = Asks.of(dataset)
        cpu = sum(procs.cpu_seconds(pid) for _base, pid in servers)
        busy, ticks = machine_busy_seconds()
        statuses = asyncio.run(drive(bases, asks, range(total)))
        if any(status >= 400 for status in statuses):
            raise RuntimeError(f"HTTP errors {dict(statuses)}")
        answers = wait_answers(asks.sent, mention_answers(slack, asks))
        busy_after, ticks_after = machine_busy_seconds()
        cpu = sum(procs.cpu_seconds(pid) for _base, pid in servers) - cpu
        time.sleep(1.0)  # room for a late second answer to any retried event
        return Measured(
            answers,
            duplicates(slack, asks),
            cpu * 1000 / max(1, len(answers.latencies_ms)),
            (busy_after - busy) / max(ticks_after - ticks, 1e-9),
        )


def run(pg_url: str, seed: int, total: int, counts: tuple[int, ...] = (1, 2)) -> list[Figure]:
    dataset = data.ensure(pg_url, data.Scale.http(), seed)
    slack = TimedSlackDouble().start()
    try:
        measured = {n: measure(slack, dataset, n, total) for n in counts}
    finally:
        slack.stop()
    group = "Web processes (postgresql)"
    one = measured[counts[0]].answers.throughput
    result: list[Figure] = []
    for n, m in measured.items():
        answers = m.answers
        label = f"{n} process{'es' if n > 1 else ''}"
        scaling = n > counts[0]
        result += [
            Figure(
                group,
                f"{label}: app_mentions answered",
                answers.throughput,
                "req/s",
                baseline=one if scaling else None,
                baseline_name=f"{counts[0]} process" if scaling else "",
                target=Target(ratio_at_least=SCALING_TARGET) if scaling else Target(),
            ),
            Figure(group, f"{label}: → chat.postMessage p50", percentile(answers.latencies_ms, 50), "ms"),
            Figure(group, f"{label}: → chat.postMessage p99", percentile(answers.latencies_ms, 99), "ms"),
            Figure(group, f"{label}: shed (told the bot is busy)", answers.shed, "requests"),
            Figure(group, f"{label}: no reply at all", answers.missing, "requests", target=Target(at_most=0)),
            Figure(
                group,
                f"{label}: retried events answered twice (of {total // RETRY_EVERY} retried)",
                m.duplicates,
                "",
                target=Target(at_most=0),
            ),
            Figure(
                group, f"{label}: web processes' CPU per answer (all together)", m.cpu_ms_per_answer, "ms"
            ),
            Figure(
                group,
                f"{label}: machine busy during the load (all cores, anything)",
                m.machine_busy * 100,
                "%",
            ),
        ]
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL URL of the benchmark database")
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--total", type=int, default=3000, help="app_mentions per measurement")
    parser.add_argument(
        "--processes", default="1,2", help="comma-separated process counts, the first the baseline"
    )
    args = parser.parse_args(argv)
    counts = tuple(int(n) for n in args.processes.split(","))
    print(table(run(args.pg, args.seed, args.total, counts)))


if __name__ == "__main__":
    main()
