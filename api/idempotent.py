"""One idempotent POST (every POST but ``/v1/payments``, which batches its own in
``engine.accept_batch``): replay a stored answer, or run the work and store its answer, all in one
transaction.

The key row, the work and the stored answer commit together (``engine.idempotency``), so a key
either has its answer or does not exist. ``Answer.before_commit`` runs last inside the transaction,
after the answer is stored: it is where a job is enqueued, so a ``202`` means recorded and queued
and a failed enqueue rolls everything back. ``Answer.after_commit`` runs once the transaction has
committed (a cache write must never run ahead of PostgreSQL). Answers that carry a secret are
stored sealed (``sealed=True``), never in the clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Awaitable, Callable

from litestar import Request, Response
from litestar.params import HeaderParameter
from sqlalchemy.ext.asyncio import AsyncConnection

from api.state import AppState
from api.tenancy import idempotency_owner
from engine import idempotency
from engine.auth import Principal
from engine.sealing import SecretBox

#: The ``Idempotency-Key`` header parameter of every POST.
IdempotencyKey = Annotated[str | None, HeaderParameter(name="Idempotency-Key", max_length=255, required=False)]

_JSON = "application/json"


@dataclass
class Answer:
    """What the work produced inside the transaction."""

    status: int
    body: bytes
    location: str | None = None
    #: Last step inside the transaction (after the answer is stored); raising rolls it all back.
    before_commit: Callable[[], Awaitable[Any]] | None = None
    #: First step after the commit; skipped on a replay.
    after_commit: Callable[[], Awaitable[Any]] | None = None


Work = Callable[[AsyncConnection], Awaitable[Answer]]


def _response(status: int, body: bytes, location: str | None, *, replayed: bool) -> Response[bytes]:
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    if location:
        headers["Location"] = location
    return Response(body, status_code=status, media_type=_JSON, headers=headers)


async def run_idempotent(
    request: Request[Any, Any, Any], easypay: AppState, principal: Principal, key: str | None, work: Work, *, sealed: bool = False
) -> Response[bytes]:
    """Run ``work`` in one transaction; with a key, replay the stored answer or store this one."""
    owner = idempotency_owner(principal)
    context = f"idempotency:{owner}:{key}"
    box = SecretBox(easypay.settings.secret_key, previous=easypay.settings.previous_secret_keys) if sealed else None
    request_hash, *earlier_hashes = (
        idempotency.request_fingerprints(easypay.peppers, request.method, request.url.path, await request.body())
        if key
        else (b"",)
    )
    async with easypay.engine.begin() as conn:
        if key:
            stored = await idempotency.claim(
                conn, merchant_id=owner, key=key, request_hash=request_hash, earlier_hashes=earlier_hashes
            )
            if stored is not None:
                body = box.open(stored.body.decode(), context=context).encode() if box else stored.body
                return _response(stored.status, body, stored.location, replayed=True)
        answer = await work(conn)
        if key:
            kept = box.seal(answer.body.decode(), context=context).encode() if box else answer.body
            await idempotency.store(
                conn,
                merchant_id=owner,
                key=key,
                response=idempotency.StoredResponse(status=answer.status, body=kept, location=answer.location),
            )
        if answer.before_commit is not None:
            await answer.before_commit()
    if answer.after_commit is not None:
        await answer.after_commit()
    return _response(answer.status, answer.body, answer.location, replayed=False)
