"""A small aiohttp load generator: closed-loop saturation and open-loop fixed-rate runs.

Closed loop (``concurrency`` clients back to back) finds the maximum rate; its latencies are not
a latency figure. Open loop sends at a fixed rate whatever the answers do, and measures each
latency from the moment the request was due (so a stall is counted, not hidden).
"""

from __future__ import annotations

import asyncio
import itertools
import resource
import time
from dataclasses import dataclass, field
from typing import Callable

import aiohttp

Headers = Callable[[int], dict[str, str]]
#: A request unanswered this long counts as an error (a hung server shows as errors, not a stall).
REQUEST_TIMEOUT_S = 30.0
_TIMEOUT = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
Url = Callable[[int], str]


@dataclass
class RunResult:
    name: str
    requests: int
    errors: int
    elapsed_s: float
    latencies_s: list[float] = field(default_factory=list)
    loadgen_cpu_s: float = 0.0

    @property
    def rate(self) -> float:
        return (self.requests - self.errors) / self.elapsed_s if self.elapsed_s else 0.0

    def pct_ms(self, p: float) -> float:
        if not self.latencies_s:
            return float("nan")
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _constant(value: str) -> Url:
    return lambda n: value


async def _one(session: aiohttp.ClientSession, method: str, url: str, body: bytes | None,
               headers: dict[str, str], expect_status: int) -> bool:
    try:
        async with session.request(method, url, data=body, headers=headers) as response:
            await response.read()
            return response.status == expect_status
    except (aiohttp.ClientError, TimeoutError):
        return False


async def closed_loop(
    name: str,
    url: str | Url,
    *,
    headers: Headers,
    duration_s: float,
    concurrency: int,
    body: Callable[[int], bytes] | None = None,
    method: str = "POST",
    expect_status: int = 202,
) -> RunResult:
    """``concurrency`` clients back to back for ``duration_s``: maximum throughput (not latency)."""
    url_of = _constant(url) if isinstance(url, str) else url
    counter = itertools.count()
    result = RunResult(name, 0, 0, 0.0)
    deadline = time.perf_counter() + duration_s
    cpu0 = _cpu_s()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency), timeout=_TIMEOUT) as session:

        async def client() -> None:
            while time.perf_counter() < deadline:
                n = next(counter)
                t0 = time.perf_counter()
                ok = await _one(session, method, url_of(n), body(n) if body else None, headers(n), expect_status)
                result.latencies_s.append(time.perf_counter() - t0)
                result.requests += 1
                result.errors += 0 if ok else 1

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        result.elapsed_s = time.perf_counter() - started
    result.loadgen_cpu_s = _cpu_s() - cpu0
    return result


async def open_loop(
    name: str,
    url: str | Url,
    *,
    headers: Headers,
    rate: float,
    duration_s: float,
    body: Callable[[int], bytes] | None = None,
    method: str = "POST",
    expect_status: int = 202,
    max_connections: int = 512,
) -> RunResult:
    """One request every ``1/rate`` s for ``duration_s``; latency counted from when it was due."""
    url_of = _constant(url) if isinstance(url, str) else url
    count = max(1, int(rate * duration_s))
    result = RunResult(name, 0, 0, 0.0)
    cpu0 = _cpu_s()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=max_connections), timeout=_TIMEOUT) as session:
        started = time.perf_counter()

        async def one(n: int, due: float) -> None:
            ok = await _one(session, method, url_of(n), body(n) if body else None, headers(n), expect_status)
            result.latencies_s.append(time.perf_counter() - due)
            result.requests += 1
            result.errors += 0 if ok else 1

        tasks = []
        for n in range(count):
            due = started + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n, due)))
        await asyncio.gather(*tasks)
        result.elapsed_s = time.perf_counter() - started
    result.loadgen_cpu_s = _cpu_s() - cpu0
    return result
