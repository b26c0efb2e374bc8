"""Reads as the table grows: ``GET /v1/payments/{id}`` (a payment not in the cache, so from
PostgreSQL) and ``GET /v1/payments?limit=100`` (the newest page), one client sending back to back (the time a
request takes, without queueing behind others), at
``--lookup-small`` and then ``--lookup-large`` payments of one merchant. Rows are bulk-loaded in
SQL (``generate_series``), then ``VACUUM ANALYZE``; each GET asks for a different payment.
The figure is p99 at the larger size against p99 at the smaller one, same run.
"""

from __future__ import annotations

from bench.common import Row, log
from bench.harness import Bench
from bench.loadgen import RunResult, closed_loop

SECTION = "lookups"

#: ``count`` captured card payments for merchant $1, numbered from $2 (distinct invoice numbers,
#: one second apart so the list order is the insertion order).
LOAD = """
INSERT INTO payments (id, merchant_id, status, amount_minor, currency, capture, amount_captured_minor,
    payment_method_type, card_brand, card_last4, card_exp_month, card_exp_year, invoice_number,
    processor_transaction_id, processor_auth_code, customer_id, description, metadata, billing,
    processor_attempts, authorized_at, settled_at, created_at, updated_at)
SELECT gen_random_uuid(), $1, 'captured', 1250 + g % 1000, 'USD', true, 1250 + g % 1000,
    'card', 'visa', '1111', 12, 2031, 'BL' || lpad(g::text, 18, '0'),
    (60000000000 + g)::text, 'A' || lpad((g % 100000)::text, 5, '0'), 'cus_' || (g % 5000),
    'Benchmark order with a realistic body size', '{"order_id": "A-1001", "channel": "web"}'::jsonb,
    '{"first_name": "Ada", "last_name": "Lovelace", "city": "Springfield", "country": "US"}'::jsonb,
    1, t, t, t, t
FROM generate_series($2::bigint, $2::bigint + $3 - 1) AS g,
     LATERAL (SELECT timestamptz '2026-01-01' + g * interval '1 second') AS at(t)
"""


async def load(bench: Bench, upto: int) -> None:
    assert bench.pg is not None
    have = await bench.pg.fetchval("SELECT count(*) FROM payments")
    if upto > have:
        await bench.pg.execute(LOAD, bench.merchant_id, have + 1, upto - have)
    await bench.pg.execute("VACUUM ANALYZE payments")


async def measure(bench: Bench, size: int) -> dict[str, RunResult]:
    assert bench.pg is not None
    sizes = bench.sizes
    ids = [str(r["id"]) for r in await bench.pg.fetch("SELECT id FROM payments ORDER BY random() LIMIT $1", 20_000)]
    auth = {"Authorization": f"Bearer {bench.key}"}
    runs = {
        "get": await closed_loop("get", lambda n: f"{bench.api}/v1/payments/{ids[n % len(ids)]}", headers=lambda n: auth,
                                 method="GET", expect_status=200, concurrency=1, duration_s=sizes.lookup_s),
        "list": await closed_loop("list", f"{bench.api}/v1/payments?limit=100", headers=lambda n: auth,
                                  method="GET", expect_status=200, concurrency=1, duration_s=sizes.lookup_s),
    }
    for name, run in runs.items():
        if run.errors:
            raise RuntimeError(f"{name} at {size} payments: {run.errors} of {run.requests} requests failed")
        log(f"  {size} payments, {name}: p50 {run.pct_ms(0.5):.2f} ms, p99 {run.pct_ms(0.99):.2f} ms ({run.requests} requests)")
    return runs


async def run(bench: Bench) -> list[Row]:
    sizes = bench.sizes
    bench.start_api()
    results = {}
    for size in (sizes.lookup_small, sizes.lookup_large):
        await load(bench, size)
        # Warm-up at this size (connections, plans), then the measured runs.
        await closed_loop("warm", f"{bench.api}/v1/payments?limit=100", headers=lambda n: {"Authorization": f"Bearer {bench.key}"},
                          method="GET", expect_status=200, concurrency=1, duration_s=1.0)
        results[size] = await measure(bench, size)
    small, large = (results[s] for s in (sizes.lookup_small, sizes.lookup_large))
    at = "one client"
    big, little = f"{sizes.lookup_large:,}", f"{sizes.lookup_small:,}"
    return [
        Row(SECTION, f"GET by id p99 at {big} payments", large["get"].pct_ms(0.99), "ms", f"the same at {little}",
            small["get"].pct_ms(0.99), "≤ 1.2×", note=at),
        Row(SECTION, f"list(limit=100) p99 at {big} payments", large["list"].pct_ms(0.99), "ms", f"the same at {little}",
            small["list"].pct_ms(0.99), "≤ 1.2×", note=at),
        Row(SECTION, f"list(limit=100) p50 at {big} payments", large["list"].pct_ms(0.5), "ms", f"the same at {little}",
            small["list"].pct_ms(0.5), "≤ 3 ms at 10⁶", note=at),
        Row(SECTION, f"GET by id p50 at {big} payments", large["get"].pct_ms(0.5), "ms", f"the same at {little}",
            small["get"].pct_ms(0.5), note=at),
    ]
