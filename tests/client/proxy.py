"""A real HTTP proxy in front of the API that misbehaves on cue: answers 503 / 429 / 409 itself, or
forwards a request and then drops the connection before the answer (the lost response)."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

import httpx
from aiohttp import web

_HOP = {"host", "content-length", "transfer-encoding", "connection", "content-encoding", "keep-alive"}


@dataclass
class Seen:
    method: str
    path: str
    idempotency_key: str | None
    action: str


@dataclass
class FaultProxy:
    upstream: str
    #: Actions for the next matching requests, in order: "forward", "forward_then_drop",
    #: "drop" (close without forwarding), "503", "429", "409_in_use". Then everything is forwarded.
    script: list[str] = field(default_factory=list)
    match_method: str | None = "POST"
    seen: list[Seen] = field(default_factory=list)
    port: int = 0

    def start(self) -> "FaultProxy":
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        async def serve() -> None:
            self._http = httpx.AsyncClient(base_url=self.upstream, timeout=60)
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(serve())
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        async def shut() -> None:
            await self._runner.cleanup()
            await self._http.aclose()

        asyncio.run_coroutine_threadsafe(shut(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        matches = self.match_method is None or request.method == self.match_method
        action = self.script.pop(0) if matches and self.script else "forward"
        self.seen.append(Seen(request.method, request.path_qs, request.headers.get("Idempotency-Key"), action))
        if action == "drop":
            assert request.transport is not None
            request.transport.abort()
            raise ConnectionResetError("dropped on cue")
        if action in ("503", "429", "409_in_use"):
            status, code = {"503": (503, "service_unavailable"), "429": (429, "rate_limited"), "409_in_use": (409, "idempotency_key_in_use")}[action]
            problem = {"type": "about:blank", "title": "fault", "status": status, "detail": "on cue", "code": code, "request_id": None, "errors": []}
            headers = {"Retry-After": "1"} if status in (503, 429) else {}
            return web.json_response(problem, status=status, headers=headers, content_type="application/problem+json")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        upstream = await self._http.request(request.method, request.path_qs, content=body, headers=headers)
        if action == "forward_then_drop":
            assert request.transport is not None
            request.transport.abort()
            raise ConnectionResetError("answer dropped on cue")
        out = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP}
        return web.Response(status=upstream.status_code, body=upstream.content, headers=out)


