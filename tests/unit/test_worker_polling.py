"""workers.broker: what an idle payments pool polls. On Redis, an idle queue's consumer backs off
to the pool's poll timeout (the pickup latency), a delay queue's to a second (a retry waits at
least that long), idle worker threads wake once a second and a thread waiting for its async actor
checks for interrupts once a second."""

from __future__ import annotations

from dramatiq.asyncio import get_event_loop_thread

from engine.settings_from_env import load_settings
from jobs.names import PAYMENTS_QUEUE, RETRY
from workers.broker import (
    DELAY_QUEUE_POLL_MS,
    INTERRUPT_CHECK_S,
    THREAD_WAKEUP_MS,
    AsyncIOEveryS,
    EasypayRedisBroker,
    build_broker,
    worker_timeout_ms,
)


def _settings(tmp_path, **env):
    return load_settings({"EASYPAY_DEV_SECRET_FILE": str(tmp_path / "key"), "BROKER_URL": "redis://127.0.0.1:6379/15", **env})


def test_a_queue_is_polled_at_the_pools_timeout_and_its_delay_queue_once_a_second(tmp_path):
    # Given: the payments pool's broker with WORKER_POLL_TIMEOUT_MS=40 (nothing is sent to Redis)
    broker = build_broker(_settings(tmp_path, WORKER_POLL_TIMEOUT_MS="40"), worker=True)
    assert isinstance(broker, EasypayRedisBroker)
    # When: the worker asks for consumers with its worker_timeout, as Dramatiq does
    queue = broker.consume(PAYMENTS_QUEUE, prefetch=16, timeout=THREAD_WAKEUP_MS)
    delayed = broker.consume(f"{PAYMENTS_QUEUE}.DQ", prefetch=16, timeout=THREAD_WAKEUP_MS)
    # Then: the queue backs off to 40 ms (pickup latency), the delay queue to a second
    assert queue.timeout == 40
    assert delayed.timeout == DELAY_QUEUE_POLL_MS
    assert DELAY_QUEUE_POLL_MS <= RETRY.min_backoff_ms
    # And: a pool named explicitly sets it too
    named = build_broker(_settings(tmp_path), worker=True, poll_timeout_ms=25)
    assert named.consume(PAYMENTS_QUEUE, timeout=THREAD_WAKEUP_MS).timeout == 25


def test_idle_threads_wake_once_a_second_on_redis_and_at_the_poll_timeout_on_rabbitmq():
    assert worker_timeout_ms(50, rabbitmq=False) == THREAD_WAKEUP_MS == 1000
    assert worker_timeout_ms(5000, rabbitmq=False) == 5000
    assert worker_timeout_ms(50, rabbitmq=True) == 50


def test_a_thread_waiting_for_its_async_actor_checks_for_interrupts_once_a_second():
    middleware = AsyncIOEveryS()
    middleware.before_worker_boot(None, None)
    try:
        loop_thread = get_event_loop_thread()
        assert loop_thread is not None
        assert loop_thread.interrupt_check_ival == INTERRUPT_CHECK_S

        async def answer() -> int:
            return 42

        assert loop_thread.run_coroutine(answer()) == 42
    finally:
        middleware.after_worker_shutdown(None, None)
    assert get_event_loop_thread() is None
