"""Why a payment's sealed payment method is gone: it *expired* or it was *lost*.

The sealed method is kept only in Redis (the queue message on the Redis broker, and the stash copy
``engine.method_stash``), for ``CARD_MESSAGE_TTL_S`` from the moment the payment was accepted.
When a payment that never reached the processor finds it gone, the payment's accepted time tells
the two apart:

* ``payment_method_expired``: the TTL really passed (accepted at + ``CARD_MESSAGE_TTL_S`` <= now);
* ``payment_method_lost``: gone before its TTL: Redis was flushed, restarted without persistence,
  or evicted the key. Nothing was charged; the client may retry with a new request.

The stash copy is written (with that TTL) after the payment's row is recorded, so the accepted time
plus the TTL is never later than the copy's own expiry: a copy missing before that moment was lost.
(``created_at`` is PostgreSQL's clock, ``now`` the caller's, the TTL Redis's: keep the machines on
NTP; a skew of seconds matters only for a copy gone within seconds of its TTL.)
"""

from __future__ import annotations

from datetime import datetime, timedelta

EXPIRED = "payment_method_expired"
LOST = "payment_method_lost"


def gone_method_code(accepted_at: datetime, *, ttl_s: int, now: datetime) -> str:
    """``payment_method_expired`` once ``ttl_s`` has passed since ``accepted_at``, else ``payment_method_lost``."""
    return EXPIRED if now >= accepted_at + timedelta(seconds=ttl_s) else LOST


__all__ = ["EXPIRED", "LOST", "gone_method_code"]
