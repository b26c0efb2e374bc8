"""Dead letters on RabbitMQ: the ``<queue>.XQ`` queues (``jobs.rabbitmq``), over aio-pika.

AMQP cannot show a queue's messages without handing them out, so every operation takes the
ready messages of ``q.XQ`` with ``basic.get`` (unacknowledged, in queue order, on a short-lived
connection of its own: an error there never closes the API's publishing connection) and settles them at the end: the ones it is done with are acknowledged, and the rest go
back with one ``basic.nack(multiple, requeue)``, which returns them in the order they were
taken — to the head of a quorum queue, to their old place in a classic one — so the queue keeps
its order. If anything fails before that, the connection closes and RabbitMQ returns every
unacknowledged message by itself: nothing is lost. ``basic.nack`` rather than ``basic.reject``:
from RabbitMQ 4.3 a nack does not count toward a quorum queue's ``delivery-limit`` (4.0 to 4.2
count every return; see the README's "Choosing a broker"). While one operation holds them, the
messages are hidden from another, which then reads fewer.

* ``list``: take all (at most ``SCAN_LIMIT``), put all back; newest first by time of death.
* ``replay``: take until the wanted ids are seen (or all), publish fresh copies through the API's sender
  (publisher confirms, and the held counters the recovery jobs read), and only once RabbitMQ has
  confirmed them acknowledge the dead copies. A failure in between leaves the dead copy: it may
  be replayed twice (the actors are idempotent), never lost.
* ``purge``: everything with AMQP's ``queue.purge`` (ready messages only), or take all and
  acknowledge those dead at least N seconds ago.

Ids are a digest of the message body (two identical bodies are the same dead letter twice).
The time of death is ``x-death``'s for the messages RabbitMQ dead-lettered and
``jobs.rabbitmq.DEAD_AT_HEADER`` for those the workers moved themselves without their sealed
arguments; a message with neither is shown without a time and purged only by a purge of all.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, AsyncIterator, Sequence

import aio_pika
import dramatiq
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from aiormq.exceptions import ChannelNotFoundEntity
from dramatiq.common import current_millis, xq_name

from jobs.dead_letters import DeadLetter, DeadLetters, Replayed, describe, fresh_copy
from jobs.rabbitmq import DEAD_AT_HEADER
from jobs.rabbitmq_sender import RabbitmqJobSender

#: Messages one operation takes from a dead-letter queue at most; a replay publishes (and then
#: acknowledges) them ``REPLAY_BATCH`` at a time.
SCAN_LIMIT = 10_000
REPLAY_BATCH = 500
#: Opening a connection, and one ``basic.get``, answer within these.
CONNECT_TIMEOUT_S = 3.0
TIMEOUT_S = 5.0


@dataclass(frozen=True)
class _Taken:
    incoming: AbstractIncomingMessage
    id: str
    #: None for a body that is not a Dramatiq message (listed and replayed never, purged by age).
    message: dramatiq.Message | None
    dead_at_ms: int | None


def dead_at_ms(headers: dict[str, Any]) -> int | None:
    """When a dead letter died: the workers' header, else the newest ``x-death`` entry's time."""
    own = headers.get(DEAD_AT_HEADER)
    if isinstance(own, int) and not isinstance(own, bool):
        return own
    deaths = headers.get("x-death")
    if isinstance(deaths, (list, tuple)) and deaths and isinstance(deaths[0], dict):
        at = deaths[0].get("time")
        if isinstance(at, datetime):
            return int((at if at.tzinfo else at.replace(tzinfo=timezone.utc)).timestamp() * 1000)
        if isinstance(at, (int, float)) and not isinstance(at, bool):
            return int(at * 1000)
    return None


def _read(incoming: AbstractIncomingMessage) -> _Taken:
    try:
        message: dramatiq.Message | None = dramatiq.Message.decode(incoming.body)
    except Exception:  # noqa: BLE001 - a foreign body stays where it is
        message = None
    digest = hashlib.sha256(incoming.body).hexdigest()[:32]
    return _Taken(incoming, digest, message, dead_at_ms(dict(incoming.headers or {})))


class RabbitmqDeadLetters(DeadLetters):
    def __init__(self, broker_url: str, sender: RabbitmqJobSender, *, scan_limit: int = SCAN_LIMIT) -> None:
        self._url = broker_url
        self._sender = sender
        self._scan_limit = scan_limit

    @contextlib.asynccontextmanager
    async def _dead_queue(self, queue: str) -> AsyncIterator[AbstractQueue | None]:
        """``q.XQ`` (passively: None when it was never declared) on a connection of its own, closed
        at the end: closing returns whatever is still unacknowledged (after a failure; otherwise
        everything is settled by then)."""
        connection = await aio_pika.connect(self._url, timeout=CONNECT_TIMEOUT_S)
        try:
            channel = await connection.channel(publisher_confirms=False)
            try:
                dead: AbstractQueue | None = await channel.get_queue(xq_name(queue), ensure=True)
            except ChannelNotFoundEntity:
                dead = None
            yield dead
        finally:
            with contextlib.suppress(Exception):
                await connection.close()

    async def _take(self, dead: AbstractQueue, *, limit: int, wanted: set[str] | None = None) -> list[_Taken]:
        """Ready messages in queue order, unacknowledged: up to ``limit``, or until every id of ``wanted`` was seen."""
        taken: list[_Taken] = []
        missing = set(wanted) if wanted is not None else None
        while len(taken) < limit and (missing is None or missing):
            incoming = await dead.get(no_ack=False, fail=False, timeout=TIMEOUT_S)
            if incoming is None:
                break
            taken.append(_read(incoming))
            if missing is not None:
                missing.discard(taken[-1].id)
        return taken

    @staticmethod
    async def _settle(taken: list[_Taken], done: list[_Taken], *, acked: Sequence[_Taken] = ()) -> None:
        """Acknowledge ``done``; the rest (but ``acked``, settled already) go back, in the order they
        were taken, with one nack."""
        for item in done:
            await item.incoming.ack()
        settled = {id(t) for t in (*done, *acked)}
        rest = [t for t in taken if id(t) not in settled]
        if rest:
            await rest[-1].incoming.nack(multiple=True, requeue=True)

    async def list(self, queue: str, *, limit: int = 100) -> list[DeadLetter]:
        async with self._dead_queue(queue) as dead:
            taken = await self._take(dead, limit=self._scan_limit) if dead is not None else []
            await self._settle(taken, [])
        # Queue order is oldest first; newest first, ties (and unknown times) in reverse queue order.
        newest = sorted(reversed(taken), key=lambda t: -1 if t.dead_at_ms is None else t.dead_at_ms, reverse=True)
        return [
            describe(t.message, queue=queue, dead_letter_id=t.id, dead_at_ms=t.dead_at_ms)
            for t in newest[:limit]
            if t.message is not None
        ]

    async def replay(self, queue: str, ids: Sequence[str] | None) -> Replayed:
        wanted = set(ids) if ids is not None else None
        replayed: dict[str, dramatiq.Message] = {}
        async with self._dead_queue(queue) as dead:
            taken = await self._take(dead, limit=self._scan_limit, wanted=wanted) if dead is not None else []
            chosen = [t for t in taken if t.message is not None and (wanted is None or t.id in wanted)]
            acked: list[_Taken] = []
            for start in range(0, len(chosen), REPLAY_BATCH):
                batch = chosen[start : start + REPLAY_BATCH]
                fresh = {}
                for item in batch:  # identical copies: one replay, every copy acknowledged
                    if item.message is not None and item.id not in replayed and item.id not in fresh:
                        fresh[item.id] = fresh_copy(item.message, queue)
                if fresh:  # confirmed by RabbitMQ before a dead copy goes; on a failure the rest go back
                    await self._sender.resend(list(fresh.values()))
                for item in batch:
                    await item.incoming.ack()
                acked.extend(batch)
                replayed.update(fresh)
            await self._settle(taken, [], acked=acked)
        return Replayed(retried=list(replayed), not_found=[i for i in ids or [] if i not in replayed])

    async def purge(self, queue: str, *, older_than_s: float = 0) -> int:
        async with self._dead_queue(queue) as dead:
            if dead is None:
                return 0
            if older_than_s <= 0:
                result = await dead.purge(timeout=TIMEOUT_S)
                return int(result.message_count or 0)
            cutoff_ms = current_millis() - int(older_than_s * 1000)
            taken = await self._take(dead, limit=self._scan_limit)
            old = [t for t in taken if t.dead_at_ms is not None and t.dead_at_ms <= cutoff_ms]
            await self._settle(taken, old)
            return len(old)


__all__ = ["REPLAY_BATCH", "SCAN_LIMIT", "RabbitmqDeadLetters", "dead_at_ms"]
