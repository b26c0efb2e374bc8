"""``POST /v1/auth/token`` (password → JWT) and ``/v1/users`` (admins manage users)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from msgspec import Meta
from redis.exceptions import RedisError
from sqlalchemy.exc import IntegrityError

from api.audit import note
from api.auth import enforce_rate_limit
from api.ids import id_query, parse_id, path_id, query_id
from api.schemas import RoleName
from api.problems import FieldProblem, Problem, as_problem, problem_responses, validation_problem
from api.responses import list_envelope
from api.state import AppState
from engine.auth import Principal
from engine.db import accounts
from engine.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, HashingBusy, password_problem
from engine.permissions import Role, PUBLIC, ROLES, Permission
from engine.revocation import revoke_keys_created_by

_encoder = msgspec.json.Encoder()
Email = Annotated[str, Meta(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]
Password = Annotated[str, Meta(min_length=1, max_length=256)]
#: A password being set: ``engine.passwords``' length rule, stated in the document (the handler
#: checks it and says so in its own words).
NewPassword = Annotated[
    str, Meta(min_length=1, max_length=256, extra_json_schema={"extra": {"minLength": MIN_PASSWORD_LENGTH, "maxLength": MAX_PASSWORD_LENGTH}})
]


class TokenRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    email: Email
    password: Password


class TokenResponse(msgspec.Struct, kw_only=True):
    access_token: str
    token_type: str
    expires_in: int


class UserCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    email: Email
    password: NewPassword
    role: RoleName
    merchant_id: str | None = None


class UserUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    role: RoleName | None = None
    password: NewPassword | None = None
    disabled: bool | None = None


class UserView(msgspec.Struct, kw_only=True):
    id: str
    object: str
    email: str
    role: Role
    merchant_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    disabled_at: dt.datetime | None


class UserList(msgspec.Struct, kw_only=True):
    object: str
    data: list[UserView]
    has_more: bool


def user_view(row: Any) -> UserView:
    return UserView(
        id=str(row.id),
        object="user",
        email=row.email,
        role=row.role,
        merchant_id=str(row.merchant_id) if row.merchant_id else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
        disabled_at=row.disabled_at,
    )


def _not_found() -> Problem:
    return Problem(404, "user_not_found", "No such user.")


def _user_id(raw: str) -> uuid.UUID:
    return path_id(raw, _not_found())


@post(
    "/v1/auth/token",
    status_code=200,
    summary="Exchange an email and password for an access token (JWT, HS256)",
    description="Send the token as `Authorization: Bearer <token>`; it expires after `expires_in` seconds.",
    tags=["auth"],
    opt={"permission": PUBLIC, "audit_action": "issue_token", "audit_object": "user"},
    responses={
        200: ResponseSpec(data_container=TokenResponse, description="The access token.", generate_examples=False),
        **problem_responses(400, 401, 422, 429),
    },
)
async def issue_token(request: Request[Any, Any, Any], easypay: NamedDependency[AppState], data: JSONBody[TokenRequest]) -> Response[bytes]:
    row = await check_sign_in(request, easypay, data.email, data.password)
    issued = easypay.tokens.issue(
        user_id=row.id, merchant_id=row.merchant_id, role=row.role, version=row.token_version
    )
    body = _encoder.encode(TokenResponse(access_token=issued.token, token_type="Bearer", expires_in=issued.expires_in_s))
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})


async def check_sign_in(request: Request[Any, Any, Any], easypay: AppState, email: str, password: str) -> Any:
    """An e-mail and password checked as every sign-in is (the token route and the dashboard's):
    the login rate limits (429), one password hash (503 ``busy`` when no slot is free), then the
    user's row, or ``NotAuthorizedException`` for a wrong password, an unknown or disabled user.
    The audit trail sees the e-mail presented and, on success, the user."""
    normalized = accounts.normalize_email(email)
    request.scope["state"]["presented_actor"] = ("user", normalized)
    await _limit_logins(request, easypay, normalized)
    async with easypay.engine.connect() as conn:
        row = await accounts.get_user_by_email(conn, email)
    try:
        valid = await easypay.password_hashing.verify(row.password_hash if row else None, password)
    except HashingBusy as exc:  # a Problem here: the dashboard's sign-in form shows it on the form
        raise as_problem(exc) from None
    if row is None or not valid or row.disabled_at is not None:
        raise NotAuthorizedException()
    request.scope["state"]["principal"] = Principal("user", str(row.id), row.merchant_id, row.role)
    note(request, object_id=str(row.id))
    return row


async def _limit_logins(request: Request[Any, Any, Any], easypay: AppState, email: str) -> None:
    """Per e-mail and for all e-mails together, on top of the per-address limit every public route
    has: each attempt costs a password hash, and guessing one user's password from many addresses
    must be as slow as from one. The e-mail is keyed by its HMAC, never stored in Redis."""
    access = easypay.settings.access
    limiter = easypay.abuse_limiter
    email_id = hmac.new(easypay.pepper, email.encode(), hashlib.sha256).hexdigest()[:32]
    await enforce_rate_limit(request, f"login_email:{email_id}", {"minute": access.login_per_minute_per_email}, limiter)
    await enforce_rate_limit(request, "login:all", {"minute": access.login_per_minute}, limiter)


class UserController(Controller):
    path = "/v1/users"
    tags = ["users"]
    opt = {"permission": Permission.USERS_MANAGE}

    @post(
        "/",
        status_code=201,
        summary="Create a user",
        responses={
            201: ResponseSpec(data_container=UserView, description="The user.", generate_examples=False),
            **problem_responses(400, 401, 403, 404, 409, 422, 429),
        },
    )
    async def create_user(
        self, request: Request[Any, Any, Any], easypay: NamedDependency[AppState], data: JSONBody[UserCreate], principal: NamedDependency[Principal]
    ) -> Response[bytes]:
        errors = []
        if data.role not in ROLES:
            errors.append(FieldProblem("role", f"Must be one of {', '.join(ROLES)}."))
        if problem := password_problem(data.password):
            errors.append(FieldProblem("password", problem))
        merchant_id = None
        if data.merchant_id is not None:
            merchant_id = parse_id(data.merchant_id)
            if merchant_id is None:
                errors.append(FieldProblem("merchant_id", "Must be a merchant id."))
        elif data.role != "admin":
            errors.append(FieldProblem("merchant_id", "Required unless the role is admin."))
        if errors:
            raise validation_problem(errors)
        note(request, merchant_id=merchant_id)
        try:
            async with easypay.engine.begin() as conn:
                if merchant_id is not None and await accounts.get_merchant(conn, merchant_id) is None:
                    raise Problem(404, "merchant_not_found", "No such merchant.")
                row = await accounts.create_user(
                    conn, email=data.email, password=data.password, role=data.role, merchant_id=merchant_id
                )
        except IntegrityError:
            raise Problem(409, "email_taken", "A user with this email exists.", errors=[FieldProblem("email", "Already in use.")]) from None
        return Response(
            _encoder.encode(user_view(row)),
            status_code=201,
            media_type="application/json",
            headers={"Location": f"/v1/users/{row.id}"},
        )

    @get("/", summary="List users, newest first", responses=problem_responses(401, 403, 422, 429))
    async def list_users(
        self,
        easypay: NamedDependency[AppState],
        principal: NamedDependency[Principal],
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        starting_after: Annotated[str | None, id_query("A user id: the page after it.")] = None,
        merchant_id: Annotated[str | None, id_query("Admins: one merchant's users.")] = None,
    ) -> UserList:
        merchant_uuid = query_id("merchant_id", merchant_id, "a merchant id")
        cursor = parse_id(starting_after) if starting_after is not None else None
        if starting_after is not None and cursor is None:
            raise validation_problem([FieldProblem("starting_after", "No such user.")])
        async with easypay.engine.connect() as conn:
            try:
                page = await accounts.list_users(conn, merchant_id=merchant_uuid, limit=limit, starting_after=cursor)
            except accounts.UserNotFound:
                raise validation_problem([FieldProblem("starting_after", "No such user.")]) from None
        return list_envelope(UserList, page.map(user_view))

    @get("/{user_id:str}", summary="Retrieve a user", responses=problem_responses(401, 403, 404, 429))
    async def get_user(
        self, easypay: NamedDependency[AppState], user_id: FromPath[str], principal: NamedDependency[Principal]
    ) -> UserView:
        async with easypay.engine.connect() as conn:
            row = await accounts.get_user(conn, _user_id(user_id))
        if row is None:
            raise _not_found()
        return user_view(row)

    @patch(
        "/{user_id:str}",
        summary="Change a user's role or password, or disable / re-enable the user",
        description=(
            "A role or password change or a disable voids the user's tokens on every API process within one second; "
            "disabling also revokes the API keys the user's tokens created (re-enabling does not restore them)."
        ),
        responses=problem_responses(400, 401, 403, 404, 422, 429, 503),
    )
    async def update_user(
        self,
        request: Request[Any, Any, Any],
        easypay: NamedDependency[AppState],
        user_id: FromPath[str],
        data: JSONBody[UserUpdate],
        principal: NamedDependency[Principal],
    ) -> UserView:
        uid = _user_id(user_id)
        errors = []
        changes: dict[str, Any] = {}
        if data.role is not None:
            if data.role not in ROLES:
                errors.append(FieldProblem("role", f"Must be one of {', '.join(ROLES)}."))
            changes["role"] = data.role
        if data.password is not None:
            if problem := password_problem(data.password):
                errors.append(FieldProblem("password", problem))
            changes["password"] = data.password
        if data.disabled is not None:
            changes["disabled"] = data.disabled
        if errors:
            raise validation_problem(errors)
        try:
            # update_user bumps token_version: tokens issued before stop working (engine.token_versions).
            async with easypay.engine.begin() as conn:
                row = await accounts.update_user(conn, uid, **changes)
                if row is None:
                    raise _not_found()
                note(request, merchant_id=row.merchant_id)
                if changes.get("disabled"):
                    await revoke_keys_created_by(conn, easypay.key_records, user_id=uid)
        except IntegrityError:
            raise validation_problem([FieldProblem("role", "Non-admin users need a merchant.")]) from None
        except RedisError:
            raise Problem(
                503, "cache_unavailable", "The user's API keys could not be revoked right now; retry shortly.",
                headers={"Retry-After": "1"},
            ) from None
        easypay.token_versions.forget(uid)
        return user_view(row)
