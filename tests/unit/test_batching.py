"""``engine.batching.MicroBatcher``: every submitted item gets its own answer, whatever the timing."""

from __future__ import annotations

import asyncio

from engine.batching import MicroBatcher


async def test_an_item_submitted_while_the_last_batch_runner_finishes_is_still_run():
    """A caller woken in the same loop turn in which the runner ends (before its task is reaped)
    submits an item: a runner must still take it (this hung polls under load)."""
    ran = asyncio.Event()

    async def run_batch(items: list[str]) -> list[str]:
        ran.set()  # wakes ``second`` in the very turn this runner finishes
        return [item.lower() for item in items]

    batcher: MicroBatcher[str, str] = MicroBatcher(run_batch, max_in_flight=1)

    async def second() -> str:
        await ran.wait()
        return await batcher.submit("B")

    waiting = asyncio.create_task(second())
    await asyncio.sleep(0)
    assert await batcher.submit("A") == "a"
    assert await asyncio.wait_for(waiting, 2) == "b"


async def test_a_failing_batch_fails_its_own_items_and_the_next_batch_still_runs():
    calls: list[list[int]] = []

    async def run_batch(items: list[int]) -> list[int]:
        calls.append(items)
        if 0 in items:
            raise RuntimeError("boom")
        return [n * 10 for n in items]

    batcher: MicroBatcher[int, int] = MicroBatcher(run_batch, max_in_flight=1)
    failed = await asyncio.gather(batcher.submit(0), return_exceptions=True)
    assert isinstance(failed[0], RuntimeError)
    assert await asyncio.gather(*(batcher.submit(n) for n in (1, 2, 3))) == [10, 20, 30]


async def test_concurrent_items_share_batches_and_each_gets_its_own_result():
    sizes: list[int] = []

    async def run_batch(items: list[int]) -> list[int]:
        sizes.append(len(items))
        await asyncio.sleep(0.01)
        return [n + 1 for n in items]

    batcher: MicroBatcher[int, int] = MicroBatcher(run_batch, max_in_flight=1)
    assert await asyncio.gather(*(batcher.submit(n) for n in range(50))) == list(range(1, 51))
    assert sum(sizes) == 50 and len(sizes) < 50


async def test_a_caller_that_goes_away_cancels_only_its_own_wait():
    """A client disconnect cancels its request's task: the shared batch still runs, every other
    item of it gets its result, and the gone caller's item is still processed (an accepted
    payment whose client hung up is recorded all the same)."""
    processed: list[int] = []
    release = asyncio.Event()

    async def run_batch(items: list[int]) -> list[int]:
        await release.wait()
        processed.extend(items)
        return [n * 2 for n in items]

    batcher: MicroBatcher[int, int] = MicroBatcher(run_batch, max_in_flight=1)
    tasks = [asyncio.create_task(batcher.submit(n)) for n in range(4)]
    await asyncio.sleep(0.01)
    tasks[1].cancel()
    await asyncio.sleep(0.01)
    release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[1], asyncio.CancelledError)
    assert [results[0], results[2], results[3]] == [0, 4, 6]
    assert sorted(processed) == [0, 1, 2, 3]
