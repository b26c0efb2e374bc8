"""Per-process resources for actors, created lazily on Dramatiq's AsyncIO event loop.

``setup()`` (in ``workers.main``) stores the settings; the first actor call builds the database
engine, Redis client and processor client on the loop that will use them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import dramatiq
from dramatiq.asyncio import get_event_loop_thread

from engine import redis_client
from engine.cache import PaymentCache
from engine.db.session import make_engine
from engine.method_stash import MethodStash
from engine.job_deps import ProcessingDeps
from engine.processor import ProcessorClient
from engine.sealing import SecretBox, Sealer
from engine.settings import Settings
from engine.webhooks.attempt import make_client
from engine.webhooks.runner import DeliveryRunner, OnRecorded
from engine.webhooks.service import DeliveryDeps
from jobs.brokers import connect_sender

log = logging.getLogger(__name__)

_settings: Settings | None = None
_deps: ProcessingDeps | None = None
_webhook_runner: DeliveryRunner | None = None
_lock = asyncio.Lock()


def configure(settings: Settings) -> None:
    global _settings
    _settings = settings


def settings() -> Settings:
    if _settings is None:
        raise RuntimeError("workers.runtime.configure() was not called")
    return _settings


async def processing_deps() -> ProcessingDeps:
    global _deps
    if _deps is not None:
        return _deps
    async with _lock:
        if _deps is None:
            cfg = settings()
            redis = redis_client.connect(cfg.redis.cache_url)
            jobs = connect_sender(cfg)
            _deps = ProcessingDeps(
                engine=make_engine(cfg.database, application_name="easypay-worker"),
                client=ProcessorClient(cfg.processor),
                sealer=Sealer(cfg.secret_key, card_keys=cfg.card_keys, previous_secret_keys=cfg.previous_secret_keys),
                cache=PaymentCache(redis, prefix=cfg.redis.key_prefix, ttl_s=cfg.redis.payment_cache_ttl_s),
                unknown_outcome_resends=cfg.workers.unknown_outcome_resends,
                stash=MethodStash(jobs.redis, prefix=cfg.redis.key_prefix),
                jobs=jobs,
                lifecycle=cfg.lifecycle,
                duplicate_window_s=cfg.processor.duplicate_window_s,
                card_message_ttl_s=cfg.card_message_ttl_s,
            )
    return _deps


async def webhook_runner(on_recorded: OnRecorded | None = None) -> DeliveryRunner:
    """This process's delivery runner, started on first use (one HTTP client, one engine)."""
    global _webhook_runner
    if _webhook_runner is not None:
        return _webhook_runner
    async with _lock:
        if _webhook_runner is None:
            cfg = settings()
            hooks = cfg.webhooks
            slots = cfg.pools["webhooks"].threads
            deps = DeliveryDeps(
                engine=make_engine(cfg.database, application_name="easypay-webhooks"),
                http=make_client(
                    connect_timeout_s=hooks.connect_timeout_s, total_timeout_s=hooks.total_timeout_s, max_connections=slots
                ),
                box=SecretBox(cfg.secret_key, previous=cfg.previous_secret_keys),
                settings=hooks,
            )
            runner = DeliveryRunner(deps, slots=slots, on_recorded=on_recorded)
            runner.start()
            _webhook_runner = runner
    return _webhook_runner


class StopWebhookRunner(dramatiq.Middleware):
    """When the pool stops: the runner stops claiming, lets attempts in flight finish (within the
    pool's shutdown timeout) and records them, before the AsyncIO loop goes away."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s

    def before_worker_shutdown(self, broker: Any, worker: Any) -> None:
        runner, loop_thread = _webhook_runner, get_event_loop_thread()
        if runner is None or loop_thread is None:
            return
        try:
            loop_thread.run_coroutine(runner.stop(timeout_s=self.timeout_s))
        except Exception:  # noqa: BLE001 - leases bring back whatever was not recorded
            log.exception("webhook runner did not stop cleanly")
