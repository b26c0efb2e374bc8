"""Merchants, API keys and users (SQLAlchemy Core on an ``AsyncConnection``).

``scope`` arguments follow ``Principal.scope``: a merchant id limits the query to that merchant;
None (an admin) means every merchant.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.auth import IssuedKey, hash_secret, issue_key
from engine.db.keyset import Keyset, fetch_page
from engine.db.models import ApiKey, Merchant, User
from engine.db.records import ApiKeyRecord, MerchantRecord, UserLoginRecord, UserRecord
from engine.errors import EasyPayError
from engine.pages import Page
from engine.passwords import hash_password
from engine.permissions import ROLES

merchants = Merchant.__table__
api_keys = ApiKey.__table__
users = User.__table__
KEY_ORDER = Keyset((api_keys.c.created_at, api_keys.c.id))
USER_ORDER = Keyset((users.c.created_at, users.c.id))

#: Every api_keys column except the secret hash: what listings and views read.
_KEY_COLUMNS = [c for c in api_keys.c if c.name != "secret_hash"]
_USER_COLUMNS = [c for c in users.c if c.name != "password_hash"]


async def create_merchant(conn: AsyncConnection, name: str) -> MerchantRecord:
    return MerchantRecord._make((await conn.execute(insert(merchants).values(id=uuid.uuid4(), name=name).returning(merchants))).one())


async def get_merchant(conn: AsyncConnection, merchant_id: uuid.UUID) -> MerchantRecord | None:
    row = (await conn.execute(select(merchants).where(merchants.c.id == merchant_id))).one_or_none()
    return None if row is None else MerchantRecord._make(row)


class CreatorDisabled(EasyPayError):
    """The user minting a key was disabled meanwhile (its token was still in the 1 s memory)."""


async def create_api_key(
    conn: AsyncConnection,
    *,
    merchant_id: uuid.UUID,
    role: str,
    pepper: bytes,
    name: str | None = None,
    expires_at: datetime | None = None,
    rate_limits: dict[str, int] | None = None,
    created_by_user_id: uuid.UUID | None = None,
) -> IssuedKey:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if created_by_user_id is not None:
        # FOR SHARE waits for a concurrent disable to commit and then sees it; a disable that
        # comes later waits for this transaction, and its revocation then sees the new key.
        enabled = (
            select(users.c.id)
            .where(users.c.id == created_by_user_id, users.c.disabled_at.is_(None))
            .with_for_update(read=True)
        )
        if (await conn.execute(enabled)).one_or_none() is None:
            raise CreatorDisabled(str(created_by_user_id))
    issued = issue_key()
    await conn.execute(
        insert(api_keys).values(
            id=issued.key_id,
            merchant_id=merchant_id,
            secret_hash=hash_secret(pepper, issued.secret),
            role=role,
            name=name,
            expires_at=expires_at,
            rate_limits=rate_limits,
            created_by_user_id=created_by_user_id,
        )
    )
    return issued


def _key_scope_conditions(scope: uuid.UUID | None) -> list[Any]:
    # Below admin, a merchant never sees (or revokes) admin keys, even those filed under it.
    return [] if scope is None else [api_keys.c.merchant_id == scope, api_keys.c.role != "admin"]


def _key_scope(query: Any, scope: uuid.UUID | None) -> Any:
    return query.where(*_key_scope_conditions(scope))


async def get_api_key(conn: AsyncConnection, key_id: str, *, scope: uuid.UUID | None = None) -> ApiKeyRecord | None:
    query = _key_scope(select(*_KEY_COLUMNS).where(api_keys.c.id == key_id), scope)
    row = (await conn.execute(query)).one_or_none()
    return None if row is None else ApiKeyRecord._make(row)


class ApiKeyNotFound(EasyPayError, LookupError):
    """No API key with that id in the caller's scope."""


async def list_api_keys(
    conn: AsyncConnection,
    *,
    scope: uuid.UUID | None,
    merchant_id: uuid.UUID | None = None,
    limit: int = 20,
    starting_after: str | None = None,
) -> Page[ApiKeyRecord]:
    """Newest first, keyset-paginated on ``(created_at, id)``; ``ApiKeyNotFound`` for a cursor
    (a key id, without ``ak_``) that is not a key in ``scope``."""
    in_scope = _key_scope_conditions(scope)
    conditions = list(in_scope)
    if merchant_id is not None:
        conditions.append(api_keys.c.merchant_id == merchant_id)
    return await fetch_page(
        conn,
        select(*_KEY_COLUMNS).where(*conditions),
        KEY_ORDER,
        limit=limit,
        make=ApiKeyRecord._make,
        starting_after=starting_after,
        within=in_scope,
        missing=ApiKeyNotFound,
    )


async def revoke_api_key(conn: AsyncConnection, key_id: str, *, scope: uuid.UUID | None = None) -> ApiKeyRecord | None:
    """Revoke an active key; the revoked row, or None if there is no such active key in scope.

    The caller must then call ``engine.auth.mark_revoked`` (after commit) so every API process
    stops accepting the key within a second.
    """
    query = update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
    if scope is not None:
        query = query.where(api_keys.c.merchant_id == scope, api_keys.c.role != "admin")
    row = (await conn.execute(query.values(revoked_at=func.now()).returning(*_KEY_COLUMNS))).one_or_none()
    return None if row is None else ApiKeyRecord._make(row)


async def active_key_ids_created_by(conn: AsyncConnection, user_id: uuid.UUID) -> list[str]:
    """The unrevoked keys the user's tokens minted (the revocation on disabling the user)."""
    query = select(api_keys.c.id).where(api_keys.c.created_by_user_id == user_id, api_keys.c.revoked_at.is_(None))
    return list((await conn.execute(query)).scalars())


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def create_user(
    conn: AsyncConnection, *, email: str, password: str, role: str, merchant_id: uuid.UUID | None
) -> UserRecord:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    values = {
        "id": uuid.uuid4(),
        "email": normalize_email(email),
        "password_hash": hash_password(password),
        "role": role,
        "merchant_id": merchant_id,
    }
    return UserRecord._make((await conn.execute(insert(users).values(**values).returning(*_USER_COLUMNS))).one())


async def get_user_by_email(conn: AsyncConnection, email: str) -> UserLoginRecord | None:
    """Including the password hash: for signing in only."""
    row = (await conn.execute(select(users).where(users.c.email == normalize_email(email)))).one_or_none()
    return None if row is None else UserLoginRecord._make(row)


async def get_user(conn: AsyncConnection, user_id: uuid.UUID) -> UserRecord | None:
    row = (await conn.execute(select(*_USER_COLUMNS).where(users.c.id == user_id))).one_or_none()
    return None if row is None else UserRecord._make(row)


async def current_token_version(conn: AsyncConnection, user_id: uuid.UUID) -> int | None:
    """The version a user's tokens must carry; None if the user is disabled or gone (no token valid)."""
    query = select(users.c.token_version).where(users.c.id == user_id, users.c.disabled_at.is_(None))
    return (await conn.execute(query)).scalar_one_or_none()


class UserNotFound(EasyPayError, LookupError):
    """No user with that id."""


async def list_users(
    conn: AsyncConnection, *, merchant_id: uuid.UUID | None = None, limit: int = 20, starting_after: uuid.UUID | None = None
) -> Page[UserRecord]:
    """Newest first, keyset-paginated on ``(created_at, id)``; ``UserNotFound`` for a cursor that
    names no user."""
    conditions = [] if merchant_id is None else [users.c.merchant_id == merchant_id]
    return await fetch_page(
        conn,
        select(*_USER_COLUMNS).where(*conditions),
        USER_ORDER,
        limit=limit,
        make=UserRecord._make,
        starting_after=starting_after,
        missing=UserNotFound,
    )


async def update_user(conn: AsyncConnection, user_id: uuid.UUID, **changes: Any) -> UserRecord | None:
    """Apply ``role``/``password``/``disabled`` changes; None if there is no such user.

    Any of them bumps ``token_version``, which voids every token issued before the change.
    """
    values: dict[str, Any] = {"updated_at": func.now()}
    if changes.keys() & {"role", "password", "disabled"}:
        values["token_version"] = users.c.token_version + 1
    if "role" in changes:
        values["role"] = changes["role"]
    if "password" in changes:
        values["password_hash"] = hash_password(changes["password"])
    if "disabled" in changes:
        values["disabled_at"] = func.now() if changes["disabled"] else None
    query = update(users).where(users.c.id == user_id).values(**values).returning(*_USER_COLUMNS)
    row = (await conn.execute(query)).one_or_none()
    return None if row is None else UserRecord._make(row)
