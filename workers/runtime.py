"""Per-process resources for actors, created lazily on Dramatiq's AsyncIO event loop.

``setup()`` (in ``workers.main``) stores the settings; the first actor call builds the database
engine, Redis client and processor client on the loop that will use them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


from engine import redis_client
from engine.cache import PaymentCache
from engine.db.session import make_engine
from engine.method_stash import MethodStash
from engine.processing import ProcessingDeps
from engine.processor import ProcessorClient
from engine.sealing import Sealer
from engine.settings import Settings
from engine.webhooks.attempt import make_client
from engine.webhooks.secretbox import SecretBox
from engine.webhooks.service import DeliveryDeps
from jobs.brokers import connect_sender
from jobs.sender import JobSender

_settings: Settings | None = None
_deps: ProcessingDeps | None = None
_webhook_deps: WebhookWorkerDeps | None = None
_lock = asyncio.Lock()


@dataclass
class WebhookWorkerDeps:
    delivery: DeliveryDeps
    #: Enqueues the follow-up deliveries an attempt claims (async, off the worker's Redis client).
    jobs: JobSender


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
                sealer=Sealer(cfg.secret_key, card_keys=cfg.card_keys),
                cache=PaymentCache(redis, prefix=cfg.redis.key_prefix, ttl_s=cfg.redis.payment_cache_ttl_s),
                unknown_outcome_resends=cfg.workers.unknown_outcome_resends,
                stash=MethodStash(jobs.redis, prefix=cfg.redis.key_prefix),
                jobs=jobs,
                lifecycle=cfg.lifecycle,
                duplicate_window_s=cfg.processor.duplicate_window_s,
                card_message_ttl_s=cfg.card_message_ttl_s,
            )
    return _deps


async def webhook_deps() -> WebhookWorkerDeps:
    global _webhook_deps
    if _webhook_deps is not None:
        return _webhook_deps
    async with _lock:
        if _webhook_deps is None:
            cfg = settings()
            hooks = cfg.webhooks
            _webhook_deps = WebhookWorkerDeps(
                delivery=DeliveryDeps(
                    engine=make_engine(cfg.database, application_name="easypay-webhooks"),
                    http=make_client(
                        connect_timeout_s=hooks.connect_timeout_s,
                        total_timeout_s=hooks.total_timeout_s,
                        max_connections=max(cfg.pools["webhooks"].threads, 10),
                    ),
                    box=SecretBox(cfg.secret_key),
                    settings=hooks,
                ),
                jobs=connect_sender(cfg),
            )
    return _webhook_deps
