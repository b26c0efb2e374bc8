"""A one-answer HTTP server on loopback (aiohttp): every request gets the same scripted reply and
is kept (path, headers, body) for the test to look at."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import AsyncIterator

from aiohttp import web


@dataclass
class Scripted:
    base_url: str
    port: int
    seen: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)


@asynccontextmanager
async def scripted_server(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> AsyncIterator[Scripted]:
    found: list[tuple[str, dict[str, str], bytes]] = []

    async def answer(request: web.Request) -> web.Response:
        found.append((request.path, {k.lower(): v for k, v in request.headers.items()}, await request.read()))
        return web.Response(status=status, body=body, headers=headers or {})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = int(runner.addresses[0][1])
    try:
        yield Scripted(f"http://127.0.0.1:{port}", port, found)
    finally:
        await runner.cleanup()
