"""``engine.heap.settle_heap``: what exists when it runs leaves the collected generations; what is
allocated after is still collected (cycles included)."""

from __future__ import annotations

import gc
import weakref

from engine.heap import YOUNG_THRESHOLD, raise_young_threshold, settle_heap


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


def test_the_young_threshold_is_raised_and_never_lowered() -> None:
    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        raise_young_threshold()
        assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
        gc.set_threshold(YOUNG_THRESHOLD * 2, 10, 10)
        raise_young_threshold()
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD * 2
        gc.set_threshold(0, 10, 10)  # collection disabled: left so
        raise_young_threshold()
        assert gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*saved)
