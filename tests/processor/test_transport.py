"""Transport failures: what is retried (certainly not sent) and what is UNKNOWN (maybe sent)."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest

from engine.processor import Outcome, ProcessorClient

from . import bodies
from .helpers import SETTINGS, Recorder, card_request, make_client


async def run(recorder: Recorder, **overrides):
    client = make_client(recorder, **overrides)
    try:
        return await client.charge(card_request())
    finally:
        await client.aclose()


@pytest.mark.parametrize("exc", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
async def test_not_sent_errors_are_retried_then_succeed(exc):
    recorder = Recorder([exc, exc, bodies.approved()])
    result = await run(recorder)
    assert result.outcome is Outcome.APPROVED
    assert len(recorder.requests) == 3
    assert len(set(recorder.bodies)) == 1  # identical resend


async def test_connect_errors_exhausted_give_not_sent():
    recorder = Recorder([httpx.ConnectError("[Errno 111] Connection refused")])
    result = await run(recorder, connect_attempts=3)
    assert result.outcome is Outcome.NOT_SENT
    assert len(recorder.requests) == 3
    assert "ConnectError" in result.error and "Connection refused" in result.error
    assert "3 attempt" in result.error


async def test_single_attempt_setting():
    recorder = Recorder([httpx.ConnectTimeout("connect timed out")])
    result = await run(recorder, connect_attempts=1)
    assert result.outcome is Outcome.NOT_SENT
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout,
        httpx.WriteTimeout,
        httpx.WriteError,
        httpx.ReadError,
        httpx.RemoteProtocolError,  # "Server disconnected without sending a response"
        httpx.ProxyError,
        ConnectionResetError,
    ],
)
async def test_maybe_sent_errors_are_unknown_and_not_retried(exc):
    step = exc("connection reset by peer") if exc is ConnectionResetError else exc
    recorder = Recorder([step, bodies.approved()])
    result = await run(recorder)
    assert result.outcome is Outcome.UNKNOWN
    assert len(recorder.requests) == 1
    assert result.transaction_id is None and result.reason_code is None
    name = exc.__name__
    assert name in result.error


async def test_read_timeout_after_connect_retries_is_not_retried():
    recorder = Recorder([httpx.ConnectError, httpx.ReadTimeout, bodies.approved()])
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
    assert "UnsupportedProtocol" in result.error


async def test_timeouts_and_connection_reuse():
    client = make_client(Recorder([bodies.approved()]))
    http = client._http
    assert http.timeout == httpx.Timeout(connect=1.5, read=7.0, write=7.0, pool=1.5)
    await client.charge(card_request())
    await client.void("60012345678")
    assert client._http is http  # one pooled AsyncClient per ProcessorClient
    await client.aclose()
    assert http.is_closed


async def test_backoff_parameters_are_used(monkeypatch):
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    import asyncio

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    recorder = Recorder([httpx.ConnectError("refused")])
    client = ProcessorClient(
        SETTINGS,
        transport=httpx.MockTransport(recorder),
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

    async def never(request):
        await asyncio.sleep(3600)

    client = ProcessorClient(SETTINGS, transport=httpx.MockTransport(never))
    task = asyncio.create_task(client.charge(card_request()))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await client.aclose()
