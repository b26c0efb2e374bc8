"""``engine.heap.settle_heap``: what exists when it runs leaves the collected generations; what is
allocated after is still collected (cycles included)."""

from __future__ import annotations

import gc
import weakref

from engine.heap import settle_heap


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_settled_objects_are_frozen_and_later_garbage_is_still_collected():
    kept = _Node()
    frozen_before = gc.get_freeze_count()
    try:
        settle_heap()
        assert gc.get_freeze_count() > frozen_before
        assert not any(o is kept for o in gc.get_objects())  # frozen objects are not tracked per generation
        a, b = _Node(), _Node()
        a.other, b.other = b, a  # a cycle only the collector can free
        gone = weakref.ref(a)
        del a, b
        gc.collect()
        assert gone() is None
    finally:
        gc.unfreeze()
