"""What happened lately, for the dashboard's pictures: payments created per hour by status, the
processor's answer times per hour, and webhook delivery attempts by outcome, over a recent window
(one merchant's, or every merchant's)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

#: Hours in UTC whatever the session's time zone (served by ``ix_payments_merchant_created`` for one merchant).
_HOURLY_SQL = """
    SELECT date_trunc('hour', created_at, 'UTC') AS hour, status, count(*) AS payments
    FROM payments
    WHERE created_at >= now() - make_interval(secs => :window_s){merchant}
    GROUP BY 1, 2
    ORDER BY 1, 2
    """

#: ``payments.processor_ms`` percentiles by the hour the payment was created (the charge follows
#: within seconds, and the merchant's index serves it); the row with a null hour is the whole window.
_LATENCY_SQL = """
    SELECT date_trunc('hour', created_at, 'UTC') AS hour,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY processor_ms) AS p50_ms,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY processor_ms) AS p95_ms,
           count(*) AS charges
    FROM payments
    WHERE created_at >= now() - make_interval(secs => :window_s) AND processor_ms IS NOT NULL{merchant}
    GROUP BY GROUPING SETS ((1), ())
    HAVING count(*) > 0
    ORDER BY 1 NULLS LAST
    """


class HourlyCount(NamedTuple):
    """Payments created in one hour (UTC) that are now in one status."""

    hour: datetime
    status: str
    payments: int


class HourlyLatency(NamedTuple):
    """The processor's answer times (ms) for the charges of payments created in one hour (UTC);
    ``hour`` None: the whole window."""

    hour: datetime | None
    p50_ms: float
    p95_ms: float
    charges: int


class AttemptCounts(NamedTuple):
    """Webhook delivery attempts in the window, and how many succeeded."""

    succeeded: int
    attempts: int


_HOURLY = text(_HOURLY_SQL.format(merchant=""))
_MERCHANT_HOURLY = text(_HOURLY_SQL.format(merchant=" AND merchant_id = :merchant_id"))

_LATENCY = text(_LATENCY_SQL.format(merchant=""))
_MERCHANT_LATENCY = text(_LATENCY_SQL.format(merchant=" AND merchant_id = :merchant_id"))

_ATTEMPTS_SQL = """
    SELECT count(*) FILTER (WHERE a.succeeded) AS succeeded, count(*) AS attempts
    FROM webhook_attempts a
    JOIN webhook_deliveries d ON d.id = a.delivery_id
    WHERE a.attempted_at >= now() - make_interval(secs => :window_s){merchant}
    """
_ATTEMPTS = text(_ATTEMPTS_SQL.format(merchant=""))
_MERCHANT_ATTEMPTS = text(_ATTEMPTS_SQL.format(merchant=" AND d.merchant_id = :merchant_id"))


async def payments_per_hour(conn: AsyncConnection, *, window_s: int, merchant_id: uuid.UUID | None) -> list[HourlyCount]:
    """``(hour, status, payments)`` rows, oldest hour first, of payments created in the last ``window_s``."""
    if merchant_id is None:
        return [HourlyCount._make(row) for row in await conn.execute(_HOURLY, {"window_s": window_s})]
    return [HourlyCount._make(row) for row in await conn.execute(_MERCHANT_HOURLY, {"window_s": window_s, "merchant_id": merchant_id})]


async def processor_latency(conn: AsyncConnection, *, window_s: int, merchant_id: uuid.UUID | None) -> list[HourlyLatency]:
    """p50 and p95 of the processor's answer times per hour, oldest first, then the whole window's
    (the last row, hour None); empty when no charge of the window was timed."""
    if merchant_id is None:
        rows = await conn.execute(_LATENCY, {"window_s": window_s})
    else:
        rows = await conn.execute(_MERCHANT_LATENCY, {"window_s": window_s, "merchant_id": merchant_id})
    return [HourlyLatency._make(row) for row in rows]


async def webhook_attempts(conn: AsyncConnection, *, window_s: int, merchant_id: uuid.UUID | None) -> AttemptCounts:
    """``(succeeded, attempts)``: delivery attempts made in the last ``window_s``."""
    if merchant_id is None:
        return AttemptCounts._make((await conn.execute(_ATTEMPTS, {"window_s": window_s})).one())
    return AttemptCounts._make((await conn.execute(_MERCHANT_ATTEMPTS, {"window_s": window_s, "merchant_id": merchant_id})).one())


async def database_now(conn: AsyncConnection) -> datetime:
    """The database's clock (the pictures' window ends there, whatever the API host's clock says)."""
    now: datetime = await conn.scalar(text("SELECT now()"))
    return now
