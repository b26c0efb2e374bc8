"""Typed objects of the EasyPay API (msgspec Structs), decoded straight from the response bytes.

Objects that can appear inside an event (payment, refund, webhook endpoint) are tagged by their
``object`` field, so ``Event.data.object`` decodes to the right type. Unknown fields are ignored:
a newer server that adds fields does not break an older client.
"""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar, Union

import msgspec

T = TypeVar("T")

#: Statuses in which a payment is still on its way to an outcome.
IN_FLIGHT_STATUSES = frozenset({"pending", "processing"})
#: Statuses that never change again.
FINAL_STATUSES = frozenset({"declined", "failed", "voided", "expired", "refunded"})


# Inputs (what ``payments.create`` takes besides plain dicts)


class CardDetails(msgspec.Struct, kw_only=True, omit_defaults=True):
    number: str
    exp_month: int
    exp_year: int
    cvc: str | None = None


class OpaqueData(msgspec.Struct, kw_only=True):
    """An Accept.js / Accept Mobile nonce (card data then never touches your servers)."""

    descriptor: str
    value: str


class Billing(msgspec.Struct, kw_only=True, omit_defaults=True):
    first_name: str | None = None
    last_name: str | None = None
    line1: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None



# Objects the API answers with


class Card(msgspec.Struct, kw_only=True):
    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None


class ProcessorResult(msgspec.Struct, kw_only=True):
    transaction_id: str | None = None
    auth_code: str | None = None
    avs_result: str | None = None
    cvv_result: str | None = None


class Failure(msgspec.Struct, kw_only=True):
    code: str
    message: str | None = None
    processor_code: str | None = None


class Payment(msgspec.Struct, kw_only=True, tag_field="object", tag="payment"):
    id: str
    status: str
    amount: str
    currency: str
    capture: bool
    amount_captured: str
    amount_refunded: str
    created_at: datetime
    updated_at: datetime
    #: ``capture`` or ``void`` while one is queued and not yet answered by the processor.
    pending_operation: str | None = None
    payment_method_type: str | None = None
    card: Card | None = None
    processor: ProcessorResult = msgspec.field(default_factory=ProcessorResult)
    failure: Failure | None = None
    customer_id: str | None = None
    description: str | None = None
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    settled_at: datetime | None = None

    @property
    def in_flight(self) -> bool:
        """True while the payment (or a capture or void of it) is still being processed."""
        return self.status in IN_FLIGHT_STATUSES or self.pending_operation is not None


class Refund(msgspec.Struct, kw_only=True, tag_field="object", tag="refund"):
    id: str
    payment_id: str
    amount: str
    status: str
    created_at: datetime
    currency: str | None = None
    failure: Failure | None = None
    reason: str | None = None


class WebhookEndpoint(msgspec.Struct, kw_only=True, tag_field="object", tag="webhook_endpoint"):
    id: str
    url: str
    events: list[str]
    status: str
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    disabled_reason: str | None = None
    disabled_at: datetime | None = None
    #: Only in the answers of creation and rotation.
    secret: str | None = None


class DeletedWebhookEndpoint(msgspec.Struct, kw_only=True):
    id: str
    deleted: bool = True


class WebhookAttempt(msgspec.Struct, kw_only=True):
    attempted_at: datetime
    succeeded: bool
    latency_ms: int
    status_code: int | None = None
    error: str | None = None
    response_body: str | None = None


class WebhookDelivery(msgspec.Struct, kw_only=True):
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    webhook_id: str
    status: str
    attempt_count: int
    created_at: datetime
    next_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    attempts: list[WebhookAttempt] = msgspec.field(default_factory=list)


class Recovery(msgspec.Struct, kw_only=True):
    endpoint_id: str
    since: datetime
    deliveries: int
    until: datetime | None = None


class ResentDelivery(msgspec.Struct, kw_only=True):
    id: str
    endpoint_id: str


class ResendResult(msgspec.Struct, kw_only=True):
    event_id: str
    deliveries: list[ResentDelivery]


class EventData(msgspec.Struct, kw_only=True):
    object: Union[Payment, Refund, WebhookEndpoint]


class Event(msgspec.Struct, kw_only=True):
    id: str
    type: str
    created_at: datetime
    data: EventData


class ApiKey(msgspec.Struct, kw_only=True):
    id: str
    merchant_id: str
    role: str
    created_at: datetime
    name: str | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    rate_limits: dict[str, int] | None = None
    failed_attempts: int | None = None
    last_failed_attempt_at: datetime | None = None
    #: ``ak_<id>:sk_<secret>``: only in the answer of creation (shown once).
    key: str | None = None


class User(msgspec.Struct, kw_only=True):
    id: str
    email: str
    role: str
    created_at: datetime
    updated_at: datetime
    merchant_id: str | None = None
    disabled_at: datetime | None = None


class Token(msgspec.Struct, kw_only=True):
    access_token: str
    token_type: str
    expires_in: int


class AuditLog(msgspec.Struct, kw_only=True):
    id: int
    actor_type: str
    action: str
    outcome: str
    created_at: datetime
    actor_id: str | None = None
    merchant_id: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    method: str | None = None
    route: str | None = None
    status_code: int | None = None
    remote_addr: str | None = None
    request_id: str | None = None


class Page(msgspec.Struct, Generic[T], kw_only=True):
    """One keyset page: ``data`` newest first; ``has_more`` says whether a next page exists."""

    data: list[T]
    has_more: bool


class FieldError(msgspec.Struct, kw_only=True):
    field: str
    message: str


class ProblemDocument(msgspec.Struct, kw_only=True):
    """An RFC 9457 problem document as EasyPay sends them."""

    status: int
    code: str = "unknown"
    type: str | None = None
    title: str | None = None
    detail: str | None = None
    request_id: str | None = None
    errors: list[FieldError] = msgspec.field(default_factory=list)
