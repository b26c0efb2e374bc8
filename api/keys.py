"""``/v1/api-keys``: create (the secret is in this one response only), list, retrieve, revoke."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from msgspec import Meta
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncConnection

from api.audit import note
from api.ids import id_query, parse_id
from api.schemas import RoleName
from api.problems import FieldProblem, Problem, problem_responses, validation_problem
from api.responses import list_envelope
from api.tenancy import merchant_not_found, requested_merchant
from api.state import AppState
from engine.auth import Principal
from engine.db import accounts
from engine.key_failures import KeyFailures
from engine.permissions import Role, ROLES, Permission, may_assign, may_raise_rate_limits
from engine.ratelimit import rate_limits_problems
from engine.revocation import revoke_key

_encoder = msgspec.json.Encoder()


class ApiKeyCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    role: RoleName
    name: Annotated[str, Meta(min_length=1, max_length=200)] | None = None
    expires_at: dt.datetime | None = None
    rate_limits: Annotated[
        dict[str, int], Meta(description="Per-window overrides; non-admins may only lower the defaults (1 to the default).")
    ] | None = None
    merchant_id: Annotated[str, Meta(description="Admins: the merchant the key acts for (default: the admin's own).")] | None = None


class ApiKeyView(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    object: str
    merchant_id: str
    role: Role
    name: str | None
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None
    rate_limits: dict[str, int] | None
    #: Checks that named this key with a wrong secret (kept 30 days after the latest), and the
    #: latest; null when they cannot be read right now (Redis unreachable).
    failed_attempts: int | None
    last_failed_attempt_at: dt.datetime | None
    #: Only in the response to the create request.
    key: str | None = None


class ApiKeyList(msgspec.Struct, kw_only=True):
    object: str
    data: list[ApiKeyView]
    has_more: bool


def key_view(row: Any, token: str | None = None, failures: KeyFailures | None = None, *, known: bool = True) -> ApiKeyView:
    return ApiKeyView(
        id=row.id,
        object="api_key",
        merchant_id=str(row.merchant_id),
        role=row.role,
        name=row.name,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
        rate_limits=row.rate_limits,
        failed_attempts=(failures.count if failures else 0) if known else None,
        last_failed_attempt_at=failures.last_at if failures else None,
        key=token,
    )


async def key_views(easypay: AppState, rows: list[Any]) -> list[ApiKeyView]:
    """The keys as shown, each with its failed attempts (``engine.key_failures``)."""
    failures = await easypay.key_failures.failures([row.id for row in rows])
    if failures is None:
        return [key_view(row, known=False) for row in rows]
    return [key_view(row, failures=failures.get(row.id)) for row in rows]


def _not_found() -> Problem:
    return Problem(404, "api_key_not_found", "No such API key.")


#: ``ak_`` and 16 hex digits, as keys are issued (the prefix may be left out).
KEY_ID_PATTERN = "^(ak_)?[0-9a-f]{16}$"


async def revoke_in_scope(request: Request[Any, Any, Any], easypay: AppState, principal: Principal, key_id: str) -> Any:
    """Revoke an active key the caller may manage (PostgreSQL and the Redis record); its row.
    404 when there is none in the caller's scope, 503 while Redis cannot take the revocation."""
    try:
        async with easypay.engine.begin() as conn:
            row = await revoke_key(conn, easypay.key_records, key_id=_key_id(key_id), scope=principal.scope)
    except RedisError:
        raise Problem(503, "cache_unavailable", "The key could not be revoked right now; retry shortly.") from None
    if row is None:
        raise _not_found()
    note(request, merchant_id=row.merchant_id)
    return row


async def create_in_scope(
    request: Request[Any, Any, Any], easypay: AppState, principal: Principal, data: ApiKeyCreate, conn: AsyncConnection | None = None
) -> tuple[Any, str]:
    """Mint a key as the caller may (its merchant, or for an admin the one named; never a role
    above its own; rate limits within its ceilings): the key's row and its token, shown once.
    ``conn``: mint in that transaction (the dashboard's idempotent form stores its answer beside
    the key, so a form sent twice mints once); without it, in a transaction of its own."""
    errors = []
    if data.role not in ROLES:
        errors.append(FieldProblem("role", f"Must be one of {', '.join(ROLES)}."))
    if data.rate_limits is not None:
        ceilings = None if may_raise_rate_limits(principal.role) else easypay.settings.access.default_rate_limits
        errors += [FieldProblem(f, reason) for f, reason in rate_limits_problems(data.rate_limits, ceilings=ceilings)]
    if data.expires_at is not None:
        if data.expires_at.tzinfo is None:
            errors.append(FieldProblem("expires_at", "Must include a UTC offset."))
        elif data.expires_at <= dt.datetime.now(dt.timezone.utc):
            errors.append(FieldProblem("expires_at", "Must be in the future."))
    merchant_id = principal.merchant_id
    if data.merchant_id is not None:
        merchant_id = parse_id(data.merchant_id)
        if merchant_id is None:
            errors.append(FieldProblem("merchant_id", "Must be a merchant id."))
    if errors:
        raise validation_problem(errors)
    if merchant_id is None:
        raise validation_problem([FieldProblem("merchant_id", "Required: these credentials have no merchant of their own.")])
    if not principal.may_act_for(merchant_id):
        raise merchant_not_found()
    if not may_assign(principal.role, data.role):
        raise Problem(403, "forbidden", f"These credentials may not create {data.role} keys.")
    note(request, merchant_id=merchant_id)
    if conn is not None:
        return await _mint(conn, easypay, principal, data, merchant_id)
    async with easypay.engine.begin() as own:
        return await _mint(own, easypay, principal, data, merchant_id)


async def _mint(conn: AsyncConnection, easypay: AppState, principal: Principal, data: ApiKeyCreate, merchant_id: uuid.UUID) -> tuple[Any, str]:
    if await accounts.get_merchant(conn, merchant_id) is None:
        raise merchant_not_found()
    issued = await accounts.create_api_key(
        conn,
        merchant_id=merchant_id,
        role=data.role,
        pepper=easypay.pepper,
        name=data.name,
        expires_at=data.expires_at,
        rate_limits=data.rate_limits,
        # Disabling this user revokes the key (engine.revocation.revoke_keys_created_by).
        created_by_user_id=uuid.UUID(principal.actor_id) if principal.actor_type == "user" else None,
    )
    return await accounts.get_api_key(conn, issued.key_id), issued.token


def _key_id(raw: str) -> str:
    return raw.removeprefix("ak_")


class ApiKeyController(Controller):
    path = "/v1/api-keys"
    tags = ["api keys"]

    @post(
        "/",
        status_code=201,
        summary="Create an API key",
        description="The answer holds `key` (`ak_…:sk_…`): the only time the secret is shown.",
        opt={"permission": Permission.KEYS_MANAGE},
        responses={
            201: ResponseSpec(data_container=ApiKeyView, description="The key, with `key` shown this once.", generate_examples=False),
            **problem_responses(400, 401, 403, 404, 422, 429),
        },
    )
    async def create_api_key(
        self, request: Request[Any, Any, Any], easypay: NamedDependency[AppState], data: JSONBody[ApiKeyCreate], principal: NamedDependency[Principal]
    ) -> Response[bytes]:
        row, token = await create_in_scope(request, easypay, principal, data)
        body = _encoder.encode(key_view(row, token))
        return Response(
            body,
            status_code=201,
            media_type="application/json",
            headers={"Location": f"/v1/api-keys/{row.id}", "Cache-Control": "no-store"},
        )

    @get(
        "/",
        summary="List API keys, newest first",
        opt={"permission": Permission.KEYS_MANAGE},
        responses=problem_responses(401, 403, 404, 422, 429),
    )
    async def list_api_keys(
        self,
        request: Request[Any, Any, Any],
        easypay: NamedDependency[AppState],
        principal: NamedDependency[Principal],
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        starting_after: Annotated[str | None, QueryParameter(pattern=KEY_ID_PATTERN, description="A key id: the page after it.")] = None,
        merchant_id: Annotated[str | None, id_query("Admins: one merchant's keys.")] = None,
    ) -> ApiKeyList:
        merchant_uuid = requested_merchant(principal, merchant_id) if merchant_id is not None else None
        cursor = _key_id(starting_after) if starting_after is not None else None
        async with easypay.engine.connect() as conn:
            try:
                page = await accounts.list_api_keys(
                    conn, scope=principal.scope, merchant_id=merchant_uuid, limit=limit, starting_after=cursor
                )
            except accounts.ApiKeyNotFound:
                raise validation_problem([FieldProblem("starting_after", "No such API key.")]) from None
        return list_envelope(ApiKeyList, page.with_items(await key_views(easypay, list(page.items))))

    @get(
        "/{key_id:str}",
        summary="Retrieve an API key (never its secret)",
        opt={"permission": Permission.KEYS_MANAGE},
        responses=problem_responses(401, 403, 404, 429),
    )
    async def get_api_key(
        self, request: Request[Any, Any, Any], easypay: NamedDependency[AppState], key_id: FromPath[str], principal: NamedDependency[Principal]
    ) -> ApiKeyView:
        async with easypay.engine.connect() as conn:
            row = await accounts.get_api_key(conn, _key_id(key_id), scope=principal.scope)
        if row is None:
            raise _not_found()
        return (await key_views(easypay, [row]))[0]

    @delete(
        "/{key_id:str}",
        status_code=200,
        summary="Revoke an API key",
        description="Effective on every API process within one second. Revoking twice is a 404.",
        opt={"permission": Permission.KEYS_MANAGE, "audit_action": "revoke_api_key"},
        responses=problem_responses(401, 403, 404, 429),
    )
    async def revoke_api_key(
        self, request: Request[Any, Any, Any], easypay: NamedDependency[AppState], key_id: FromPath[str], principal: NamedDependency[Principal]
    ) -> ApiKeyView:
        return (await key_views(easypay, [await revoke_in_scope(request, easypay, principal, key_id)]))[0]
