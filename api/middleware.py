"""The API's one ASGI middleware: a request id on every response and in every log line, the
HTTP metrics (``api.metrics``), the audit trail (``api.audit``) and the read-your-writes marker
(``api.read_your_writes``), in a single layer.

Each ASGI layer costs a call and a wrapped ``send`` per message on every request; the four
concerns share one here. Routing has run when it is called, so ``scope`` carries the route
template and handler; the response's status and ``Location`` are read from the one wrapped send.
"""

from __future__ import annotations

import time

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseStartEvent, Message, Receive, Scope, Send

from api.audit import AUDITED_PREFIXES, audit_request
from api.metrics import METRICS_PATH, RequestMetrics
from api.read_your_writes import WRITES, mark_write
from api.request_ids import request_id_for
from engine.logcontext import bind_request, reset_context

def api_middleware(app: ASGIApp) -> ASGIApp:
    metrics = RequestMetrics()

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        given = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                given = value.decode("latin-1")
                break
        request_id = request_id_for(given)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        header = (b"x-request-id", request_id.encode())
        started: list[HTTPResponseStartEvent] = []

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
                started.append(message)
                if scope["method"] in WRITES:  # what ``mark_write`` looks at first: a read awaits nothing
                    await mark_write(scope, message["status"])
            await send(message)

        path = scope["path"]
        counted = path != METRICS_PATH
        if counted:
            metrics.begin()
        begun = time.perf_counter()
        token = bind_request(request_id)
        try:
            await app(scope, receive, send_with_id)
        finally:
            start = started[0] if started else None
            status = start["status"] if start is not None else 500
            if counted:
                metrics.end(scope, status, time.perf_counter() - begun)
            if path.startswith(AUDITED_PREFIXES):
                await audit_request(scope, status, start)
            reset_context(token)

    return middleware


__all__ = ["api_middleware"]
