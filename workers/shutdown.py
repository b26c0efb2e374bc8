"""SIGTERM in a pool's worker process: one stop per stop request, and a second request that ends it.

Dramatiq's worker process stops gracefully on the first SIGTERM and calls ``sys.exit`` on the
next. A SIGTERM sent to the pool's process group (what honcho, systemd's default ``KillMode`` and
Ctrl-C do) reaches each worker process twice at once: from the kernel, and forwarded by the
pool's master. The second copy then raised ``SystemExit`` in the middle of the graceful stop,
and the process hung with its threads still consuming. Here the copies of one request (within
``DUPLICATE_WINDOW_S``) count once; a real second request later ends the process at once with
``os._exit``: messages it held are not acknowledged, so the broker gives them to another worker
(nothing is lost; charges are idempotent).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

#: Copies of one SIGTERM arriving closer together than this are one request.
DUPLICATE_WINDOW_S = 2.0
#: Dramatiq's exit status for a killed worker process.
KILLED_EXIT_STATUS = 3


def coalesce_sigterm() -> None:
    """Wrap the SIGTERM handler Dramatiq installed in this worker process (call from its setup)."""
    graceful: Any = signal.getsignal(signal.SIGTERM)
    if not callable(graceful):
        return
    first_at: float | None = None

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal first_at
        now = time.monotonic()
        if first_at is None:
            first_at = now
            graceful(signum, frame)
        elif now - first_at < DUPLICATE_WINDOW_S:
            return  # the same stop request, delivered again (process group and master)
        else:
            log.warning("second stop request: exiting now; messages in hand return to the queue")
            os._exit(KILLED_EXIT_STATUS)

    signal.signal(signal.SIGTERM, handler)
