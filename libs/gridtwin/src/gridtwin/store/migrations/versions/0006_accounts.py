"""Accounts and site isolation: users, API keys, rotating refresh tokens, the append-only audit log
(triggers refuse UPDATE and DELETE on it), and a site on scenarios.

Revision ID: 0006_accounts
Revises: 0005_measurements
Create Date: 2026-12-05
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op
from gridtwin.store.tables import MYSQL_TABLE_ARGS, NAME_MAX, SITE_MAX, USERNAME_MAX, json_text
from sqlalchemy.dialects import mysql

revision = "0006_accounts"
down_revision = "0005_measurements"
branch_labels = None
depends_on = None

_NO_CHANGE = "the audit log is append-only"


def _time() -> sa.types.TypeEngine[datetime]:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.add_column("scenarios", sa.Column("site", sa.String(SITE_MAX), nullable=False, server_default=""))
    op.create_table(
        "users",
        sa.Column("username", sa.String(USERNAME_MAX), primary_key=True),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("sites_json", json_text(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", _time(), nullable=True),
        sa.Column("oidc_subject", sa.String(255), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("password_changed_at", _time(), nullable=True),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index("ix_users_oidc", "users", ["oidc_subject"], unique=True)
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("name", sa.String(NAME_MAX), nullable=False),
        sa.Column("owner", sa.String(USERNAME_MAX), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("sites_json", json_text(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("expires_at", _time(), nullable=True),
        sa.Column("last_used_at", _time(), nullable=True),
        sa.Column("revoked_at", _time(), nullable=True),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index("ix_api_keys_owner", "api_keys", ["owner"])
    op.create_table(
        "refresh_tokens",
        sa.Column("token_sha256", sa.String(64), primary_key=True),
        sa.Column("family", sa.String(32), nullable=False),
        sa.Column("username", sa.String(USERNAME_MAX), nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("issued_at", _time(), nullable=False),
        sa.Column("expires_at", _time(), nullable=False),
        sa.Column("rotated_at", _time(), nullable=True),
        sa.Column("revoked_at", _time(), nullable=True),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index("ix_refresh_family", "refresh_tokens", ["family"])
    op.create_index("ix_refresh_user", "refresh_tokens", ["username"])
    op.create_table(
        "audit_log",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("ts", _time(), nullable=False),
        sa.Column("actor", sa.String(USERNAME_MAX + 16), nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("resource", sa.String(512), nullable=False),
        sa.Column("site", sa.String(SITE_MAX), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("detail_json", json_text(), nullable=False),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index("ix_audit_ts", "audit_log", ["ts"])
    op.create_index("ix_audit_actor_ts", "audit_log", ["actor", "ts"])
    # Append-only in the database itself, not only in the API: no UPDATE, no DELETE.
    if op.get_bind().dialect.name == "sqlite":
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log "
                f"BEGIN SELECT RAISE(ABORT, '{_NO_CHANGE}'); END"
            )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log FOR EACH ROW "
                f"SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{_NO_CHANGE}'"
            )


def downgrade() -> None:
    for event in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS audit_log_no_{event}")
    op.drop_index("ix_audit_actor_ts", table_name="audit_log")
    op.drop_index("ix_audit_ts", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_refresh_user", table_name="refresh_tokens")
    op.drop_index("ix_refresh_family", table_name="refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_index("ix_api_keys_owner", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_index("ix_users_oidc", table_name="users")
    op.drop_table("users")
    op.drop_column("scenarios", "site")
