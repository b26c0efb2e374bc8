"""The payments page's picture over HTTP: payments per hour by outcome and the approval rate,
counted from the payments of the caller's merchant only (an admin: all, or the filtered one)."""

from __future__ import annotations

import re

from sqlalchemy import text

from tests.access.world import make_processed_payment, make_user
from tests.conftest import make_merchant
from tests.dashboard.helpers import agent, signed_in
from tests.helpers import card_payment


def _totals(html: str) -> dict[str, int]:
    legend = html.split('data-testid="chart-totals"')[1].split("</ul>")[0]
    return {outcome: int(n) for outcome, n in re.findall(r'data-outcome="(\w+)" data-count="(\d+)"', legend)}


async def test_the_chart_counts_the_merchants_payments_by_outcome(api, settings, db):
    mine, theirs = await make_merchant(settings, "Chart mine"), await make_merchant(settings, "Chart theirs")
    for captured in (True, False, True):
        await make_processed_payment(settings, mine.id, captured=captured)
    declined = await make_processed_payment(settings, mine.id, captured=False)
    async with db.begin() as conn:
        await conn.execute(text("UPDATE payments SET status = 'declined' WHERE id = :id"), {"id": declined})
    created = await api.post("/v1/payments", json=card_payment(), headers=mine.headers)
    assert created.status_code == 202, created.text
    await make_processed_payment(settings, theirs.id, captured=True)
    _, email = await make_user(settings, mine.id, "merchant")
    _, viewer_email = await make_user(settings, mine.id, "viewer")
    _, admin_email = await make_user(settings, None, "admin")
    async with agent(api) as client:
        await signed_in(client, email)
        page = await client.get("/dashboard/payments")
        assert page.status_code == 200
        assert _totals(page.text) == {"approved": 3, "declined": 1, "failed": 0, "in_flight": 1}
        assert 'data-testid="approval-rate">75.0 %<' in page.text
        chart = page.text.split('data-testid="hourly-chart"')[1].split("</svg>")[0]
        drawn: dict[str, int] = {}
        for outcome, n in re.findall(r"<title>\d\d:00 UTC · ([a-z ]+): (\d+)</title>", chart):
            drawn[outcome] = drawn.get(outcome, 0) + int(n)
        assert drawn == {"approved": 3, "declined": 1, "in flight": 1}, "the bars add up to the totals"
        assert 'data-testid="webhook-rate">no attempts<' in page.text
    async with agent(api) as client:
        await signed_in(client, viewer_email)
        page = await client.get("/dashboard/payments")
        assert _totals(page.text)["approved"] == 3 and 'data-testid="webhook-rate"' not in page.text
    async with agent(api) as client:
        await signed_in(client, admin_email)
        one = await client.get("/dashboard/payments", params={"merchant_id": str(theirs.id)})
        assert _totals(one.text) == {"approved": 1, "declined": 0, "failed": 0, "in_flight": 0}
        assert 'data-testid="approval-rate">100.0 %<' in one.text
        every = _totals((await client.get("/dashboard/payments")).text)
        assert every["approved"] >= 4 and every["declined"] >= 1


async def test_a_merchant_without_payments_has_an_empty_chart(api, settings):
    shop = await make_merchant(settings, "Chart empty")
    _, email = await make_user(settings, shop.id, "developer")
    async with agent(api) as client:
        await signed_in(client, email)
        page = await client.get("/dashboard/payments")
        assert _totals(page.text) == {"approved": 0, "declined": 0, "failed": 0, "in_flight": 0}
        assert 'data-testid="approval-rate">—<' in page.text
        assert "<rect " not in page.text.split('data-testid="hourly-chart"')[1].split("</svg>")[0]
