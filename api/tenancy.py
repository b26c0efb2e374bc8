"""Which merchant a request acts for: the caller's own, or for an admin the one it names.

Another merchant's object is always a 404 (``merchant_not_found`` / the object's own not-found
problem), never a 403: callers must not learn that it exists.
"""

from __future__ import annotations

import uuid

from api.ids import parse_id
from api.problems import FieldProblem, Problem, validation_problem
from api.state import AppState
from engine.auth import Principal
from engine.db.accounts import get_merchant

#: Idempotency keys of principals bound to no merchant (admin users) live under this owner.
PLATFORM_OWNER = uuid.UUID(int=0)


def merchant_not_found() -> Problem:
    return Problem(404, "merchant_not_found", "No such merchant.")


def requested_merchant(principal: Principal, raw: str) -> uuid.UUID:
    """A merchant id the caller named: valid, and one it may act for (else 404, never "forbidden")."""
    merchant_id = parse_id(raw)
    if merchant_id is None:
        raise validation_problem([FieldProblem("merchant_id", "Must be a merchant id.")])
    if not principal.may_act_for(merchant_id):
        raise merchant_not_found()
    return merchant_id


def list_scope(principal: Principal, requested: str | None) -> uuid.UUID | None:
    """What a list shows: the caller's merchant; for an admin every merchant, or the one named."""
    return principal.scope if requested is None else requested_merchant(principal, requested)


async def target_merchant(state: AppState, principal: Principal, requested: str | None, *, what: str) -> uuid.UUID:
    """Whom a new object is for: the caller's merchant, or for an admin the required ``merchant_id``."""
    if requested is None:
        if principal.scope is None:
            raise validation_problem([FieldProblem("merchant_id", f"Required with admin credentials: the merchant {what}.")])
        return principal.scope
    merchant_id = requested_merchant(principal, requested)
    if principal.scope is None:
        async with state.engine.connect() as conn:
            if await get_merchant(conn, merchant_id) is None:
                raise merchant_not_found()
    return merchant_id


def idempotency_owner(principal: Principal) -> uuid.UUID:
    """The namespace of the caller's ``Idempotency-Key`` values."""
    return principal.merchant_id if principal.merchant_id is not None else PLATFORM_OWNER
