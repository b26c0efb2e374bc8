"""A hanging endpoint does not hold up a healthy one: it gets at most
``WEBHOOK_ENDPOINT_MAX_IN_FLIGHT`` (2) workers while every delivery to the healthy endpoint of
the same merchant, for the same events, completes."""

from __future__ import annotations

import threading

import pytest

from tests.webhooks.conftest import create_endpoint, emit_event
from tests.webhooks.receiver import unique_path, wait_until

#: Requests may hang for up to 10 s; leases outlast them so in-flight counts stay exact.
WEBHOOK_ENV = {"WEBHOOK_TIMEOUT_S": "10", "WEBHOOK_LEASE_S": "20", "WEBHOOK_DISABLE_AFTER_S": "600"}
EVENTS = 12

pytestmark = pytest.mark.usefixtures("webhook_worker", "dispatcher")


async def test_a_hanging_endpoint_does_not_delay_a_healthy_one(api, merchant, db, receiver, webhook_settings):
    hanging, healthy = unique_path("hang"), unique_path("ok")
    hang_endpoint = await create_endpoint(api, merchant, receiver.url(hanging))
    ok_endpoint = await create_endpoint(api, merchant, receiver.url(healthy))
    release = threading.Event()
    hang = receiver.behave(hanging, hold=release, secrets=[hang_endpoint["secret"]])
    receiver.behave(healthy, secrets=[ok_endpoint["secret"]])

    events = [await emit_event(db, merchant.id) for _ in range(EVENTS)]

    # Every healthy delivery lands while the hanging endpoint still holds its requests open.
    await wait_until(lambda: len(receiver.requests(healthy)) == EVENTS, what="all healthy deliveries")
    max_in_flight = webhook_settings.webhooks.endpoint_max_in_flight
    assert hang.open_now == max_in_flight and not release.is_set()
    assert len(receiver.requests(hanging)) == max_in_flight
    assert all(r.verified_with for r in receiver.requests(healthy))

    release.set()
    await wait_until(lambda: len({r.headers["webhook-id"] for r in receiver.requests(hanging)}) == EVENTS,
                     timeout_s=60, what="the hanging endpoint to catch up once released")
    assert hang.max_open <= max_in_flight
    assert {r.body for r in receiver.requests(healthy)} == {r.body for r in receiver.requests(hanging)}
    assert len(events) == EVENTS
