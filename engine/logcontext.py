"""Correlation ids (request, payment, message) carried in context variables into every log line."""

from __future__ import annotations

import contextlib
import contextvars
import logging
from typing import Iterator

_FIELDS = ("request_id", "merchant_id", "payment_id", "message_id")
_context: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("easypay_log_context", default={})  # noqa: B039 - never mutated, only replaced


@contextlib.contextmanager
def bind_context(**values: str | None) -> Iterator[None]:
    merged = {**_context.get(), **{k: str(v) for k, v in values.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def bind_request(request_id: str) -> contextvars.Token[dict[str, str]]:
    """Bind a request's id for the current task (the API's middleware); ``reset_context(token)``
    ends it. ``bind_context`` without the context manager, for the per-request hot path."""
    return _context.set({**_context.get(), "request_id": request_id})


def reset_context(token: contextvars.Token[dict[str, str]]) -> None:
    _context.reset(token)


def set_context(**values: str | None) -> None:
    """Bind for the rest of the current task (e.g. an API request)."""
    _context.set({**_context.get(), **{k: str(v) for k, v in values.items() if v is not None}})


def bind_merchant(merchant_id: str | None) -> None:
    """``set_context(merchant_id=...)`` of an authenticated request: one merge, no keyword dict."""
    if merchant_id is not None:
        _context.set({**_context.get(), "merchant_id": merchant_id})


def current_context() -> dict[str, str]:
    """The ids bound now (a copy)."""
    return dict(_context.get())


def restore_context(values: dict[str, str]) -> None:
    """Replace the bound ids with ``values`` (what ``current_context()`` returned earlier)."""
    _context.set(dict(values))


class ContextFilter(logging.Filter):
    """Copies the bound ids onto each record (``record.request_id`` ...; ``-`` when unbound)."""

    def filter(self, record: logging.LogRecord) -> bool:
        bound = _context.get()
        for name in _FIELDS:
            setattr(record, name, bound.get(name, "-"))
        return True
