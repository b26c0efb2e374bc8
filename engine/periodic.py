"""A buffer flushed to PostgreSQL in the background, every ``interval_s`` and once more at stop.

Subclasses keep what they buffer and implement ``flush()``; this runs it off the request path.
"""

from __future__ import annotations

import abc
import asyncio


class PeriodicFlusher(abc.ABC):
    #: Name of the background task (shows in asyncio debugging).
    task_name = "periodic-flush"

    def __init__(self, *, interval_s: float) -> None:
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    @abc.abstractmethod
    async def flush(self) -> None:
        """Write what is buffered (must not raise: keep or drop the batch and log)."""

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self.flush()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.task_name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self.flush()
