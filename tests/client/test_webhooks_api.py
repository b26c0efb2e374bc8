"""Events and webhook endpoints through the client, with real deliveries to a loopback receiver
(webhooks worker pool and dispatcher running), verified with the client's verifier."""

from __future__ import annotations

import datetime as dt

import pytest

from easypay_client import Client, NotFoundError, Payment, WebhookVerifier
from tests.client.conftest import VISA, eventually


def test_a_real_delivery_verifies_and_the_endpoint_is_managed(system, webhooks_pool, receiver, client: Client):
    # Given: an endpoint for captures
    endpoint = client.webhook_endpoints.create(url=receiver.url("/client-hooks"), events=["payment.captured"], description="shop")
    assert endpoint.secret and endpoint.secret.startswith("whsec_") and endpoint.status == "enabled"
    # When: a sale is captured
    payment = client.payments.create(amount="14.00", currency="USD", card=VISA)
    assert client.wait_for(payment.id).status == "captured"
    # Then: the delivery arrives, and the client's verifier accepts it and types its event
    delivered = eventually(lambda: receiver.requests("/client-hooks"), what="a delivery")[0]
    event = WebhookVerifier(endpoint.secret).verify(delivered.body, delivered.headers)
    assert event.type == "payment.captured" and isinstance(event.data.object, Payment) and event.data.object.id == payment.id
    # And: the API tells the same event, as the same bytes
    events = client.events.list(object_id=payment.id, type="payment.captured")
    assert [e.id for e in events.data] == [event.id]
    assert client.events.retrieve(event.id).type == "payment.captured"
    assert client.events.retrieve_raw(event.id) == delivered.body
    assert event.id in {e.id for e in client.events.list_all(limit=1, created_gte=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5))}
    # And: its delivery is listed with the attempt
    deliveries = eventually(
        lambda: [d for d in client.webhook_endpoints.deliveries(endpoint.id).data if d.status == "succeeded"], what="succeeded delivery"
    )
    assert deliveries[0].event_id == event.id and deliveries[0].webhook_id == delivered.headers["webhook-id"]
    assert deliveries[0].attempts and deliveries[0].attempts[0].succeeded
    assert [d.id for d in client.webhook_endpoints.deliveries_all(endpoint.id, status="succeeded")] == [deliveries[0].id]

    # Resend: a new round with the same webhook-id
    resent = client.events.resend(event.id, endpoint_id=endpoint.id)
    assert resent.event_id == event.id and [d.endpoint_id for d in resent.deliveries] == [endpoint.id]
    again = eventually(lambda: receiver.requests("/client-hooks")[1:], what="the resent delivery")[0]
    assert again.headers["webhook-id"] == delivered.headers["webhook-id"]

    # Rotation: the new secret verifies, and so does the old one during the grace
    rotated = client.webhook_endpoints.rotate_secret(endpoint.id, grace_period_s=600)
    assert rotated.secret and rotated.secret != endpoint.secret
    client.events.resend(event.id, endpoint_id=endpoint.id)
    third = eventually(lambda: receiver.requests("/client-hooks")[2:], what="a delivery after rotation")[0]
    assert len(third.headers["webhook-signature"].split()) == 2
    WebhookVerifier(rotated.secret).verify(third.body, third.headers)
    WebhookVerifier(endpoint.secret).verify(third.body, third.headers)

    # Retrieve, list, update, recover, delete
    assert client.webhook_endpoints.retrieve(endpoint.id).secret is None
    assert endpoint.id in {e.id for e in client.webhook_endpoints.list().data}
    assert endpoint.id in {e.id for e in client.webhook_endpoints.list_all(limit=1)}
    recovery = client.webhook_endpoints.recover(endpoint.id, since=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1))
    assert recovery.endpoint_id == endpoint.id and recovery.deliveries == 0
    updated = client.webhook_endpoints.update(endpoint.id, events=["*"], description="all events", enabled=False)
    assert updated.events == ["*"] and updated.description == "all events" and updated.status == "disabled"
    assert client.webhook_endpoints.delete(endpoint.id).deleted is True
    with pytest.raises(NotFoundError):
        client.webhook_endpoints.retrieve(endpoint.id)


def test_recover_replays_failed_deliveries(system, webhooks_pool, receiver, client: Client):
    # Given: an endpoint that fails every attempt of the (compressed) schedule
    receiver.behave("/failing", default=500)
    endpoint = client.webhook_endpoints.create(url=receiver.url("/failing"), events=["payment.captured"])
    payment = client.payments.create(amount="15.00", currency="USD", card=VISA)
    client.wait_for(payment.id)
    eventually(lambda: client.webhook_endpoints.deliveries(endpoint.id, status="failed").data, what="a dead delivery")
    # When: it recovers and the merchant asks for a new round
    receiver.behave("/failing", default=200)
    client.webhook_endpoints.update(endpoint.id, enabled=True)
    recovery = client.webhook_endpoints.recover(endpoint.id, since=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1))
    # Then: the failed delivery is delivered
    assert recovery.deliveries == 1
    eventually(lambda: client.webhook_endpoints.deliveries(endpoint.id, status="succeeded").data, what="the recovered delivery")
    assert receiver.requests("/failing")[-1].status == 200
