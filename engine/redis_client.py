"""The one way the engine opens an asyncio Redis client (cache, broker, locks).

After a Redis restart every pooled connection is dead. Connections idle for
``HEALTH_CHECK_INTERVAL_S`` are checked with a PING before use, and a command that meets a broken
connection is retried on a fresh one (``RETRIES`` times, short backoff), so the first requests
after a restart do not fail. ``from_url`` builds its own pool, which does not inherit the
client's default retry policy: it is passed explicitly here. A retried command may have run once
already (its answer was lost); what we send through here tolerates that (an enqueue at most
duplicates a message, which the actors ignore; a counter may count one request twice).
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError

HEALTH_CHECK_INTERVAL_S = 5
CONNECT_TIMEOUT_S = 2.0
RETRIES = 2


def connect(url: str) -> Redis:
    return Redis.from_url(
        url,
        health_check_interval=HEALTH_CHECK_INTERVAL_S,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), RETRIES),
        retry_on_error=[ConnectionError, TimeoutError],
    )
