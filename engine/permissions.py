"""Roles and what each may do: the one table every route's ``permission`` is checked against."""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    PAYMENTS_READ = "payments:read"
    PAYMENTS_WRITE = "payments:write"
    PAYMENTS_REFUND = "payments:refund"
    #: See endpoints and their deliveries.
    WEBHOOKS_READ = "webhooks:read"
    #: Send events again to endpoints as they are (resend, recover).
    WEBHOOKS_RESEND = "webhooks:resend"
    #: Decide where events go and how they are signed: create, change, delete, rotate the secret.
    WEBHOOKS_MANAGE = "webhooks:manage"
    KEYS_MANAGE = "keys:manage"
    AUDIT_READ = "audit:read"
    USERS_MANAGE = "users:manage"


#: Declared by the few routes that need no credentials (``POST /v1/auth/token``).
PUBLIC = "public"

ROLES = ("admin", "merchant", "developer", "viewer")
#: The roles as a type, so documents (OpenAPI) can list them.
# mypy reads an enum's members only from a literal list: here they come from ROLES.
Role = StrEnum("Role", {role.upper(): role for role in ROLES})  # type: ignore[misc]

ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    # Everything, across every merchant.
    "admin": frozenset(Permission),
    # Its own merchant: payments, refunds, webhooks, keys and the audit trail.
    "merchant": frozenset(
        {
            Permission.PAYMENTS_READ,
            Permission.PAYMENTS_WRITE,
            Permission.PAYMENTS_REFUND,
            Permission.WEBHOOKS_READ,
            Permission.WEBHOOKS_RESEND,
            Permission.WEBHOOKS_MANAGE,
            Permission.KEYS_MANAGE,
            Permission.AUDIT_READ,
        }
    ),
    # Builds the integration: no webhooks:manage, so it can neither point the merchant's events at
    # another address nor rotate (or cut short) the secret receivers verify them with.
    "developer": frozenset(
        {Permission.PAYMENTS_READ, Permission.PAYMENTS_WRITE, Permission.WEBHOOKS_READ, Permission.WEBHOOKS_RESEND}
    ),
    "viewer": frozenset({Permission.PAYMENTS_READ}),
}

#: Roles a holder of ``keys:manage`` may hand out: never more than it has itself.
ASSIGNABLE_ROLES: dict[str, frozenset[str]] = {
    "admin": frozenset(ROLES),
    "merchant": frozenset({"merchant", "developer", "viewer"}),
}


#: Roles that may give a key limits above the defaults, or none on a window (0); every other
#: holder of ``keys:manage`` may only lower them, so it cannot mint an unthrottled key.
RAISES_RATE_LIMITS = frozenset({"admin"})


def role_allows(role: str, permission: str) -> bool:
    return permission in ROLE_PERMISSIONS.get(role, frozenset())


def may_assign(role: str, new_role: str) -> bool:
    return new_role in ASSIGNABLE_ROLES.get(role, frozenset())


def may_raise_rate_limits(role: str) -> bool:
    return role in RAISES_RATE_LIMITS
