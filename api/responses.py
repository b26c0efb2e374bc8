"""``JsonBytes``: an answer whose JSON is already encoded, sent as it is; ``list_envelope``: the
list JSON every list answers with.

Litestar's ``Response`` normalises headers, cookies and media types into a second response
object on every request; a body that is already bytes (a cached payment snapshot, a group
commit's encoded view) needs none of that. The security, rate-limit and request-id headers are
added on the way out as for every response (``api.hardening``, ``api.middleware``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from litestar.response.base import ASGIResponse
from litestar.types import Receive, Scope, Send

from engine.pages import Page

_JSON = b"application/json"
L = TypeVar("L")


def list_envelope(kind: Callable[..., L], page: Page[Any]) -> L:
    """A page of public objects as the contract's list: ``{"object": "list", "data": [...],
    "has_more": bool}``. ``kind`` is the list's declared type (``PaymentList``, ``RefundList``...):
    each names its items for the OpenAPI document, all share these three fields. The next cursor
    is not in the envelope: clients send the last item's id as ``starting_after``."""
    return kind(object="list", data=list(page.items), has_more=page.has_more)


class JsonBytes(ASGIResponse):
    """``body`` (JSON bytes) with ``status_code`` and extra ``headers`` (name, value) as text."""

    __slots__ = ("_headers",)

    def __init__(self, body: bytes, *, status_code: int = 200, headers: dict[str, str] | None = None) -> None:
        self.body = body
        self.status_code = status_code
        self.background = None
        self.is_head_response = False
        encoded = [(b"content-type", _JSON), (b"content-length", str(len(body)).encode())]
        if headers:
            encoded += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
        self._headers = encoded

    def encode_headers(self) -> list[tuple[bytes, bytes]]:
        return list(self._headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self._headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


__all__ = ["JsonBytes", "list_envelope"]
