"""Dead letters on either broker: one interface for the CLI (``easypay dlq``) and the dashboard.

A dead letter is a message whose retries ran out (or that was too old, or failed on purpose): the
broker keeps it for 7 days in ``<queue>.XQ``. Operators list them, replay them (back on their
queue with a fresh retry budget: the actors are idempotent, a payment's claim recognises its own
message id) and purge them (all, or only those dead at least N seconds).

``DeadLetters`` is asynchronous so the API can call it on its event loop; the CLI runs it with
``asyncio.run``. ``jobs.redis_dead_letters`` reads the Redis broker's keys,
``jobs.rabbitmq_dead_letters`` the RabbitMQ dead-letter queues; ``jobs.brokers.open_dead_letters``
picks the one ``BROKER_URL`` names. What a listing shows never includes a message's arguments
beyond the first when it is an id (``subject``): other arguments may carry sealed card data.
"""

from __future__ import annotations

import abc
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import dramatiq
from dramatiq.common import current_millis

from jobs.queues import subject_of

#: Options a replayed message loses: its retry count and last error (a fresh retry budget), the
#: broker's id and delivery bookkeeping of the dead copy, and a past ETA.
_NOT_REPLAYED = ("retries", "traceback", "requeue_timestamp", "redis_message_id", "eta")


@dataclass(frozen=True)
class DeadLetter:
    queue: str
    #: The broker's id for this copy (what ``replay`` takes): the Redis broker's
    #: ``redis_message_id``; on RabbitMQ a digest of the message's body.
    id: str
    message_id: str
    actor: str
    #: When it died (UTC, ISO 8601); None where the broker recorded no time.
    dead_at: str | None
    retries: int
    #: The payment (or other object) the message is about, when its first argument is an id.
    subject: str | None
    request_id: str | None
    #: Last line of the final traceback (the error), if Dramatiq recorded one.
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Replayed:
    """What ``replay`` did: the ids put back on the queue, and those not found (already replayed,
    purged or expired)."""

    retried: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)


def iso_utc(at_ms: int | None) -> str | None:
    return None if at_ms is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at_ms / 1000))


def describe(message: dramatiq.Message, *, queue: str, dead_letter_id: str, dead_at_ms: int | None) -> DeadLetter:
    """What an operator is shown of a dead message: ids, actor, time, retries and the last error."""
    traceback = message.options.get("traceback") or ""
    lines = [line for line in str(traceback).strip().splitlines() if line.strip()]
    context = message.options.get("log_context") or {}
    return DeadLetter(
        queue=queue,
        id=dead_letter_id,
        message_id=message.message_id,
        actor=message.actor_name,
        dead_at=iso_utc(dead_at_ms),
        retries=int(message.options.get("retries", 0)),
        subject=subject_of(message),
        request_id=context.get("request_id") or message.kwargs.get("request_id"),
        error=lines[-1][:300] if lines else None,
    )


def fresh_copy(message: dramatiq.Message, queue: str, **options: Any) -> dramatiq.Message:
    """The message as a replay sends it to ``queue``: the same ``message_id`` (a payment's claim
    recognises its own message), a new enqueue time (so ``AgeLimit`` does not drop it), no
    ``retries``/``traceback`` (a fresh retry budget), plus ``options``."""
    kept = {k: v for k, v in message.options.items() if k not in _NOT_REPLAYED}
    return dramatiq.Message(
        queue_name=queue,
        actor_name=message.actor_name,
        args=message.args,
        kwargs=message.kwargs,
        options={**kept, **options},
        message_id=message.message_id,
        message_timestamp=current_millis(),
    )


class DeadLetters(abc.ABC):
    """The dead letters of the broker's queues."""

    @abc.abstractmethod
    async def list(self, queue: str, *, limit: int = 100) -> list[DeadLetter]:
        """Newest first, at most ``limit``."""

    @abc.abstractmethod
    async def replay(self, queue: str, ids: Sequence[str] | None) -> Replayed:
        """Put the dead letters ``ids`` (every one of ``queue`` when None) back on ``queue`` with a
        fresh retry budget. A message is on its queue before its dead copy goes: at worst (a
        failure in between) it is replayed twice, never lost."""

    @abc.abstractmethod
    async def purge(self, queue: str, *, older_than_s: float = 0) -> int:
        """Drop the dead letters of ``queue`` that died at least ``older_than_s`` ago; how many went."""
