"""user token versions and API-key creators

``users.token_version`` is bumped on every change that must void a user's tokens (disable, role
or password change); tokens carry the version they were issued under, so the check needs no
Redis. ``api_keys.created_by_user_id`` names the user whose token minted a key (null for keys
made by another key or by the CLI), so disabling the user can revoke them.

Revision ID: 0007_token_version
Revises: 0006_lifecycle
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_token_version"
down_revision = "0006_lifecycle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("token_version", sa.Integer(), server_default="0", nullable=False))
    op.add_column("api_keys", sa.Column("created_by_user_id", sa.UUID(), nullable=True))
    op.create_foreign_key(
        op.f("fk_api_keys_created_by_user_id_users"), "api_keys", "users", ["created_by_user_id"], ["id"]
    )
    op.create_index(
        "ix_api_keys_created_by_user_id", "api_keys", ["created_by_user_id"], unique=False,
        postgresql_where=sa.text("created_by_user_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_api_keys_created_by_user_id", table_name="api_keys")
    op.drop_constraint(op.f("fk_api_keys_created_by_user_id_users"), "api_keys", type_="foreignkey")
    op.drop_column("api_keys", "created_by_user_id")
    op.drop_column("users", "token_version")
