"""The worker's use case against real PostgreSQL, Redis and the emulator, called in-process so each
branch can be driven: nothing sent, outcome unknown, redelivery, expired card data, duplicates."""

from __future__ import annotations

import dataclasses
import time
import uuid

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text

from engine.cache import PaymentCache
from engine.db.session import make_engine
from engine.method_secrets import seal_method
from engine.payments import NewPayment, accept_payment
from engine.job_deps import ProcessingDeps, Result
from engine.processing import process_payment
from engine.resends import ProcessorUnavailable
from engine.processor import Card, ProcessorClient
from engine.sealing import Sealer
from tests.conftest import free_port

CARD = Card("4111111111111111", 12, 2031, "123")


async def _no_sleep(_: float) -> None:
    return None


@pytest.fixture
async def deps_for(settings, database):
    created: list[ProcessingDeps] = []

    async def build(endpoint_url: str | None = None) -> ProcessingDeps:
        processor = settings.processor
        if endpoint_url:
            processor = dataclasses.replace(processor, endpoint_url=endpoint_url)
        deps = ProcessingDeps(
            engine=make_engine(settings.database),
            client=ProcessorClient(processor, connect_backoff_initial_s=0.01, connect_backoff_max_s=0.02),
            sealer=Sealer(settings.secret_key),
            cache=PaymentCache(aioredis.Redis.from_url(settings.redis.cache_url), prefix=settings.redis.key_prefix, ttl_s=60),
            unknown_outcome_resends=2,
            sleep=_no_sleep,
        )
        created.append(deps)
        return deps

    yield build
    for deps in created:
        await deps.client.aclose()
        await deps.engine.dispose()


async def _payment(db, merchant, amount_minor: int = 1500) -> uuid.UUID:
    async with db.begin() as conn:
        row = await accept_payment(
            conn,
            NewPayment(merchant_id=merchant.id, amount_minor=amount_minor, currency="USD", capture=True,
                       payment_method_type="card", card_brand="visa", card_last4="1111", card_exp_month=12, card_exp_year=2031),
        )
    return row.id


async def _state(db, payment_id) -> tuple[str, bool, str | None, list[str]]:
    async with db.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM payments WHERE id = :id"), {"id": payment_id})).one()
        types = (
            await conn.execute(text("SELECT type FROM payment_events WHERE payment_id = :id ORDER BY id"), {"id": payment_id})
        ).scalars().all()
    return row.status, row.needs_reconciliation, row.failure_code, list(types)


async def test_unreachable_processor_raises_for_a_retry_then_fails_on_the_last_attempt(deps_for, db, merchant, settings):
    deps = await deps_for(f"http://127.0.0.1:{free_port()}/xml/v1/request.api")
    payment_id = await _payment(db, merchant)
    sealed = seal_method(deps.sealer, payment_id, CARD, ttl_s=600)

    with pytest.raises(ProcessorUnavailable):
        await process_payment(deps, payment_id, sealed, message_id="m-1")
    status, flagged, _, _ = await _state(db, payment_id)
    assert (status, flagged) == ("processing", False), "nothing was sent, so nothing to reconcile"

    result = await process_payment(deps, payment_id, sealed, message_id="m-1", final_attempt=True)
    assert result == Result.FINISHED
    status, flagged, failure, events = await _state(db, payment_id)
    assert (status, failure, flagged) == ("failed", "processor_unavailable", False)
    assert events == ["payment.pending", "payment.processing", "payment.failed"]


async def test_unknown_outcome_is_kept_for_reconciliation_and_resolved_by_the_owners_redelivery(deps_for, db, merchant, sandbox):
    deps = await deps_for()
    payment_id = await _payment(db, merchant, amount_minor=6161)
    sealed = seal_method(deps.sealer, payment_id, CARD, ttl_s=600)
    sandbox.add_fault("http_503", count=-1, match={"amount": "61.61"})

    assert await process_payment(deps, payment_id, sealed, message_id="owner") == Result.UNKNOWN
    status, flagged, failure, events = await _state(db, payment_id)
    assert (status, flagged, failure) == ("processing", True, None), "unknown is never a decline"
    assert events[-1] == "payment.outcome_unknown"

    # Another message for the same payment does nothing; the owner's redelivery finishes it.
    sandbox.clear_faults()
    assert await process_payment(deps, payment_id, sealed, message_id="someone-else") == Result.IGNORED
    assert await process_payment(deps, payment_id, sealed, message_id="owner") == Result.FINISHED
    status, flagged, _, events = await _state(db, payment_id)
    assert (status, flagged) == ("captured", False)
    async with db.connect() as conn:
        invoice = (await conn.execute(text("SELECT invoice_number FROM payments WHERE id = :id"), {"id": payment_id})).scalar_one()
    assert len(sandbox.ledger(invoice)) == 1


async def test_a_charge_that_landed_before_the_answer_was_lost_is_found_not_repeated(deps_for, db, merchant, sandbox):
    deps = await deps_for()
    payment_id = await _payment(db, merchant, amount_minor=7272)
    sealed = seal_method(deps.sealer, payment_id, CARD, ttl_s=600)
    sandbox.add_fault("drop_after_commit", count=2, match={"amount": "72.72"})

    assert await process_payment(deps, payment_id, sealed, message_id="owner") == Result.FINISHED
    status, _, _, _ = await _state(db, payment_id)
    assert status == "captured"
    async with db.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM payments WHERE id = :id"), {"id": payment_id})).one()
    ledger = sandbox.ledger(row.invoice_number)
    assert len(ledger) == 1 and ledger[0]["trans_id"] == row.processor_transaction_id
    assert row.processor_attempts >= 2


async def test_expired_card_data_fails_without_charging(deps_for, db, merchant, sandbox):
    deps = await deps_for()
    payment_id = await _payment(db, merchant)
    expired = deps.sealer.seal(b'{"type":"card","number":"4111111111111111","exp_month":12,"exp_year":2031}',
                               context=str(payment_id), ttl_s=10, now_s=time.time() - 3600)
    assert await process_payment(deps, payment_id, expired, message_id="m") == Result.FINISHED
    status, _, failure, _ = await _state(db, payment_id)
    assert (status, failure) == ("failed", "payment_method_expired")


async def test_a_method_gone_before_its_ttl_was_lost_and_one_gone_after_it_expired(deps_for, db, merchant, sandbox):
    """A retried dead letter whose stash copy is gone (``sealed_method`` None): the accepted time
    plus ``CARD_MESSAGE_TTL_S`` tells a lost copy (Redis lost data) from an expired one."""
    from prometheus_client import REGISTRY

    deps = await deps_for()
    lost, old = await _payment(db, merchant, amount_minor=4101), await _payment(db, merchant, amount_minor=4102)
    async with db.begin() as conn:  # accepted longer ago than the TTL
        await conn.execute(
            text("UPDATE payments SET created_at = now() - make_interval(secs => :s) WHERE id = :id"),
            {"s": deps.card_message_ttl_s + 1, "id": old},
        )
    lost_before = REGISTRY.get_sample_value("easypay_payment_methods_lost_total") or 0

    assert await process_payment(deps, lost, None, message_id="m-lost") == Result.FINISHED
    assert await process_payment(deps, old, None, message_id="m-old") == Result.FINISHED
    status, _, failure, events = await _state(db, lost)
    assert (status, failure) == ("failed", "payment_method_lost")
    assert events == ["payment.pending", "payment.processing", "payment.failed"]
    assert (await _state(db, old))[:3:2] == ("failed", "payment_method_expired")
    assert REGISTRY.get_sample_value("easypay_payment_methods_lost_total") == lost_before + 1  # the lost one only
    async with db.connect() as conn:
        message = (await conn.execute(text("SELECT failure_message FROM payments WHERE id = :id"), {"id": lost})).scalar_one()
        invoices = (
            await conn.execute(text("SELECT invoice_number FROM payments WHERE id IN (:a, :b)"), {"a": lost, "b": old})
        ).scalars().all()
    assert "lost" in message and "nothing was charged" in message and "expired" not in message
    assert all(sandbox.ledger(invoice) == [] for invoice in invoices)


async def test_card_data_sealed_for_another_payment_is_refused(deps_for, db, merchant):
    deps = await deps_for()
    payment_id = await _payment(db, merchant)
    other = seal_method(deps.sealer, uuid.uuid4(), CARD, ttl_s=600)
    assert await process_payment(deps, payment_id, other, message_id="m") == Result.FINISHED
    status, _, failure, _ = await _state(db, payment_id)
    assert (status, failure) == ("failed", "payment_method_unreadable")


async def test_an_approved_charge_takes_two_statements_and_one_send(deps_for, db, merchant, sandbox):
    """The claim is one autocommit statement (the status change and its event in one ``WITH``);
    so is the outcome (the status change, its history row, the public event and its webhook
    outbox): 2 round trips to PostgreSQL in all."""
    from sqlalchemy import event

    deps = await deps_for()
    payment_id = await _payment(db, merchant, amount_minor=4242)
    sealed = seal_method(deps.sealer, payment_id, CARD, ttl_s=600)
    seen: list[str] = []
    sync_engine = deps.engine.sync_engine

    def mode(conn) -> str:  # type: ignore[no-untyped-def]
        return "autocommit" if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT" else "transaction"

    event.listen(sync_engine, "begin", lambda conn: seen.append(f"begin {mode(conn)}"))
    event.listen(sync_engine, "commit", lambda conn: seen.append("commit"))
    event.listen(sync_engine, "rollback", lambda conn: seen.append(f"rollback {mode(conn)}"))
    event.listen(sync_engine, "before_cursor_execute", lambda *args: seen.append("statement"))

    assert await process_payment(deps, payment_id, sealed, message_id="m-count") == Result.FINISHED

    # claim: the compare-and-set with its event (autocommit: its "rollback" sends nothing);
    # outcome: the compare-and-set with its event, the public event and its webhook outbox.
    assert seen == [
        "begin autocommit", "statement", "rollback autocommit",
        "begin autocommit", "statement", "rollback autocommit",
    ], seen
    status, flagged, failure, events = await _state(db, payment_id)
    assert (status, flagged, failure) == ("captured", False, None)
    assert events == ["payment.pending", "payment.processing", "payment.captured"]
    async with db.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM payments WHERE id = :id"), {"id": payment_id})).one()
    assert row.processor_attempts == 1
    assert len(sandbox.ledger(row.invoice_number)) == 1


async def _public_events(db, payment_id) -> list[tuple[str, dict, int]]:
    """(type, the payment object the event carries, its webhook deliveries) of each public event."""
    import json

    async with db.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT e.type, e.body, (SELECT count(*) FROM webhook_deliveries d WHERE d.event_id = e.id) AS deliveries"
            " FROM events e WHERE e.object_id = :id ORDER BY e.created_at"), {"id": payment_id})).all()
    return [(r.type, json.loads(r.body)["data"]["object"], r.deliveries) for r in rows]


async def _payment_object(db, payment_id) -> dict:
    import json

    import msgspec

    from engine.views import payment_view

    async with db.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM payments WHERE id = :id"), {"id": payment_id})).one()
    return json.loads(msgspec.json.encode(payment_view(row)))


async def _subscribe(db, settings, merchant, event_types: list[str]) -> None:
    from engine.webhooks import endpoints as webhook_endpoints
    from engine.sealing import SecretBox

    async with db.begin() as conn:
        await webhook_endpoints.create_endpoint(
            conn, SecretBox(settings.secret_key), merchant_id=merchant.id, url="https://hooks.example.com/outcomes",
            event_types=event_types, description="outcomes",
        )


async def test_the_outcome_statement_writes_the_public_event_as_the_payment_is_and_its_deliveries(
    deps_for, db, merchant, sandbox, settings
):
    deps = await deps_for()
    await _subscribe(db, settings, merchant, ["payment.captured"])
    await _subscribe(db, settings, merchant, ["refund.failed"])  # not told of captures
    payment_id = await _payment(db, merchant, amount_minor=4747)
    sealed = seal_method(deps.sealer, payment_id, CARD, ttl_s=600)
    assert await process_payment(deps, payment_id, sealed, message_id="m-event") == Result.FINISHED
    events = await _public_events(db, payment_id)
    assert [(t, n) for t, _, n in events] == [("payment.captured", 1)]
    assert events[0][1] == await _payment_object(db, payment_id)  # updated_at and version included


async def test_an_outcome_after_another_write_falls_back_to_the_locked_transition(deps_for, db, merchant, sandbox, settings):
    """The row moved on after the claim (here a write while the first answer is resent): the
    one-statement outcome writes nothing, and the transaction path records it instead, once."""
    await _subscribe(db, settings, merchant, ["*"])
    payment_id = await _payment(db, merchant, amount_minor=4848)
    sandbox.add_fault("http_503", count=1, match={"amount": "48.48"})

    async def another_writer(_: float) -> None:
        async with db.begin() as conn:
            await conn.execute(text("UPDATE payments SET version = version + 1, description = 'changed' WHERE id = :id"),
                               {"id": payment_id})

    deps = dataclasses.replace(await deps_for(), sleep=another_writer)
    sealed = seal_method(deps.sealer, payment_id, CARD, ttl_s=600)
    assert await process_payment(deps, payment_id, sealed, message_id="m-fallback") == Result.FINISHED
    status, _, _, history = await _state(db, payment_id)
    assert status == "captured" and history.count("payment.captured") == 1
    events = await _public_events(db, payment_id)
    assert [(t, n) for t, _, n in events] == [("payment.captured", 1)]
    assert events[0][1] == await _payment_object(db, payment_id)
    assert events[0][1]["description"] == "changed"


async def _changes(settings, channel: str):
    """A subscription to the cache's change notifications (payment ids)."""
    client = aioredis.Redis.from_url(settings.redis.cache_url)
    pubsub = client.pubsub()
    await pubsub.subscribe(channel)
    await pubsub.get_message(timeout=1.0)  # the subscribe confirmation
    return client, pubsub


async def _drain(pubsub, wait_s: float) -> list[str]:
    seen, deadline = [], time.monotonic() + wait_s
    while (remaining := deadline - time.monotonic()) > 0:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=remaining)
        if message is not None:
            seen.append(message["data"].decode())
    return seen


async def test_a_charge_answered_at_once_writes_one_cache_snapshot(deps_for, db, merchant, sandbox, settings):
    """The claim's ``processing`` snapshot is superseded by the outcome before it is due: one cache
    write and one change notification per payment, not two."""
    from engine import job_snapshots

    deps = await deps_for()
    payment_id = await _payment(db, merchant, amount_minor=4545)
    sealed = seal_method(deps.sealer, payment_id, CARD, ttl_s=600)
    client, pubsub = await _changes(settings, deps.cache.channel)
    try:
        assert await process_payment(deps, payment_id, sealed, message_id="m-once") == Result.FINISHED
        assert not job_snapshots.pending(payment_id)
        # Long enough for a deferred write that was not dropped to have happened.
        notified = await _drain(pubsub, wait_s=max(0.5, 10 * job_snapshots.DEFER_S))
    finally:
        await pubsub.aclose()
        await client.aclose()
    assert notified == [str(payment_id)]
    cached = await deps.cache.get(payment_id, merchant_id=merchant.id)
    assert cached is not None and cached.status == "captured"


async def test_a_slow_charge_shows_processing_in_the_cache_while_it_waits(deps_for, db, merchant, sandbox, settings):
    import asyncio

    from engine import job_snapshots

    deps = await deps_for()
    payment_id = await _payment(db, merchant, amount_minor=4646)
    sealed = seal_method(deps.sealer, payment_id, CARD, ttl_s=600)
    delay_ms = int(4_000 * job_snapshots.DEFER_S)  # 4× the deferral, well within the read timeout (2 s)
    sandbox.add_fault("latency", delay_ms=delay_ms, count=-1, match={"amount": "46.46"})
    job = asyncio.create_task(process_payment(deps, payment_id, sealed, message_id="m-slow"))
    seen: list[str | None] = []
    while not job.done():
        cached = await deps.cache.get(payment_id, merchant_id=merchant.id)
        seen.append(cached.status if cached else None)
        if seen[-1] == "processing":
            break
        await asyncio.sleep(0.01)
    assert await job == Result.FINISHED
    assert "processing" in seen, seen
    cached = await deps.cache.get(payment_id, merchant_id=merchant.id)
    assert cached is not None and cached.status == "captured"


async def test_a_duplicate_message_changes_nothing(deps_for, db, merchant, sandbox):
    deps = await deps_for()
    payment_id = await _payment(db, merchant, amount_minor=4343)
    sealed = seal_method(deps.sealer, payment_id, CARD, ttl_s=600)
    assert await process_payment(deps, payment_id, sealed, message_id="first") == Result.FINISHED
    async with db.connect() as conn:
        before = (await conn.execute(text("SELECT version, processor_attempts FROM payments WHERE id = :id"), {"id": payment_id})).one()
    assert await process_payment(deps, payment_id, sealed, message_id="second") == Result.IGNORED
    async with db.connect() as conn:
        after = (await conn.execute(text("SELECT version, processor_attempts FROM payments WHERE id = :id"), {"id": payment_id})).one()
    assert tuple(after) == tuple(before)


async def test_a_superseded_owner_never_flags_a_payment_another_message_finished(deps_for, db, merchant, sandbox):
    """The reconciler hands the charge to a new message, which finishes it while the old owner is
    still resending: the old owner's "in flight" and "outcome unknown" writes must not land."""
    deps = await deps_for()
    payment_id = await _payment(db, merchant, amount_minor=8383)
    sealed = seal_method(deps.sealer, payment_id, CARD, ttl_s=600)
    fault = {"count": -1, "match": {"amount": "83.83"}}
    sandbox.add_fault("http_503", **fault)
    taken_over: list[Result] = []

    async def take_over_then_finish(_: float) -> None:
        if taken_over:
            return
        async with db.begin() as conn:
            await conn.execute(text("UPDATE payments SET processing_message_id = 'new-owner' WHERE id = :id"), {"id": payment_id})
        sandbox.clear_faults()
        taken_over.append(await process_payment(deps, payment_id, sealed, message_id="new-owner"))
        sandbox.add_fault("http_503", **fault)

    old_owner = dataclasses.replace(deps, sleep=take_over_then_finish)
    assert await process_payment(old_owner, payment_id, sealed, message_id="old-owner") in (Result.IGNORED, Result.UNKNOWN)
    assert taken_over == [Result.FINISHED]
    status, flagged, _, events = await _state(db, payment_id)
    assert (status, flagged) == ("captured", False), "a finished payment keeps the flag its finisher cleared"
    assert "payment.outcome_unknown" not in events[events.index("payment.captured"):]
