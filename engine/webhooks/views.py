"""Public objects of webhook endpoints and deliveries. Views never carry a secret, except the one
returned once by creation and rotation (``WebhookEndpointWithSecret``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Literal, get_args

import msgspec

#: What a delivery shows: still trying, delivered, or given up.
DeliveryStatus = Literal["pending", "succeeded", "failed"]
DELIVERY_STATUSES: tuple[str, ...] = get_args(DeliveryStatus)


class WebhookEndpointView(msgspec.Struct, kw_only=True):
    id: str
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    url: str
    events: list[str]
    description: str | None
    status: Literal["enabled", "disabled"]
    #: ``manual`` (PATCH), ``gone`` (the endpoint answered 410) or ``failing`` (failed for too long).
    disabled_reason: str | None
    disabled_at: datetime | None
    created_at: datetime
    updated_at: datetime


class WebhookEndpointWithSecret(WebhookEndpointView, kw_only=True):
    #: Shown on creation and rotation only.
    secret: str


class WebhookEndpointList(msgspec.Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[WebhookEndpointView]
    has_more: bool


class WebhookAttemptView(msgspec.Struct, kw_only=True):
    attempted_at: datetime
    succeeded: bool
    status_code: int | None
    latency_ms: int
    error: str | None
    #: The first bytes of the response body (``WEBHOOK_RESPONSE_BODY_BYTES``).
    response_body: str | None


class WebhookDeliveryView(msgspec.Struct, kw_only=True):
    id: str
    object: Literal["webhook_delivery"] = "webhook_delivery"
    endpoint_id: str
    event_id: str
    event_type: str
    #: The ``webhook-id`` header: the same on every attempt, for receivers to deduplicate.
    webhook_id: str
    status: DeliveryStatus
    #: Attempts in the current round (a resend or recovery starts a new round).
    attempt_count: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    #: The latest attempts (all rounds), oldest first.
    attempts: list[WebhookAttemptView]


class WebhookDeliveryList(msgspec.Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[WebhookDeliveryView]
    has_more: bool


def webhook_id(delivery_id: Any) -> str:
    """Standard Webhooks ``webhook-id``: stable per event and endpoint, no ``.`` in it."""
    return f"msg_{delivery_id.hex}"


def endpoint_view(row: Any) -> WebhookEndpointView:
    return WebhookEndpointView(
        id=str(row.id),
        url=row.url,
        events=list(row.event_types),
        description=row.description,
        status="enabled" if row.enabled else "disabled",
        disabled_reason=row.disabled_reason,
        disabled_at=row.disabled_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def endpoint_with_secret(row: Any, secret: str) -> WebhookEndpointWithSecret:
    view = endpoint_view(row)
    return WebhookEndpointWithSecret(**{f: getattr(view, f) for f in view.__struct_fields__}, secret=secret)


def attempt_view(row: Any) -> WebhookAttemptView:
    return WebhookAttemptView(
        attempted_at=row.attempted_at,
        succeeded=row.succeeded,
        status_code=row.status_code,
        latency_ms=row.latency_ms,
        error=row.error,
        response_body=row.response_body,
    )


def delivery_view(row: Any, attempt_rows: Iterable[Any]) -> WebhookDeliveryView:
    return WebhookDeliveryView(
        id=str(row.id),
        endpoint_id=str(row.endpoint_id),
        event_id=str(row.event_id),
        event_type=row.event_type,
        webhook_id=webhook_id(row.id),
        status=row.status,
        attempt_count=row.attempts,
        next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
        last_attempt_at=row.last_attempt_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        created_at=row.created_at,
        attempts=[attempt_view(a) for a in attempt_rows],
    )
