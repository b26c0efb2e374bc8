"""The API's resources, written once for both clients.

A method builds a ``Call`` (or a plan, or a pager) and hands it to the client it belongs to:
``Client`` returns the result, ``AsyncClient`` an awaitable of it (and async iterators for the
``*_all`` methods).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from msgspec import UNSET, UnsetType

from easypay_client._core import Call, Pager, _segment, amount_str, body, retrieve_payment, time_param
from easypay_client.models import (
    ApiKey,
    Billing,
    CardDetails,
    OpaqueData,
    AuditLog,
    DeletedWebhookEndpoint,
    Event,
    Page,
    Payment,
    Recovery,
    Refund,
    ResendResult,
    Token,
    User,
    WebhookDelivery,
    WebhookEndpoint,
)

if TYPE_CHECKING:
    from easypay_client.client import _Base

Time = dt.datetime | str | int
Amount = str | Decimal | int


class _Resource:
    def __init__(self, client: "_Base") -> None:
        self._client = client

    def _call(self, call: Call) -> Any:
        return self._client._request(call)

    def _pages(self, path: str, item: Any, params: Mapping[str, Any]) -> Any:
        def make(starting_after: str | None) -> Call:
            return Call("GET", path, Page[item], params={**params, "starting_after": starting_after})

        return self._client._paginate(Pager(make))


def _time(value: Time | None) -> str | None:
    return None if value is None else time_param(value)


class Payments(_Resource):
    def create(
        self,
        *,
        amount: Amount,
        currency: str,
        card: CardDetails | Mapping[str, Any] | None = None,
        opaque_data: OpaqueData | Mapping[str, Any] | None = None,
        capture: bool = True,
        billing: Billing | Mapping[str, Any] | UnsetType = UNSET,
        customer_id: str | UnsetType = UNSET,
        description: str | UnsetType = UNSET,
        metadata: Mapping[str, str] | UnsetType = UNSET,
        merchant_id: str | UnsetType = UNSET,
        idempotency_key: str | None = None,
    ) -> Payment:
        """``POST /v1/payments``: a card (or an opaque nonce) sale, or an authorization with ``capture=False``."""
        if (card is None) == (opaque_data is None):
            raise ValueError("give exactly one of card= or opaque_data=")
        method: dict[str, Any] = {"type": "card", "card": card} if card is not None else {"type": "opaque", "opaque_data": opaque_data}
        return self._call(
            Call(
                "POST",
                "/v1/payments",
                Payment,
                body=body(
                    amount=amount_str(amount),
                    currency=currency,
                    capture=capture,
                    payment_method=method,
                    billing=billing,
                    customer_id=customer_id,
                    description=description,
                    metadata=dict(metadata) if isinstance(metadata, Mapping) else metadata,
                    merchant_id=merchant_id,
                ),
                idempotency_key=idempotency_key,
            )
        )

    def retrieve(self, payment_id: str, *, wait: float | None = None, status: str | None = None) -> Payment:
        """``GET /v1/payments/{id}``; ``wait=N`` long-polls up to N s (≤ 30) while something is in flight."""
        return self._call(retrieve_payment(payment_id, wait=wait, status=status, core=self._client._core))

    def wait_for(self, payment_id: str, timeout_s: float = 30.0, *, status: str | None = None) -> Payment:
        """The payment once it has its outcome (see ``Client.wait_for``)."""
        return self._client.wait_for(payment_id, timeout_s, status=status)

    def _filters(self, status: str | None, customer_id: str | None, created_gte: Time | None, created_lt: Time | None, merchant_id: str | None, limit: int | None, starting_after: str | None) -> dict[str, Any]:
        return {
            "status": status,
            "customer_id": customer_id,
            "created_gte": _time(created_gte),
            "created_lt": _time(created_lt),
            "merchant_id": merchant_id,
            "limit": limit,
            "starting_after": starting_after,
        }

    def list(
        self,
        *,
        limit: int | None = None,
        starting_after: str | None = None,
        status: str | None = None,
        customer_id: str | None = None,
        created_gte: Time | None = None,
        created_lt: Time | None = None,
        merchant_id: str | None = None,
    ) -> Page[Payment]:
        """One page, newest first."""
        params = self._filters(status, customer_id, created_gte, created_lt, merchant_id, limit, starting_after)
        return self._call(Call("GET", "/v1/payments", Page[Payment], params=params))

    def list_all(
        self,
        *,
        limit: int | None = 100,
        status: str | None = None,
        customer_id: str | None = None,
        created_gte: Time | None = None,
        created_lt: Time | None = None,
        merchant_id: str | None = None,
    ) -> Iterator[Payment]:
        """Every matching payment, newest first, fetching pages of ``limit`` as it goes."""
        params = self._filters(status, customer_id, created_gte, created_lt, merchant_id, limit, None)
        return self._pages("/v1/payments", Payment, params)

    def capture(self, payment_id: str, *, amount: Amount | None = None, idempotency_key: str | None = None) -> Payment:
        """``POST /v1/payments/{id}/capture`` (all of the authorization, or ``amount``)."""
        payload = {} if amount is None else {"amount": amount_str(amount)}
        return self._call(Call("POST", f"/v1/payments/{_segment(payment_id)}/capture", Payment, body=payload, idempotency_key=idempotency_key))

    def void(self, payment_id: str, *, idempotency_key: str | None = None) -> Payment:
        """``POST /v1/payments/{id}/void``."""
        return self._call(Call("POST", f"/v1/payments/{_segment(payment_id)}/void", Payment, idempotency_key=idempotency_key))


class Refunds(_Resource):
    def create(self, payment_id: str, *, amount: Amount | None = None, reason: str | UnsetType = UNSET, idempotency_key: str | None = None) -> Refund:
        """``POST /v1/payments/{id}/refunds`` (default: everything not yet refunded)."""
        payload = body(amount=UNSET if amount is None else amount_str(amount), reason=reason)
        return self._call(Call("POST", f"/v1/payments/{_segment(payment_id)}/refunds", Refund, body=payload, idempotency_key=idempotency_key))

    def retrieve(self, refund_id: str) -> Refund:
        return self._call(Call("GET", f"/v1/refunds/{_segment(refund_id)}", Refund))

    def list(self, payment_id: str, *, limit: int | None = None, starting_after: str | None = None) -> Page[Refund]:
        params = {"limit": limit, "starting_after": starting_after}
        return self._call(Call("GET", f"/v1/payments/{_segment(payment_id)}/refunds", Page[Refund], params=params))

    def list_all(self, payment_id: str, *, limit: int | None = 100) -> Iterator[Refund]:
        return self._pages(f"/v1/payments/{_segment(payment_id)}/refunds", Refund, {"limit": limit})


class Events(_Resource):
    def _filters(self, type: str | None, object_id: str | None, created_gte: Time | None, created_lt: Time | None, merchant_id: str | None, limit: int | None, starting_after: str | None) -> dict[str, Any]:
        return {
            "type": type,
            "object_id": object_id,
            "created_gte": _time(created_gte),
            "created_lt": _time(created_lt),
            "merchant_id": merchant_id,
            "limit": limit,
            "starting_after": starting_after,
        }

    def list(
        self,
        *,
        limit: int | None = None,
        starting_after: str | None = None,
        type: str | None = None,
        object_id: str | None = None,
        created_gte: Time | None = None,
        created_lt: Time | None = None,
        merchant_id: str | None = None,
    ) -> Page[Event]:
        params = self._filters(type, object_id, created_gte, created_lt, merchant_id, limit, starting_after)
        return self._call(Call("GET", "/v1/events", Page[Event], params=params))

    def list_all(
        self,
        *,
        limit: int | None = 100,
        type: str | None = None,
        object_id: str | None = None,
        created_gte: Time | None = None,
        created_lt: Time | None = None,
        merchant_id: str | None = None,
    ) -> Iterator[Event]:
        params = self._filters(type, object_id, created_gte, created_lt, merchant_id, limit, None)
        return self._pages("/v1/events", Event, params)

    def retrieve(self, event_id: str) -> Event:
        return self._call(Call("GET", f"/v1/events/{_segment(event_id)}", Event))

    def retrieve_raw(self, event_id: str) -> bytes:
        """The event's stored bytes: exactly what every webhook delivery of it carries."""
        return self._call(Call("GET", f"/v1/events/{_segment(event_id)}", None))

    def resend(self, event_id: str, *, endpoint_id: str | UnsetType = UNSET, idempotency_key: str | None = None) -> ResendResult:
        """``POST /v1/events/{id}/resend``: a new round of attempts (same ``webhook-id``)."""
        return self._call(Call("POST", f"/v1/events/{_segment(event_id)}/resend", ResendResult, body=body(endpoint_id=endpoint_id), idempotency_key=idempotency_key))


class WebhookEndpoints(_Resource):
    def create(
        self,
        *,
        url: str,
        events: list[str],
        description: str | UnsetType = UNSET,
        merchant_id: str | UnsetType = UNSET,
        idempotency_key: str | None = None,
    ) -> WebhookEndpoint:
        """``POST /v1/webhook-endpoints``; the answer carries ``secret`` (shown here and on rotation only)."""
        payload = body(url=url, events=list(events), description=description, merchant_id=merchant_id)
        return self._call(Call("POST", "/v1/webhook-endpoints", WebhookEndpoint, body=payload, idempotency_key=idempotency_key))

    def retrieve(self, endpoint_id: str) -> WebhookEndpoint:
        return self._call(Call("GET", f"/v1/webhook-endpoints/{_segment(endpoint_id)}", WebhookEndpoint))

    def list(self, *, limit: int | None = None, starting_after: str | None = None, merchant_id: str | None = None) -> Page[WebhookEndpoint]:
        params = {"limit": limit, "starting_after": starting_after, "merchant_id": merchant_id}
        return self._call(Call("GET", "/v1/webhook-endpoints", Page[WebhookEndpoint], params=params))

    def list_all(self, *, limit: int | None = 100, merchant_id: str | None = None) -> Iterator[WebhookEndpoint]:
        return self._pages("/v1/webhook-endpoints", WebhookEndpoint, {"limit": limit, "merchant_id": merchant_id})

    def update(
        self,
        endpoint_id: str,
        *,
        url: str | UnsetType = UNSET,
        events: list[str] | UnsetType = UNSET,
        description: str | None | UnsetType = UNSET,
        enabled: bool | UnsetType = UNSET,
    ) -> WebhookEndpoint:
        """``PATCH``: only the fields given are sent."""
        payload = body(url=url, events=events, description=description, enabled=enabled)
        return self._call(Call("PATCH", f"/v1/webhook-endpoints/{_segment(endpoint_id)}", WebhookEndpoint, body=payload))

    def delete(self, endpoint_id: str) -> DeletedWebhookEndpoint:
        return self._call(Call("DELETE", f"/v1/webhook-endpoints/{_segment(endpoint_id)}", DeletedWebhookEndpoint))

    def rotate_secret(self, endpoint_id: str, *, grace_period_s: int | UnsetType = UNSET, idempotency_key: str | None = None) -> WebhookEndpoint:
        """A new ``secret``; the old one keeps signing beside it for ``grace_period_s`` (default 24 h)."""
        path = f"/v1/webhook-endpoints/{_segment(endpoint_id)}/rotate-secret"
        return self._call(Call("POST", path, WebhookEndpoint, body=body(grace_period_s=grace_period_s), idempotency_key=idempotency_key))

    def deliveries(self, endpoint_id: str, *, status: str | None = None, limit: int | None = None, starting_after: str | None = None) -> Page[WebhookDelivery]:
        params = {"status": status, "limit": limit, "starting_after": starting_after}
        path = f"/v1/webhook-endpoints/{_segment(endpoint_id)}/deliveries"
        return self._call(Call("GET", path, Page[WebhookDelivery], params=params))

    def deliveries_all(self, endpoint_id: str, *, status: str | None = None, limit: int | None = 100) -> Iterator[WebhookDelivery]:
        return self._pages(f"/v1/webhook-endpoints/{_segment(endpoint_id)}/deliveries", WebhookDelivery, {"status": status, "limit": limit})

    def recover(self, endpoint_id: str, *, since: Time, until: Time | None = None, idempotency_key: str | None = None) -> Recovery:
        """Every failed delivery for events in [since, until) gets a new round of attempts."""
        payload = body(since=time_param(since), until=UNSET if until is None else time_param(until))
        path = f"/v1/webhook-endpoints/{_segment(endpoint_id)}/recover"
        return self._call(Call("POST", path, Recovery, body=payload, idempotency_key=idempotency_key))


class ApiKeys(_Resource):
    def create(
        self,
        *,
        role: str,
        name: str | UnsetType = UNSET,
        expires_at: dt.datetime | UnsetType = UNSET,
        rate_limits: Mapping[str, int] | UnsetType = UNSET,
        merchant_id: str | UnsetType = UNSET,
        idempotency_key: str | None = None,
    ) -> ApiKey:
        """``POST /v1/api-keys``; the answer's ``key`` is the only time the secret is shown."""
        payload = body(
            role=role,
            name=name,
            expires_at=UNSET if expires_at is UNSET else time_param(expires_at),  # type: ignore[arg-type]
            rate_limits=dict(rate_limits) if isinstance(rate_limits, Mapping) else rate_limits,
            merchant_id=merchant_id,
        )
        return self._call(Call("POST", "/v1/api-keys", ApiKey, body=payload, idempotency_key=idempotency_key))

    def retrieve(self, key_id: str) -> ApiKey:
        return self._call(Call("GET", f"/v1/api-keys/{_segment(key_id)}", ApiKey))

    def list(self, *, limit: int | None = None, starting_after: str | None = None, merchant_id: str | None = None) -> Page[ApiKey]:
        params = {"limit": limit, "starting_after": starting_after, "merchant_id": merchant_id}
        return self._call(Call("GET", "/v1/api-keys", Page[ApiKey], params=params))

    def list_all(self, *, limit: int | None = 100, merchant_id: str | None = None) -> Iterator[ApiKey]:
        return self._pages("/v1/api-keys", ApiKey, {"limit": limit, "merchant_id": merchant_id})

    def revoke(self, key_id: str) -> ApiKey:
        """``DELETE /v1/api-keys/{id}``: the key, with ``revoked_at``."""
        return self._call(Call("DELETE", f"/v1/api-keys/{_segment(key_id)}", ApiKey))


class Users(_Resource):
    def create(self, *, email: str, password: str, role: str, merchant_id: str | UnsetType = UNSET, idempotency_key: str | None = None) -> User:
        payload = body(email=email, password=password, role=role, merchant_id=merchant_id)
        return self._call(Call("POST", "/v1/users", User, body=payload, idempotency_key=idempotency_key))

    def retrieve(self, user_id: str) -> User:
        return self._call(Call("GET", f"/v1/users/{_segment(user_id)}", User))

    def list(self, *, limit: int | None = None, starting_after: str | None = None, merchant_id: str | None = None) -> Page[User]:
        params = {"limit": limit, "starting_after": starting_after, "merchant_id": merchant_id}
        return self._call(Call("GET", "/v1/users", Page[User], params=params))

    def list_all(self, *, limit: int | None = 100, merchant_id: str | None = None) -> Iterator[User]:
        return self._pages("/v1/users", User, {"limit": limit, "merchant_id": merchant_id})

    def update(self, user_id: str, *, role: str | UnsetType = UNSET, password: str | UnsetType = UNSET, disabled: bool | UnsetType = UNSET) -> User:
        payload = body(role=role, password=password, disabled=disabled)
        return self._call(Call("PATCH", f"/v1/users/{_segment(user_id)}", User, body=payload))


class Tokens(_Resource):
    def create(self, *, email: str, password: str, idempotency_key: str | None = None) -> Token:
        """``POST /v1/auth/token``: a user token (use it as ``api_key=`` of another client)."""
        return self._call(Call("POST", "/v1/auth/token", Token, body={"email": email, "password": password}, idempotency_key=idempotency_key))


class AuditLogs(_Resource):
    def _filters(self, **filters: Any) -> dict[str, Any]:
        for name in ("created_gte", "created_lt"):
            filters[name] = _time(filters.get(name))
        return filters

    def list(
        self,
        *,
        limit: int | None = None,
        starting_after: int | None = None,
        merchant_id: str | None = None,
        actor_id: str | None = None,
        action: str | None = None,
        object_type: str | None = None,
        object_id: str | None = None,
        outcome: str | None = None,
        created_gte: Time | None = None,
        created_lt: Time | None = None,
    ) -> Page[AuditLog]:
        params = self._filters(
            limit=limit, starting_after=starting_after, merchant_id=merchant_id, actor_id=actor_id, action=action,
            object_type=object_type, object_id=object_id, outcome=outcome, created_gte=created_gte, created_lt=created_lt,
        )
        return self._call(Call("GET", "/v1/audit-logs", Page[AuditLog], params=params))

    def list_all(
        self,
        *,
        limit: int | None = 100,
        merchant_id: str | None = None,
        actor_id: str | None = None,
        action: str | None = None,
        object_type: str | None = None,
        object_id: str | None = None,
        outcome: str | None = None,
        created_gte: Time | None = None,
        created_lt: Time | None = None,
    ) -> Iterator[AuditLog]:
        params = self._filters(
            limit=limit, merchant_id=merchant_id, actor_id=actor_id, action=action,
            object_type=object_type, object_id=object_id, outcome=outcome, created_gte=created_gte, created_lt=created_lt,
        )
        return self._pages("/v1/audit-logs", AuditLog, params)
