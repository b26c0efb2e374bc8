"""Entry point for ``dramatiq workers.main:setup`` (what ``easypay worker`` runs)."""

from __future__ import annotations

import dramatiq

from engine.logconfig import configure_logging
from engine.settings import load_settings
from workers import runtime
from workers.broker import build_broker


def setup() -> None:
    """Read settings, configure logging, install the broker, then import the actors."""
    settings = load_settings()
    configure_logging(settings.log_level, json_logs=settings.is_production)
    runtime.configure(settings)
    dramatiq.set_broker(build_broker(settings, worker=True))
    import workers.lifecycle  # noqa: F401
    import workers.payments  # noqa: F401  (registers actors on the broker just installed)
