"""A small world for access tests: two merchants, keys of every role (active, revoked, expired),
and one payment, API key and user per merchant. Built straight in PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from engine.auth import derive_pepper
from engine.db.accounts import create_api_key, create_merchant, create_user, revoke_api_key
from engine.db.payments import transition
from engine.db.session import make_engine
from engine.lifecycle import request_refund
from engine.states import Trigger
from engine.events import record_event
from engine.views import payment_view
from engine.webhooks import endpoints as webhook_endpoints
from engine.sealing import SecretBox
from engine.payments import NewPayment, accept_payment
from engine.permissions import ROLES
from engine.settings import Settings

PASSWORD = "correct horse battery staple"


@dataclass
class Shop:
    id: uuid.UUID
    payment_id: str
    key_id: str  # a developer key of this merchant: an object for the /v1/api-keys routes
    user_id: str
    #: an event and a webhook endpoint of this merchant (the endpoint subscribes to no type the
    #: event has, so resending it queues nothing)
    event_id: str = ""
    endpoint_id: str = ""
    refund_id: str = ""
    #: role -> token, per key state
    keys: dict[str, str] = field(default_factory=dict)
    revoked: dict[str, str] = field(default_factory=dict)
    expired: dict[str, str] = field(default_factory=dict)
    key_ids: dict[str, str] = field(default_factory=dict)
    #: True for the merchant a matrix cell's caller does not belong to.
    other: bool = False


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _insert_processed_payment(conn: Any, merchant_id: uuid.UUID, *, captured: bool) -> Any:
    """A payment the processor has authorized (or captured, and then settled), written directly."""
    row = await accept_payment(
        conn, NewPayment(merchant_id=merchant_id, amount_minor=1250, currency="USD", capture=captured, payment_method_type="card")
    )
    await transition(conn, row.id, Trigger.CLAIM)
    now = dt.datetime.now(dt.timezone.utc)
    changes: dict[str, Any] = {"processor_transaction_id": str(uuid.uuid4().int % 10**11), "authorized_at": now}
    if captured:
        changes.update(amount_captured_minor=1250, settled_at=now)
    return await transition(conn, row.id, Trigger.CAPTURE if captured else Trigger.AUTHORIZE, changes=changes)


async def make_processed_payment(settings: Settings, merchant_id: uuid.UUID, *, captured: bool) -> str:
    engine = make_engine(settings.database)
    try:
        async with engine.begin() as conn:
            return str((await _insert_processed_payment(conn, merchant_id, captured=captured)).id)
    finally:
        await engine.dispose()


async def _insert_endpoint(conn: Any, settings: Settings, merchant_id: uuid.UUID) -> Any:
    row, _secret = await webhook_endpoints.create_endpoint(
        conn, SecretBox(settings.secret_key), merchant_id=merchant_id, url="https://hooks.example.com/matrix",
        event_types=["refund.failed"], description="matrix",
    )
    return row


async def make_endpoint(settings: Settings, merchant_id: uuid.UUID) -> str:
    engine = make_engine(settings.database)
    try:
        async with engine.begin() as conn:
            return str((await _insert_endpoint(conn, settings, merchant_id)).id)
    finally:
        await engine.dispose()


async def make_key(settings: Settings, merchant_id: uuid.UUID, role: str = "developer", **options: Any) -> tuple[str, str]:
    engine = make_engine(settings.database)
    try:
        async with engine.begin() as conn:
            issued = await create_api_key(
                conn, merchant_id=merchant_id, role=role, pepper=derive_pepper(settings.secret_key), **options
            )
    finally:
        await engine.dispose()
    return issued.key_id, issued.token


async def make_user(settings: Settings, merchant_id: uuid.UUID | None, role: str, email: str | None = None) -> tuple[str, str]:
    engine = make_engine(settings.database)
    email = email or f"{uuid.uuid4().hex[:12]}@example.com"
    try:
        async with engine.begin() as conn:
            row = await create_user(conn, email=email, password=PASSWORD, role=role, merchant_id=merchant_id)
    finally:
        await engine.dispose()
    return str(row.id), email


async def make_shop(settings: Settings, name: str) -> Shop:
    pepper = derive_pepper(settings.secret_key)
    engine = make_engine(settings.database)
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    try:
        async with engine.begin() as conn:
            merchant = await create_merchant(conn, name)
            payment = await accept_payment(
                conn,
                NewPayment(merchant_id=merchant.id, amount_minor=1250, currency="USD", capture=True, payment_method_type="card"),
            )
            victim = await create_api_key(conn, merchant_id=merchant.id, role="developer", pepper=pepper)
            user = await create_user(
                conn, email=f"{uuid.uuid4().hex[:12]}@example.com", password=PASSWORD, role="viewer", merchant_id=merchant.id
            )
            event = await record_event(
                conn, merchant_id=merchant.id, type="payment.captured", object_type="payment", object_id=payment.id,
                snapshot=payment_view(payment),
            )
            endpoint = await _insert_endpoint(conn, settings, merchant.id)
            settled = await _insert_processed_payment(conn, merchant.id, captured=True)
            refund = await request_refund(conn, merchant.id, settled.id, "1.00")
            shop = Shop(merchant.id, str(payment.id), victim.key_id, str(user.id), event.id, str(endpoint.id), str(refund.id))
            for role in ROLES:
                active = await create_api_key(conn, merchant_id=merchant.id, role=role, pepper=pepper)
                shop.keys[role], shop.key_ids[role] = active.token, active.key_id
                revoked = await create_api_key(conn, merchant_id=merchant.id, role=role, pepper=pepper)
                await revoke_api_key(conn, revoked.key_id)
                shop.revoked[role] = revoked.token
                expired = await create_api_key(conn, merchant_id=merchant.id, role=role, pepper=pepper, expires_at=past)
                shop.expired[role] = expired.token
    finally:
        await engine.dispose()
    return shop
