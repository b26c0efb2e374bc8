"""Request builders and polling helpers shared by API and end-to-end tests."""

from __future__ import annotations

import copy
import time
from typing import Any

import httpx

VISA = "4111111111111111"
AMEX = "370000000000002"
FINAL = {"authorized", "captured", "declined", "failed", "voided", "expired", "refunded"}
#: The scheduler's environment for every recovery job each second; a pending payment is "stale"
#: (its message looked for) after one second.
FAST_RECOVERY = {
    "SETTLEMENT_SYNC_INTERVAL_S": "1",
    "EXPIRY_INTERVAL_S": "1",
    "RECONCILE_INTERVAL_S": "1",
    "PENDING_SWEEP_INTERVAL_S": "1",
    "PENDING_SWEEP_AFTER_S": "1",
}


def card_payment(
    amount: str = "12.50",
    *,
    number: str = VISA,
    cvc: str | None = "123",
    capture: bool = True,
    currency: str = "USD",
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "amount": amount,
        "currency": currency,
        "capture": capture,
        "payment_method": {
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": 2031, **({"cvc": cvc} if cvc else {})},
        },
    }
    body.update(copy.deepcopy(extra))
    return body


def opaque_payment(amount: str = "20.00", value: str = "eyJjb2RlIjoiNTBfMl8wNjAwMDUyODlBNjI5QkFCNTcyQjU", **extra: Any) -> dict[str, Any]:
    return {
        "amount": amount,
        "currency": "USD",
        "payment_method": {"type": "opaque", "opaque_data": {"descriptor": "COMMON.ACCEPT.INAPP.PAYMENT", "value": value}},
        **extra,
    }


async def wait_final(
    client: httpx.AsyncClient, headers: dict[str, str], payment_id: str, *, timeout_s: float = 30.0
) -> dict[str, Any]:
    """Long-poll ``GET /v1/payments/{id}?wait=`` until an outcome (or fail the test).

    ``wait`` holds until the status changes, so it is only sent while the payment is in flight
    (a captured payment may still change, by a refund, and would be held).
    """
    deadline = time.monotonic() + timeout_s
    params: dict[str, int] = {}
    while True:
        response = await client.get(f"/v1/payments/{payment_id}", params=params, headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] in FINAL:
            return body
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"payment {payment_id} still {body['status']} after {timeout_s} s")
        params = {"wait": max(1, min(10, int(remaining)))}
