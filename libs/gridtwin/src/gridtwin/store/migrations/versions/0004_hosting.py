"""Hosting capacity results: per bus, and stochastic summaries per job and feeder.

Revision ID: 0004_hosting
Revises: 0003_scenarios
Create Date: 2026-11-22
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op
from gridtwin.store.tables import (
    FEEDER_ID_MAX,
    JOB_ID_MAX,
    MYSQL_TABLE_ARGS,
    NAME_MAX,
    VERSION_MAX,
    json_text,
)
from sqlalchemy.dialects import mysql

revision = "0004_hosting"
down_revision = "0003_scenarios"
branch_labels = None
depends_on = None


def _time() -> sa.types.TypeEngine[datetime]:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "hosting_bus_results",
        sa.Column("feeder", sa.String(FEEDER_ID_MAX), primary_key=True),
        sa.Column("der", sa.String(16), primary_key=True),
        sa.Column("inverter", sa.String(16), primary_key=True),
        sa.Column("bus", sa.String(NAME_MAX), primary_key=True),
        sa.Column("version", sa.String(VERSION_MAX), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("phases", sa.Integer()),
        sa.Column("kv_base", sa.Double()),
        sa.Column("x", sa.Double()),
        sa.Column("y", sa.Double()),
        sa.Column("capacity_kw", sa.Double()),
        sa.Column("limiting_criterion", sa.String(64)),
        sa.Column("limiting_element", sa.String(NAME_MAX)),
        sa.Column("limiting_snapshot", sa.String(64)),
        sa.Column("base_ok", sa.Boolean()),
        sa.Column("verified", sa.Boolean()),
        sa.Column("error_pct", sa.Double()),
        sa.Column("computed_at", _time(), nullable=False),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index(
        "ix_hosting_bus_results_capacity", "hosting_bus_results", ["feeder", "der", "inverter", "capacity_kw"]
    )
    op.create_table(
        "hosting_stochastic_results",
        sa.Column("job_id", sa.String(JOB_ID_MAX), primary_key=True),
        sa.Column("feeder", sa.String(FEEDER_ID_MAX), primary_key=True),
        sa.Column("placement", sa.String(16), nullable=False),
        sa.Column("peak_load_kw", sa.Double()),
        sa.Column("samples", sa.Integer()),
        sa.Column("failed_samples", sa.Integer()),
        sa.Column("p5_kw", sa.Double()),
        sa.Column("mean_kw", sa.Double()),
        sa.Column("p95_kw", sa.Double()),
        sa.Column("summary", json_text(), nullable=False),
        **MYSQL_TABLE_ARGS,
    )


def downgrade() -> None:
    op.drop_table("hosting_stochastic_results")
    op.drop_index("ix_hosting_bus_results_capacity", table_name="hosting_bus_results")
    op.drop_table("hosting_bus_results")
