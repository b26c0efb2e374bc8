"""``settle_heap()``: once a process has started (modules imported, pools and caches built), move
every object it holds into the garbage collector's permanent generation. ``raise_young_threshold()``
(the API process): collect the young generation less often.

Those objects live as long as the process, yet each full collection would walk all of them again
(hundreds of thousands in an API or worker process). Frozen, a collection walks only what requests
and jobs allocated since: the same garbage is found, in a fraction of the time.
"""

from __future__ import annotations

import gc


def settle_heap() -> None:
    """Collect what start-up left behind, then freeze the rest (``gc.freeze``)."""
    gc.collect()
    gc.freeze()


#: The API process's young-generation threshold (CPython's default is 700 net allocations). A
#: loaded process holds the objects of every request in flight (scopes, coroutines, futures,
#: headers): at 700 a collection ran every batch or two of 32 polls and promoted those objects,
#: which then cost older-generation passes (5-7 us of CPU per poll at 32 in flight,
#: ``bench/poll_cost.py``). Requests free their objects by reference counting; at 5,000 a young
#: collection seldom runs at all.
YOUNG_THRESHOLD = 5000


def raise_young_threshold() -> None:
    """Raise the collector's young-generation threshold to ``YOUNG_THRESHOLD`` (never lower it;
    a collector switched off, threshold 0, stays off)."""
    young, *older = gc.get_threshold()
    if 0 < young < YOUNG_THRESHOLD:
        gc.set_threshold(YOUNG_THRESHOLD, *older)


__all__ = ["YOUNG_THRESHOLD", "raise_young_threshold", "settle_heap"]
