"""Timestamp query parameters: RFC 3339 with an offset, or Unix seconds."""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar.params import QueryParameter

from api.problems import FieldProblem, validation_problem


def parse_time(name: str, raw: str | None) -> dt.datetime | None:
    if raw is None:
        return None
    try:
        if raw.isdigit():
            return dt.datetime.fromtimestamp(int(raw), tz=dt.timezone.utc)
        parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise validation_problem([FieldProblem(name, "Must be an RFC 3339 timestamp or Unix seconds.")]) from None
    if parsed.tzinfo is None:
        raise validation_problem([FieldProblem(name, "Must include a UTC offset (e.g. 2026-01-31T12:00:00Z).")])
    return parsed


def time_query(description: str = "RFC 3339 with an offset, or Unix seconds.") -> Any:
    """The OpenAPI declaration of a timestamp query parameter."""
    return QueryParameter(
        description=description,
        schema_extra={"anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "pattern": "^[0-9]{1,11}$"}]},
    )
