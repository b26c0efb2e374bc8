"""The scheduler's registry and per-slot claims (real Redis, a controlled clock)."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from schedules.registry import JobContext, Registry, enqueue
from schedules.runner import Scheduler


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def run_job(self, actor_name: str, *, queue_name: str = "payments") -> str:
        self.sent.append((actor_name, queue_name))
        return "id"


def test_registry_adds_in_one_line_and_refuses_duplicate_names():
    registry = Registry()
    registry.add("dispatch_webhook_deliveries", 5, enqueue("dispatch_due_deliveries", queue="webhooks"))
    assert registry.names() == ["dispatch_webhook_deliveries"]
    with pytest.raises(ValueError):
        registry.add("dispatch_webhook_deliveries", 5, enqueue("x"))


async def test_enqueue_job_sends_one_message_to_its_queue(settings):
    sender = RecordingSender()
    await enqueue("dispatch_due_deliveries", queue="webhooks")(JobContext(settings=settings, jobs=sender))
    assert sender.sent == [("dispatch_due_deliveries", "webhooks")]


def test_engine_jobs_are_registered(settings):
    import schedules.jobs  # noqa: F401
    from schedules.registry import REGISTRY

    assert set(REGISTRY.names()) >= {"settlement_sync", "expire_authorizations", "reconcile", "pending_sweep"}
    assert {job.name: job.interval_s(settings) for job in REGISTRY}["settlement_sync"] == settings.lifecycle.settlement_sync_interval_s


async def test_two_schedulers_share_each_slot_once(settings, redis_clean):
    now = [1_000_000.0]
    registry = Registry()
    registry.add("every_10s", 10, enqueue("a"))
    registry.add("every_25s", 25, enqueue("b"))
    sender = RecordingSender()
    redis = Redis.from_url(settings.redis.cache_url)
    try:
        await redis.delete(*[k async for k in redis.scan_iter(f"{settings.redis.key_prefix}:schedule:*")] or ["-"])
        schedulers = [Scheduler(settings, registry, redis=redis, jobs=sender, clock=lambda: now[0]) for _ in range(2)]
        schedulers[1].instance += "-b"
        for _ in range(100):  # 100 s of ticks, both copies every second
            for scheduler in schedulers:
                await scheduler.tick()
            now[0] += 1
        assert sender.sent.count(("a", "payments")) == 10
        assert sender.sent.count(("b", "payments")) == 4
    finally:
        await redis.aclose()


async def test_a_failing_job_does_not_stop_the_others(settings, redis_clean):
    async def broken(ctx):
        raise RuntimeError("boom")

    registry = Registry()
    registry.add("broken", 7, broken)
    registry.add("fine", 7, enqueue("fine"))
    sender = RecordingSender()
    redis = Redis.from_url(settings.redis.cache_url)
    try:
        scheduler = Scheduler(settings, registry, redis=redis, jobs=sender, clock=lambda: 3_000_001.0)
        wait_s = await scheduler.tick()
        assert sender.sent == [("fine", "payments")]
        assert 0 < wait_s <= 1.0
    finally:
        await redis.aclose()
