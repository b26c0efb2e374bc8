"""Safe retries, proven through a real proxy that answers 503 / 429 / 409 itself or drops the
connection: the same Idempotency-Key on every attempt, and exactly one payment in the end."""

from __future__ import annotations

import time
from typing import Iterator

import pytest

from easypay_client import (
    APIConnectionError,
    AsyncClient,
    Client,
    NotFoundError,
    RetryPolicy,
    ServiceUnavailableError,
    ValidationError,
)
from tests.client.conftest import VISA
from tests.client.proxy import FaultProxy
from tests.conftest import free_port

FAST = RetryPolicy(max_retries=5, base_delay_s=0.05, max_delay_s=0.2)


@pytest.fixture
def proxy(system: str) -> Iterator[FaultProxy]:
    server = FaultProxy(system).start()
    yield server
    server.close()


def _posts(proxy: FaultProxy) -> list:
    return [s for s in proxy.seen if s.method == "POST"]


def test_a_lost_answer_503_429_and_a_busy_key_are_retried_with_one_key_and_one_payment(proxy, merchant, system):
    # Given: the first attempt reaches the API (a payment is created) but its answer is lost,
    # then the proxy answers 503, 429 (Retry-After: 1 s each) and 409 idempotency_key_in_use
    proxy.script = ["forward_then_drop", "503", "429", "409_in_use"]
    started = time.monotonic()
    with Client(proxy.url, merchant.key, retry=FAST) as client:
        payment = client.payments.create(amount="31.00", currency="USD", card=VISA, customer_id="retry-1")
    elapsed = time.monotonic() - started
    # Then: five attempts, all with the same generated key; Retry-After was honoured
    posts = _posts(proxy)
    assert [s.action for s in posts] == ["forward_then_drop", "503", "429", "409_in_use", "forward"]
    keys = {s.idempotency_key for s in posts}
    assert len(keys) == 1 and None not in keys and len(next(iter(keys))) >= 32
    assert elapsed >= 2.0, elapsed
    # And: exactly one payment exists, and it is the one returned (the API replayed the first answer)
    with Client(system, merchant.key) as direct:
        existing = list(direct.payments.list_all(customer_id="retry-1"))
        assert [p.id for p in existing] == [payment.id]
        assert direct.wait_for(payment.id).status == "captured"


def test_a_caller_key_is_used_as_given_on_every_attempt(proxy, merchant, system):
    proxy.script = ["forward_then_drop", "forward_then_drop"]
    with Client(proxy.url, merchant.key, retry=FAST) as client:
        payment = client.payments.create(amount="5.00", currency="USD", card=VISA, customer_id="retry-2", idempotency_key="order-77")
        again = client.payments.create(amount="5.00", currency="USD", card=VISA, customer_id="retry-2", idempotency_key="order-77")
    assert again.id == payment.id
    assert {s.idempotency_key for s in _posts(proxy)} == {"order-77"} and len(_posts(proxy)) == 4
    with Client(system, merchant.key) as direct:
        assert [p.id for p in direct.payments.list_all(customer_id="retry-2")] == [payment.id]


def test_a_dropped_read_is_retried(proxy, merchant, system):
    with Client(system, merchant.key) as direct:
        payment = direct.payments.create(amount="6.00", currency="USD", card=VISA)
    proxy.match_method = "GET"
    proxy.script = ["drop", "503"]
    with Client(proxy.url, merchant.key, retry=FAST) as client:
        assert client.payments.retrieve(payment.id).id == payment.id
    assert [s.action for s in proxy.seen] == ["drop", "503", "forward"]


def test_other_client_errors_are_never_retried(proxy, merchant):
    with Client(proxy.url, merchant.key, retry=FAST) as client:
        with pytest.raises(ValidationError):
            client.payments.create(amount="-1", currency="USD", card=VISA)
        with pytest.raises(NotFoundError):
            client.payments.capture("00000000-0000-0000-0000-000000000000")
        with pytest.raises(NotFoundError):
            client.payments.retrieve("00000000-0000-0000-0000-000000000000")
    assert len(proxy.seen) == 3


def test_retries_end_with_the_typed_error(proxy, merchant):
    proxy.script = ["503"] * 10
    with Client(proxy.url, merchant.key, retry=RetryPolicy(max_retries=2, base_delay_s=0.01)) as client:
        with pytest.raises(ServiceUnavailableError) as unavailable:
            client.payments.create(amount="7.00", currency="USD", card=VISA)
    assert unavailable.value.retry_after == 1.0 and unavailable.value.code == "service_unavailable"
    assert len(proxy.seen) == 3 and len({s.idempotency_key for s in proxy.seen}) == 1


def test_a_refused_connection_is_a_connection_error_after_the_retries():
    client = Client(f"http://127.0.0.1:{free_port()}", "ak_x:sk_y", retry=RetryPolicy(max_retries=2, base_delay_s=0.01))
    started = time.monotonic()
    with pytest.raises(APIConnectionError):
        client.payments.retrieve("00000000-0000-0000-0000-000000000000")
    assert time.monotonic() - started < 5
    client.close()


async def test_the_async_client_shares_the_policy(proxy, merchant, system):
    proxy.script = ["forward_then_drop", "429"]
    async with AsyncClient(proxy.url, merchant.key, retry=FAST) as client:
        payment = await client.payments.create(amount="8.00", currency="USD", card=VISA, customer_id="retry-async")
        assert (await client.wait_for(payment.id)).status == "captured"
    assert len({s.idempotency_key for s in _posts(proxy)}) == 1 and len(_posts(proxy)) == 3
    async with AsyncClient(system, merchant.key) as direct:
        assert [p.id async for p in direct.payments.list_all(customer_id="retry-async")] == [payment.id]
