"""``easypay merchants``, ``keys`` and ``users``: who may call the API."""

from __future__ import annotations

from typing import Any, Awaitable

import click

from easypay.cli.common import emit, in_transaction, json_option, parse_merchant_id
from engine.settings import Settings


@click.group()
def merchants() -> None:
    """Merchants."""


@merchants.command("create")
@click.option("--name", required=True)
@json_option
def merchants_create(name: str, as_json: bool) -> None:
    from engine.db.accounts import create_merchant

    row = in_transaction(lambda conn, settings: create_merchant(conn, name))
    emit(as_json, {"id": str(row.id), "name": row.name}, str(row.id))


def cli_audit(conn: Any, action: str, object_type: str, object_id: str, merchant_id: Any = None) -> Awaitable[None]:
    """Key and user changes made from the command line are audited too (actor ``cli``)."""
    import getpass

    from engine.audit import AuditEntry, write_entries

    entry = AuditEntry(
        actor_type="cli",
        actor_id=getpass.getuser(),
        action=action,
        outcome="success",
        object_type=object_type,
        object_id=object_id,
        merchant_id=merchant_id,
    )
    return write_entries(conn, [entry])


ROLE_CHOICE = click.Choice(["admin", "merchant", "developer", "viewer"])


@click.group()
def keys() -> None:
    """API keys: create, list, revoke."""


@keys.command("create")
@click.option("--merchant", "merchant_id", required=True, help="Merchant id.")
@click.option("--role", type=ROLE_CHOICE, default="merchant", show_default=True)
@click.option("--name", default=None)
@click.option("--expires-at", type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"]), default=None,
              help="Expiry (UTC if no offset).")
@click.option("--rate-limit", "rate_limits", multiple=True, metavar="WINDOW=N",
              help="Override a default rate limit, e.g. --rate-limit minute=500 (0: no limit). Repeatable.")
@json_option
def keys_create(
    merchant_id: str, role: str, name: str | None, expires_at: Any, rate_limits: tuple[str, ...], as_json: bool
) -> None:
    """Create a key; the secret is printed once and cannot be shown again."""
    import datetime as dt

    from engine.auth import derive_pepper
    from engine.db.accounts import create_api_key, get_merchant
    from engine.ratelimit import rate_limits_problems

    merchant_uuid = parse_merchant_id(merchant_id)
    overrides: dict[str, int] | None = None
    if rate_limits:
        try:
            overrides = {w: int(n) for w, n in (item.split("=", 1) for item in rate_limits)}
        except ValueError:
            raise click.BadParameter("use WINDOW=N, e.g. minute=500", param_hint="--rate-limit") from None
        if problems := rate_limits_problems(overrides):
            raise click.BadParameter("; ".join(f"{field}: {reason}" for field, reason in problems), param_hint="--rate-limit")
    if expires_at is not None and expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=dt.timezone.utc)

    async def create(conn: Any, settings: Settings) -> Any:
        if await get_merchant(conn, merchant_uuid) is None:
            raise click.ClickException(f"no merchant {merchant_id}")
        issued = await create_api_key(
            conn, merchant_id=merchant_uuid, role=role, pepper=derive_pepper(settings.secret_key), name=name,
            expires_at=expires_at, rate_limits=overrides,
        )
        await cli_audit(conn, "create_api_key", "api_key", issued.key_id, merchant_uuid)
        return issued

    issued = in_transaction(create)
    emit(
        as_json,
        {"id": issued.key_id, "key": issued.token, "role": role, "merchant_id": merchant_id},
        issued.token,
    )


@keys.command("list")
@click.option("--merchant", "merchant_id", default=None, help="Only this merchant's keys.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@json_option
def keys_list(merchant_id: str | None, limit: int, as_json: bool) -> None:
    """List keys (never their secrets), newest first."""
    from engine.db.accounts import list_api_keys

    merchant_uuid = parse_merchant_id(merchant_id) if merchant_id else None

    async def fetch(conn: Any, settings: Settings) -> Any:
        return (await list_api_keys(conn, scope=None, merchant_id=merchant_uuid, limit=limit)).items

    rows = in_transaction(fetch)

    def when(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    document = {
        "data": [
            {
                "id": r.id, "merchant_id": str(r.merchant_id), "role": r.role, "name": r.name,
                "created_at": when(r.created_at), "expires_at": when(r.expires_at),
                "revoked_at": when(r.revoked_at), "last_used_at": when(r.last_used_at),
                "rate_limits": r.rate_limits,
            }
            for r in rows
        ]
    }
    lines = [
        f"{r.id}  {r.role:9s} {r.merchant_id}  {'revoked' if r.revoked_at else 'active '}  "
        f"last used {when(r.last_used_at) or 'never'}  {r.name or ''}"
        for r in rows
    ]
    emit(as_json, document, "\n".join(lines) or "no keys")


@keys.command("revoke")
@click.argument("key_id")
@json_option
def keys_revoke(key_id: str, as_json: bool) -> None:
    """Revoke a key: every API process refuses it within a second."""
    from redis.asyncio import Redis

    from engine.auth import KeyRecords, derive_record_key
    from engine.revocation import revoke_key

    key_id = key_id.removeprefix("ak_").split(":")[0]

    async def revoke(conn: Any, settings: Settings) -> Any:
        redis = Redis.from_url(settings.redis.cache_url)
        try:
            records = KeyRecords(redis, prefix=settings.redis.key_prefix, mac_key=derive_record_key(settings.secret_key))
            row = await revoke_key(conn, records, key_id=key_id)
        finally:
            await redis.aclose()
        if row is not None:
            await cli_audit(conn, "revoke_api_key", "api_key", key_id, row.merchant_id)
        return row

    if in_transaction(revoke) is None:
        raise click.ClickException(f"no active key {key_id}")
    emit(as_json, {"id": key_id, "revoked": True}, f"revoked {key_id}")


@click.group()
def users() -> None:
    """Users who sign in with a password (POST /v1/auth/token)."""


@users.command("create")
@click.option("--email", required=True)
@click.option("--role", type=ROLE_CHOICE, required=True)
@click.option("--merchant", "merchant_id", default=None, help="Merchant id (required unless --role admin).")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="Prompted for when omitted; or set EASYPAY_USER_PASSWORD.", envvar="EASYPAY_USER_PASSWORD")
@json_option
def users_create(email: str, role: str, merchant_id: str | None, password: str, as_json: bool) -> None:
    """Create a user (the password is stored only as an argon2id hash)."""
    from sqlalchemy.exc import IntegrityError

    from engine.db.accounts import create_user, get_merchant
    from engine.passwords import password_problem

    if problem := password_problem(password):
        raise click.BadParameter(problem, param_hint="--password")
    if merchant_id is None and role != "admin":
        raise click.BadParameter("required unless --role admin", param_hint="--merchant")
    merchant_uuid = parse_merchant_id(merchant_id) if merchant_id else None

    async def create(conn: Any, settings: Settings) -> Any:
        if merchant_uuid is not None and await get_merchant(conn, merchant_uuid) is None:
            raise click.ClickException(f"no merchant {merchant_id}")
        row = await create_user(conn, email=email, password=password, role=role, merchant_id=merchant_uuid)
        await cli_audit(conn, "create_user", "user", str(row.id), merchant_uuid)
        return row

    try:
        row = in_transaction(create)
    except IntegrityError:
        raise click.ClickException(f"a user with email {email} exists") from None
    emit(
        as_json,
        {"id": str(row.id), "email": row.email, "role": row.role, "merchant_id": merchant_id},
        str(row.id),
    )


@users.command("list")
@click.option("--merchant", "merchant_id", default=None)
@json_option
def users_list(merchant_id: str | None, as_json: bool) -> None:
    """List users, newest first."""
    from engine.db.accounts import list_users

    merchant_uuid = parse_merchant_id(merchant_id) if merchant_id else None
    async def fetch(conn: Any, settings: Settings) -> Any:
        return (await list_users(conn, merchant_id=merchant_uuid, limit=1000)).items

    rows = in_transaction(fetch)
    document = {
        "data": [
            {"id": str(r.id), "email": r.email, "role": r.role,
             "merchant_id": str(r.merchant_id) if r.merchant_id else None, "disabled": r.disabled_at is not None}
            for r in rows
        ]
    }
    lines = [f"{r.id}  {r.email}  {r.role}  {'disabled' if r.disabled_at else ''}" for r in rows]
    emit(as_json, document, "\n".join(lines) or "no users")
