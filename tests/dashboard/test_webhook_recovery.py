"""Recover and resend on the webhooks page over HTTP: the API's own work (``recover_work``,
``resend_work``) for ``webhooks:resend`` (merchant, developer), under the form's idempotency key
(a form sent twice acts once), CSRF-checked; 403 without the permission, 404 for another
merchant's endpoint or event."""

from __future__ import annotations

import re

from sqlalchemy import text

from engine.db import webhook_deliveries
from engine.webhooks import endpoints as webhook_endpoints
from engine.sealing import SecretBox
from tests.access.world import make_shop, make_user
from tests.dashboard.helpers import agent, signed_in


async def _endpoint_failed_by_failures(settings, db, shop) -> str:
    """An endpoint for every event type whose delivery of the shop's event failed, disabled as
    the delivery workers disable a failing receiver."""
    async with db.begin() as conn:
        row, _secret = await webhook_endpoints.create_endpoint(
            conn, SecretBox(settings.secret_key), merchant_id=shop.id, url="https://hooks.example.com/flaky",
            event_types=["*"], description="flaky",
        )
        await webhook_deliveries.requeue_for_event(
            conn, event_id=shop.event_id, merchant_id=shop.id, event_type="payment.captured", endpoint_id=row.id
        )
        await webhook_endpoints.disable(conn, row.id, reason="failing", announce=False)
    return str(row.id)


async def _delivery(db, endpoint_id: str) -> tuple[str, int]:
    async with db.connect() as conn:
        row = (await conn.execute(
            text("SELECT status, attempts FROM webhook_deliveries WHERE endpoint_id = :id"), {"id": endpoint_id}
        )).one()
    return row.status, row.attempts


async def _set_delivery(db, endpoint_id: str, status: str) -> None:
    async with db.begin() as conn:
        await conn.execute(text("UPDATE webhook_deliveries SET status = :s, attempts = 5, next_attempt_at = NULL WHERE endpoint_id = :id"),
                           {"s": status, "id": endpoint_id})


def _key(html: str, action: str) -> str:
    match = re.search(rf'action="{re.escape(action)}"[^>]*>\s*<input[^>]+>\s*<input type="hidden" name="idempotency_key" value="([^"]+)"', html)
    assert match, f"no form for {action}"
    return match.group(1)


async def test_a_failing_endpoint_is_enabled_then_its_failed_deliveries_recovered_once(api, settings, db):
    shop = await make_shop(settings, "Recover mine")
    endpoint_id = await _endpoint_failed_by_failures(settings, db, shop)
    assert await _delivery(db, endpoint_id) == ("failed", 0)
    _, merchant = await make_user(settings, shop.id, "merchant")
    page_path = f"/dashboard/webhooks/{endpoint_id}"
    recover_path = f"{page_path}/recover"
    async with agent(api) as client:
        csrf = await signed_in(client, merchant)
        page = (await client.get(page_path)).text
        assert 'data-testid="recover-disabled"' in page and 'data-testid="recover"' not in page
        refused = await client.post(recover_path, data={"csrf_token": csrf, "idempotency_key": "disabled-recover-1", "window_h": "24"})
        assert refused.status_code == 409 and "enable it first" in refused.text, "the API's refusal"
        assert await _delivery(db, endpoint_id) == ("failed", 0)
        enabled = await client.post(f"{page_path}/enabled", data={"csrf_token": csrf, "enabled": "true"})
        assert enabled.status_code == 200 and 'data-testid="recover"' in enabled.text
        key = _key(enabled.text, recover_path)
        assert (await client.post(recover_path, data={"idempotency_key": key, "window_h": "24"})).status_code == 403, "no CSRF token"
        assert await _delivery(db, endpoint_id) == ("failed", 0)
        bad = await client.post(recover_path, data={"csrf_token": csrf, "idempotency_key": key, "window_h": "5"})
        assert bad.status_code == 422
        form = {"csrf_token": csrf, "idempotency_key": key, "window_h": "24"}
        first = await client.post(recover_path, data=form, follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"] == f"{page_path}?recovered=1"
        assert await _delivery(db, endpoint_id) == ("pending", 0)
        assert "1 failed delivery sent again." in (await client.get(first.headers["location"])).text
        await _set_delivery(db, endpoint_id, "failed")
        again = await client.post(recover_path, data=form, follow_redirects=False)
        assert again.status_code == 303 and again.headers["location"] == first.headers["location"], "the same answer"
        assert await _delivery(db, endpoint_id) == ("failed", 5), "the form sent twice recovered once"


async def test_a_delivery_is_resent_by_webhooks_resend_only_and_the_merchants_own(api, settings, db):
    mine, theirs = await make_shop(settings, "Resend one mine"), await make_shop(settings, "Resend one theirs")
    endpoint_id = await _endpoint_failed_by_failures(settings, db, mine)
    their_endpoint = await _endpoint_failed_by_failures(settings, db, theirs)
    async with db.begin() as conn:
        await webhook_endpoints.enable(conn, endpoint_id)
        await webhook_endpoints.enable(conn, their_endpoint)
    await _set_delivery(db, endpoint_id, "succeeded")
    _, developer = await make_user(settings, mine.id, "developer")
    _, viewer = await make_user(settings, mine.id, "viewer")
    page_path = f"/dashboard/webhooks/{endpoint_id}"
    resend_path = f"{page_path}/events/{mine.event_id}/resend"
    async with agent(api) as client:
        csrf = await signed_in(client, viewer)
        for path in (resend_path, f"{page_path}/recover"):
            answer = await client.post(path, data={"csrf_token": csrf, "idempotency_key": "viewer-key-1", "window_h": "24"})
            assert answer.status_code == 403, path
    assert await _delivery(db, endpoint_id) == ("succeeded", 5)
    async with agent(api) as client:
        csrf = await signed_in(client, developer)
        page = (await client.get(page_path)).text
        assert f'data-testid="resend-{mine.event_id}"' in page and 'data-testid="recover"' in page
        assert 'data-testid="rotate-secret"' not in page, "webhooks:manage only"
        key = _key(page, resend_path)
        assert (await client.post(resend_path, data={"idempotency_key": key})).status_code == 403, "no CSRF token"
        assert await _delivery(db, endpoint_id) == ("succeeded", 5)
        form = {"csrf_token": csrf, "idempotency_key": key}
        first = await client.post(resend_path, data=form, follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"] == f"{page_path}?resent=1"
        assert await _delivery(db, endpoint_id) == ("pending", 0)
        await _set_delivery(db, endpoint_id, "succeeded")
        answer = await client.post(resend_path, data=form, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == first.headers["location"]
        assert await _delivery(db, endpoint_id) == ("succeeded", 5), "the form sent twice resent once"
        assert "Event sent again: 1 delivery queued." in (await client.get(answer.headers["location"])).text
        fresh = {"csrf_token": csrf, "idempotency_key": "dev-resend-fresh-1"}
        assert (await client.post(resend_path, data=fresh, follow_redirects=False)).status_code == 303
        assert await _delivery(db, endpoint_id) == ("pending", 0)
        # Another merchant's endpoint (with their own event, or ours), or their event on our endpoint: 404.
        for i, path in enumerate((
            f"/dashboard/webhooks/{their_endpoint}/events/{theirs.event_id}/resend",
            f"/dashboard/webhooks/{their_endpoint}/events/{mine.event_id}/resend",
            f"{page_path}/events/{theirs.event_id}/resend",
            f"/dashboard/webhooks/{their_endpoint}/recover",
        )):
            answer = await client.post(path, data={"csrf_token": csrf, "idempotency_key": f"foreign-key-{i}", "window_h": "24"})
            assert answer.status_code == 404, path
    assert await _delivery(db, their_endpoint) == ("failed", 0), "nothing of theirs was touched"
