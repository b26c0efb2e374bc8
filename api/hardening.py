"""HTTP hardening: the seed architecture's security headers on every response, and CORS from env."""

from __future__ import annotations


from litestar.config.cors import CORSConfig
from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

from engine.settings import AccessSettings

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-XSS-Protection": "1; mode=block",
    "Strict-Transport-Security": "max-age=31536000",
    "Content-Security-Policy": "default-src 'self'",
    "Referrer-Policy": "no-referrer",
}
#: The interactive API docs load their scripts and styles from a CDN.
DOCS_CSP = "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; font-src 'self' https://fonts.gstatic.com data:; img-src 'self' data: https:"


async def add_security_headers(message: Message, scope: Scope) -> None:
    """``before_send`` hook: runs for every response, including router-level 404/405 and errors."""
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders.from_message(message)
    for name, value in SECURITY_HEADERS.items():
        if name == "Content-Security-Policy" and scope.get("path", "").startswith("/schema"):
            value = DOCS_CSP
        headers[name] = value
    rate_limit_headers: dict[str, str] | None = scope.get("state", {}).get("rate_limit_headers")
    if rate_limit_headers:
        for name, value in rate_limit_headers.items():
            if name not in headers:
                headers[name] = value


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
