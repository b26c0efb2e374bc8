"""A poll of a cached payment is one Redis round trip: its rate-limit hit and its snapshot read go
together (``opt["read_ahead"]``, ``engine.redis_commands``), and nothing the read ahead found is
served to a request that is refused, or to another merchant."""

from __future__ import annotations

import asyncio

from limits import RateLimitItemPerHour
from limits.aio.storage import RedisStorage
from limits.aio.strategies import FixedWindowRateLimiter

from engine.redis_commands import RedisCommands
from tests.access.world import bearer, make_key
from tests.api.test_payments_read import _record
from tests.conftest import make_merchant


def _commands(api) -> RedisCommands:
    commands = api.app.state.easypay.commands
    assert commands is not None
    return commands


async def test_a_cached_poll_is_one_round_trip(api, merchant, db):
    payment_id = await _record(db, merchant)
    first = await api.get(f"/v1/payments/{payment_id}", headers=merchant.headers)  # fills the cache
    assert first.status_code == 200
    before = _commands(api).round_trips
    second = await api.get(f"/v1/payments/{payment_id}", headers=merchant.headers)
    assert second.status_code == 200 and second.content == first.content
    assert _commands(api).round_trips - before == 1
    assert int(second.headers["ratelimit-remaining"]) < int(first.headers["ratelimit-remaining"])


async def test_another_merchants_cached_payment_is_404(api, merchant, settings, db):
    other = await make_merchant(settings, "Cached other shop")
    payment_id = await _record(db, other)
    assert (await api.get(f"/v1/payments/{payment_id}", headers=other.headers)).status_code == 200  # now cached
    response = await api.get(f"/v1/payments/{payment_id}", headers=merchant.headers)
    assert response.status_code == 404 and response.json()["code"] == "payment_not_found"
    assert payment_id.encode() not in response.content


async def test_polls_over_the_limit_are_refused_with_retry_after(api, merchant, settings, db):
    payment_id = await _record(db, merchant)
    _, token = await make_key(settings, merchant.id, "viewer", rate_limits={"minute": 3, "hour": 100})
    statuses = []
    for _ in range(5):
        response = await api.get(f"/v1/payments/{payment_id}", headers=bearer(token))
        statuses.append(response.status_code)
    assert statuses == [200, 200, 200, 429, 429]
    assert response.json()["code"] == "rate_limited"
    assert b"card" not in response.content and payment_id.encode() not in response.content
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.headers["ratelimit-reset"] == response.headers["retry-after"]


async def test_a_concurrent_burst_of_polls_is_counted_exactly(api, merchant, settings, db):
    """Hits of one step share a round trip but are counted one by one, each told its place."""
    payment_id = await _record(db, merchant)
    await api.get(f"/v1/payments/{payment_id}", headers=merchant.headers)
    key_id, token = await make_key(settings, merchant.id, "viewer", rate_limits={"minute": 6, "hour": 100})
    responses = await asyncio.gather(*(api.get(f"/v1/payments/{payment_id}", headers=bearer(token)) for _ in range(15)))
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 6 and statuses.count(429) == 9
    assert sorted(int(r.headers["ratelimit-remaining"]) for r in responses if r.status_code == 200) == list(range(6))
    # The refused ones used up nothing: the hour window counted only the six (read with ``limits``).
    storage = RedisStorage(f"async+{settings.redis.cache_url}", implementation="redispy",
                           key_prefix=f"{settings.redis.key_prefix}:ratelimit")
    stats = await FixedWindowRateLimiter(storage).get_window_stats(RateLimitItemPerHour(100), f"api_key:{key_id}")
    assert stats.remaining == 94


async def test_an_upper_case_id_is_served_from_the_same_snapshot(api, merchant, db):
    """The read ahead names the snapshot by the id's canonical text: an id written in capitals is
    the same payment, its cached snapshot, one round trip."""
    payment_id = await _record(db, merchant)
    first = await api.get(f"/v1/payments/{payment_id}", headers=merchant.headers)  # fills the cache
    before = _commands(api).round_trips
    shouted = await api.get(f"/v1/payments/{str(payment_id).upper()}", headers=merchant.headers)
    assert shouted.status_code == 200 and shouted.content == first.content
    assert _commands(api).round_trips - before == 1
