"""The webhook verifier against what the independent ``standardwebhooks`` package signs."""

from __future__ import annotations

import base64
import json
import secrets
import time
from datetime import datetime, timezone

import pytest
from standardwebhooks import Webhook

from easypay_client import Payment, Refund, WebhookVerificationError, WebhookVerifier, parse_event, signature_headers

EVENT = {
    "id": "7d1c6a1e-0e59-4c4e-9a55-3e2f1a0b9c01",
    "object": "event",
    "type": "payment.captured",
    "created_at": "2026-12-03T06:00:00.123456Z",
    "data": {
        "object": {
            "id": "5b8f9a3c-1111-4c4e-9a55-3e2f1a0b9c02", "object": "payment", "status": "captured",
            "amount": "12.50", "currency": "USD", "capture": True, "amount_captured": "12.50", "amount_refunded": "0.00",
            "pending_operation": None, "payment_method_type": "card",
            "card": {"brand": "visa", "last4": "1111", "exp_month": 12, "exp_year": 2030},
            "processor": {"transaction_id": "60001", "auth_code": "ABC123", "avs_result": "Y", "cvv_result": "M"},
            "failure": None, "customer_id": None, "description": None, "metadata": {},
            "created_at": "2026-12-03T06:00:00Z", "updated_at": "2026-12-03T06:00:01Z", "settled_at": None,
        }
    },
}
BODY = json.dumps(EVENT, separators=(",", ":")).encode()


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def standard_headers(secret: str, body: bytes, msg_id: str = "msg_2b4c", at: datetime | None = None) -> dict[str, str]:
    stamp = at or datetime.now(timezone.utc)
    signature = Webhook(secret).sign(msg_id, stamp, body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(stamp.timestamp())), "webhook-signature": signature}


def test_what_standardwebhooks_signs_is_accepted_and_parsed():
    secret = new_secret()
    headers = standard_headers(secret, BODY)
    event = WebhookVerifier(secret).verify(BODY, headers)
    assert event.type == "payment.captured" and event.id == EVENT["id"]
    assert isinstance(event.data.object, Payment) and event.data.object.amount == "12.50"
    # Header names are case-insensitive, as HTTP frameworks hand them over
    WebhookVerifier(secret).verify(BODY, {k.title(): v for k, v in headers.items()})


def test_a_tampered_body_is_refused():
    secret = new_secret()
    headers = standard_headers(secret, BODY)
    with pytest.raises(WebhookVerificationError, match="signature"):
        WebhookVerifier(secret).verify(BODY.replace(b"12.50", b"99.50"), headers)
    with pytest.raises(WebhookVerificationError):
        WebhookVerifier(secret).verify(BODY, {**headers, "webhook-id": "msg_other"})


def test_a_wrong_secret_is_refused():
    headers = standard_headers(new_secret(), BODY)
    with pytest.raises(WebhookVerificationError, match="signature"):
        WebhookVerifier(new_secret()).verify(BODY, headers)


def test_stale_and_future_timestamps_are_refused():
    secret = new_secret()
    old = datetime.fromtimestamp(time.time() - 301, timezone.utc)
    with pytest.raises(WebhookVerificationError, match="too old"):
        WebhookVerifier(secret).verify(BODY, standard_headers(secret, BODY, at=old))
    future = datetime.fromtimestamp(time.time() + 301, timezone.utc)
    with pytest.raises(WebhookVerificationError, match="too new"):
        WebhookVerifier(secret).verify(BODY, standard_headers(secret, BODY, at=future))
    # Within a tolerance of the receiver's choice it passes
    WebhookVerifier(secret, tolerance_s=600).verify(BODY, standard_headers(secret, BODY, at=old))


def test_missing_headers_are_refused():
    secret = new_secret()
    headers = standard_headers(secret, BODY)
    for name in headers:
        with pytest.raises(WebhookVerificationError, match="missing"):
            WebhookVerifier(secret).verify(BODY, {k: v for k, v in headers.items() if k != name})


def test_during_a_rotation_either_signature_verifies():
    old, new = new_secret(), new_secret()
    stamp = datetime.now(timezone.utc)
    both = f"{Webhook(old).sign('msg_r', stamp, BODY.decode())} {Webhook(new).sign('msg_r', stamp, BODY.decode())}"
    headers = {"webhook-id": "msg_r", "webhook-timestamp": str(int(stamp.timestamp())), "webhook-signature": both}
    WebhookVerifier(old).verify(BODY, headers)
    WebhookVerifier(new).verify(BODY, headers)
    # A receiver that holds both secrets accepts a delivery signed with either one alone
    WebhookVerifier([old, new]).verify(BODY, standard_headers(new, BODY))
    with pytest.raises(WebhookVerificationError):
        WebhookVerifier(new_secret()).verify(BODY, headers)


def test_what_the_client_signs_standardwebhooks_accepts():
    secret = new_secret()
    headers = signature_headers(secret, "msg_ours", BODY)
    assert Webhook(secret).verify(BODY, headers) == EVENT


def test_refund_events_parse_to_refunds():
    refund = {"id": "r1", "object": "refund", "payment_id": "p1", "amount": "1.00", "currency": "USD", "status": "succeeded",
              "failure": None, "reason": None, "created_at": "2026-12-03T06:00:00Z"}
    event = parse_event(json.dumps({**EVENT, "type": "refund.succeeded", "data": {"object": refund}}))
    assert isinstance(event.data.object, Refund) and event.data.object.status == "succeeded"
    with pytest.raises(WebhookVerificationError):
        parse_event(b"not json")
