"""Rotating a webhook signing secret from the dashboard is idempotent per rendered form: the form
carries a one-time key, used as the API's ``Idempotency-Key``, so sending it again (a double
click, a browser resend) shows the same secret and rotates once; a new rendering rotates again."""

from __future__ import annotations

import re

from sqlalchemy import text

from engine.sealing import SecretBox
from tests.access.world import make_shop, make_user
from tests.dashboard.helpers import agent, signed_in

_SECRET = re.compile(r'data-testid="new-secret">(whsec_[^<]+)<')


def _rotate_form(html: str, path: str) -> dict[str, str]:
    match = re.search(rf'action="{re.escape(path)}"[^>]*>\s*<input type="hidden" name="csrf_token" value="([^"]+)">\s*'
                      r'<input type="hidden" name="idempotency_key" value="([^"]+)">', html)
    assert match, "no rotate form with a one-time key"
    return {"csrf_token": match.group(1), "idempotency_key": match.group(2)}


async def test_the_same_rotate_form_sent_twice_rotates_once_and_shows_the_same_secret(api, settings, db):
    shop = await make_shop(settings, "Rotate once")
    _, merchant = await make_user(settings, shop.id, "merchant")
    box = SecretBox(settings.secret_key, previous=settings.previous_secret_keys)

    async def sealed() -> tuple[str, str | None]:
        async with db.connect() as conn:
            row = (await conn.execute(text("SELECT secret_sealed, previous_secret_sealed FROM webhook_endpoints WHERE id = :id"),
                                      {"id": shop.endpoint_id})).one()
        return row.secret_sealed, row.previous_secret_sealed

    original, _ = await sealed()
    page_path = f"/dashboard/webhooks/{shop.endpoint_id}"
    path = f"{page_path}/rotate-secret"
    async with agent(api) as client:
        await signed_in(client, merchant)
        form = _rotate_form((await client.get(page_path)).text, path)
        first = await client.post(path, data=form)
        assert first.status_code == 200, first.text
        shown = _SECRET.search(first.text)
        assert shown, first.text
        after_first = await sealed()
        assert box.open(after_first[0], context=shop.endpoint_id) == shown.group(1) and after_first[1] == original
        again = await client.post(path, data=form)
        assert again.status_code == 200 and again.headers["cache-control"] == "no-store"
        assert _SECRET.search(again.text).group(1) == shown.group(1), "the same secret is shown again"  # type: ignore[union-attr]
        assert await sealed() == after_first, "rotated once: the first new secret still signs, the original is still the previous"
        # The page drawn with the answer has a new key: using it is a second rotation.
        second = await client.post(path, data=_rotate_form(again.text, path))
        assert second.status_code == 200
        newest = _SECRET.search(second.text).group(1)  # type: ignore[union-attr]
        assert newest != shown.group(1)
        now, previous = await sealed()
        assert box.open(now, context=shop.endpoint_id) == newest and previous == after_first[0]
        reused = await client.post(path, data={**form, "extra": "changed"})
        assert reused.status_code == 409 and (await sealed())[0] == now, "a key reused for another request rotates nothing"
        missing_key = await client.post(path, data={"csrf_token": form["csrf_token"]})
        assert missing_key.status_code == 422 and (await sealed())[0] == now
