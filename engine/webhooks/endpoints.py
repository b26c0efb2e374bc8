"""Endpoint use cases: create, change, rotate the secret, disable (with its event)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from engine.db import webhook_deliveries as delivery_repo
from engine.db import webhook_endpoints as repo
from engine.db.records import WebhookEndpointRecord
from engine.events import ENDPOINT_DISABLED, PUBLIC_EVENT_TYPES, record_event
from engine.sealing import SecretBox
from engine.webhooks.signing import new_secret
from engine.webhooks.views import endpoint_view

ALL_EVENTS = "*"
MAX_EVENT_TYPES = 50


def check_event_types(types: list[str]) -> str | None:
    """A message for the merchant if ``types`` is not a valid filter, else None."""
    if not types:
        return "List at least one event type, or [\"*\"] for all."
    if len(types) > MAX_EVENT_TYPES:
        return f"At most {MAX_EVENT_TYPES} event types."
    if ALL_EVENTS in types and len(types) > 1:
        return "\"*\" cannot be combined with other event types."
    unknown = [t for t in types if t != ALL_EVENTS and t not in PUBLIC_EVENT_TYPES]
    if unknown:
        return f"Unknown event type {unknown[0]!r}; known: {', '.join(PUBLIC_EVENT_TYPES)}."
    return None


async def create_endpoint(
    conn: AsyncConnection,
    box: SecretBox,
    *,
    merchant_id: uuid.UUID,
    url: str,
    event_types: list[str],
    description: str | None,
) -> tuple[WebhookEndpointRecord, str]:
    """Insert an enabled endpoint with a fresh secret; returns the row and the secret (shown once)."""
    endpoint_id = uuid.uuid4()
    secret = new_secret()
    row = await repo.insert_endpoint(
        conn,
        {
            "id": endpoint_id,
            "merchant_id": merchant_id,
            "url": url,
            "description": description,
            "event_types": sorted(set(event_types)),
            "secret_sealed": box.seal(secret, context=str(endpoint_id)),
        },
    )
    return row, secret


async def rotate_secret(conn: AsyncConnection, box: SecretBox, endpoint: WebhookEndpointRecord, *, grace_s: int) -> tuple[WebhookEndpointRecord, str]:
    """A new secret signs from now on; the current one keeps signing too for ``grace_s`` seconds."""
    secret = new_secret()
    values: dict[str, Any] = {"secret_sealed": box.seal(secret, context=str(endpoint.id))}
    if grace_s > 0:
        values["previous_secret_sealed"] = endpoint.secret_sealed
        values["previous_secret_expires_at"] = datetime.now(timezone.utc) + timedelta(seconds=grace_s)
    else:
        values["previous_secret_sealed"] = None
        values["previous_secret_expires_at"] = None
    return await repo.update_endpoint(conn, endpoint.id, values), secret


async def enable(conn: AsyncConnection, endpoint_id: uuid.UUID) -> WebhookEndpointRecord:
    return await repo.update_endpoint(
        conn, endpoint_id, {"enabled": True, "disabled_reason": None, "disabled_at": None, "failing_since": None}
    )


async def disable(conn: AsyncConnection, endpoint_id: uuid.UUID, *, reason: str, announce: bool) -> WebhookEndpointRecord:
    """Disable the endpoint and mark its pending deliveries failed (recoverable later).

    ``announce`` records a ``webhook_endpoint.disabled`` event (automatic disabling; a merchant's
    own PATCH is not announced back to them).
    """
    row = await repo.update_endpoint(
        conn, endpoint_id, {"enabled": False, "disabled_reason": reason, "disabled_at": datetime.now(timezone.utc)}
    )
    await delivery_repo.fail_pending_deliveries(conn, endpoint_id, reason=f"endpoint disabled ({reason})")
    if announce:
        await record_event(
            conn,
            merchant_id=row.merchant_id,
            type=ENDPOINT_DISABLED,
            object_type="webhook_endpoint",
            object_id=row.id,
            snapshot=endpoint_view(row),
        )
    return row
