"""ASGI middleware: a request id on every response and in every log line."""

from __future__ import annotations

import re
import secrets
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from engine.logcontext import bind_context

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id_for(given: str | None) -> str:
    """The client's ``X-Request-ID`` when it is a sane token, else a new one."""
    return given if given and _VALID_REQUEST_ID.match(given) else f"req_{secrets.token_hex(16)}"


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        given = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                given = value.decode("latin-1")
                break
        request_id = request_id_for(given)
        scope.setdefault("state", {})["request_id"] = request_id
        header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers", []))
                headers.append(header)
                message["headers"] = headers
            await send(message)

        with bind_context(request_id=request_id):
            await app(scope, receive, send_with_id)

    return middleware
