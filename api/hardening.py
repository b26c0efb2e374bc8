"""HTTP hardening: the seed architecture's security headers on every response, and CORS from env."""

from __future__ import annotations

from litestar.config.cors import CORSConfig
from litestar.types import Message, Scope

from engine.settings import AccessSettings

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-XSS-Protection": "1; mode=block",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Content-Security-Policy": "default-src 'self'",
    "Referrer-Policy": "no-referrer",
}
#: The interactive API docs load their scripts and styles from a CDN.
DOCS_CSP = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:"


_ENCODED = [(name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]
_ENCODED_DOCS = [
    (name, DOCS_CSP.encode() if name == b"content-security-policy" else value) for name, value in _ENCODED
]


async def add_security_headers(message: Message, scope: Scope) -> None:
    """``before_send`` hook: runs for every response, including router-level 404/405 and errors.

    Also adds the ``RateLimit-*`` headers the access guard left for a successful response.
    """
    if message["type"] != "http.response.start":
        return
    extra = _ENCODED_DOCS if scope.get("path", "").startswith("/schema") else _ENCODED
    headers = [*message.get("headers", []), *extra]
    rate_limit_headers: list[tuple[bytes, bytes]] | None = scope.get("state", {}).get("rate_limit_headers")
    if rate_limit_headers:
        headers += rate_limit_headers
    message["headers"] = headers


def cors_config(access: AccessSettings) -> CORSConfig | None:
    if not access.cors_origins:
        return None
    return CORSConfig(
        allow_origins=list(access.cors_origins),
        allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-API-Key", "X-Request-ID"],
        expose_headers=[
            "Location", "X-Request-ID", "Idempotent-Replayed", "Retry-After",
            "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy",
        ],
        allow_credentials=False,
        max_age=600,
    )


__all__ = ["SECURITY_HEADERS", "add_security_headers", "cors_config"]
