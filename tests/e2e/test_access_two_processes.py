"""Two real API processes (``easypay web``) sharing PostgreSQL and Redis: a key revoked through
one stops working on both within a second, and a rate limit holds across both."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.access.world import bearer, make_key, make_shop
from tests.conftest import ROOT, start_web, stop


@pytest.fixture(scope="module")
def two_apis(test_env: dict[str, str], database: str, redis_clean: None, log_dir: Path) -> Iterator[list[str]]:
    started = []
    try:
        for n in range(2):
            started.append(start_web(test_env, log_dir / f"web-{n}.log"))
        yield [url for url, _ in started]
    finally:
        for _, proc in started:
            stop(proc)


async def test_revocation_through_one_process_stops_the_key_on_both_within_a_second(settings, two_apis):
    shop = await make_shop(settings, "Two-process revocation shop")
    key_id, token = await make_key(settings, shop.id, "viewer")
    async with httpx.AsyncClient(timeout=10) as client:
        for url in two_apis:  # both processes now hold the key in their in-process cache
            assert (await client.get(f"{url}/v1/payments", headers=bearer(token))).status_code == 200
        revoked = await client.delete(f"{two_apis[0]}/v1/api-keys/{key_id}", headers=bearer(shop.keys["merchant"]))
        assert revoked.status_code == 200
        revoked_at = time.monotonic()
        await asyncio.sleep(max(0.0, revoked_at + 1.0 - time.monotonic()))
        for url in two_apis:
            assert (await client.get(f"{url}/v1/payments", headers=bearer(token))).status_code == 401, url


async def test_cli_revocation_reaches_running_processes(settings, test_env, two_apis):
    shop = await make_shop(settings, "CLI revocation shop")
    key_id, token = await make_key(settings, shop.id, "viewer")
    async with httpx.AsyncClient(timeout=10) as client:
        for url in two_apis:
            assert (await client.get(f"{url}/v1/payments", headers=bearer(token))).status_code == 200
        done = subprocess.run([sys.executable, "-m", "easypay.cli", "keys", "revoke", key_id], cwd=ROOT, env=test_env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        await asyncio.sleep(1.0)
        for url in two_apis:
            assert (await client.get(f"{url}/v1/payments", headers=bearer(token))).status_code == 401, url


async def test_rate_limit_holds_across_two_processes(settings, two_apis):
    limit = 25
    shop = await make_shop(settings, "Two-process rate limit shop")
    _, token = await make_key(settings, shop.id, "viewer", rate_limits={"minute": limit})
    async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=40)) as client:

        async def one(n: int) -> int:
            response = await client.get(f"{two_apis[n % 2]}/v1/payments?limit=1", headers=bearer(token))
            return response.status_code

        statuses = await asyncio.gather(*(one(n) for n in range(3 * limit)))
    per_process = [sum(1 for n, s in enumerate(statuses) if s == 200 and n % 2 == p) for p in (0, 1)]
    assert statuses.count(200) == limit
    assert statuses.count(429) == 2 * limit
    assert all(per_process)  # both processes accepted some: the counter really is shared
