"""At most ``limit`` concurrent holders per identity (e.g. long-polls per API key), in one process.

A long-poll holds a connection and a change-notifier waiter for up to 30 s; without a cap one
credential could hold any number of them. The count is per process because that is where the
held resources are (N API processes: at most N x ``limit`` per credential). Single event loop:
no lock needed.
"""

from __future__ import annotations


class ConcurrencyCap:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: dict[str, int] = {}

    def try_acquire(self, identity: str) -> bool:
        """Take a slot for ``identity``; False (nothing taken) when it already holds ``limit``."""
        held = self._held.get(identity, 0)
        if held >= self.limit:
            return False
        self._held[identity] = held + 1
        return True

    def release(self, identity: str) -> None:
        held = self._held.get(identity, 0) - 1
        if held > 0:
            self._held[identity] = held
        else:
            self._held.pop(identity, None)

    def held(self, identity: str) -> int:
        return self._held.get(identity, 0)


__all__ = ["ConcurrencyCap"]
