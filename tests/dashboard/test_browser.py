"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against a real API
process, a worker pool and the processor emulator.

Sign in, see a payment made through the API appear (and counted in the payments picture), open
its history, capture it and refund it from the page and see the API agree, be refused another
merchant's payment, sign out; create an API key with an expiry and a rate limit (and be refused one
above the default); as an admin, replay a dead letter from the operators page. With
``EASYPAY_DASHBOARD_SCREENSHOT=<path.png>`` the payments page is saved there (the README's picture).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import AsyncIterator, Iterator

import httpx
import pytest
import redis
from playwright.async_api import Browser, Page, async_playwright, expect

from engine import sweeps
from jobs.names import NAMESPACE
from jobs.queues import queue_stats
from tests.access.world import PASSWORD, make_processed_payment, make_user
from tests.conftest import make_merchant, start_web, stop
from tests.helpers import card_payment, wait_final
from tests.lifecycle_helpers import wait_for, worker_deps
from tests.ops.broker_tools import dead_letter_one

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture(scope="module")
def web(test_env, database, redis_clean, log_dir) -> Iterator[str]:
    base, proc = start_web(test_env, log_dir / "web-dashboard-browser.log")
    yield base
    stop(proc, timeout_s=15)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            await browser.close()


def _watch(page: Page) -> list[str]:
    """Console errors and requests leaving the API: both must stay empty."""
    problems: list[str] = []
    page.on("console", lambda message: problems.append(f"console {message.type}: {message.text}") if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("request", lambda request: None if request.url.startswith("http://127.0.0.1") else problems.append(f"left: {request.url}"))
    return problems


async def test_sign_in_see_capture_refund_and_sign_out_in_a_browser(web, browser, settings, sandbox):
    shop = await make_merchant(settings, "Browser shop")
    other = await make_merchant(settings, "Someone else")
    _, email = await make_user(settings, shop.id, "merchant")
    foreign = await make_processed_payment(settings, other.id, captured=False)
    async with httpx.AsyncClient(base_url=web, timeout=30) as api:
        created = await api.post("/v1/payments", json=card_payment("25.00", capture=False, customer_id="cust-browser"), headers=shop.headers)
        assert created.status_code == 202, created.text
        payment_id = created.json()["id"]
        assert (await wait_final(api, shop.headers, payment_id))["status"] == "authorized"
        others = [
            card_payment("12.50", customer_id="cust-4410"),
            card_payment("80.00", customer_id="cust-2291", billing={"postal_code": "46282"}),  # the emulator declines it
        ]
        for body in others:
            answer = await api.post("/v1/payments", json=body, headers=shop.headers)
            assert answer.status_code == 202, answer.text
            await wait_final(api, shop.headers, answer.json()["id"])

        page = await browser.new_page(viewport={"width": 1360, "height": 900})
        problems = _watch(page)
        await page.goto(f"{web}/dashboard/")
        await page.get_by_label("E-mail").fill(email)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page).to_have_url(f"{web}/dashboard/payments")
        row = page.locator(f'tr[data-payment-id="{payment_id}"]')
        await expect(row).to_contain_text("authorized")
        await expect(row).to_contain_text("25.00 USD")
        await expect(page.get_by_test_id("payments").locator("tbody tr")).to_have_count(3)
        # The picture above the table: this hour's three payments, two approved and one declined.
        await expect(page.get_by_test_id("hourly-chart")).to_be_visible()
        await expect(page.get_by_test_id("approval-rate")).to_have_text("66.7 %")
        await expect(page.locator('[data-testid="chart-totals"] [data-outcome="declined"]')).to_have_attribute("data-count", "1")
        if target := os.environ.get("EASYPAY_DASHBOARD_SCREENSHOT"):
            await page.screenshot(path=str(Path(target)), full_page=True)
        # Filtering swaps the table in place (htmx) and puts the filters in the address.
        await page.get_by_label("Status").select_option("authorized")
        await page.get_by_role("button", name="Filter").click()
        await expect(page).to_have_url(f"{web}/dashboard/payments?status=authorized&customer_id=&created_gte=&created_lt=&limit=20")
        await expect(page.get_by_test_id("payments").locator("tbody tr")).to_have_count(1)

        # Its history, then a capture from the page: the page follows the payment until it is captured.
        await row.get_by_role("link").click()
        await expect(page).to_have_url(f"{web}/dashboard/payments/{payment_id}")
        history = page.get_by_test_id("history")
        await expect(history).to_contain_text("payment.authorized")
        await page.get_by_test_id("capture").click()
        await expect(page.get_by_role("status")).to_have_text("Capture queued.")
        await expect(page.get_by_test_id("status")).to_have_text("captured", timeout=30_000)
        await expect(history).to_contain_text("payment.captured")
        assert (await api.get(f"/v1/payments/{payment_id}", headers=shop.headers)).json()["amount_captured"] == "25.00"

        # Settled (partial refunds need it), then a partial refund from the page.
        sandbox.settle()
        async with worker_deps(settings) as deps:
            assert await sweeps.sync_settlement(deps) >= 1
        await page.reload()
        await page.locator('form[action$="/refund"]').get_by_label("Amount").fill("10.00")
        await page.locator('form[action$="/refund"]').get_by_label("Reason").fill("returned one item")
        await page.get_by_test_id("refund").click()
        await expect(page.get_by_role("status")).to_have_text("Refund queued.")
        await expect(page.get_by_test_id("status")).to_have_text("partially_refunded", timeout=30_000)
        await expect(page.get_by_test_id("refunds")).to_contain_text("succeeded")
        await expect(page.get_by_test_id("refunded")).to_have_text("10.00")
        payment = await wait_for(api, shop.headers, f"/v1/payments/{payment_id}", lambda p: p["status"] == "partially_refunded")
        assert payment["amount_refunded"] == "10.00"
        refunds = (await api.get(f"/v1/payments/{payment_id}/refunds", headers=shop.headers)).json()["data"]
        assert [(r["amount"], r["status"], r["reason"]) for r in refunds] == [("10.00", "succeeded", "returned one item")]

        # Another merchant's payment is not there (the browser reports the 404 it was answered).
        assert not problems, problems
        answer = await page.goto(f"{web}/dashboard/payments/{foreign}")
        assert answer is not None and answer.status == 404
        await expect(page.get_by_role("alert")).to_have_text("No such payment.")
        assert problems == ["console error: Failed to load resource: the server responded with a status of 404 (Not Found)"]
        problems.clear()

        await page.get_by_role("button", name="Sign out").click()
        await expect(page).to_have_url(f"{web}/dashboard/")
        await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        await page.goto(f"{web}/dashboard/payments/{payment_id}")
        await expect(page).to_have_url(f"{web}/dashboard/")
        assert not problems, problems


async def test_an_admin_replays_a_dead_letter_from_the_operators_page(web, browser, settings):
    subject = str(uuid.uuid4())
    dead_letter_one(settings, "webhooks", subject=subject)
    broker = redis.Redis.from_url(settings.redis.broker_url)
    (before,) = queue_stats(broker, NAMESPACE, ["webhooks"])
    _, email = await make_user(settings, None, "admin")
    page = await browser.new_page(viewport={"width": 1360, "height": 900})
    problems = _watch(page)
    await page.goto(f"{web}/dashboard/")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{web}/dashboard/payments")
    await page.get_by_role("link", name="Operators").click()
    await expect(page).to_have_url(f"{web}/dashboard/operators")
    await expect(page.locator('[data-testid="queues"] tr[data-queue="payments"]')).to_be_visible()
    row = page.get_by_test_id("dead-letters-webhooks").locator("tr", has_text=subject)
    await row.get_by_test_id("replay").click()
    await expect(page.get_by_role("status")).to_have_text("Dead letter put back on its queue.")
    await expect(page.get_by_test_id("dead-letters-webhooks")).not_to_contain_text(subject)
    (after,) = queue_stats(broker, NAMESPACE, ["webhooks"])
    assert (after.depth, after.dead_letters) == (before.depth + 1, before.dead_letters - 1)
    assert not problems, problems


async def test_a_merchant_creates_a_key_with_an_expiry_and_limits_in_a_browser(web, browser, settings):
    shop = await make_merchant(settings, "Browser keys")
    _, email = await make_user(settings, shop.id, "merchant")
    page = await browser.new_page(viewport={"width": 1360, "height": 900})
    problems = _watch(page)
    await page.goto(f"{web}/dashboard/")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{web}/dashboard/payments")
    await page.get_by_role("link", name="Developers").click()
    form = page.get_by_test_id("create-key-form")
    await form.get_by_label("Name").fill("browser ci")
    await form.get_by_label("Expires").select_option(label="in 30 days")
    await form.get_by_label("Per minute").fill("50")
    await page.get_by_test_id("create-key").click()
    await expect(page.get_by_role("status")).to_contain_text("created: copy it now")
    token = await page.get_by_test_id("new-key").text_content()
    assert token is not None and token.startswith("ak_")
    key_id = token.split(":")[0].removeprefix("ak_")
    await expect(page.get_by_test_id(f"limits-{key_id}")).to_have_text("50/minute")
    await expect(page.get_by_test_id(f"expires-{key_id}")).not_to_have_text("never")
    async with httpx.AsyncClient(base_url=web, timeout=30) as api:
        view = (await api.get(f"/v1/api-keys/{key_id}", headers=shop.headers)).json()
    assert view["rate_limits"] == {"minute": 50} and view["expires_at"] is not None and view["name"] == "browser ci"
    assert not problems, problems
    # A limit above the default is refused on the page, naming the field.
    await form.get_by_label("Per minute").fill(str(settings.access.default_rate_limits["minute"] + 1))
    await page.get_by_test_id("create-key").click()
    await expect(page.get_by_role("alert")).to_contain_text("rate_limits.minute: Must be from 1 to")
    assert len(problems) == 1 and "status of 422" in problems[0], problems
