"""Verifying webhook deliveries (Standard Webhooks) and reading their events.

A delivery is a ``POST`` with ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and
``webhook-signature``: space-separated ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``
signatures — two while the endpoint's secret is being rotated. ``WebhookVerifier`` accepts a
delivery when any signature matches any of its secrets (pass the old and the new one while you
roll your own configuration over) and its timestamp is within the tolerance.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Iterable, Mapping

import msgspec

from easypay_client.errors import WebhookVerificationError
from easypay_client.models import Event

SECRET_PREFIX = "whsec_"
#: Deliveries older or newer than this are refused (replayed or forged timestamps).
DEFAULT_TOLERANCE_S = 300
_event_decoder = msgspec.json.Decoder(Event)


def _secret_bytes(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        key = secret
    else:
        raw = secret[len(SECRET_PREFIX):] if secret.startswith(SECRET_PREFIX) else secret
        try:
            key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
        except ValueError:
            raise ValueError("a webhook secret is whsec_ followed by base64") from None
    if not key:
        raise ValueError("empty webhook secret")
    return key


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else bytes(body)


def sign(secret: str | bytes, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """One ``v1,<signature>`` entry, as EasyPay (and ``easypay listen``) sign deliveries."""
    signed = f"{msg_id}.{timestamp}.".encode() + _as_bytes(body)
    digest = hmac.new(_secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_headers(secrets: str | Iterable[str], msg_id: str, body: bytes | str, timestamp: int | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body`` (one signature per secret)."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": " ".join(sign(k, msg_id, ts, body) for k in keys),
    }


def parse_event(body: bytes | str) -> Event:
    """A delivery's (or ``GET /v1/events/{id}``'s) body as a typed ``Event`` — without verifying it."""
    try:
        return _event_decoder.decode(_as_bytes(body))
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise WebhookVerificationError(f"not an event: {exc}") from None


class WebhookVerifier:
    """``WebhookVerifier("whsec_…").verify(raw_body, request.headers)`` → the ``Event``, or raises."""

    def __init__(self, secrets: str | bytes | Iterable[str | bytes], *, tolerance_s: float = DEFAULT_TOLERANCE_S) -> None:
        items = [secrets] if isinstance(secrets, (str, bytes)) else list(secrets)
        if not items:
            raise ValueError("no webhook secret")
        self._keys = [_secret_bytes(s) for s in items]
        self.tolerance_s = tolerance_s

    def verify(self, body: bytes | str, headers: Mapping[str, str], *, now: float | None = None) -> Event:
        """Check the signature and timestamp of a delivery, then parse its event.

        ``body`` must be the raw request body, byte for byte (not re-encoded JSON).
        """
        self.verify_signature(body, headers, now=now)
        return parse_event(body)

    def verify_signature(self, body: bytes | str, headers: Mapping[str, str], *, now: float | None = None) -> None:
        lowered = {k.lower(): v for k, v in headers.items()}
        msg_id = lowered.get("webhook-id")
        timestamp = lowered.get("webhook-timestamp")
        signatures = lowered.get("webhook-signature")
        if not msg_id or not timestamp or not signatures:
            raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature header")
        try:
            ts = int(timestamp)
        except ValueError:
            raise WebhookVerificationError("webhook-timestamp is not Unix seconds") from None
        current = time.time() if now is None else now
        if ts < current - self.tolerance_s:
            raise WebhookVerificationError("webhook-timestamp too old")
        if ts > current + self.tolerance_s:
            raise WebhookVerificationError("webhook-timestamp too new")
        signed = f"{msg_id}.{ts}.".encode() + _as_bytes(body)
        expected = [base64.b64encode(hmac.new(k, signed, hashlib.sha256).digest()) for k in self._keys]
        for entry in signatures.split():
            version, _, value = entry.partition(",")
            if version != "v1":
                continue
            given = value.encode()
            if any(hmac.compare_digest(given, e) for e in expected):
                return
        raise WebhookVerificationError("no matching signature")
