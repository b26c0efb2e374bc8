"""The developers page's events and audit log over HTTP: filters narrow each list as the API's
do, "Older →" pages on with the API's cursor (no entry twice, none lost), and another merchant's
entries never show, filtered, paged, or named as a cursor."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

from sqlalchemy import text

from engine.db.audit import insert_audit_logs
from engine.db.payments import get_payment
from engine.events import record_event
from engine.views import payment_view
from tests.access.world import make_shop, make_user
from tests.dashboard.helpers import agent, signed_in

_EVENT_ROW = re.compile(r'data-event-id="([^"]+)"')
_AUDIT_ROW = re.compile(r'data-audit-id="([^"]+)"')


def _older(page: str, which: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" data-testid="older-{which}">', page)
    return html.unescape(found.group(1)) if found else None


async def _events(db: Any, shop: Any, count: int, type: str) -> None:
    async with db.begin() as conn:
        payment = await get_payment(conn, uuid.UUID(shop.payment_id))
        for _ in range(count):
            await record_event(conn, merchant_id=shop.id, type=type, object_type="payment", object_id=payment.id,
                               snapshot=payment_view(payment))


async def _event_ids(db: Any, merchant_id: Any, type: str | None = None) -> list[str]:
    query = "SELECT id FROM events WHERE merchant_id = :m AND (CAST(:t AS text) IS NULL OR type = :t) ORDER BY created_at DESC, id DESC"
    async with db.connect() as conn:
        return [str(i) for i in (await conn.execute(text(query), {"m": merchant_id, "t": type})).scalars()]


async def test_events_filter_by_type_and_page_older_without_overlap(api, settings, db):
    mine, theirs = await make_shop(settings, "Event pages mine"), await make_shop(settings, "Event pages theirs")
    await _events(db, mine, 52, "payment.captured")
    await _events(db, mine, 3, "payment.failed")
    await _events(db, theirs, 5, "payment.failed")
    everything = await _event_ids(db, mine.id)
    theirs_ids = set(await _event_ids(db, theirs.id))
    assert len(everything) > 50
    _, email = await make_user(settings, mine.id, "developer")
    async with agent(api) as client:
        await signed_in(client, email)
        first = await client.get("/dashboard/developers")
        assert first.status_code == 200
        first_ids = _EVENT_ROW.findall(first.text)
        assert first_ids == everything[:50]
        older = _older(first.text, "events")
        assert older is not None and f"events_after={everything[49]}" in older
        second = await client.get(older)
        assert second.status_code == 200
        assert _EVENT_ROW.findall(second.text) == everything[50:]  # the rest, none shown twice
        assert _older(second.text, "events") is None

        failed = await client.get("/dashboard/developers", params={"event_type": "payment.failed"})
        failed_ids = _EVENT_ROW.findall(failed.text)
        assert failed_ids == await _event_ids(db, mine.id, "payment.failed") and len(failed_ids) == 3
        assert _older(failed.text, "events") is None
        assert not theirs_ids & set(first_ids + _EVENT_ROW.findall(second.text) + failed_ids)

        # Another merchant's event is no cursor here (as in GET /v1/events), and an unknown type is refused.
        probe = await client.get("/dashboard/developers", params={"events_after": next(iter(theirs_ids))})
        assert probe.status_code == 422 and "events_after: No such event." in probe.text
        assert not theirs_ids & set(_EVENT_ROW.findall(probe.text))
        unknown = await client.get("/dashboard/developers", params={"event_type": "payment.nope"})
        assert unknown.status_code == 422 and "Unknown event type" in unknown.text


async def test_audit_filters_by_action_and_actor_and_pages_older(api, settings, db):
    mine, theirs = await make_shop(settings, "Audit pages mine"), await make_shop(settings, "Audit pages theirs")
    action = f"probe_{uuid.uuid4().hex[:8]}"

    def entry(merchant_id: Any, actor_id: str) -> dict[str, Any]:
        return {"actor_type": "api_key", "actor_id": actor_id, "merchant_id": merchant_id, "action": action, "outcome": "success"}

    async with db.begin() as conn:
        await insert_audit_logs(conn, [entry(mine.id, "ak_one") for _ in range(45)] + [entry(mine.id, "ak_two") for _ in range(10)])
        await insert_audit_logs(conn, [entry(theirs.id, "ak_one") for _ in range(5)])
    async with db.connect() as conn:
        ids = [str(i) for i in (await conn.execute(
            text("SELECT id FROM audit_logs WHERE merchant_id = :m AND action = :a ORDER BY id DESC"), {"m": mine.id, "a": action}
        )).scalars()]
        theirs_ids = {str(i) for i in (await conn.execute(
            text("SELECT id FROM audit_logs WHERE merchant_id = :m"), {"m": theirs.id}
        )).scalars()}
    _, email = await make_user(settings, mine.id, "merchant")
    async with agent(api) as client:
        await signed_in(client, email)
        first = await client.get("/dashboard/developers", params={"action": action})
        assert first.status_code == 200
        assert _AUDIT_ROW.findall(first.text) == ids[:50]
        older = _older(first.text, "audit")
        assert older is not None and f"action={action}" in older  # the filter stays on the next page
        second = await client.get(older)
        assert _AUDIT_ROW.findall(second.text) == ids[50:] and len(ids) == 55
        assert _older(second.text, "audit") is None

        two = await client.get("/dashboard/developers", params={"action": action, "actor_id": "ak_two"})
        assert len(_AUDIT_ROW.findall(two.text)) == 10 and _older(two.text, "audit") is None

        # Unfiltered, paged all the way: the merchant's entries only (new ones keep arriving at the
        # top as the pages are read; the cursor pages on below them).
        seen: list[str] = []
        path: str | None = "/dashboard/developers"
        while path is not None:
            page = await client.get(path)
            assert page.status_code == 200
            seen += _AUDIT_ROW.findall(page.text)
            path = _older(page.text, "audit")
        assert len(seen) == len(set(seen)) and set(ids) <= set(seen)
        assert not theirs_ids & set(seen)
        bad = await client.get("/dashboard/developers", params={"audit_after": "x"})
        assert bad.status_code == 422 and "audit_after" in bad.text
