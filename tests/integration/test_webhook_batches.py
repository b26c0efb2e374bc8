"""Deliveries recorded and claimed in batches, on real PostgreSQL and a loopback receiver: one
batch settles each attempt on its own merits (a failing endpoint among succeeding ones, an
attempt whose lease was lost), and the runner keeps a process's attempts moving."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import datetime, timezone

from sqlalchemy import text

from engine.db.webhook_batches import claim_for_attempt
from engine.events import record_event
from engine.payments import NewPayment, accept_payment
from engine.views import payment_view
from engine.webhooks import endpoints as cases
from engine.webhooks.attempt import make_client
from engine.webhooks.recording import Finished, Outcome, record
from engine.webhooks.runner import DeliveryRunner
from engine.sealing import SecretBox
from engine.webhooks.service import DeliveryDeps, attempt
from tests.webhooks.receiver import Receiver, wait_until


async def _endpoint(db, settings, merchant_id, url):
    async with db.begin() as conn:
        row, secret = await cases.create_endpoint(
            conn, SecretBox(settings.secret_key), merchant_id=merchant_id, url=url, event_types=["*"], description=None
        )
    return row, secret


async def _events(db, merchant_id, count: int) -> None:
    async with db.begin() as conn:
        for _ in range(count):
            row = await accept_payment(
                conn, NewPayment(merchant_id=merchant_id, amount_minor=700, currency="USD", capture=True, payment_method_type="card")
            )
            await record_event(conn, merchant_id=merchant_id, type="payment.captured", object_type="payment",
                               object_id=row.id, snapshot=payment_view(row))


async def _rows(db, endpoint_id) -> list:
    async with db.connect() as conn:
        return list((await conn.execute(
            text("SELECT * FROM webhook_deliveries WHERE endpoint_id = :e ORDER BY created_at"), {"e": endpoint_id}
        )).all())


async def _attempt_count(db, delivery_id) -> int:
    async with db.connect() as conn:
        return int((await conn.execute(
            text("SELECT count(*) FROM webhook_attempts WHERE delivery_id = :d"), {"d": delivery_id}
        )).scalar_one())


async def _claim_mine(db, settings, endpoint_ids) -> list:
    """Claim every due delivery, and give back (by letting them run out at once) those of other tests."""
    async with db.begin() as conn:
        rows = await claim_for_attempt(conn, batch=100, max_in_flight=10, lease_s=30)
        others = [r.id for r in rows if r.endpoint_id not in endpoint_ids]
        await conn.execute(text("UPDATE webhook_deliveries SET lease_until = now(), next_attempt_at = now() WHERE id = ANY(:ids)"),
                           {"ids": others})
    return [r for r in rows if r.endpoint_id in endpoint_ids]


async def test_one_batch_settles_successes_a_failure_and_a_lost_lease_each_on_its_own(db, settings, merchant):
    receiver = Receiver()
    http = make_client(connect_timeout_s=5, total_timeout_s=15, max_connections=8)  # generous: a loaded CI machine timed one out
    try:
        ok_a, secret_a = await _endpoint(db, settings, merchant.id, receiver.url("/batch/a"))
        ok_b, _ = await _endpoint(db, settings, merchant.id, receiver.url("/batch/b"))
        failing, _ = await _endpoint(db, settings, merchant.id, receiver.url("/batch/failing"))
        lost, _ = await _endpoint(db, settings, merchant.id, receiver.url("/batch/lost"))
        receiver.behave("/batch/a", secrets=[secret_a])
        receiver.behave("/batch/failing", default=500)
        await _events(db, merchant.id, 2)
        mine = {ok_a.id, ok_b.id, failing.id, lost.id}
        rows = await _claim_mine(db, settings, mine)
        assert len(rows) == 8 and all(r.body and r.url for r in rows)  # everything an attempt needs, claimed at once

        deps = DeliveryDeps(engine=db, http=http, box=SecretBox(settings.secret_key), settings=settings.webhooks)
        now = datetime.now(timezone.utc)
        results = await asyncio.gather(*(attempt(deps, r, now) for r in rows))
        batch = [
            Finished(r.id, r.endpoint_id, uuid.uuid4() if r.endpoint_id == lost.id else r.lease_token, now, result)
            for r, result in zip(rows, results)
        ]
        async with db.begin() as conn:
            outcomes = await record(conn, batch, settings=settings.webhooks, rng=deps.rng)

        expected = {ok_a.id: Outcome.SUCCEEDED, ok_b.id: Outcome.SUCCEEDED, failing.id: Outcome.RETRYING, lost.id: Outcome.STALE}
        assert outcomes == [expected[f.endpoint_id] for f in batch]
        assert all(r.verified_with == [secret_a] for r in receiver.requests("/batch/a"))
        for endpoint in (ok_a, ok_b):
            assert [(d.status, d.attempts, d.lease_token) for d in await _rows(db, endpoint.id)] == [("succeeded", 1, None)] * 2
        for d in await _rows(db, failing.id):
            assert (d.status, d.attempts, d.last_status_code, d.lease_token) == ("pending", 1, 500, None)
        for d in await _rows(db, lost.id):  # the lease is not this batch's: only the attempt is logged
            assert (d.status, d.attempts) == ("pending", 0) and d.lease_token is not None
            assert await _attempt_count(db, d.id) == 1
        async with db.connect() as conn:
            streaks = dict((await conn.execute(
                text("SELECT id, failing_since IS NOT NULL FROM webhook_endpoints WHERE id = ANY(:ids)"), {"ids": list(mine)}
            )).all())
        assert streaks == {ok_a.id: False, ok_b.id: False, failing.id: True, lost.id: False}
    finally:
        await http.close()
        receiver.close()


async def test_the_runner_delivers_everything_and_retries_the_failures(db, settings, merchant):
    receiver = Receiver()
    http = make_client(connect_timeout_s=1, total_timeout_s=2, max_connections=4)
    hooks = dataclasses.replace(settings.webhooks, retry_schedule_s=(0, 0.1, 0.1), retry_jitter=0, endpoint_max_in_flight=2)
    deps = DeliveryDeps(engine=db, http=http, box=SecretBox(settings.secret_key), settings=hooks)
    recorded: list[tuple[uuid.UUID, Outcome]] = []
    runner = DeliveryRunner(deps, slots=3, on_recorded=lambda batch: recorded.extend((f.endpoint_id, o) for f, o in batch))
    runner.start()
    try:
        healthy = [await _endpoint(db, settings, merchant.id, receiver.url(f"/run/{n}")) for n in range(2)]
        flaky, _ = await _endpoint(db, settings, merchant.id, receiver.url("/run/flaky"))
        receiver.behave("/run/flaky", statuses=[500, 503])
        await _events(db, merchant.id, 5)
        endpoint_ids = [e.id for e, _ in healthy] + [flaky.id]

        async def all_delivered() -> bool:
            await runner.claim_now()  # the scheduler's tick
            rows = [d for e in endpoint_ids for d in await _rows(db, e)]
            return len(rows) == 15 and all(d.status == "succeeded" for d in rows)

        await wait_until(all_delivered, timeout_s=30, what="every delivery to succeed")
        assert sum(d.attempts for d in await _rows(db, flaky.id)) == 5 + 2  # two failures, retried
        assert len(receiver.requests("/run/0")) == len(receiver.requests("/run/1")) == 5
        mine = [o for e, o in recorded if e in endpoint_ids]
        assert mine.count(Outcome.RETRYING) == 2 and mine.count(Outcome.SUCCEEDED) == 15 and len(mine) == 17
        # The runner claims whatever is due in the shared database, other tests' leftovers too
        # (some to endpoints that time out): once those are spent its count must come back to 0.
        await wait_until(lambda: runner.in_flight == 0, timeout_s=30, what="the runner's count to drain")
        assert await runner.adopt([(uuid.uuid4(), uuid.uuid4())]) == 0  # unknown or no longer leased: nothing to do
    finally:
        await runner.stop(timeout_s=2)
        await http.close()
        receiver.close()


async def test_a_runner_alone_on_an_endpoint_leases_ahead_and_nobody_else_can_pass_the_cap(db, settings, merchant):
    """Leasing ahead (``claim_ctes``): an owner alone on an endpoint may lease cap + ahead of its
    deliveries; while it holds more than the cap nobody else leases any, and once anyone else
    holds one every claimer is back to the cap in all. Everything in one rolled-back transaction."""
    from engine.db.webhook_outbox import claim_due

    receiver = Receiver()
    try:
        endpoint, _ = await _endpoint(db, settings, merchant.id, receiver.url("/ahead/a"))
        await _events(db, merchant.id, 12)
        runner_a, runner_b = uuid.uuid4(), uuid.uuid4()

        async with db.connect() as conn:
            async def claim(owner: uuid.UUID | None, ahead: int = 0) -> int:
                if owner is None:
                    rows = await claim_due(conn, batch=1000, max_in_flight=2, lease_s=30, endpoint_id=endpoint.id)
                    return sum(1 for r in rows if r[0] in mine)
                claimed = await claim_for_attempt(conn, batch=1000, max_in_flight=2, lease_s=30, owner=owner, ahead=ahead)
                return sum(1 for r in claimed if r.endpoint_id == endpoint.id)

            async with conn.begin() as tx:
                mine = {d.id for d in (await conn.execute(
                    text("SELECT id FROM webhook_deliveries WHERE endpoint_id = :e"), {"e": endpoint.id})).all()}
                assert await claim(runner_a, ahead=4) == 6  # the cap (2) and 4 ahead
                assert await claim(runner_a, ahead=4) == 0  # all it may hold
                assert await claim(runner_b, ahead=4) == 0 and await claim(None) == 0  # more than the cap leased
                # Runner A's attempts are recorded until it holds one lease: others may fill up to the cap.
                await conn.execute(text(
                    "UPDATE webhook_deliveries SET lease_until = NULL WHERE id IN (SELECT id FROM webhook_deliveries"
                    " WHERE endpoint_id = :e AND lease_until > now() LIMIT 5)"), {"e": endpoint.id})
                assert await claim(runner_b, ahead=4) == 1  # someone else holds one: the cap in all
                assert await claim(runner_a, ahead=4) == 0 and await claim(None) == 0
                owners = (await conn.execute(text(
                    "SELECT lease_owner, count(*) FROM webhook_deliveries WHERE endpoint_id = :e AND lease_until > now()"
                    " GROUP BY 1"), {"e": endpoint.id})).all()
                assert dict(owners) == {runner_a: 1, runner_b: 1}
                await tx.rollback()
    finally:
        receiver.close()


async def test_the_runner_leases_ahead_but_keeps_the_cap_of_attempts_in_flight(db, settings, merchant):
    receiver = Receiver()
    http = make_client(connect_timeout_s=2, total_timeout_s=10, max_connections=8)
    hooks = dataclasses.replace(settings.webhooks, endpoint_max_in_flight=2, lease_s=60)
    deps = DeliveryDeps(engine=db, http=http, box=SecretBox(settings.secret_key), settings=hooks)
    runner = DeliveryRunner(deps, slots=8)
    runner.start()
    try:
        endpoint, _ = await _endpoint(db, settings, merchant.id, receiver.url("/ahead/held"))
        held = receiver.behave("/ahead/held", hold=__import__("threading").Event())
        await _events(db, merchant.id, 8)

        async def leased_ahead() -> bool:
            await runner.claim_now()
            leased = [d for d in await _rows(db, endpoint.id) if d.lease_until is not None]
            return len(leased) > hooks.endpoint_max_in_flight and held.open_now == hooks.endpoint_max_in_flight

        await wait_until(leased_ahead, timeout_s=30, what="the runner to lease ahead of the held attempts")
        await asyncio.sleep(0.3)
        assert held.open_now == held.max_open == hooks.endpoint_max_in_flight  # the rest wait for a slot of theirs
        held.hold.set()

        async def all_delivered() -> bool:
            await runner.claim_now()
            return all(d.status == "succeeded" for d in await _rows(db, endpoint.id))

        await wait_until(all_delivered, timeout_s=30, what="every delivery to succeed")
        assert held.max_open == hooks.endpoint_max_in_flight
        assert len(receiver.requests("/ahead/held")) == 8  # each once
    finally:
        await runner.stop(timeout_s=2)
        await http.close()
        receiver.close()


async def test_a_stopping_runner_gives_back_the_leases_it_took_ahead(db, settings, merchant):
    receiver = Receiver()
    http = make_client(connect_timeout_s=2, total_timeout_s=10, max_connections=8)
    hooks = dataclasses.replace(settings.webhooks, endpoint_max_in_flight=2, lease_s=60)
    deps = DeliveryDeps(engine=db, http=http, box=SecretBox(settings.secret_key), settings=hooks)
    runner = DeliveryRunner(deps, slots=8)
    runner.start()
    try:
        endpoint, _ = await _endpoint(db, settings, merchant.id, receiver.url("/ahead/stopping"))
        held = receiver.behave("/ahead/stopping", hold=__import__("threading").Event())
        await _events(db, merchant.id, 6)

        async def leased_ahead() -> bool:
            await runner.claim_now()
            leased = [d for d in await _rows(db, endpoint.id) if d.lease_until is not None]
            return len(leased) == 6 and held.open_now == 2

        await wait_until(leased_ahead, timeout_s=30, what="the runner to lease every delivery")
        await runner.stop(timeout_s=0.2)  # the two held attempts are dropped: their leases stay
        rows = await _rows(db, endpoint.id)
        assert sum(1 for d in rows if d.lease_until is not None) == 2
        given_back = [d for d in rows if d.lease_until is None]
        assert len(given_back) == 4 and all(d.status == "pending" and d.lease_token is None for d in given_back)
        assert all(d.next_attempt_at <= datetime.now(timezone.utc) for d in given_back)  # due again now
    finally:
        held.hold.set()
        await runner.stop(timeout_s=1)
        await http.close()
        receiver.close()
