"""Group commit for concurrent callers: one round trip (or one transaction) serves many requests.

``MicroBatcher.submit(item)`` returns the item's own result. Items are not held back on a
timer: a batch starts as soon as the event loop runs it, and it takes everything submitted
until then. Items that arrive while ``max_in_flight`` batches are running wait for the next
one, so under load batches grow by themselves, and a lone request at low load goes at once.

``run_batch(items)`` returns one result per item, in order; a result that is an exception is
raised to that item's caller only. If ``run_batch`` itself raises an exception that
``split_on`` accepts (e.g. a row conflict that aborted the shared transaction), every item of
the batch is run again alone, so one item's failure never fails the others.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable, Generic, Sequence, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class MicroBatcher(Generic[T, R]):
    def __init__(
        self,
        run_batch: Callable[[list[T]], Awaitable[Sequence[R | BaseException]]],
        *,
        max_batch: int = 64,
        max_in_flight: int = 1,
        split_on: Callable[[BaseException], bool] | None = None,
        name: str = "batch",
    ) -> None:
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._split_on = split_on
        self._name = name
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._runners: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> R:
        # A caller that goes away (client disconnect) cancels only its own future: the batch runs
        # in the runner's task, and skips a result whose caller is gone.
        return await self.enqueue(item)

    def enqueue(self, item: T) -> asyncio.Future[R]:
        """``submit`` without waiting: the item joins the next batch now, its result is the future's.

        Items enqueued in the same event-loop step share a batch, so a caller can put two
        requests of its own into one batch (enqueue the first, then submit the second).
        """
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if len(self._runners) < self._max_in_flight:
            runner = asyncio.create_task(self._drain(), name=self._name)
            self._runners.add(runner)
        return future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                try:
                    results = await self._results([item for item, _ in batch])
                except BaseException as exc:  # a bug or a cancellation: these callers get it, no one hangs
                    results = [exc] * len(batch)
                    if not isinstance(exc, Exception):
                        self._settle(batch, results)
                        raise
                self._settle(batch, results)
        finally:
            # Leave the set in the same step as the last look at ``_pending`` (no await in between):
            # an item submitted from now on starts a runner of its own. A done-callback would run
            # a loop turn later, after a caller woken in between had found this runner still
            # listed and its item was left with no runner at all.
            self._runners.discard(asyncio.current_task())

    @staticmethod
    def _settle(batch: list[tuple[T, asyncio.Future[R]]], results: Sequence[R | BaseException]) -> None:
        for (_, future), result in zip(batch, results):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def _results(self, items: list[T]) -> Sequence[R | BaseException]:
        try:
            results = await self._run_batch(items)
        except Exception as exc:  # noqa: BLE001 - handed to the callers
            if len(items) > 1 and self._split_on is not None and self._split_on(exc):
                log.info("%s of %d failed (%s); running each item alone", self._name, len(items), type(exc).__name__)
                alone = await asyncio.gather(*(self._results([item]) for item in items))
                return [result for (result,) in alone]
            return [exc] * len(items)
        if len(results) != len(items):
            raise RuntimeError(f"{self._name}: {len(results)} results for {len(items)} items")
        return results

    async def drain(self) -> None:
        """Wait until every submitted item has its result (shutdown)."""
        while self._runners:
            await asyncio.gather(*self._runners, return_exceptions=True)
