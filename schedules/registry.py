"""The scheduler's registry of periodic jobs.

A job is a name, an interval and an async function that only *enqueues* work (workers do it).
Adding one is one line, e.g. in ``schedules/jobs.py``::

    REGISTRY.add("dispatch_webhook_deliveries", 5, enqueue("dispatch_due_deliveries", queue="webhooks"))

``interval_s`` is seconds, or a function of the settings (so intervals can come from the
environment). Names must be unique: they key the per-slot claims in Redis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable, Iterator, Protocol

from engine.settings import Settings
from jobs.names import PAYMENTS_QUEUE


class Sender(Protocol):
    async def run_job(self, actor_name: str, *, queue_name: str = ...) -> str: ...


@dataclass(frozen=True)
class JobContext:
    settings: Settings
    jobs: Sender


JobFunction = Callable[[JobContext], Awaitable[object]]
Interval = float | Callable[[Settings], float]


@dataclass(frozen=True)
class Job:
    name: str
    interval: Interval
    run: JobFunction

    def interval_s(self, settings: Settings) -> float:
        value = self.interval(settings) if callable(self.interval) else self.interval
        if value <= 0:
            raise ValueError(f"job {self.name}: interval must be positive")
        return float(value)


class Registry:
    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}

    def add(self, name: str, interval_s: Interval, run: JobFunction) -> Job:
        if name in self._jobs:
            raise ValueError(f"a job named {name!r} is already registered")
        job = Job(name, interval_s, run)
        self._jobs[name] = job
        return job

    def __iter__(self) -> Iterator[Job]:
        return iter(list(self._jobs.values()))

    def __len__(self) -> int:
        return len(self._jobs)

    def names(self) -> list[str]:
        return list(self._jobs)


def enqueue(actor_name: str, *, queue: str = PAYMENTS_QUEUE) -> JobFunction:
    """A job function that enqueues one message for ``actor_name`` on ``queue``."""

    async def run(ctx: JobContext) -> str:
        return await ctx.jobs.run_job(actor_name, queue_name=queue)

    run.__name__ = f"enqueue_{actor_name}"
    return run


#: The process-wide registry the ``scheduler`` runs (filled by ``schedules.jobs``).
REGISTRY = Registry()
