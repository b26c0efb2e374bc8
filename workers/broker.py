"""The Dramatiq broker, built once per process from settings with an explicit middleware list."""

from __future__ import annotations

from typing import Any, Callable

import dramatiq
import hiredis
from dramatiq.asyncio import EventLoopThread, set_event_loop_thread
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis, dq_name
from dramatiq.middleware import (
    AgeLimit,
    AsyncIO,
    Callbacks,
    CurrentMessage,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from redis.exceptions import NoScriptError

from engine.settings import PoolSettings, Settings
from jobs.names import NAMESPACE, PAYMENTS_QUEUE, RECOVERY_QUEUE, RETRY, WEBHOOKS_QUEUE
from workers.dead_letters import ScrubSealedArguments
from workers.observability import LogContext
from workers.runtime import StopWebhookRunner

#: An idle queue's poll when no pool names one (``<PREFIX>_POLL_TIMEOUT_MS``'s default).
DEFAULT_POLL_TIMEOUT_MS = 50
#: How often a worker thread with nothing to do wakes up (Dramatiq's ``worker_timeout``, set by
#: ``easypay worker``): only for pausing and stopping, never for picking up a message (a queued
#: message wakes a waiting thread at once). Dramatiq's default.
THREAD_WAKEUP_MS = 1000
#: How long an idle delay queue's consumer waits between polls: a retry's backoff is at least a
#: second (``jobs.names.RETRY``), so it runs at most this much later.
DELAY_QUEUE_POLL_MS = 1000
#: How often a worker thread waiting for its async actor checks for an asynchronous interrupt
#: (``TimeLimit``, a shutdown): Dramatiq's default is 0.1 s, ten wakeups a second per message in flight.
INTERRUPT_CHECK_S = 1.0


def worker_timeout_ms(poll_timeout_ms: int, *, rabbitmq: bool) -> int:
    """Dramatiq's ``worker_timeout`` for a pool (``easypay worker`` sets it): on Redis the
    consumers poll at ``poll_timeout_ms`` on their own (``EasypayRedisBroker``) and it only wakes
    idle threads; RabbitMQ pushes messages, and its consumers wait ``worker_timeout`` between
    looks at their delayed messages."""
    return poll_timeout_ms if rabbitmq else max(THREAD_WAKEUP_MS, poll_timeout_ms)


class EasypayRedisBroker(RedisBroker):
    """Dramatiq's Redis broker whose consumers poll at their own pace: an idle queue's consumer
    backs off up to ``poll_timeout_ms`` (a message queued into an idle pool waits at most about
    that long: ``<PREFIX>_POLL_TIMEOUT_MS``), a delay queue's up to ``DELAY_QUEUE_POLL_MS``.
    Dramatiq polls every queue at its ``worker_timeout``, which also wakes every idle worker thread."""

    def __init__(self, *, poll_timeout_ms: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.poll_timeout_ms = poll_timeout_ms
        #: The SHA1 of Dramatiq's ``dispatch.lua``, which every command runs.
        self.dispatch_sha: str = self.scripts["dispatch"].sha

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> dramatiq.Consumer:
        delayed = queue_name == dq_name(queue_name)
        return super().consume(queue_name, prefetch, DELAY_QUEUE_POLL_MS if delayed else self.poll_timeout_ms)

    def __getattr__(self, name: str) -> Any:
        """``do_fetch``, ``do_ack``...: built once per command (Dramatiq builds one per call)."""
        if not name.startswith("do_"):
            raise AttributeError(name)
        dispatch = self._packed_dispatch(name[3:])
        setattr(self, name, dispatch)
        return dispatch

    def _packed_dispatch(self, command: str) -> Callable[..., Any]:
        """Dramatiq's ``_dispatch`` (one EVALSHA of its ``dispatch.lua`` per fetch, ack, nack...:
        the same arguments), packed by hiredis and sent on a connection of the client's pool:
        redis-py's ``Script`` call minus its per-call Python work. A server without the script
        (restarted) gets it through Dramatiq's own path, which loads it."""
        loading = self._dispatch(command)
        namespace = self.namespace

        def do_dispatch(queue_name: str, *args: Any) -> Any:
            payload = hiredis.pack_command((
                "EVALSHA", self.dispatch_sha, 1, namespace, command, current_millis(), queue_name, self.broker_id,
                self.heartbeat_timeout, self.dead_message_ttl, self._should_do_maintenance(command),
                self._max_unpack_size(), *args,
            ))
            pool = self.client.connection_pool
            connection = pool.get_connection()

            def exchange() -> Any:
                connection.send_packed_command([payload])
                return connection.read_response()

            try:  # the client's retry policy, as redis-py applies it to a command
                return connection.retry.call_with_retry(exchange, lambda _error: connection.disconnect())
            except NoScriptError:
                return loading(queue_name, *args)
            except BaseException:
                connection.disconnect()  # a reply may still be on its way: nobody else reads it
                raise
            finally:
                pool.release(connection)

        return do_dispatch


class AsyncIOEveryS(AsyncIO):
    """Dramatiq's ``AsyncIO`` with a waiting worker thread woken every ``INTERRUPT_CHECK_S``."""

    def before_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        event_loop_thread = EventLoopThread(self.logger, interrupt_check_ival=INTERRUPT_CHECK_S)
        event_loop_thread.start(timeout=1.0)
        set_event_loop_thread(event_loop_thread)


def build_broker(
    settings: Settings, *, worker: bool, pool: PoolSettings | None = None, poll_timeout_ms: int | None = None
) -> dramatiq.Broker:
    """The broker ``BROKER_URL`` names (Redis, or RabbitMQ: ``workers.rabbitmq``); ``worker=True``
    adds the AsyncIO and CurrentMessage middleware actors need.

    With a ``pool`` whose ``metrics_port`` is set, Dramatiq's Prometheus middleware (our
    ``PoolMetrics``) is added: the pool then serves metrics on that port. ``poll_timeout_ms``: the
    Redis consumers' idle poll (default: the pool's, else the payments pool's).
    """
    middleware: list[dramatiq.Middleware] = []
    if worker and pool is not None and pool.metrics_port:
        from workers.pool_metrics import PoolMetrics  # Dramatiq's Prometheus module creates a directory at import

        middleware.append(PoolMetrics(pool.name, pool.threads))
    middleware += [
        AgeLimit(),
        TimeLimit(time_limit=300_000),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(**RETRY.options()),
    ]
    rabbitmq = settings.redis.broker_is_rabbitmq
    if not rabbitmq:  # on RabbitMQ the consumer dead-letters a copy without it (workers.rabbitmq)
        # Before the broker moves a failed message to its dead letters: drop the sealed card.
        middleware.append(ScrubSealedArguments())
    # LogContext binds the ids in the worker thread before the actor runs; an async actor's
    # coroutine, scheduled on the AsyncIO loop from that thread, copies that context.
    middleware.append(LogContext())
    if worker:
        # The webhooks pool's delivery runner drains before the AsyncIO loop stops (a no-op elsewhere).
        stop_s = min(settings.webhooks.total_timeout_s, float(pool.shutdown_timeout_s if pool else 30))
        middleware += [AsyncIOEveryS(), CurrentMessage(), StopWebhookRunner(stop_s)]
    broker: dramatiq.Broker
    if rabbitmq:
        from workers.rabbitmq import EasypayRabbitmqBroker, HeldMessages

        middleware.append(HeldMessages(cache_url=settings.redis.cache_url, key_prefix=settings.redis.key_prefix))
        broker = EasypayRabbitmqBroker(
            url=settings.redis.broker_url, queue_type=settings.redis.broker_queue_type, middleware=middleware
        )
    else:
        if poll_timeout_ms is None:
            polled = pool or settings.pools.get("payments")
            poll_timeout_ms = polled.poll_timeout_ms if polled else DEFAULT_POLL_TIMEOUT_MS
        broker = EasypayRedisBroker(
            poll_timeout_ms=poll_timeout_ms,
            url=settings.redis.broker_url,
            namespace=NAMESPACE,
            middleware=middleware,
            heartbeat_timeout=settings.workers.heartbeat_timeout_ms,
            # Return dead workers' messages promptly instead of once per ~1000 commands.
            maintenance_chance=10_000,
        )
    broker.declare_queue(PAYMENTS_QUEUE)
    broker.declare_queue(WEBHOOKS_QUEUE)
    broker.declare_queue(RECOVERY_QUEUE)
    return broker
