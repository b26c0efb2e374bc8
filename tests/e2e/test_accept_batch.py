"""Group commit of accepts: requests that share one transaction still get their own answers.

Real PostgreSQL, Redis broker and cache, a real worker pool and the emulator: every payment a
group answers 202 for is in PostgreSQL, queued (the worker charges it) and charged once.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, AsyncIterator

import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from engine.accept_batch import Accepted, AcceptRequest, PaymentAcceptor
from engine.cache import PaymentCache
from engine.db.session import make_engine
from engine.idempotency import LOCK_TIMEOUT_MS, IdempotencyKeyInUse, IdempotencyKeyReused
from engine.method_secrets import seal_method
from engine.method_stash import MethodStash
from engine.payments import NewPayment, PaymentJob
from engine.processor import Card
from engine.sealing import Sealer
from tests.helpers import wait_final
from jobs.brokers import connect_sender

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture
async def acceptor(settings) -> AsyncIterator[PaymentAcceptor]:
    """Built as the API builds it (``api.app``), on the suite's database, cache and broker."""
    engine = make_engine(settings.database, lock_timeout_ms=LOCK_TIMEOUT_MS)
    redis = Redis.from_url(settings.redis.cache_url)
    jobs = connect_sender(settings)
    cache = PaymentCache(redis, prefix=settings.redis.key_prefix, ttl_s=settings.redis.payment_cache_ttl_s)
    acceptor = PaymentAcceptor(engine, jobs, cache)
    yield acceptor
    await acceptor.close()
    await jobs.close()
    await redis.aclose()
    await engine.dispose()


def _request(settings, merchant, amount_minor: int, *, key: str | None = None, body_hash: bytes = b"") -> AcceptRequest:
    payment_id = uuid.uuid4()
    sealed = seal_method(
        Sealer(settings.secret_key), payment_id, Card("4111111111111111", 12, 2031, "123"), ttl_s=600
    )
    stash = MethodStash(None, prefix=settings.redis.key_prefix).key(payment_id)  # type: ignore[arg-type]
    return AcceptRequest(
        new=NewPayment(
            merchant_id=merchant.id,
            amount_minor=amount_minor,
            currency="USD",
            capture=True,
            payment_method_type="card",
            card_brand="visa",
            card_last4="1111",
            card_exp_month=12,
            card_exp_year=2031,
        ),
        payment_id=payment_id,
        job=PaymentJob(payment_id, sealed, request_id=f"req-{payment_id}", stash=(stash, 600)),
        request_id=f"req-{payment_id}",
        idempotency_key=key,
        request_hash=body_hash if key else b"",
    )


async def _rows(db, merchant) -> list[Any]:
    async with db.connect() as conn:
        return list(
            (
                await conn.execute(
                    text("SELECT id, amount_minor, invoice_number, created_at FROM payments WHERE merchant_id = :m"),
                    {"m": merchant.id},
                )
            ).all()
        )


async def _charged_once(api, merchant, sandbox, db, payment_ids: list[str]) -> None:
    for payment_id in payment_ids:
        assert (await wait_final(api, merchant.headers, payment_id))["status"] == "captured"
    async with db.connect() as conn:
        for payment_id in payment_ids:
            invoice = (
                await conn.execute(text("SELECT invoice_number FROM payments WHERE id = :id"), {"id": payment_id})
            ).scalar_one()
            assert len(sandbox.ledger(invoice)) == 1, payment_id


async def test_one_group_answers_each_request_on_its_own(acceptor, settings, merchant, db, api, sandbox):
    used = f"used-{uuid.uuid4()}"
    first = await acceptor.accept_group([_request(settings, merchant, 1000, key=used, body_hash=b"A" * 32)])
    assert isinstance(first[0], Accepted) and first[0].status == 202 and not first[0].replayed

    shared = f"shared-{uuid.uuid4()}"
    group = [
        _request(settings, merchant, 1101),
        _request(settings, merchant, 1000, key=used, body_hash=b"B" * 32),  # reused with another body
        _request(settings, merchant, 1102, key=f"own-{uuid.uuid4()}", body_hash=b"C" * 32),
        _request(settings, merchant, 1103, key=shared, body_hash=b"D" * 32),
        _request(settings, merchant, 1103, key=shared, body_hash=b"D" * 32),  # same key, same body
        _request(settings, merchant, 1104, key=shared, body_hash=b"E" * 32),  # same key, another body
        _request(settings, merchant, 1000, key=used, body_hash=b"A" * 32),  # a retry of the first request
        _request(settings, merchant, 1105),
    ]
    results = await acceptor.accept_group(group)

    fresh = [results[i] for i in (0, 2, 3, 7)]
    assert all(isinstance(r, Accepted) and r.status == 202 and not r.replayed for r in fresh)
    assert isinstance(results[1], IdempotencyKeyReused)
    assert isinstance(results[5], IdempotencyKeyReused)
    assert isinstance(results[4], Accepted) and results[4].replayed and results[4].body == results[3].body
    assert isinstance(results[6], Accepted) and results[6].replayed and results[6].body == first[0].body

    rows = await _rows(db, merchant)
    assert sorted(r.amount_minor for r in rows) == [1000, 1101, 1102, 1103, 1105]
    # One transaction: the group's payments share its start time.
    assert len({r.created_at for r in rows if r.amount_minor != 1000}) == 1
    # Every 202 is recorded, queued (the worker charges it) and charged once.
    ids = [str(r.id) for r in rows]
    expected = [str(group[i].payment_id) for i in (0, 2, 3, 7)] + [str(first[0].location).rsplit("/", 1)[1]]
    assert sorted(ids) == sorted(expected)
    await _charged_once(api, merchant, sandbox, db, ids)


async def test_concurrent_requests_with_one_key_make_one_payment(acceptor, settings, merchant, db, api, sandbox):
    key = f"burst-{uuid.uuid4()}"
    requests = [_request(settings, merchant, 2200, key=key, body_hash=b"F" * 32) for _ in range(8)]
    answers = await asyncio.gather(*(acceptor.accept(r) for r in requests))
    assert all(a.status == 202 for a in answers)
    assert sum(1 for a in answers if not a.replayed) == 1
    assert len({a.body for a in answers}) == 1
    rows = await _rows(db, merchant)
    assert len(rows) == 1
    await _charged_once(api, merchant, sandbox, db, [str(rows[0].id)])


async def test_a_key_held_elsewhere_fails_only_its_own_request(acceptor, settings, merchant, db, api, sandbox):
    """The held key aborts the shared transaction; the others are accepted alone, the held one is 409."""
    held = f"held-{uuid.uuid4()}"
    async with db.connect() as conn:
        tx = await conn.begin()
        await conn.execute(
            text(
                "INSERT INTO idempotency_keys (merchant_id, key, request_hash, response_status, response_body) "
                "VALUES (:m, :k, '\\x00', 0, '')"
            ),
            {"m": merchant.id, "k": held},
        )
        requests = [
            _request(settings, merchant, 3301),
            _request(settings, merchant, 3302, key=held, body_hash=b"G" * 32),
            _request(settings, merchant, 3303, key=f"k-{uuid.uuid4()}", body_hash=b"H" * 32),
            _request(settings, merchant, 3304),
        ]
        answers = await asyncio.gather(*(acceptor.accept(r) for r in requests), return_exceptions=True)
        await tx.rollback()
    assert isinstance(answers[1], IdempotencyKeyInUse)
    assert all(isinstance(answers[i], Accepted) and answers[i].status == 202 for i in (0, 2, 3))
    rows = await _rows(db, merchant)
    assert sorted(r.amount_minor for r in rows) == [3301, 3303, 3304]
    await _charged_once(api, merchant, sandbox, db, [str(r.id) for r in rows])


async def test_concurrent_http_accepts_are_each_recorded_and_queued(api, merchant, db, sandbox):
    from tests.helpers import card_payment

    responses = await asyncio.gather(
        *(api.post("/v1/payments", json=card_payment(f"{40 + n}.00"), headers=merchant.headers) for n in range(12))
    )
    assert [r.status_code for r in responses] == [202] * 12
    assert all(r.headers["location"] == f"/v1/payments/{r.json()['id']}" for r in responses)
    rows = await _rows(db, merchant)
    assert sorted(r.amount_minor for r in rows) == [(40 + n) * 100 for n in range(12)]
    await _charged_once(api, merchant, sandbox, db, [r.json()["id"] for r in responses])
