"""Dashboard payment pages over HTTP: the API's tenancy (another merchant's payment is a 404),
its roles on every action, CSRF on every action, one outcome per submitted form, the list's
filters and keyset pages, the history in order."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from tests.access.world import make_processed_payment, make_user
from tests.conftest import make_merchant
from tests.dashboard.helpers import agent, idempotency_key_of, signed_in

ACTIONS = ("capture", "void", "refund")
#: Which roles may submit each action (the API's table: payments:write, payments:refund).
ALLOWED = {
    "capture": {"admin", "merchant", "developer"},
    "void": {"admin", "merchant", "developer"},
    "refund": {"admin", "merchant"},
}


async def _payment_for(settings, merchant_id, action: str) -> str:
    """An authorized payment to capture or void; a captured and settled one to refund."""
    return await make_processed_payment(settings, merchant_id, captured=action == "refund")


async def _row(db, payment_id: str):
    async with db.connect() as conn:
        return (await conn.execute(text("SELECT status, pending_operation FROM payments WHERE id = :id"), {"id": payment_id})).one()


async def _refund_count(db, payment_id: str) -> int:
    async with db.connect() as conn:
        return int(await conn.scalar(text("SELECT count(*) FROM refunds WHERE payment_id = :id"), {"id": payment_id}))


async def _changed(db, payment_id: str, action: str) -> bool:
    if action == "refund":
        return await _refund_count(db, payment_id) > 0
    return (await _row(db, payment_id)).pending_operation == action


@pytest.mark.parametrize("role", ["admin", "merchant", "developer", "viewer"])
@pytest.mark.parametrize("action", ACTIONS)
async def test_each_action_is_open_to_the_roles_the_api_allows(api, settings, db, role, action):
    shop = await make_merchant(settings, f"{role} shop")
    payment_id = await _payment_for(settings, shop.id, action)
    _, email = await make_user(settings, None if role == "admin" else shop.id, role)
    async with agent(api) as client:
        csrf = await signed_in(client, email)
        page = await client.get(f"/dashboard/payments/{payment_id}")
        assert page.status_code == 200
        allowed = role in ALLOWED[action]
        assert (f'data-testid="{action}"' in page.text) == allowed  # the form is offered only to those who may
        form = {"csrf_token": csrf, "idempotency_key": str(uuid.uuid4())}
        answer = await client.post(f"/dashboard/payments/{payment_id}/{action}", data=form, follow_redirects=False)
        if allowed:
            assert answer.status_code == 303, answer.text
            assert answer.headers["location"] == f"/dashboard/payments/{payment_id}?done={action}"
        else:
            assert answer.status_code == 403
            assert "Your role may not do this." in answer.text
        assert await _changed(db, payment_id, action) == allowed


@pytest.mark.parametrize("action", ACTIONS)
async def test_an_action_without_the_sessions_csrf_token_is_refused_and_changes_nothing(api, settings, db, action):
    shop = await make_merchant(settings, "CSRF shop")
    payment_id = await _payment_for(settings, shop.id, action)
    _, email = await make_user(settings, shop.id, "merchant")
    async with agent(api) as client:
        await signed_in(client, email)
        for form in ({}, {"csrf_token": "not-the-token"}):
            form["idempotency_key"] = str(uuid.uuid4())
            answer = await client.post(f"/dashboard/payments/{payment_id}/{action}", data=form, follow_redirects=False)
            assert answer.status_code == 403
        assert not await _changed(db, payment_id, action)
    # Another user's valid token is not this session's.
    _, other = await make_user(settings, shop.id, "merchant")
    async with agent(api) as client:
        other_csrf = await signed_in(client, other)
    async with agent(api) as client:
        await signed_in(client, email)
        form = {"csrf_token": other_csrf, "idempotency_key": str(uuid.uuid4())}
        assert (await client.post(f"/dashboard/payments/{payment_id}/{action}", data=form, follow_redirects=False)).status_code == 403
        assert not await _changed(db, payment_id, action)


async def test_another_merchants_payment_is_a_404_to_read_and_to_act_on(api, settings, db):
    mine, theirs = await make_merchant(settings, "Mine"), await make_merchant(settings, "Theirs")
    authorized = await make_processed_payment(settings, theirs.id, captured=False)
    settled = await make_processed_payment(settings, theirs.id, captured=True)
    _, email = await make_user(settings, mine.id, "merchant")
    async with agent(api) as client:
        csrf = await signed_in(client, email)
        for path in (f"/dashboard/payments/{authorized}", f"/dashboard/payments/{authorized}/history"):
            answer = await client.get(path)
            assert answer.status_code == 404 and "No such payment." in answer.text
        listing = await client.get("/dashboard/payments")
        assert authorized not in listing.text and settled not in listing.text
        named = await client.get("/dashboard/payments", params={"merchant_id": str(theirs.id)})
        assert named.status_code == 404
        for action, payment_id in (("capture", authorized), ("void", authorized), ("refund", settled)):
            form = {"csrf_token": csrf, "idempotency_key": str(uuid.uuid4())}
            answer = await client.post(f"/dashboard/payments/{payment_id}/{action}", data=form, follow_redirects=False)
            assert answer.status_code == 404, action
            assert not await _changed(db, payment_id, action)
        assert (await client.get(f"/dashboard/payments/{uuid.uuid4()}")).status_code == 404
        assert (await client.get("/dashboard/payments/not-an-id")).status_code == 404
        # The merchant probed sees who looked (as for the API's routes).
        probes = await client.get("/v1/audit-logs", params={"action": "cross_tenant_probe", "object_id": authorized},
                                  headers=theirs.headers)
        entries = probes.json()["data"]
        assert entries and all(e["actor_type"] == "user" and e["route"].startswith("/dashboard/payments/") for e in entries)


async def test_admins_see_every_merchants_payments_and_can_name_one(api, settings):
    one, two = await make_merchant(settings, "One"), await make_merchant(settings, "Two")
    first = await make_processed_payment(settings, one.id, captured=False)
    second = await make_processed_payment(settings, two.id, captured=False)
    _, email = await make_user(settings, None, "admin")
    async with agent(api) as client:
        await signed_in(client, email)
        page = (await client.get("/dashboard/payments", params={"limit": "100"})).text
        assert first in page and second in page
        only = (await client.get("/dashboard/payments", params={"merchant_id": str(one.id)})).text
        assert first in only and second not in only
        assert (await client.get(f"/dashboard/payments/{second}")).status_code == 200


async def test_a_form_submitted_twice_acts_once(api, settings, db):
    shop = await make_merchant(settings, "Double submit")
    payment_id = await make_processed_payment(settings, shop.id, captured=True)
    _, email = await make_user(settings, shop.id, "merchant")
    async with agent(api) as client:
        csrf = await signed_in(client, email)
        page = await client.get(f"/dashboard/payments/{payment_id}")
        # Every rendering of the page is a new form with a key of its own.
        assert idempotency_key_of((await client.get(f"/dashboard/payments/{payment_id}")).text) != idempotency_key_of(page.text)
        form = {"csrf_token": csrf, "idempotency_key": idempotency_key_of(page.text), "amount": "1.00", "reason": "twice"}
        for _ in range(2):
            answer = await client.post(f"/dashboard/payments/{payment_id}/refund", data=form, follow_redirects=False)
            assert answer.status_code == 303, answer.text
        assert await _refund_count(db, payment_id) == 1
        # The same key with another amount is refused, as the API refuses a reused key.
        changed = {**form, "amount": "2.00"}
        answer = await client.post(f"/dashboard/payments/{payment_id}/refund", data=changed, follow_redirects=False)
        assert answer.status_code == 409 and "already sent" in answer.text
        assert await _refund_count(db, payment_id) == 1


async def test_a_refused_action_shows_the_engines_reason(api, settings, db):
    shop = await make_merchant(settings, "Refusals")
    payment_id = await make_processed_payment(settings, shop.id, captured=True)
    _, email = await make_user(settings, shop.id, "merchant")
    async with agent(api) as client:
        csrf = await signed_in(client, email)
        form = {"csrf_token": csrf, "idempotency_key": str(uuid.uuid4())}
        answer = await client.post(f"/dashboard/payments/{payment_id}/capture", data=form, follow_redirects=False)
        assert answer.status_code == 409 and 'role="alert"' in answer.text
        too_much = {"csrf_token": csrf, "idempotency_key": str(uuid.uuid4()), "amount": "999.00"}
        answer = await client.post(f"/dashboard/payments/{payment_id}/refund", data=too_much, follow_redirects=False)
        assert answer.status_code == 409
        card = {"csrf_token": csrf, "idempotency_key": str(uuid.uuid4()), "reason": "card 4111 1111 1111 1111"}
        answer = await client.post(f"/dashboard/payments/{payment_id}/refund", data=card, follow_redirects=False)
        assert answer.status_code == 422 and "4111" not in answer.text
        assert await _refund_count(db, payment_id) == 0
        assert (await _row(db, payment_id)).pending_operation is None


async def test_the_list_filters_and_pages_like_the_api(api, settings):
    shop = await make_merchant(settings, "Pages")
    ids = [await make_processed_payment(settings, shop.id, captured=False) for _ in range(3)]
    captured = await make_processed_payment(settings, shop.id, captured=True)
    _, email = await make_user(settings, shop.id, "viewer")
    async with agent(api) as client:
        await signed_in(client, email)
        first = await client.get("/dashboard/payments", params={"limit": "2"})
        assert first.status_code == 200
        assert captured in first.text and ids[2] in first.text and ids[1] not in first.text
        assert f"starting_after={ids[2]}" in first.text
        second = await client.get("/dashboard/payments", params={"limit": "2", "starting_after": ids[2]})
        assert ids[1] in second.text and ids[0] in second.text and captured not in second.text
        assert "starting_after=" not in second.text.split('class="pager"')[1]  # the last page
        authorized = await client.get("/dashboard/payments", params={"status": "authorized", "limit": "100"})
        assert all(i in authorized.text for i in ids) and captured not in authorized.text
        bad = await client.get("/dashboard/payments", params={"status": "nonsense", "created_gte": "yesterday"})
        assert bad.status_code == 422 and "Unknown status" in bad.text


async def test_the_page_shows_refunds_and_every_event_in_order_with_times(api, settings):
    shop = await make_merchant(settings, "History")
    payment_id = await make_processed_payment(settings, shop.id, captured=True)
    _, email = await make_user(settings, shop.id, "merchant")
    async with agent(api) as client:
        csrf = await signed_in(client, email)
        form = {"csrf_token": csrf, "idempotency_key": str(uuid.uuid4()), "amount": "2.50", "reason": "damaged"}
        assert (await client.post(f"/dashboard/payments/{payment_id}/refund", data=form, follow_redirects=False)).status_code == 303
        page = (await client.get(f"/dashboard/payments/{payment_id}?done=refund")).text
        assert "Refund queued." in page and "2.50 USD" in page and "damaged" in page
        history = page.split('data-testid="history"')[1]
        order = [history.index(f"<td>payment.{event}</td>") for event in ("pending", "processing", "captured")]
        assert order == sorted(order)
        assert history.count("<td>20") >= 3  # each row's time
        # The fragment the page polls while a refund is pending says the same.
        fragment = await client.get(f"/dashboard/payments/{payment_id}/history", headers={"HX-Request": "true"})
        assert fragment.status_code == 200 and "<html" not in fragment.text and "damaged" in fragment.text
        assert 'hx-trigger="every 2s"' in fragment.text
