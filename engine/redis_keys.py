"""Every key and channel EasyPay writes to Redis, in one place.

All of them start with ``EASYPAY_REDIS_KEY_PREFIX`` (``prefix`` below; ``easypay`` by default), so
several deployments can share one Redis and ``redis-cli --scan --pattern 'easypay:*'`` finds ours.
In the cache database (``REDIS_URL``):

    <prefix>:payment:<payment id>            hash m, b: a payment's snapshot (engine.cache), TTL
    <prefix>:payment-changes                 pub/sub channel: ids of payments that changed
    <prefix>:sealed-method:<payment id>      a pending payment's sealed card (engine.method_stash)
    <prefix>:sealed-method:<payment id>:resent   the pending sweep's once-per-window guard
    <prefix>:apikey:<key id>                 signed shared API-key record (engine.auth)
    <prefix>:apikey-failures:<key id>        sorted set of failed secret checks (engine.key_failures)
    <prefix>:recent-write:<actor>            "this client wrote just now": read your writes
    <prefix>:ratelimit/...                   fixed-window counters (the limits library adds the rest)
    <prefix>:running:<job>                   a recovery job's single-flight lock (engine.single_flight)
    <prefix>:schedule:<job>:<slot>           the scheduler's claim of one run (schedules.runner)
    <prefix>:dashboard-session:<sha-256>     a dashboard session (never the cookie's value itself)
    <prefix>:held:<queue>:<subject>          RabbitMQ only: messages held about a payment (jobs.rabbitmq)

The Redis broker's own keys (``dramatiq:<queue>``, ``.DQ``, ``.XQ``, ``.msgs``, in ``BROKER_URL``)
are Dramatiq's layout, read in ``jobs.queues``.
"""

from __future__ import annotations

import uuid


def payment_snapshot(prefix: str, payment_id: uuid.UUID | str) -> str:
    return f"{prefix}:payment:{payment_id}"


def payment_changes_channel(prefix: str) -> str:
    return f"{prefix}:payment-changes"


def sealed_method(prefix: str, payment_id: uuid.UUID | str) -> str:
    return f"{prefix}:sealed-method:{payment_id}"


def resent_guard(prefix: str, payment_id: uuid.UUID | str) -> str:
    return f"{sealed_method(prefix, payment_id)}:resent"


def api_key_record(prefix: str, key_id: str) -> str:
    return f"{prefix}:apikey:{key_id}"


def api_key_failures(prefix: str, key_id: str) -> str:
    return f"{prefix}:apikey-failures:{key_id}"


def recent_write(prefix: str, actor: str) -> str:
    return f"{prefix}:recent-write:{actor}"


def rate_limit_prefix(prefix: str) -> str:
    return f"{prefix}:ratelimit"


def running_job(prefix: str, job: str) -> str:
    return f"{prefix}:running:{job}"


def schedule_claim(prefix: str, job: str, slot: int) -> str:
    return f"{prefix}:schedule:{job}:{slot}"


def dashboard_session(prefix: str, session_digest: str) -> str:
    return f"{prefix}:dashboard-session:{session_digest}"


def held_messages(prefix: str, queue_name: str, subject: str) -> str:
    return f"{prefix}:held:{queue_name}:{subject}"
