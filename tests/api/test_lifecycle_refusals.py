"""Every illegal capture/void/refund is a 409 with a specific code and changes nothing.

Payments are put in each status directly (no processor involved); only refusals are exercised
here, so nothing is ever queued. The allowed moves run end to end in tests/e2e/test_lifecycle.py.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text

from engine.payments import NewPayment, accept_payment

ALL = ["pending", "processing", "authorized", "captured", "partially_refunded", "refunded", "declined", "failed", "voided", "expired"]
CAPTURE_OK = {"authorized"}
VOID_OK = {"authorized", "captured"}  # captured: only before settlement and without refunds
REFUND_OK = {"captured", "partially_refunded"}


async def _payment(db, merchant, status: str, **columns: Any) -> str:
    async with db.begin() as conn:
        row = await accept_payment(
            conn, NewPayment(merchant_id=merchant.id, amount_minor=5000, currency="USD", capture=False, payment_method_type="card")
        )
        captured = 4000 if status in ("captured", "partially_refunded", "refunded") else 0
        refunded = {"partially_refunded": 1000, "refunded": 4000}.get(status, 0)
        values = {
            "status": status,
            "amount_captured_minor": captured,
            "amount_refunded_minor": refunded,
            "processor_transaction_id": "60000000000",
            "settled_at": None,
            **columns,
        }
        sets = ", ".join(f"{k} = :{k}" for k in values)
        await conn.execute(text(f"UPDATE payments SET {sets} WHERE id = :id"), {**values, "id": row.id})
        if refunded:
            await conn.execute(
                text(
                    "INSERT INTO refunds (id, payment_id, merchant_id, status, amount_minor, currency, method, invoice_number) "
                    "VALUES (:id, :p, :m, 'succeeded', :a, 'USD', 'refund', :inv)"
                ),
                {"id": uuid.uuid4(), "p": row.id, "m": merchant.id, "a": refunded, "inv": "RF" + uuid.uuid4().hex[:18]},
            )
    return str(row.id)


async def _snapshot(db, payment_id: str) -> tuple:
    async with db.connect() as conn:
        payment = (await conn.execute(text("SELECT * FROM payments WHERE id = :id"), {"id": payment_id})).one()
        refunds = (await conn.execute(text("SELECT count(*) FROM refunds WHERE payment_id = :id"), {"id": payment_id})).scalar_one()
        history = (await conn.execute(text("SELECT count(*) FROM payment_events WHERE payment_id = :id"), {"id": payment_id})).scalar_one()
        events = (await conn.execute(text("SELECT count(*) FROM events WHERE object_id = :id"), {"id": payment_id})).scalar_one()
    return (tuple(payment), refunds, history, events)


async def _refused(api, db, merchant, payment_id: str, path: str, body: dict | None, code: str, status: int = 409) -> None:
    before = await _snapshot(db, payment_id)
    response = await api.post(f"/v1/payments/{payment_id}/{path}", json=body, headers=merchant.headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code
    assert await _snapshot(db, payment_id) == before


@pytest.mark.parametrize("status", sorted(set(ALL) - CAPTURE_OK))
async def test_capture_refused(api, db, merchant, status):
    payment_id = await _payment(db, merchant, status)
    await _refused(api, db, merchant, payment_id, "capture", None, "payment_not_capturable")


@pytest.mark.parametrize("status", sorted(set(ALL) - VOID_OK))
async def test_void_refused(api, db, merchant, status):
    payment_id = await _payment(db, merchant, status)
    await _refused(api, db, merchant, payment_id, "void", None, "payment_not_voidable")


@pytest.mark.parametrize("status", sorted(set(ALL) - REFUND_OK))
async def test_refund_refused(api, db, merchant, status):
    payment_id = await _payment(db, merchant, status)
    await _refused(api, db, merchant, payment_id, "refunds", {"amount": "1.00"}, "payment_not_refundable")


async def test_void_of_a_settled_capture_refused(api, db, merchant):
    payment_id = await _payment(db, merchant, "captured")
    async with db.begin() as conn:
        await conn.execute(text("UPDATE payments SET settled_at = now() WHERE id = :id"), {"id": payment_id})
    await _refused(api, db, merchant, payment_id, "void", None, "payment_not_voidable")


async def test_capture_above_the_authorized_amount_refused(api, db, merchant):
    payment_id = await _payment(db, merchant, "authorized")
    await _refused(api, db, merchant, payment_id, "capture", {"amount": "50.01"}, "capture_exceeds_authorized")


async def test_refund_above_the_captured_amount_refused(api, db, merchant):
    payment_id = await _payment(db, merchant, "partially_refunded")
    async with db.begin() as conn:
        await conn.execute(text("UPDATE payments SET settled_at = now() WHERE id = :id"), {"id": payment_id})
    await _refused(api, db, merchant, payment_id, "refunds", {"amount": "30.01"}, "refund_exceeds_captured")


async def test_partial_refund_before_settlement_refused(api, db, merchant):
    payment_id = await _payment(db, merchant, "captured")
    await _refused(api, db, merchant, payment_id, "refunds", {"amount": "1.00"}, "payment_not_settled")


@pytest.mark.parametrize("path,body", [("capture", None), ("void", None), ("refunds", {"amount": "1.00"})])
async def test_operation_while_another_is_in_progress_refused(api, db, merchant, path, body):
    payment_id = await _payment(db, merchant, "authorized", pending_operation="void")
    await _refused(api, db, merchant, payment_id, path, body, "operation_in_progress")


@pytest.mark.parametrize("path,body", [("capture", {"amount": "1.001"}), ("capture", {"amount": "-1"}), ("refunds", {"amount": "abc"})])
async def test_bad_amount_is_422_naming_the_field(api, db, merchant, path, body):
    status = "authorized" if path == "capture" else "captured"
    payment_id = await _payment(db, merchant, status)
    before = await _snapshot(db, payment_id)
    response = await api.post(f"/v1/payments/{payment_id}/{path}", json=body, headers=merchant.headers)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"][0]["field"] == "amount"
    assert await _snapshot(db, payment_id) == before


async def test_unknown_field_is_422(api, db, merchant):
    payment_id = await _payment(db, merchant, "authorized")
    response = await api.post(f"/v1/payments/{payment_id}/capture", json={"amount": "1.00", "bogus": 1}, headers=merchant.headers)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "bogus"


async def test_operation_on_a_payment_needing_reconciliation_is_refused_and_reconciled_first(api, db, merchant, settings):
    import redis

    from tests.conftest import BROKER_DB

    payment_id = await _payment(db, merchant, "authorized", needs_reconciliation=True, pending_operation="capture")
    broker = redis.Redis(host="127.0.0.1", port=6379, db=BROKER_DB)
    queued_before = broker.hlen("easypay:recovery.msgs")
    await _refused(api, db, merchant, payment_id, "void", None, "payment_reconciling")
    bodies = broker.hvals("easypay:recovery.msgs")
    assert len(bodies) == queued_before + 1
    assert any(b"reconcile_payment" in body and payment_id.encode() in body for body in bodies)
    # Tidy up: the reconciliation message must not act on this made-up payment.
    for key, body in broker.hgetall("easypay:recovery.msgs").items():
        if payment_id.encode() in body:
            broker.hdel("easypay:recovery.msgs", key)
            broker.lrem("easypay:recovery", 0, key)


async def test_unknown_payment_is_404(api, merchant):
    for path in ("capture", "void", "refunds"):
        response = await api.post(f"/v1/payments/{uuid.uuid4()}/{path}", headers=merchant.headers)
        assert response.status_code == 404 and response.json()["code"] == "payment_not_found"


def test_every_lifecycle_route_declares_its_permission(settings):
    from api.app import create_app

    app = create_app(settings, configure_logs=False)
    expected = {
        ("POST", "/v1/payments/{payment_id:str}/capture"): "payments:write",
        ("POST", "/v1/payments/{payment_id:str}/void"): "payments:write",
        ("POST", "/v1/payments/{payment_id:str}/refunds"): "payments:refund",
        ("GET", "/v1/payments/{payment_id:str}/refunds"): "payments:read",
        ("GET", "/v1/refunds/{refund_id:str}"): "payments:read",
    }
    found = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in handler.http_methods:
                if (method, route.path) in expected:
                    found[(method, route.path)] = handler.opt.get("permission")
    assert found == expected
