"""Accepting payments in groups (group commit): what ``POST /v1/payments`` waits on.

Concurrent accepts share one transaction: one statement inserting the payments and their
creation events, one claim of their ``Idempotency-Key`` values, one pipelined enqueue of
their charges (before the commit, so a 202 still means "recorded and queued") and, after the
commit, one pipelined cache write. ``engine.batching.MicroBatcher`` forms the groups.

Each request still gets its own answer:

- a key used before is answered from what is stored (replay, or ``IdempotencyKeyReused``),
  without touching the others;
- several requests of the group with the same key make one payment: the first is recorded,
  the others replay its response (or are ``IdempotencyKeyReused`` for another body);
- anything that aborts the shared transaction (a key held by another transaction past the lock
  timeout, a row conflict, a connection that died) runs every request of the group again alone;
- if the broker refuses the enqueue, nothing of the group is recorded and every new payment
  of it is ``QueueUnavailable`` (503); replays are still answered.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from engine import idempotency
from engine.batching import MicroBatcher
from engine.cache import PaymentCache
from engine.db import payments as repo
from engine.errors import EasyPayError
from engine.idempotency import IdempotencyKeyInUse, IdempotencyKeyReused, KeyClaim, StoredResponse
from engine.payments import NewPayment, PaymentJob, payment_values
from engine.views import payment_view

log = logging.getLogger(__name__)

#: SQLSTATE classes of failures one row can cause (constraint, serialization, lock): a group
#: that hits one is retried request by request.
_PER_ROW_SQLSTATE_CLASSES = ("23", "40", "55")

_encoder = msgspec.json.Encoder()


class QueueUnavailable(EasyPayError):
    """The broker refused the enqueue: the payment was not recorded (the API answers 503)."""


@dataclass(frozen=True)
class AcceptRequest:
    new: NewPayment
    payment_id: uuid.UUID
    #: The charge to queue (sealed method, correlation ids, stash).
    job: PaymentJob
    request_id: str | None = None
    idempotency_key: str | None = None
    request_hash: bytes = b""
    #: ``request_hash`` under previous root keys' peppers (``idempotency.KeyClaim.earlier_hashes``).
    earlier_hashes: tuple[bytes, ...] = ()
    #: Namespace of ``idempotency_key``: the caller's (its merchant, or the platform for admins),
    #: as on every other route. None: the payment's merchant.
    idempotency_owner: uuid.UUID | None = None

    @property
    def key_owner(self) -> uuid.UUID:
        return self.idempotency_owner if self.idempotency_owner is not None else self.new.merchant_id


@dataclass(frozen=True)
class Accepted:
    """The response to send: a new payment (``replayed`` False) or a replay of a stored one."""

    status: int
    body: bytes
    location: str | None
    replayed: bool = False


def _values(request: AcceptRequest) -> dict[str, Any]:
    return payment_values(request.new, request.payment_id)


def retry_alone(exc: BaseException) -> bool:
    """Whether a failed group should be retried request by request (a per-row failure)."""
    if isinstance(exc, (IdempotencyKeyInUse, IdempotencyKeyReused)):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True  # a connection that died (server restart): the pool starts over, retry on new ones
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None) if isinstance(exc, DBAPIError) else None
    return isinstance(sqlstate, str) and sqlstate[:2] in _PER_ROW_SQLSTATE_CLASSES


def _replay(response: StoredResponse) -> Accepted:
    return Accepted(status=response.status, body=response.body, location=response.location, replayed=True)


class _NotQueued(EasyPayError):
    """Raised inside the transaction to roll it back when the enqueue failed."""


class PaymentAcceptor:
    """``accept(request)``: record and queue one payment, in a group with concurrent ones."""

    def __init__(
        self, engine: AsyncEngine, jobs: Any, cache: PaymentCache, *, max_batch: int = 64, max_in_flight: int = 2
    ) -> None:
        self._engine = engine
        #: Something with ``jobs.sender.JobSender``'s async ``process_payments(jobs)``.
        self._jobs = jobs
        self._cache = cache
        self._batcher: MicroBatcher[AcceptRequest, Accepted] = MicroBatcher(
            self.accept_group, max_batch=max_batch, max_in_flight=max_in_flight, split_on=retry_alone, name="accept"
        )

    async def accept(self, request: AcceptRequest) -> Accepted:
        """Raises ``IdempotencyKeyReused``, ``IdempotencyKeyInUse`` or ``QueueUnavailable``."""
        return await self._batcher.submit(request)

    async def close(self) -> None:
        await self._batcher.drain()

    async def accept_group(self, requests: list[AcceptRequest]) -> list[Accepted | BaseException]:
        results: list[Accepted | BaseException | None] = [None] * len(requests)
        by_key: dict[tuple[uuid.UUID, str], list[int]] = {}
        fresh: list[int] = []
        for i, request in enumerate(requests):
            if request.idempotency_key is None:
                fresh.append(i)
            else:
                by_key.setdefault((request.key_owner, request.idempotency_key), []).append(i)
        rows: list[Any] = []
        try:
            async with self._engine.begin() as conn:
                stored = await idempotency.claim_many(
                    conn,
                    [
                        KeyClaim(owner, key, requests[members[0]].request_hash, requests[members[0]].earlier_hashes)
                        for (owner, key), members in by_key.items()
                    ],
                )
                for owner_key, members in by_key.items():
                    if owner_key not in stored:
                        fresh.append(members[0])  # the key is ours: the first request makes the payment
                        continue
                    for i in members:
                        try:
                            results[i] = _replay(stored[owner_key].replay_for(requests[i].request_hash, requests[i].earlier_hashes))
                        except (IdempotencyKeyReused, IdempotencyKeyInUse) as exc:
                            results[i] = exc
                fresh.sort()
                if fresh:
                    rows = await repo.insert_payments(
                        conn, [(_values(requests[i]), requests[i].request_id) for i in fresh]
                    )
                    for i, row in zip(fresh, rows):
                        results[i] = Accepted(
                            status=202,
                            body=_encoder.encode(payment_view(row)),
                            location=f"/v1/payments/{row.id}",
                        )
                    await idempotency.store_many(
                        conn,
                        [
                            (requests[i].key_owner, key, StoredResponse(202, results[i].body, results[i].location))  # type: ignore[union-attr]
                            for i in fresh
                            if (key := requests[i].idempotency_key) is not None
                        ],
                    )
                    # Enqueue before commit: a 202 always means "recorded and queued". A worker
                    # tolerates a message that arrives a moment before the commit is visible.
                    try:
                        await self._jobs.process_payments([requests[i].job for i in fresh])
                    except Exception as exc:  # noqa: BLE001 - any broker failure means "not accepted"
                        log.error("enqueue of %d payments failed, none accepted: %s", len(fresh), type(exc).__name__)
                        raise _NotQueued() from exc
        except _NotQueued:
            rows = []
            for i in fresh:
                results[i] = QueueUnavailable()
        for members in by_key.values():
            first = results[members[0]]
            for i in members[1:]:
                if results[i] is not None:
                    continue
                if not isinstance(first, Accepted):
                    results[i] = first
                elif requests[i].request_hash != requests[members[0]].request_hash:
                    results[i] = IdempotencyKeyReused()
                else:
                    results[i] = Accepted(first.status, first.body, first.location, replayed=True)
        if rows:
            # No announcement: nobody can be long-polling a payment whose id is not answered yet.
            await self._cache.put_many(
                [(str(row.id), results[i].body, row.version, row.merchant_id) for i, row in zip(fresh, rows)],  # type: ignore[union-attr]
                announce=False,
            )
        return [r if r is not None else RuntimeError("no result") for r in results]
