"""``AsyncClient``: the same resources awaited, async iteration over pages, configuration from the environment."""

from __future__ import annotations

import asyncio

import pytest

from easypay_client import AsyncClient, Client, ConfigurationError, NotFoundError
from tests.client.conftest import VISA


async def test_concurrent_sales_are_waited_for_and_iterated(system, merchant, monkeypatch):
    monkeypatch.setenv("EASYPAY_BASE_URL", system)
    monkeypatch.setenv("EASYPAY_API_KEY", merchant.key)
    async with AsyncClient() as client:  # from the environment
        created = await asyncio.gather(
            *(client.payments.create(amount=f"1{i}.00", currency="USD", card=VISA, customer_id="async-many") for i in range(5))
        )
        finals = await asyncio.gather(*(client.wait_for(p.id, timeout_s=30) for p in created))
        assert {p.status for p in finals} == {"captured"}
        listed = [p.id async for p in client.payments.list_all(limit=2, customer_id="async-many")]
        assert sorted(listed) == sorted(p.id for p in created) and len(listed) == 5
        page = await client.payments.list(limit=2, customer_id="async-many")
        assert page.has_more and len(page.data) == 2
        refund = await client.refunds.create(created[0].id, amount="10.00")
        assert (await client.refunds.retrieve(refund.id)).id == refund.id
        events = [e async for e in client.events.list_all(object_id=created[1].id)]
        assert [e.type for e in events] == ["payment.captured"]
        with pytest.raises(NotFoundError):
            await client.refunds.retrieve("00000000-0000-0000-0000-000000000000")


def test_configuration_comes_from_arguments_or_the_environment(monkeypatch):
    monkeypatch.delenv("EASYPAY_BASE_URL", raising=False)
    monkeypatch.delenv("EASYPAY_API_KEY", raising=False)
    with pytest.raises(ConfigurationError):
        Client()
    monkeypatch.setenv("EASYPAY_BASE_URL", "http://127.0.0.1:1/")
    monkeypatch.setenv("EASYPAY_API_KEY", "ak_env:sk_secret")
    client = Client()
    assert client.config.base_url == "http://127.0.0.1:1" and client.config.api_key == "ak_env:sk_secret"
    assert "sk_secret" not in repr(client.config)
    client.close()
    given = Client("http://example.test", "ak_arg:sk_x")
    assert given.config.base_url == "http://example.test" and given.config.api_key == "ak_arg:sk_x"
    given.close()
