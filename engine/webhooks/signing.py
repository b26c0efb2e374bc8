"""Standard Webhooks symmetric signatures (``v1``): HMAC-SHA256 over ``id.timestamp.body``.

Secrets are ``whsec_`` + base64 of 32 random bytes (the spec asks for 24 to 64). Verified in the
tests with the independent ``standardwebhooks`` package.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Iterable

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def key_of(secret: str) -> bytes:
    """The HMAC key a ``whsec_`` secret stands for (decode once, sign many times)."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    return base64.b64decode(secret[len(SECRET_PREFIX) :])


def _signature(key: bytes, signed: bytes) -> str:
    return "v1," + base64.b64encode(hmac.digest(key, signed, hashlib.sha256)).decode("ascii")


def _signed_content(msg_id: str, timestamp_s: int, body: bytes) -> bytes:
    if "." in msg_id:
        raise ValueError("msg_id must not contain '.'")
    return b"%s.%d.%s" % (msg_id.encode(), timestamp_s, body)


def sign(secret: str, *, msg_id: str, timestamp_s: int, body: bytes) -> str:
    """``v1,<base64 signature>`` of ``{msg_id}.{timestamp_s}.{body}``."""
    return _signature(key_of(secret), _signed_content(msg_id, timestamp_s, body))


def headers_for_keys(keys: Iterable[bytes], *, msg_id: str, timestamp_s: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers, signed with each key (``key_of``): one signature per key,
    space-separated in ``webhook-signature`` (rotation grace)."""
    signed = _signed_content(msg_id, timestamp_s, body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp_s),
        "webhook-signature": " ".join(_signature(key, signed) for key in keys),
        "content-type": "application/json",
    }


def headers(active_secrets: Iterable[str], *, msg_id: str, timestamp_s: int, body: bytes) -> dict[str, str]:
    return headers_for_keys(map(key_of, active_secrets), msg_id=msg_id, timestamp_s=timestamp_s, body=body)
