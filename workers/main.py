"""Entry point for ``dramatiq workers.main:setup`` (what ``easypay worker`` runs)."""

from __future__ import annotations

import os

import dramatiq

from engine.heap import settle_heap
from engine.logconfig import configure_logging
from engine.settings_from_env import load_settings
from workers import runtime
from workers.broker import build_broker
from workers.observability import POOL_ENV
from workers.shutdown import coalesce_sigterm


def setup() -> None:
    """Read settings, configure logging, install the broker, import the actors, then settle the
    heap (``engine.heap``): what start-up built lives as long as the process."""
    coalesce_sigterm()
    settings = load_settings()
    configure_logging(settings.log_level, json_logs=settings.is_production)
    runtime.configure(settings)
    named = pool = settings.pools.get(os.environ.get(POOL_ENV, "payments"))
    if pool is not None and os.environ.get("PROMETHEUS_MULTIPROC_DIR") is None:
        pool = None  # started without `easypay worker`: no multi-process metrics directory
    poll_ms = named.poll_timeout_ms if named is not None else None
    dramatiq.set_broker(build_broker(settings, worker=True, pool=pool, poll_timeout_ms=poll_ms))
    import workers.lifecycle  # noqa: F401
    import workers.payments  # noqa: F401  (registers actors on the broker just installed)
    import workers.webhooks  # noqa: F401
    settle_heap()
