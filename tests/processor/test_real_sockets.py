"""The same taxonomy against real loopback sockets (the real aiohttp transport, real timeouts)."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace

import pytest

from engine.processor import Outcome, ProcessorClient

from . import bodies
from .helpers import SETTINGS, card_request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """Tiny HTTP/1.1 server whose behaviour per connection is scripted."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.requests = 0
        self.connections = 0
        self.server: asyncio.AbstractServer | None = None
        self.port = 0

    async def __aenter__(self) -> "Server":
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
                )
                await reader.readexactly(length)
                self.requests += 1
                if self.mode == "hang":
                    await asyncio.sleep(5)
                    return
                if self.mode == "close" or (self.mode == "close_second" and self.requests > 1):
                    return
                body = bodies.approved()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/xml; charset=utf-8\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def client_for(port: int, **overrides) -> ProcessorClient:
    settings = replace(SETTINGS, endpoint_url=f"http://127.0.0.1:{port}/xml/v1/request.api", **overrides)
    return ProcessorClient(settings, connect_backoff_initial_s=0.01, connect_backoff_max_s=0.02, connect_backoff_jitter_s=0)


async def test_connection_refused_is_not_sent():
    client = client_for(free_port(), connect_attempts=2)
    result = await client.charge(card_request())
    await client.aclose()
    assert result.outcome is Outcome.NOT_SENT
    assert "ClientConnectorError" in result.error


async def test_read_timeout_is_unknown_and_sent_once():
    async with Server("hang") as server:
        client = client_for(server.port, read_timeout_s=0.3)
        result = await client.charge(card_request())
        await client.aclose()
    assert result.outcome is Outcome.UNKNOWN
    assert "SocketTimeoutError" in result.error
    assert server.requests == 1


async def test_connection_closed_before_response_is_unknown():
    async with Server("close") as server:
        client = client_for(server.port)
        result = await client.charge(card_request())
        await client.aclose()
    assert result.outcome is Outcome.UNKNOWN
    assert server.requests == 1


async def test_reused_connection_closed_before_response_is_unknown_and_not_resent():
    # A POST is never resent by the HTTP layer on its own (a stale keep-alive connection included).
    async with Server("close_second") as server:
        client = client_for(server.port)
        assert (await client.charge(card_request())).outcome is Outcome.APPROVED
        result = await client.charge(card_request())
        await client.aclose()
    assert result.outcome is Outcome.UNKNOWN
    assert server.requests == 2 and server.connections == 1


async def test_keep_alive_reuses_one_connection():
    async with Server("ok") as server:
        client = client_for(server.port)
        for _ in range(3):
            assert (await client.charge(card_request())).outcome is Outcome.APPROVED
        await client.aclose()
    assert server.requests == 3
    assert server.connections == 1


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
