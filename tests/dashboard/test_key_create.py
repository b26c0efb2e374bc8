"""The developers page's create-key form sets the key's expiry and per-window rate limits through
the API's own ``create_in_scope`` (the same ceilings, role rules and field-naming errors, shown on
the page with the API's status), and is idempotent per rendered form: sent twice, one key and the
same secret; the answer is stored only sealed."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import text

from tests.access.world import bearer, make_shop, make_user
from tests.dashboard.helpers import agent, key_form_of, signed_in

_TOKEN = re.compile(r'data-testid="new-key">(ak_[^<]+)<')
PATH = "/dashboard/developers/keys"


async def _key_count(db, merchant_id) -> int:
    async with db.connect() as conn:
        return int(await conn.scalar(text("SELECT count(*) FROM api_keys WHERE merchant_id = :m"), {"m": merchant_id}))


async def test_expiry_and_limits_land_on_the_key_and_show_in_the_list(api, settings):
    shop = await make_shop(settings, "Key limits")
    _, email = await make_user(settings, shop.id, "merchant")
    async with agent(api) as client:
        await signed_in(client, email)
        page = await client.get("/dashboard/developers")
        assert 'name="expires_in"' in page.text and 'name="rate_limit_minute"' in page.text
        before = dt.datetime.now(dt.timezone.utc)
        answer = await client.post(PATH, data={
            **key_form_of(page.text), "role": "developer", "name": "limited", "expires_in": "30",
            "rate_limit_minute": "50", "rate_limit_hour": "", "rate_limit_day": "900",
        })
        assert answer.status_code == 201, answer.text
        token = _TOKEN.search(answer.text).group(1)  # type: ignore[union-attr]
        key_id = token.split(":")[0].removeprefix("ak_")
        view = (await api.get(f"/v1/api-keys/{key_id}", headers=bearer(shop.keys["admin"]))).json()
        assert view["rate_limits"] == {"minute": 50, "day": 900}, view
        expires_at = dt.datetime.fromisoformat(view["expires_at"])
        assert before + dt.timedelta(days=30) <= expires_at <= dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30)
        listed = await client.get("/dashboard/developers")
        expires_cell = re.search(rf'data-testid="expires-{key_id}">([^<]*)<', listed.text).group(1)  # type: ignore[union-attr]
        assert expires_cell == expires_at.strftime("%Y-%m-%d %H:%M:%S")
        assert re.search(rf'data-testid="limits-{key_id}">50/minute, 900/day<', listed.text)
        # A date and time (UTC), no limits: the defaults.
        dated = await client.post(PATH, data={**key_form_of(listed.text), "role": "viewer", "expires_in": "date",
                                              "expires_at": "2031-02-03T04:05"})
        assert dated.status_code == 201, dated.text
        dated_id = _TOKEN.search(dated.text).group(1).split(":")[0].removeprefix("ak_")  # type: ignore[union-attr]
        view = (await api.get(f"/v1/api-keys/{dated_id}", headers=bearer(shop.keys["admin"]))).json()
        assert dt.datetime.fromisoformat(view["expires_at"]) == dt.datetime(2031, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
        assert view["rate_limits"] is None
        listed = await client.get("/dashboard/developers")
        assert re.search(rf'data-testid="limits-{dated_id}">defaults<', listed.text)
        assert re.search(rf'data-testid="expires-{shop.key_ids["developer"]}">never<', listed.text)
        # A date with the choice left at "never": the date is what was meant.
        on_date = await client.post(PATH, data={**key_form_of(listed.text), "role": "viewer", "expires_at": "2032-06-07T08:09"})
        assert on_date.status_code == 201, on_date.text
        on_date_id = _TOKEN.search(on_date.text).group(1).split(":")[0].removeprefix("ak_")  # type: ignore[union-attr]
        view = (await api.get(f"/v1/api-keys/{on_date_id}", headers=bearer(shop.keys["admin"]))).json()
        assert dt.datetime.fromisoformat(view["expires_at"]) == dt.datetime(2032, 6, 7, 8, 9, tzinfo=dt.timezone.utc)


async def test_limits_above_the_ceiling_and_past_or_malformed_expiries_are_refused(api, settings, db):
    shop = await make_shop(settings, "Key refusals")
    _, email = await make_user(settings, shop.id, "merchant")
    ceiling = settings.access.default_rate_limits["minute"]
    async with agent(api) as client:
        await signed_in(client, email)
        page = (await client.get("/dashboard/developers")).text
        count = await _key_count(db, shop.id)
        sent: list[str] = []
        cases = [
            ({"rate_limit_minute": str(ceiling + 1)}, 422, f"rate_limits.minute: Must be from 1 to {ceiling} (the default)"),
            ({"rate_limit_hour": "0"}, 422, "rate_limits.hour: 0 means no limit"),
            ({"rate_limit_day": "lots"}, 422, "rate_limits.day: Must be a whole number"),
            ({"expires_in": "date", "expires_at": "2020-01-01T00:00"}, 422, "expires_at: Must be in the future."),
            ({"expires_in": "date", "expires_at": "soon"}, 422, "expires_at: Must be a date and time"),
            ({"expires_in": "date"}, 422, "expires_at: Give the date"),
            ({"expires_in": "7", "expires_at": "2031-01-01T00:00"}, 422, "expires_at: Choose either"),
            ({"expires_in": "365"}, 422, "expires_at: Choose never"),
            ({"role": "admin"}, 403, "may not create admin keys"),
        ]
        for fields, status, message in cases:
            form = key_form_of(page)
            sent.append(form["idempotency_key"])
            answer = await client.post(PATH, data={**form, "role": "developer", **fields})
            assert answer.status_code == status, (fields, answer.status_code, answer.text)
            assert message in answer.text, (fields, answer.text)
            assert 'role="alert"' in answer.text and 'data-testid="new-key"' not in answer.text
            page = answer.text  # the page drawn with the error has a new form
        assert await _key_count(db, shop.id) == count, "a refused form creates nothing"
        async with db.connect() as conn:
            stored = await conn.scalar(text("SELECT count(*) FROM idempotency_keys WHERE key = ANY(:k)"), {"k": sent})
        assert stored == 0, "a refused form stores no answer: fixed, it may be sent again"


async def test_admins_may_raise_limits_merchants_only_lower_them(api, settings):
    shop = await make_shop(settings, "Admin limits")
    _, admin = await make_user(settings, None, "admin")
    ceiling = settings.access.default_rate_limits["minute"]
    async with agent(api) as client:
        await signed_in(client, admin)
        page = await client.get("/dashboard/developers")
        answer = await client.post(PATH, data={**key_form_of(page.text), "role": "developer", "merchant_id": str(shop.id),
                                               "rate_limit_minute": str(ceiling + 1), "rate_limit_hour": "0"})
        assert answer.status_code == 201, answer.text
        key_id = _TOKEN.search(answer.text).group(1).split(":")[0].removeprefix("ak_")  # type: ignore[union-attr]
        view = (await api.get(f"/v1/api-keys/{key_id}", headers=bearer(shop.keys["admin"]))).json()
        assert view["rate_limits"] == {"minute": ceiling + 1, "hour": 0} and view["merchant_id"] == str(shop.id)
        listed = await client.get("/dashboard/developers")
        assert re.search(rf'data-testid="limits-{key_id}">{ceiling + 1}/minute, no limit/hour<', listed.text)
        bad = await client.post(PATH, data={**key_form_of(answer.text), "role": "developer", "merchant_id": "nope"})
        assert bad.status_code == 422 and "merchant_id: Must be a merchant id." in bad.text


async def test_the_same_form_sent_twice_creates_one_key_and_shows_the_same_secret(api, settings, db):
    shop = await make_shop(settings, "Key once")
    _, email = await make_user(settings, shop.id, "merchant")
    async with agent(api) as client:
        await signed_in(client, email)
        form = {**key_form_of((await client.get("/dashboard/developers")).text), "role": "viewer", "name": "once",
                "rate_limit_minute": "10"}
        count = await _key_count(db, shop.id)
        first = await client.post(PATH, data=form)
        again = await client.post(PATH, data=form)
        assert first.status_code == again.status_code == 201, again.text
        assert again.headers["cache-control"] == "no-store"
        token = _TOKEN.search(first.text).group(1)  # type: ignore[union-attr]
        assert _TOKEN.search(again.text).group(1) == token, "the same secret is shown again"  # type: ignore[union-attr]
        assert await _key_count(db, shop.id) == count + 1
        assert (await api.get("/v1/payments", headers=bearer(token))).status_code == 200
        async with db.connect() as conn:
            bodies = (await conn.execute(text("SELECT response_body FROM idempotency_keys WHERE key = :k"),
                                         {"k": form["idempotency_key"]})).scalars().all()
        assert len(bodies) == 1 and token.split(":sk_")[1].encode() not in bytes(bodies[0]), "stored only sealed"
        reused = await client.post(PATH, data={**form, "name": "another"})
        assert reused.status_code == 409 and await _key_count(db, shop.id) == count + 1
        missing = await client.post(PATH, data={k: v for k, v in form.items() if k != "idempotency_key"})
        assert missing.status_code == 422 and await _key_count(db, shop.id) == count + 1
        # The page drawn with the answer carries a new key: a second key.
        second = await client.post(PATH, data={**form, **key_form_of(again.text)})
        assert second.status_code == 201 and _TOKEN.search(second.text).group(1) != token  # type: ignore[union-attr]
        assert await _key_count(db, shop.id) == count + 2


async def test_csrf_and_keys_manage_are_required(api, settings, db):
    shop = await make_shop(settings, "Key guards")
    _, merchant = await make_user(settings, shop.id, "merchant")
    _, developer = await make_user(settings, shop.id, "developer")
    count = await _key_count(db, shop.id)
    async with agent(api) as client:
        await signed_in(client, merchant)
        form = key_form_of((await client.get("/dashboard/developers")).text)
        no_csrf = await client.post(PATH, data={"idempotency_key": form["idempotency_key"], "role": "viewer", "expires_in": "7"})
        assert no_csrf.status_code == 403
    async with agent(api) as client:
        csrf = await signed_in(client, developer)
        page = await client.get("/dashboard/developers")
        assert 'action="/dashboard/developers/keys"' not in page.text
        denied = await client.post(PATH, data={"csrf_token": csrf, "idempotency_key": form["idempotency_key"], "role": "viewer",
                                               "rate_limit_minute": "5"})
        assert denied.status_code == 403
    assert await _key_count(db, shop.id) == count
