"""The outbox and the claim, on real PostgreSQL without workers: deliveries exist exactly when
their event committed; claims respect the per-endpoint cap, leases bring a dead worker's delivery
back, and a stale lease token changes nothing."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
from sqlalchemy import text

from engine.db import payments as payment_repo
from engine.db import webhook_deliveries as delivery_repo
from engine.db import webhook_outbox as repo
from engine.events import record_event
from engine.payments import NewPayment, accept_payment
from engine.states import Trigger
from engine.views import payment_view
from engine.webhooks import endpoints as cases
from engine.webhooks.attempt import make_client
from engine.sealing import SecretBox
from engine.webhooks.service import DeliveryDeps, Outcome, deliver
from tests.webhooks.receiver import Receiver
from tests.webhooks.scripted import scripted_server


async def _endpoint(db, settings, merchant_id, url="https://hooks.example.com/x", events=("*",)):
    async with db.begin() as conn:
        row, _ = await cases.create_endpoint(
            conn, SecretBox(settings.secret_key), merchant_id=merchant_id, url=url, event_types=list(events), description=None
        )
    return row


async def _payment(conn, merchant_id):
    return await accept_payment(
        conn, NewPayment(merchant_id=merchant_id, amount_minor=500, currency="USD", capture=True, payment_method_type="card")
    )


async def _count(db, sql: str, **params) -> int:
    async with db.connect() as conn:
        return int((await conn.execute(text(sql), params)).scalar_one())


async def test_an_event_and_its_deliveries_commit_or_roll_back_together(db, settings, merchant):
    endpoint = await _endpoint(db, settings, merchant.id, events=("payment.captured",))
    await _endpoint(db, settings, merchant.id, events=("refund.failed",))  # not subscribed
    try:
        async with db.begin() as conn:
            row = await _payment(conn, merchant.id)
            await record_event(conn, merchant_id=merchant.id, type="payment.captured", object_type="payment",
                               object_id=row.id, snapshot=payment_view(row))
            raise RuntimeError("the change fails after the event was written")
    except RuntimeError:
        pass
    assert await _count(db, "SELECT count(*) FROM webhook_deliveries WHERE merchant_id = :m", m=merchant.id) == 0

    # A real status change through transition() fans out in its own transaction.
    async with db.begin() as conn:
        row = await _payment(conn, merchant.id)
        await payment_repo.transition(conn, row.id, Trigger.CLAIM)
        await payment_repo.transition(conn, row.id, Trigger.CAPTURE)
    async with db.connect() as conn:
        [delivery] = (await delivery_repo.list_deliveries(conn, endpoint.id, limit=10)).items
    assert delivery.status == "pending" and delivery.event_type == "payment.captured" and delivery.attempts == 0


async def test_claims_cap_in_flight_per_endpoint_and_leases_expire(db, settings, merchant):
    busy = await _endpoint(db, settings, merchant.id)
    other = await _endpoint(db, settings, merchant.id)
    async with db.begin() as conn:
        for _ in range(5):
            row = await _payment(conn, merchant.id)
            await record_event(conn, merchant_id=merchant.id, type="payment.captured", object_type="payment",
                               object_id=row.id, snapshot=payment_view(row))
    mine = (busy.id, other.id)

    async def claim(lease_s: float) -> list[tuple[uuid.UUID, uuid.UUID]]:
        async with db.begin() as conn:
            claimed = await repo.claim_due(conn, batch=100, max_in_flight=2, lease_s=lease_s)
        return claimed

    async def per_endpoint(ids) -> dict[uuid.UUID, int]:
        async with db.connect() as conn:
            rows = (await conn.execute(text("SELECT endpoint_id, count(*) AS n FROM webhook_deliveries WHERE id = ANY(:ids) GROUP BY endpoint_id"), {"ids": list(ids)})).all()
        return {r.endpoint_id: r.n for r in rows}

    first = [c for c in await claim(0.6)]
    counts = await per_endpoint([d for d, _ in first])
    assert {k: v for k, v in counts.items() if k in mine} == {busy.id: 2, other.id: 2}
    assert not [c for c in await claim(0.6) if (await per_endpoint([c[0]])).keys() & set(mine)]  # all slots taken
    await asyncio.sleep(0.8)  # the leases run out: those workers are presumed dead
    again = await claim(30)
    again_mine = await per_endpoint([d for d, _ in again])
    assert {k: v for k, v in again_mine.items() if k in mine} == {busy.id: 2, other.id: 2}
    reclaimed = {d for d, _ in first} & {d for d, _ in again}
    assert reclaimed  # the expired deliveries came back (with new tokens)
    tokens = dict(again)
    for delivery_id, token in first:
        if delivery_id in reclaimed:
            assert tokens[delivery_id] != token


async def test_one_attempt_is_recorded_and_a_stale_token_is_a_no_op(db, settings, merchant):
    receiver = Receiver()
    http = make_client(connect_timeout_s=1, total_timeout_s=2, max_connections=4)
    try:
        endpoint = await _endpoint(db, settings, merchant.id, url=receiver.url("/one"))
        async with db.begin() as conn:
            row = await _payment(conn, merchant.id)
            await record_event(conn, merchant_id=merchant.id, type="payment.captured", object_type="payment",
                               object_id=row.id, snapshot=payment_view(row))
            [(delivery_id, token)] = await repo.claim_due(conn, batch=10, max_in_flight=2, lease_s=30, endpoint_id=endpoint.id)
        deps = DeliveryDeps(engine=db, http=http, box=SecretBox(settings.secret_key), settings=settings.webhooks)

        assert (await deliver(deps, delivery_id, uuid.uuid4())).outcome is Outcome.STALE
        assert receiver.received == []
        report = await deliver(deps, delivery_id, token)
        assert report.outcome is Outcome.SUCCEEDED and report.attempt.status_code == 200
        assert (await deliver(deps, delivery_id, token)).outcome is Outcome.STALE  # a duplicate message
        assert len(receiver.received) == 1
        assert await _count(db, "SELECT count(*) FROM webhook_attempts WHERE delivery_id = :d", d=delivery_id) == 1
    finally:
        await http.close()
        receiver.close()


async def test_a_timeout_is_recorded_as_a_failed_attempt_with_its_latency(db, settings, merchant):
    import threading

    receiver = Receiver()
    hold = threading.Event()
    receiver.behave("/slow", hold=hold)
    http = make_client(connect_timeout_s=1, total_timeout_s=0.3, max_connections=4)
    try:
        endpoint = await _endpoint(db, settings, merchant.id, url=receiver.url("/slow"))
        async with db.begin() as conn:
            row = await _payment(conn, merchant.id)
            await record_event(conn, merchant_id=merchant.id, type="payment.captured", object_type="payment",
                               object_id=row.id, snapshot=payment_view(row))
            [(delivery_id, token)] = await repo.claim_due(conn, batch=10, max_in_flight=2, lease_s=30, endpoint_id=endpoint.id)
        cfg = settings.webhooks.__class__(**{**settings.webhooks.__dict__, "total_timeout_s": 0.3})
        deps = DeliveryDeps(engine=db, http=http, box=SecretBox(settings.secret_key), settings=cfg)
        report = await deliver(deps, delivery_id, token)
        assert report.outcome is Outcome.RETRYING
        assert report.attempt.error.startswith("timeout") and report.attempt.latency_ms >= 300
        [current] = [d for d in (await _deliveries(db, endpoint.id))]
        assert current.status == "pending" and current.attempts == 1 and current.lease_token is None
    finally:
        hold.set()
        await http.close()
        receiver.close()


async def _deliveries(db, endpoint_id):
    async with db.connect() as conn:
        return list((await conn.execute(text("SELECT * FROM webhook_deliveries WHERE endpoint_id = :e"), {"e": endpoint_id})).all())


async def test_one_pooled_aiohttp_session_is_the_client():
    client = make_client(connect_timeout_s=1, total_timeout_s=2, max_connections=3)
    try:
        assert isinstance(client, aiohttp.ClientSession) and client.timeout.connect == 1 and client.timeout.total == 2
        assert client.connector.limit == 3 and not client.trust_env
    finally:
        await client.close()


class _RouteTo(aiohttp.TCPConnector):
    """Every connection goes to one loopback port: it stands for the public address the test's
    resolver hands out (the request itself still names that address and the endpoint's host)."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self._port = port

    async def _resolve_host(self, host, port, traces=None):
        return await super()._resolve_host("127.0.0.1", self._port, traces)


async def _public(host: str, port: int) -> list[str]:
    return ["93.184.215.14"]


async def test_retry_after_postpones_the_next_attempt_and_the_body_is_cut(db, settings, merchant):
    endpoint = await _endpoint(db, settings, merchant.id, url="http://hooks.example.com/throttled")
    async with db.begin() as conn:
        row = await _payment(conn, merchant.id)
        await record_event(conn, merchant_id=merchant.id, type="payment.captured", object_type="payment",
                           object_id=row.id, snapshot=payment_view(row))
        [(delivery_id, token)] = await repo.claim_due(conn, batch=10, max_in_flight=2, lease_s=30, endpoint_id=endpoint.id)
    async with scripted_server(429, b"x" * 5000, {"Retry-After": "120"}) as server:
        client = aiohttp.ClientSession(connector=_RouteTo(server.port))
        try:
            deps = DeliveryDeps(engine=db, http=client, box=SecretBox(settings.secret_key), settings=settings.webhooks,
                                resolver=_public)
            report = await deliver(deps, delivery_id, token)
        finally:
            await client.close()
    assert report.outcome is Outcome.RETRYING and report.attempt.retry_after_s == 120
    assert len(report.attempt.response_body) == settings.webhooks.response_body_bytes
    [(path, headers, _)] = server.seen
    assert path == "/throttled" and headers["host"] == "hooks.example.com"
    async with db.connect() as conn:
        wait_s = (await conn.execute(
            text("SELECT extract(epoch FROM next_attempt_at - now()) FROM webhook_deliveries WHERE id = :d"), {"d": delivery_id}
        )).scalar_one()
    assert 100 < wait_s <= 120
