"""The operators page over HTTP: admins only; the queues, dead letters (replayed and purged as
``easypay dlq`` does) and the payments not progressing, for every merchant or one."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from types import SimpleNamespace

import redis
from sqlalchemy import text

from jobs.names import NAMESPACE
from jobs.queues import queue_stats
from jobs.redis_dead_letters import dead_letters
from tests.access.world import make_shop, make_user
from tests.conftest import free_port
from tests.dashboard.helpers import agent, csrf_of, signed_in
from tests.ops.broker_tools import dead_letter_one


def _broker(settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis.broker_url)


async def _audited(db, user_id: str, action: str, expected: int) -> list[int]:
    """Status codes of the user's audited requests with ``action``, once ``expected`` of them are
    written (the audit buffer is flushed shortly after the answers)."""
    for _ in range(50):
        async with db.connect() as conn:
            rows = (await conn.execute(
                text("SELECT status_code FROM audit_logs WHERE actor_id = :actor AND action = :action ORDER BY id"),
                {"actor": user_id, "action": action},
            )).all()
        if len(rows) >= expected:
            return [r.status_code for r in rows]
        await asyncio.sleep(0.1)
    return [r.status_code for r in rows]


async def test_only_admins_see_the_operators_page(api, settings):
    shop = await make_shop(settings, "Ops refused")
    for role in ("merchant", "developer", "viewer"):
        _, email = await make_user(settings, shop.id, role)
        async with agent(api) as client:
            csrf = await signed_in(client, email)
            assert 'href="/dashboard/operators"' not in (await client.get("/dashboard/payments")).text
            assert (await client.get("/dashboard/operators")).status_code == 403
            for action in ("replay", "purge"):
                answer = await client.post(f"/dashboard/operators/dead-letters/{action}",
                                           data={"csrf_token": csrf, "queue": "payments", "dead_letter_id": "x"})
                assert answer.status_code == 403, (role, action)


async def test_admins_see_queues_and_stuck_payments_per_merchant(api, settings, db):
    mine, theirs = await make_shop(settings, "Ops mine"), await make_shop(settings, "Ops theirs")
    _, email = await make_user(settings, None, "admin")
    async with db.begin() as conn:
        stuck = {
            shop.id: await conn.scalar(text(
                "UPDATE payments SET needs_reconciliation = true WHERE id = "
                "(SELECT id FROM payments WHERE merchant_id = :m ORDER BY created_at LIMIT 1) RETURNING id"
            ), {"m": shop.id})
            for shop in (mine, theirs)
        }
    for shop in (mine, theirs):
        dead_letter_one(settings, "payments", subject=str(stuck[shop.id]))
    async with agent(api) as client:
        await signed_in(client, email)
        assert 'href="/dashboard/operators"' in (await client.get("/dashboard/payments")).text
        page = await client.get("/dashboard/operators")
        assert page.status_code == 200, page.text
        queues = page.text.split('data-testid="queues"')[1].split("</table>")[0]
        assert 'data-queue="payments"' in queues and 'data-queue="webhooks"' in queues
        every = page.text.split('data-testid="stuck"')[1]
        assert str(stuck[mine.id]) in every and str(stuck[theirs.id]) in every
        one = await client.get("/dashboard/operators", params={"merchant_id": str(mine.id)})
        assert one.status_code == 200
        table = one.text.split('data-testid="stuck"')[1]
        assert str(stuck[mine.id]) in table and str(stuck[theirs.id]) not in table
        letters = one.text.split('data-testid="dead-letters-payments"')[1].split("</table>")[0]
        assert str(stuck[mine.id]) in letters and str(stuck[theirs.id]) not in letters, "the merchant's dead letters only"
        every_letter = page.text.split('data-testid="dead-letters-payments"')[1].split("</table>")[0]
        assert str(stuck[mine.id]) in every_letter and str(stuck[theirs.id]) in every_letter
        assert 'data-testid="reconciliation-backlog">1<' in one.text
        assert (await client.get("/dashboard/operators", params={"merchant_id": "nope"})).status_code == 422


async def test_a_replayed_dead_letter_goes_back_on_its_queue(api, settings, db):
    user_id, email = await make_user(settings, None, "admin")
    subject = str(uuid.uuid4())
    dead_letter_one(settings, "payments", subject=subject)
    broker = _broker(settings)
    (dead,) = [d for d in dead_letters(broker, NAMESPACE, "payments", limit=1000) if d.subject == subject]
    (before,) = queue_stats(broker, NAMESPACE, ["payments"])
    async with agent(api) as client:
        await signed_in(client, email)
        page = await client.get("/dashboard/operators")
        assert f'data-dead-letter="{dead.id}"' in page.text and subject in page.text
        csrf = csrf_of(page.text)
        form = {"queue": "payments", "dead_letter_id": dead.id}
        refused = await client.post("/dashboard/operators/dead-letters/replay", data=form)
        assert refused.status_code == 403, "no CSRF token"
        assert dead.id in {d.id for d in dead_letters(broker, NAMESPACE, "payments", limit=1000)}
        answer = await client.post("/dashboard/operators/dead-letters/replay", data={**form, "csrf_token": csrf}, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/operators?done=replayed"
        (after,) = queue_stats(broker, NAMESPACE, ["payments"])
        assert (after.depth, after.dead_letters) == (before.depth + 1, before.dead_letters - 1)
        assert subject not in {d.subject for d in dead_letters(broker, NAMESPACE, "payments", limit=1000)}
        page = await client.get(answer.headers["location"])
        assert "Dead letter put back on its queue." in page.text and f'data-dead-letter="{dead.id}"' not in page.text
        again = await client.post("/dashboard/operators/dead-letters/replay", data={**form, "csrf_token": csrf}, follow_redirects=False)
        assert again.status_code == 404
        other = await client.post("/dashboard/operators/dead-letters/replay",
                                  data={**form, "queue": "somewhere", "csrf_token": csrf}, follow_redirects=False)
        assert other.status_code == 422
    assert await _audited(db, user_id, "replay_dead_letter", 4) == [403, 303, 404, 422]


async def test_purge_drops_the_queues_dead_letters(api, settings, db):
    user_id, email = await make_user(settings, None, "admin")
    dead_letter_one(settings, "webhooks")
    dead_letter_one(settings, "webhooks")
    broker = _broker(settings)
    count = len(dead_letters(broker, NAMESPACE, "webhooks", limit=1000))
    assert count >= 2
    async with agent(api) as client:
        await signed_in(client, email)
        page = await client.get("/dashboard/operators")
        assert 'data-testid="purge-webhooks"' in page.text
        csrf = csrf_of(page.text)
        assert (await client.post("/dashboard/operators/dead-letters/purge", data={"queue": "webhooks"})).status_code == 403
        young = await client.post("/dashboard/operators/dead-letters/purge",
                                  data={"queue": "webhooks", "older_than_s": "3600", "csrf_token": csrf}, follow_redirects=False)
        assert young.status_code == 303 and young.headers["location"].endswith("count=0")
        assert len(dead_letters(broker, NAMESPACE, "webhooks", limit=1000)) == count
        answer = await client.post("/dashboard/operators/dead-letters/purge",
                                   data={"queue": "webhooks", "csrf_token": csrf}, follow_redirects=False)
        assert answer.status_code == 303
        assert dead_letters(broker, NAMESPACE, "webhooks", limit=1000) == []
        assert f"{count} dead letter(s) purged." in (await client.get(answer.headers["location"])).text
    assert await _audited(db, user_id, "purge_dead_letters", 3) == [403, 303, 303]


async def test_dead_letters_say_so_when_the_broker_does_not_answer(settings, database):
    from api.dashboard.operators import _dead_letters

    down = dataclasses.replace(settings, redis=dataclasses.replace(settings.redis, broker_url=f"redis://127.0.0.1:{free_port()}/0"))
    letters, note = await _dead_letters(SimpleNamespace(settings=down, jobs=None))
    assert letters is None and note is not None and "did not answer" in note
    letters, note = await _dead_letters(SimpleNamespace(settings=settings, jobs=None))
    assert letters is not None and note is None and set(letters) >= {"payments", "webhooks"}
