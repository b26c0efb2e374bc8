"""A small aiohttp load generator: closed-loop saturation and open-loop fixed-rate runs."""

from __future__ import annotations

import asyncio
import itertools
import resource
import time
from dataclasses import dataclass, field
from typing import Callable

import aiohttp


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


async def closed_loop(
    name: str,
    url: str,
    *,
    body: Callable[[int], bytes],
    headers: Callable[[int], dict[str, str]],
    duration_s: float,
    concurrency: int,
    expect_status: int = 202,
) -> RunResult:
    """``concurrency`` clients back to back for ``duration_s``: maximum throughput (not latency)."""
    counter = itertools.count()
    result = RunResult(name, 0, 0, 0.0)
    deadline = time.perf_counter() + duration_s
    connector = aiohttp.TCPConnector(limit=concurrency)
    cpu0 = _cpu_s()
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client() -> None:
            while time.perf_counter() < deadline:
                n = next(counter)
                t0 = time.perf_counter()
                try:
                    async with session.post(url, data=body(n), headers=headers(n)) as response:
                        await response.read()
                        ok = response.status == expect_status
                except aiohttp.ClientError:
                    ok = False
                result.latencies_s.append(time.perf_counter() - t0)
                result.requests += 1
                result.errors += 0 if ok else 1

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        result.elapsed_s = time.perf_counter() - started
    result.loadgen_cpu_s = _cpu_s() - cpu0
    return result
