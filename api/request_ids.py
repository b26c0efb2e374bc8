"""Request ids: the client's ``X-Request-ID`` when it is a sane token, else a new one."""

from __future__ import annotations

import itertools
import os
import re
import secrets

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class _RequestIds:
    """``req_`` + 32 hex digits: a random per-process prefix and a counter (unique across
    processes and restarts without a system call per request). A forked child draws its own prefix."""

    def __init__(self) -> None:
        self.reseed()
        os.register_at_fork(after_in_child=self.reseed)

    def reseed(self) -> None:
        self._prefix = f"req_{secrets.token_hex(8)}"
        self._counter = itertools.count(1)

    def new(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"


_ids = _RequestIds()


def request_id_for(given: str | None) -> str:
    """The client's ``X-Request-ID`` when it is a sane token, else a new one."""
    return given if given and _VALID_REQUEST_ID.match(given) else _ids.new()


__all__ = ["request_id_for"]
