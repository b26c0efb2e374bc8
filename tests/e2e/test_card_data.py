"""Card numbers and CVCs never reach PostgreSQL, Redis (outside the sealed message) or logs."""

from __future__ import annotations

import logging

import pytest
import redis
from sqlalchemy import text

from tests.conftest import BROKER_DB, CACHE_DB
from tests.helpers import AMEX, VISA, card_payment, wait_final

pytestmark = pytest.mark.usefixtures("worker")

MASTERCARD = "5424000000000015"
DISCOVER = "6011000000000012"
CVCS = ["9731", "864", "579"]


async def _all_database_text(db) -> str:
    async with db.connect() as conn:
        tables = (
            await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
        ).scalars().all()
        dumps = []
        for table in tables:
            rows = (await conn.execute(text(f'SELECT t::text FROM "{table}" AS t'))).scalars().all()
            dumps.extend(rows)
    return "\n".join(dumps)


def _all_redis_bytes(url_dbs: tuple[int, ...]) -> bytes:
    chunks: list[bytes] = []
    for db in url_dbs:
        client = redis.Redis(host="127.0.0.1", port=6379, db=db)
        for key in client.scan_iter(count=1000):
            chunks.append(key)
            kind = client.type(key)
            if kind == b"string":
                chunks.append(client.get(key) or b"")
            elif kind == b"hash":
                chunks.extend(v for pair in client.hgetall(key).items() for v in pair)
            elif kind == b"list":
                chunks.extend(client.lrange(key, 0, -1))
            elif kind == b"set":
                chunks.extend(client.smembers(key))
            elif kind == b"zset":
                chunks.extend(m for m, _ in client.zrange(key, 0, -1, withscores=True))
    return b"\n".join(chunks)


async def test_no_card_number_or_cvc_is_stored_or_logged(api, merchant, db, worker, sandbox, caplog, log_dir):
    caplog.set_level(logging.DEBUG)
    cards = [(AMEX, CVCS[0]), (MASTERCARD, CVCS[1]), (DISCOVER, CVCS[2]), (VISA, None)]
    # One lost response (the resend path runs too), and a slow processor so messages are still
    # in Redis when it is inspected.
    sandbox.add_fault("drop_after_commit", match={"amount": "23.45"})
    sandbox.add_fault("latency", delay_ms=1500, count=-1, match={"amount": "23.45"})
    ids = []
    for number, cvc in cards:
        body = card_payment("23.45", number=number, cvc=cvc, metadata={"note": "card test"})
        response = await api.post("/v1/payments", json=body, headers=merchant.headers)
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    # A refused one (the number fails Luhn) must not leak into the error either.
    bad = await api.post("/v1/payments", json=card_payment(number="4111111111111121"), headers=merchant.headers)
    assert bad.status_code == 422 and "4111111111111121" not in bad.text
    in_flight = _all_redis_bytes((CACHE_DB, BROKER_DB))
    for payment_id in ids:
        final = await wait_final(api, merchant.headers, payment_id)
        assert final["status"] == "captured"
        assert final["card"]["last4"] in {"0002", "0015", "0012", "1111"}

    numbers = [number for number, _ in cards] + ["4111111111111121"]
    secrets_ = numbers + [f'"cvc": "{c}"' for c in CVCS] + [f'"cvc":"{c}"' for c in CVCS]

    database = await _all_database_text(db)
    assert database.count("0015") >= 1, "sanity: the dump contains the payments (last four digits)"
    for secret in secrets_:
        assert secret not in database

    stored = in_flight + _all_redis_bytes((CACHE_DB, BROKER_DB))
    assert b"v1." in stored, "sanity: the sealed messages are in the broker's Redis"
    for secret in secrets_:
        assert secret.encode() not in stored
    for cvc in CVCS:
        assert f"cvc{cvc}".encode() not in stored

    logs = "\n".join(
        [worker.read_text(), (log_dir / "sandbox.log").read_text(), caplog.text, *(r.getMessage() for r in caplog.records)]
    )
    assert "payment job done" in logs, "sanity: the worker log was captured"
    for number in numbers:
        assert number not in logs
    for cvc in CVCS:
        assert f"<cardCode>{cvc}</cardCode>" not in logs and f'"cvc": "{cvc}"' not in logs
