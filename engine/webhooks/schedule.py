"""The retry schedule: when the next attempt is due. Pure; the random source is injected."""

from __future__ import annotations

import random
from typing import Sequence


def next_delay_s(
    attempts_made: int, schedule_s: Sequence[float], *, jitter: float, rng: random.Random | None = None
) -> float | None:
    """Seconds to wait before attempt number ``attempts_made + 1``; None when the schedule is spent.

    ``schedule_s[i]`` is the delay before attempt ``i + 1`` (``schedule_s[0]`` is the first,
    normally 0). Each delay is multiplied by a uniform factor in ``[1 - jitter, 1 + jitter]`` so
    endpoints that failed together do not all retry at the same instant.
    """
    if attempts_made < 0:
        raise ValueError("attempts_made must be >= 0")
    if attempts_made >= len(schedule_s):
        return None
    delay = float(schedule_s[attempts_made])
    if jitter <= 0 or delay == 0:
        return delay
    factor = (rng or random).uniform(1.0 - jitter, 1.0 + jitter)
    return delay * factor


def retry_after_s(header: str | None, *, cap_s: float) -> float | None:
    """A ``Retry-After`` given in seconds, capped; None if absent or not a number of seconds."""
    if header is None or not header.strip().isdigit():
        return None
    return min(float(header.strip()), cap_s)
