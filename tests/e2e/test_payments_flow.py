"""One real payment through every layer: API → PostgreSQL → Redis broker → worker → emulator."""

from __future__ import annotations

import pytest

from tests.helpers import card_payment, opaque_payment, wait_final

pytestmark = pytest.mark.usefixtures("worker")


async def _invoice(db, payment_id: str) -> str:
    from sqlalchemy import text

    async with db.connect() as conn:
        return (
            await conn.execute(text("SELECT invoice_number FROM payments WHERE id = :id"), {"id": payment_id})
        ).scalar_one()


async def test_approved_sale_is_captured_with_transaction_id_and_auth_code(api, merchant, sandbox, db):
    response = await api.post("/v1/payments", json=card_payment("12.50"), headers=merchant.headers)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "pending"
    assert response.headers["location"] == f"/v1/payments/{accepted['id']}"

    final = await wait_final(api, merchant.headers, accepted["id"])

    assert final["status"] == "captured"
    assert final["amount"] == "12.50" and final["amount_captured"] == "12.50"
    assert final["processor"]["transaction_id"]
    assert len(final["processor"]["auth_code"]) == 6
    assert final["card"] == {"brand": "visa", "last4": "1111", "exp_month": 12, "exp_year": 2031}
    ledger = sandbox.ledger(await _invoice(db, accepted["id"]))
    assert [(t["type"], t["amount"]) for t in ledger] == [("authCaptureTransaction", "12.50")]
    assert ledger[0]["trans_id"] == final["processor"]["transaction_id"]


async def test_auth_only_reaches_authorized(api, merchant, sandbox, db):
    response = await api.post("/v1/payments", json=card_payment("40.00", capture=False), headers=merchant.headers)
    final = await wait_final(api, merchant.headers, response.json()["id"])
    assert final["status"] == "authorized"
    assert final["amount_captured"] == "0.00"
    ledger = sandbox.ledger(await _invoice(db, final["id"]))
    assert [t["type"] for t in ledger] == ["authOnlyTransaction"]


async def test_decline_trigger_reaches_declined_with_clear_code(api, merchant):
    body = card_payment("15.00", billing={"first_name": "Dee", "last_name": "Cline", "postal_code": "46282"})
    response = await api.post("/v1/payments", json=body, headers=merchant.headers)
    final = await wait_final(api, merchant.headers, response.json()["id"])
    assert final["status"] == "declined"
    assert final["failure"]["code"] == "card_declined"
    assert final["failure"]["processor_code"] == "2"
    assert final["amount_captured"] == "0.00"


async def test_opaque_data_payment_is_captured(api, merchant):
    response = await api.post("/v1/payments", json=opaque_payment("20.00"), headers=merchant.headers)
    assert response.status_code == 202, response.text
    final = await wait_final(api, merchant.headers, response.json()["id"])
    assert final["status"] == "captured"
    assert final["payment_method_type"] == "opaque"


async def test_connection_refused_twice_then_success_still_captures(api, merchant, sandbox, db, worker):
    # The emulator stops listening for a while: the client's connects are refused, retried
    # with backoff, and succeed once it listens again. Nothing reached the processor twice.
    sandbox.add_fault("refuse_connections", duration_ms=1200)
    response = await api.post("/v1/payments", json=card_payment("31.00"), headers=merchant.headers)
    final = await wait_final(api, merchant.headers, response.json()["id"])
    assert final["status"] == "captured"
    assert len(sandbox.ledger(await _invoice(db, final["id"]))) == 1
    log = worker.read_text()
    assert log.count("not sent (attempt") >= 2, "expected at least two refused connection attempts"


@pytest.mark.parametrize("fault", ["drop_after_commit", "hang_after_commit"])
async def test_lost_response_after_charge_never_charges_twice(api, merchant, sandbox, db, fault):
    sandbox.add_fault(fault, delay_ms=5000, match={"amount": "44.44"})
    response = await api.post("/v1/payments", json=card_payment("44.44"), headers=merchant.headers)
    final = await wait_final(api, merchant.headers, response.json()["id"])

    assert final["status"] == "captured"
    ledger = sandbox.ledger(await _invoice(db, final["id"]))
    assert len(ledger) == 1, ledger
    assert final["processor"]["transaction_id"] == ledger[0]["trans_id"]
    async with db.connect() as conn:
        from sqlalchemy import text

        types = (
            await conn.execute(
                text("SELECT type FROM payment_events WHERE payment_id = :id ORDER BY id"), {"id": final["id"]}
            )
        ).scalars().all()
    assert types == ["payment.pending", "payment.processing", "payment.captured"]


async def test_every_status_change_leaves_an_event(api, merchant, db):
    response = await api.post("/v1/payments", json=card_payment("9.99", capture=False), headers=merchant.headers)
    final = await wait_final(api, merchant.headers, response.json()["id"])
    from sqlalchemy import text

    async with db.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT from_status, to_status FROM payment_events WHERE payment_id = :id ORDER BY id"),
                {"id": final["id"]},
            )
        ).all()
    assert [tuple(r) for r in rows] == [(None, "pending"), ("pending", "processing"), ("processing", "authorized")]


async def _merchant_events(db, payment_id: str) -> list[dict]:
    import json

    from sqlalchemy import text

    async with db.connect() as conn:
        rows = await conn.execute(
            text("SELECT type, body FROM events WHERE object_id = :id ORDER BY created_at"), {"id": payment_id}
        )
        return [{"type": r.type, **json.loads(r.body)} for r in rows]


async def test_final_status_records_one_merchant_event_with_the_payment_as_it_became(api, merchant, db):
    captured = await wait_final(
        api, merchant.headers, (await api.post("/v1/payments", json=card_payment("9.10"), headers=merchant.headers)).json()["id"]
    )
    body = card_payment("9.20", billing={"first_name": "Dee", "last_name": "Cline", "postal_code": "46282"})
    declined = await wait_final(
        api, merchant.headers, (await api.post("/v1/payments", json=body, headers=merchant.headers)).json()["id"]
    )

    for final in (captured, declined):
        events = await _merchant_events(db, final["id"])
        # pending and processing are internal steps: only the outcome is announced, once.
        assert [e["type"] for e in events] == [f"payment.{final['status']}"]
        event = events[0]
        assert event["object"] == "event" and event["id"]
        assert event["data"]["object"] == final
