"""Sending jobs from the API without blocking its event loop.

``RedisBroker.enqueue`` is a synchronous Redis round trip; it runs in a worker thread here.
The API needs no actor code: a message names its queue and actor.
"""

from __future__ import annotations

import uuid

import anyio.to_thread
import dramatiq
from dramatiq.brokers.redis import RedisBroker

from workers.broker import PAYMENT_MESSAGE_MAX_AGE_MS, PAYMENTS_QUEUE, PROCESS_PAYMENT


class JobSender:
    def __init__(self, broker: RedisBroker) -> None:
        self._broker = broker

    def _send_payment(self, payment_id: uuid.UUID, sealed_method: str, request_id: str | None) -> str:
        message = dramatiq.Message(
            queue_name=PAYMENTS_QUEUE,
            actor_name=PROCESS_PAYMENT,
            args=(str(payment_id), sealed_method),
            kwargs={"request_id": request_id},
            options={"max_age": PAYMENT_MESSAGE_MAX_AGE_MS},
        )
        return self._broker.enqueue(message).message_id

    async def process_payment(self, payment_id: uuid.UUID, sealed_method: str, *, request_id: str | None) -> str:
        """Queue the charge; returns the message id. Raises on a broker failure."""
        return await anyio.to_thread.run_sync(self._send_payment, payment_id, sealed_method, request_id)

    def ping(self) -> bool:
        return bool(self._broker.client.ping())

    def close(self) -> None:
        self._broker.close()
