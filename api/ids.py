"""Object ids in paths, queries and bodies: the canonical UUID text (``8-4-4-4-12`` hex digits).

A malformed id in a path is that object's 404 (it cannot exist); in a query parameter or a body
field it is a 422 naming the field. ``ID_PATTERN`` is what the OpenAPI document declares, and the
parser accepts exactly that (``uuid.UUID`` alone would also take braces, ``urn:uuid:`` and
undashed forms the document does not promise).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from litestar.params import QueryParameter

from api.problems import FieldProblem, Problem, validation_problem

ID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_ID_RE = re.compile(ID_PATTERN)


def parse_id(raw: str) -> uuid.UUID | None:
    """``raw`` as an id, or None when it is not one."""
    return uuid.UUID(raw) if _ID_RE.match(raw) else None


def path_id(raw: str, not_found: Problem) -> uuid.UUID:
    parsed = parse_id(raw)
    if parsed is None:
        raise not_found
    return parsed


def query_id(name: str, raw: str | None, what: str) -> uuid.UUID | None:
    """``raw`` as an id (``None`` stays ``None``); otherwise "Must be ``what``." for ``name``."""
    if raw is None:
        return None
    parsed = parse_id(raw)
    if parsed is None:
        raise validation_problem([FieldProblem(name, f"Must be {what}.")])
    return parsed


def id_query(description: str) -> Any:
    """The OpenAPI declaration of an id query parameter."""
    return QueryParameter(pattern=ID_PATTERN, description=description)
