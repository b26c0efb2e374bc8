"""Object ids in paths and cursors: a malformed id in a path is that object's 404 (it cannot
exist), in a query parameter a 422 naming the parameter."""

from __future__ import annotations

import uuid

from api.problems import FieldProblem, Problem, validation_problem


def path_id(raw: str, not_found: Problem) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise not_found from None


def query_id(name: str, raw: str | None, what: str) -> uuid.UUID | None:
    """``raw`` as an id (``None`` stays ``None``); otherwise "Must be ``what``." for ``name``."""
    if raw is None:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise validation_problem([FieldProblem(name, f"Must be {what}.")]) from None
