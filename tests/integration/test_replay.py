"""Replaying a payment's (or refund's) recorded events rebuilds its current status."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from engine.db import payments as repo
from engine.db import refunds as refund_repo
from engine.payments import NewPayment, accept_payment
from engine.states import PaymentStatus, RefundTrigger, Trigger, replay, replay_refund

REFUND_TRIGGERS = {"refund.succeeded": RefundTrigger.SUCCEED, "refund.failed": RefundTrigger.FAIL}


async def _payment_replays(conn) -> list[tuple[str, str, str]]:
    """(id, status, status rebuilt from the triggers) for every payment whose history is a chain.

    A history with a gap (an event starting from another status than the previous one ended in)
    belongs to a row a test forced into a status with SQL; those are skipped.
    """
    rows = await conn.execute(
        text(
            "SELECT p.id, p.status, array_agg(e.trigger ORDER BY e.id) AS triggers, "
            "array_agg(coalesce(e.from_status, '') ORDER BY e.id) AS froms, array_agg(e.to_status ORDER BY e.id) AS tos "
            "FROM payments p JOIN payment_events e ON e.payment_id = p.id "
            "WHERE e.trigger IS NOT NULL OR e.from_status IS NULL GROUP BY p.id, p.status"
        )
    )
    out = []
    for r in rows:
        if r.froms[0] != "" or any(r.froms[i] != r.tos[i - 1] for i in range(1, len(r.tos))) or r.tos[-1] != r.status:
            continue
        out.append((str(r.id), r.status, replay([Trigger(t) for t in r.triggers if t is not None]).value))
    return out


async def test_a_lifecycle_written_through_transition_replays_to_its_status(db, merchant):
    async with db.begin() as conn:
        row = await accept_payment(
            conn, NewPayment(merchant_id=merchant.id, amount_minor=3000, currency="USD", capture=False, payment_method_type="card")
        )
        for trigger, changes in [
            (Trigger.CLAIM, {}),
            (Trigger.AUTHORIZE, {}),
            (Trigger.CAPTURE, {"amount_captured_minor": 3000}),
            (Trigger.REFUND_PARTIAL, {"amount_refunded_minor": 1000}),
            (Trigger.REFUND_FULL, {"amount_refunded_minor": 3000}),
        ]:
            await repo.transition(conn, row.id, trigger, changes=changes)
        refund = await refund_repo.insert_refund(
            conn,
            {"id": uuid.uuid4(), "payment_id": row.id, "merchant_id": merchant.id, "amount_minor": 1000,
             "currency": "USD", "method": "refund", "invoice_number": "RFREPLAYTEST0000001"},
        )
        await refund_repo.transition_refund(conn, refund.id, RefundTrigger.SUCCEED)
    async with db.connect() as conn:
        replays = {pid: (status, rebuilt) for pid, status, rebuilt in await _payment_replays(conn)}
        assert replays[str(row.id)] == (PaymentStatus.REFUNDED.value, PaymentStatus.REFUNDED.value)
        types = (await conn.execute(text("SELECT type FROM events WHERE object_id = :id"), {"id": refund.id})).scalars().all()
        status = (await conn.execute(text("SELECT status FROM refunds WHERE id = :id"), {"id": refund.id})).scalar_one()
    assert replay_refund([REFUND_TRIGGERS[t] for t in types]).value == status == "succeeded"


async def test_every_payment_in_the_database_replays_to_its_status(db):
    """Whatever the suite has produced so far (workers, reconciler, sweeps) obeys the rule too."""
    async with db.connect() as conn:
        replays = await _payment_replays(conn)
        refunds = (await conn.execute(text(
            "SELECT r.id, r.status, coalesce(array_agg(e.type ORDER BY e.created_at) FILTER (WHERE e.type IS NOT NULL), '{}') AS types "
            "FROM refunds r LEFT JOIN events e ON e.object_id = r.id GROUP BY r.id, r.status"
        ))).all()
    assert replays
    assert [(pid, s, r) for pid, s, r in replays if s != r] == []
    for r in refunds:
        if r.types:  # refunds without any event are pending ones or rows forced by SQL
            assert replay_refund([REFUND_TRIGGERS[t] for t in r.types]).value == r.status
