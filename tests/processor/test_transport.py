"""Transport failures: what is retried (certainly not sent) and what is UNKNOWN (maybe sent)."""

from __future__ import annotations

from dataclasses import replace

import aiohttp
import httpx
import pytest

from engine.processor import Outcome, ProcessorClient

from . import bodies
from .helpers import SETTINGS, Recorder, card_request, connect_refused, make_client


async def run(recorder: Recorder, **overrides):
    client = make_client(recorder, **overrides)
    try:
        return await client.charge(card_request())
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    "exc",
    [
        connect_refused(),
        aiohttp.ConnectionTimeoutError("Connection timeout to host"),  # connecting, or waiting for a pool slot
        aiohttp.ClientConnectorDNSError(connect_refused()._conn_key, OSError(-2, "Name or service not known")),
    ],
    ids=["refused", "connect-timeout", "dns"],
)
async def test_not_sent_errors_are_retried_then_succeed(exc):
    recorder = Recorder([exc, exc, bodies.approved()])
    result = await run(recorder)
    assert result.outcome is Outcome.APPROVED
    assert len(recorder.requests) == 3
    assert len(set(recorder.bodies)) == 1  # identical resend


async def test_connect_errors_exhausted_give_not_sent():
    recorder = Recorder([connect_refused()])
    result = await run(recorder, connect_attempts=3)
    assert result.outcome is Outcome.NOT_SENT
    assert len(recorder.requests) == 3
    assert "ClientConnectorError" in result.error and "Connection refused" in result.error
    assert "3 attempt" in result.error


async def test_single_attempt_setting():
    recorder = Recorder([aiohttp.ConnectionTimeoutError("connect timed out")])
    result = await run(recorder, connect_attempts=1)
    assert result.outcome is Outcome.NOT_SENT
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(
    "exc",
    [
        aiohttp.SocketTimeoutError,  # read timeout
        aiohttp.ServerTimeoutError,
        TimeoutError,  # the total-time backstop
        aiohttp.ServerDisconnectedError,  # "Server disconnected" before a response
        aiohttp.ClientOSError,  # write error
        aiohttp.ClientPayloadError,  # truncated response body
        aiohttp.ClientHttpProxyError,
        ConnectionResetError,
    ],
)
async def test_maybe_sent_errors_are_unknown_and_not_retried(exc):
    if exc is ConnectionResetError:
        step = exc("connection reset by peer")
    elif exc is aiohttp.ClientHttpProxyError:
        from multidict import CIMultiDict, CIMultiDictProxy
        from yarl import URL

        info = aiohttp.RequestInfo(URL(SETTINGS.endpoint_url), "POST", CIMultiDictProxy(CIMultiDict()), URL(SETTINGS.endpoint_url))
        step = exc(info, (), status=502, message="Bad Gateway")
    else:
        step = exc
    recorder = Recorder([step, bodies.approved()])
    result = await run(recorder)
    assert result.outcome is Outcome.UNKNOWN
    assert len(recorder.requests) == 1
    assert result.transaction_id is None and result.reason_code is None
    name = exc.__name__
    assert name in result.error


async def test_read_timeout_after_connect_retries_is_not_retried():
    recorder = Recorder([connect_refused(), aiohttp.SocketTimeoutError, bodies.approved()])
    result = await run(recorder)
    assert result.outcome is Outcome.UNKNOWN
    assert len(recorder.requests) == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504, 404, 400])
async def test_http_errors_are_unknown(status):
    recorder = Recorder([httpx.Response(status, content=bodies.approved()), bodies.approved()])
    result = await run(recorder)
    assert result.outcome is Outcome.UNKNOWN
    assert f"HTTP {status}" in result.error
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"",
        bodies.BOM,
        b"<html><body>502 Bad Gateway</body></html>",
        bodies.approved()[:-40],  # truncated
        bodies.approved()[6:],  # the SDK's text[3:] applied to a BOM-less body: "<?x" lost
        b"\x00\x01garbage",
        bodies.BOM + b"not xml at all",
    ],
    ids=["empty", "bom-only", "html", "truncated", "no-bom-and-cut", "binary", "text"],
)
async def test_unusable_bodies_are_unknown(body):
    result = await run(Recorder([body]))
    assert result.outcome is Outcome.UNKNOWN
    assert result.error


async def test_body_without_bom_is_still_read():
    # Stricter than the SDK (which crashes): a well-formed body is an answer, BOM or not.
    result = await run(Recorder([bodies.approved(bom=False)]))
    assert result.outcome is Outcome.APPROVED


async def test_unsupported_scheme_is_not_sent():
    client = ProcessorClient(replace(SETTINGS, endpoint_url="ftp://anet.test/x"))  # real transport
    result = await client.charge(card_request())
    await client.aclose()
    assert result.outcome is Outcome.NOT_SENT
    assert "NonHttpUrlClientError" in result.error


async def test_timeouts_and_connection_reuse():
    client = ProcessorClient(SETTINGS)  # real transport, never connected here
    http = client._http
    assert http is not None and http.session is None  # opened on first use, on the caller's loop
    assert http.timeout == aiohttp.ClientTimeout(total=1.5 + 2 * 7.0, connect=1.5, sock_connect=1.5, sock_read=7.0)
    session = http._open()
    assert client._http is http and http.session is session  # one pooled session per ProcessorClient
    await client.aclose()
    assert session.closed


async def test_proxy_from_the_environment_is_read_once(monkeypatch):
    from engine.processor.http import env_proxy

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    monkeypatch.setenv("NO_PROXY", "internal.test")
    assert env_proxy("https://anet.test/xml/v1/request.api") == "http://proxy.test:3128"
    assert env_proxy("https://internal.test/xml/v1/request.api") is None
    monkeypatch.delenv("HTTPS_PROXY")
    assert env_proxy("https://anet.test/xml/v1/request.api") is None


async def test_backoff_parameters_are_used(monkeypatch):
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    import asyncio

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    recorder = Recorder([connect_refused()])
    client = ProcessorClient(
        SETTINGS,
        transport=recorder,
        connect_backoff_initial_s=0.5,
        connect_backoff_max_s=1.2,
        connect_backoff_jitter_s=0.0,
    )
    result = await client.charge(card_request())
    await client.aclose()
    assert result.outcome is Outcome.NOT_SENT
    assert len(recorder.requests) == SETTINGS.connect_attempts == 4
    assert sleeps == [0.5, 1.0, 1.2]


async def test_cancellation_propagates():
    import asyncio

    async def never(url, body, headers):
        await asyncio.sleep(3600)

    client = ProcessorClient(SETTINGS, transport=never)
    task = asyncio.create_task(client.charge(card_request()))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await client.aclose()
