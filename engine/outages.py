"""Telling "a service we need is away" from a bug, so callers can say 503 (or one line) instead of 500.

One classifier for the API's error handler and the command line. It walks the exception's chain
(``__cause__``, ``__context__`` and SQLAlchemy's ``orig``) for what an outage raises:

- PostgreSQL: asyncpg's connection-class errors (SQLSTATE 08…, 57P0x shutdown / cannot connect
  now, 53300 too many connections, 3D000 no such database), SQLAlchemy's pool timeout and its
  "connection invalidated" errors;
- Redis: redis-py's ``ConnectionError`` / ``TimeoutError`` (``BusyLoadingError`` included);
- RabbitMQ: an AMQP client's connection errors (aiormq/aio-pika, pika), known by their package;
- a bare ``OSError`` (refused, reset, timed out, name not resolved) raised from inside asyncpg,
  redis-py or an AMQP client, judged by the code it was raised from.

Anything else is not an outage and stays a 500 with its traceback.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Awaitable, Callable, Iterator, Literal, TypeVar

import asyncpg.exceptions as pg_errors
import redis.exceptions as redis_errors
import sqlalchemy.exc as sa_errors
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

log = logging.getLogger(__name__)
T = TypeVar("T")

Dependency = Literal["PostgreSQL", "Redis", "RabbitMQ"]

#: How long clients are told to wait before retrying while a dependency is away.
RETRY_AFTER_S = 2

_POSTGRES_OUTAGES = (
    pg_errors.PostgresConnectionError,
    pg_errors.OperatorInterventionError,
    pg_errors.TooManyConnectionsError,
    pg_errors.InvalidCatalogNameError,
    sa_errors.TimeoutError,
)
_REDIS_OUTAGES = (redis_errors.ConnectionError, redis_errors.TimeoutError)
#: The AMQP client libraries (the API's and the CLI's aio-pika on aiormq, Dramatiq's pika), known
#: by name: the engine imports no queue library.
_AMQP_PACKAGES = frozenset({"aiormq", "aio_pika", "pamqp", "pika"})


def _amqp_connection_error(exc: BaseException) -> bool:
    """An AMQP client's "the connection failed or was lost" (``AMQPConnectionError``,
    ``ConnectionClosed``, pika's ``StreamLostError``...)."""
    kind = type(exc)
    return kind.__module__.split(".")[0] in _AMQP_PACKAGES and ("Connection" in kind.__name__ or "StreamLost" in kind.__name__)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for linked in (current.__cause__, current.__context__, getattr(current, "orig", None)):
            if isinstance(linked, BaseException):
                pending.append(linked)


def _raised_from(tb: TracebackType | None) -> Dependency | None:
    """The client library whose code raised, judged by the innermost frame inside one."""
    found: Dependency | None = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename.replace("\\", "/")
        if "/asyncpg/" in filename or "/sqlalchemy/" in filename:
            found = "PostgreSQL"
        elif "/redis/" in filename:
            found = "Redis"
        elif any(f"/{package}/" in filename for package in _AMQP_PACKAGES):
            found = "RabbitMQ"
        tb = tb.tb_next
    return found


def unreachable_dependency(exc: BaseException) -> Dependency | None:
    """Which dependency ``exc`` says is unreachable or refusing work right now, or None."""
    for item in _chain(exc):
        if isinstance(item, _REDIS_OUTAGES):
            return "Redis"
        if isinstance(item, _POSTGRES_OUTAGES):
            return "PostgreSQL"
        if isinstance(item, sa_errors.DBAPIError) and item.connection_invalidated:
            return "PostgreSQL"
        if _amqp_connection_error(item):
            return "RabbitMQ"
        if isinstance(item, (OSError, TimeoutError)):
            if (where := _raised_from(item.__traceback__)) is not None:
                return where
    return None


async def through_outages(
    work: Callable[[], Awaitable[T]], *, what: str, attempts: int = 3, first_wait_s: float = 0.5
) -> tuple[bool, T | None]:
    """Run ``work()``, retrying it while a dependency is away; returns (done, result).

    For scheduled jobs: a blip of PostgreSQL or Redis is waited out (exponential backoff from
    ``first_wait_s``), and an outage that outlasts ``attempts`` is one warning line and
    ``(False, None)``: the next scheduled run tries again, nothing is dead-lettered. Any other
    error is raised.
    """
    retrying = AsyncRetrying(
        retry=retry_if_exception(lambda exc: unreachable_dependency(exc) is not None),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=first_wait_s, max=first_wait_s * 8),
        reraise=True,
    )
    try:
        return True, await retrying(work)
    except Exception as exc:
        dependency = unreachable_dependency(exc)
        if dependency is None:
            raise
        log.warning("%s: %s unavailable after %d attempts (%s); the next run tries again", what, dependency, attempts, type(exc).__name__)
        return False, None
