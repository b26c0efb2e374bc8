"""Wakes ``GET /v1/payments/{id}?wait=`` requests when a worker announces a change.

One Redis subscription per API process; waiters also re-check on a short timer, so a missed
announcement delays an answer by at most ``RECHECK_S`` instead of losing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

RECHECK_S = 1.0


class ChangeNotifier:
    def __init__(self, redis: Redis, channel: str) -> None:
        self._redis = redis
        self._channel = channel
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="payment-change-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    while True:
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
                        if message is None:
                            continue
                        data = message["data"]
                        payment_id = data.decode() if isinstance(data, bytes) else str(data)
                        for event in self._waiters.get(payment_id, ()):
                            event.set()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("change listener lost Redis (%s); retrying", exc)
                await asyncio.sleep(1.0)

    async def wait(self, payment_id: str, timeout_s: float) -> None:
        """Return when ``payment_id`` is announced or after ``min(timeout_s, RECHECK_S)``."""
        event = asyncio.Event()
        self._waiters.setdefault(payment_id, set()).add(event)
        try:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=min(timeout_s, RECHECK_S))
        finally:
            waiters = self._waiters.get(payment_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[payment_id]
