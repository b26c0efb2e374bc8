"""Receiver for ``bench/webhooks.py``: ``/fast/*`` answers 200 at once, ``/hang/*`` never answers
within the delivery timeout. ``python bench/webhook_receiver.py PORT``."""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web


async def fast(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(text='{"ok":true}', content_type="application/json")


async def hang(request: web.Request) -> web.Response:
    await request.read()
    await asyncio.sleep(3600)
    return web.Response(status=200)


def main() -> None:
    app = web.Application()
    app.router.add_post("/fast/{name}", fast)
    app.router.add_post("/hang/{name}", hang)
    app.router.add_get("/health", lambda r: fast(r))
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
