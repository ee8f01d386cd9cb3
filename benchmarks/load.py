"""A small HTTP load generator: N keep-alive connections on loopback, each sending requests back to back.

The same generator drives our bot and the bare baselines, so their figures are comparable.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

# (path, headers, body) for the i-th request; built just before sending, so signatures carry fresh times.
RequestFactory = Callable[[int], tuple[str, dict[str, str], bytes]]


@dataclass
class LoadResult:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def count(self) -> int:
        return len(self.latencies_ms)

    @property
    def throughput(self) -> float:
        return self.count / self.elapsed_s if self.elapsed_s else 0.0

    def percentile(self, p: float) -> float:
        return percentile(self.latencies_ms, p)

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 400)


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile (p in 0..100) of `values`."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[rank]


async def run_load(
    base_url: str, make: RequestFactory, *, total: int, concurrency: int = 16, warmup: int = 50
) -> LoadResult:
    """Send `warmup` unmeasured requests, then `total` measured ones over `concurrency` connections."""
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(base_url, connector=connector, timeout=timeout) as session:
        await _drive(session, make, range(warmup), concurrency, LoadResult())
        result = LoadResult()
        started = time.perf_counter()
        await _drive(session, make, range(warmup, warmup + total), concurrency, result)
        result.elapsed_s = time.perf_counter() - started
    return result


async def _drive(
    session: aiohttp.ClientSession, make: RequestFactory, numbers: range, concurrency: int, result: LoadResult
) -> None:
    pending = iter(numbers)

    async def worker() -> None:
        for i in pending:
            await _post(session, make, i, result)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def paced_load(
    base_url: str, make: RequestFactory, *, rate: float, total: int, concurrency: int = 16
) -> LoadResult:
    """Open loop, the way Slack and Teams deliver: request i leaves at i / rate whenever earlier ones are
    answered (over at most `concurrency` connections), so answers are timed without a backlog the
    generator made."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    result = LoadResult()
    async with aiohttp.ClientSession(
        base_url, connector=connector, timeout=aiohttp.ClientTimeout(total=30)
    ) as session:
        started = time.perf_counter()

        async def one(i: int) -> None:
            await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            await _post(session, make, i, result)

        await asyncio.gather(*(one(i) for i in range(total)))
        result.elapsed_s = time.perf_counter() - started
    return result


async def _post(session: aiohttp.ClientSession, make: RequestFactory, i: int, result: LoadResult) -> None:
    """Send the i-th request and record its latency and status."""
    path, headers, body = make(i)
    sent = time.perf_counter()
    async with session.post(path, data=body, headers=headers) as response:
        await response.read()
    result.latencies_ms.append((time.perf_counter() - sent) * 1000)
    result.statuses[response.status] = result.statuses.get(response.status, 0) + 1
