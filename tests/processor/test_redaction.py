"""No card number, CVC, opaque value or transaction key in logs, reprs or errors."""

from __future__ import annotations

import logging

import aiohttp
import httpx
import pytest

from engine.processor import Card, OpaqueData, Outcome

from . import bodies
from .helpers import CVC, KEY, NONCE, PAN, Recorder, card_request, connect_refused, make_client, nonce_request

SECRETS = (PAN, KEY, NONCE)


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text
    assert f">{CVC}<" not in text and f"'{CVC}'" not in text and f"={CVC}" not in text


def test_reprs_mask_card_data():
    card = Card(PAN, 12, 2035, CVC)
    for text in (repr(card), str(card), repr(card_request()), str(card_request()), f"{card_request()!r}"):
        assert_clean(text)
        assert CVC not in text
    assert "****1111" in repr(card)
    opaque = OpaqueData("COMMON.ACCEPT.INAPP.PAYMENT", NONCE)
    assert NONCE not in repr(opaque) and NONCE not in str(nonce_request())


async def test_client_repr_hides_key(recorder):
    client = make_client(recorder)
    assert KEY not in repr(client) and KEY not in str(client)
    await client.aclose()


SCENARIOS = [
    bodies.approved(unknown_element=True),
    bodies.declined(),
    bodies.error("6", "The credit card number is invalid."),
    bodies.duplicate(),
    bodies.api_error("E00007"),
    bodies.approved()[:-20],
    httpx.Response(503, content=b"unavailable"),
    aiohttp.SocketTimeoutError,
    connect_refused(),
    aiohttp.ServerDisconnectedError,
]


@pytest.mark.parametrize("step", SCENARIOS)
@pytest.mark.parametrize("request_factory", [card_request, nonce_request])
async def test_no_secrets_in_logs_or_results(caplog, step, request_factory):
    caplog.set_level(logging.DEBUG)
    recorder = Recorder([step])
    client = make_client(recorder, connect_attempts=2)
    result = await client.charge(request_factory())
    await client.aclose()
    # The secrets really were on the wire...
    assert KEY.encode() in recorder.bodies[0]
    # ...but nowhere else.
    assert_clean(caplog.text)
    for record in caplog.records:
        assert_clean(record.getMessage())
        assert_clean(repr(record.args))
    assert_clean(repr(result))
    assert_clean(str(result.error))
    assert result.outcome in set(Outcome)
