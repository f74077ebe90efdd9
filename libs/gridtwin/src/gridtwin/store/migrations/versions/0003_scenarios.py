"""Scenarios and sweeps; reverse power flow in the QSTS feeder summary.

Revision ID: 0003_scenarios
Revises: 0002_jobs_and_results
Create Date: 2026-11-22
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op
from gridtwin.store.tables import MYSQL_TABLE_ARGS, SCENARIO_ID_MAX, SCENARIO_NAME_MAX, json_text
from sqlalchemy.dialects import mysql

revision = "0003_scenarios"
down_revision = "0002_jobs_and_results"
branch_labels = None
depends_on = None


def _time() -> sa.types.TypeEngine[datetime]:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.add_column("qsts_feeder_results", sa.Column("min_source_kw", sa.Double()))
    op.add_column("qsts_feeder_results", sa.Column("reverse_flow_hours", sa.Double()))
    op.create_table(
        "scenarios",
        sa.Column("id", sa.String(SCENARIO_ID_MAX), primary_key=True),
        sa.Column("name", sa.String(SCENARIO_NAME_MAX), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("body", json_text(), nullable=False),
        sa.Column("source_text", json_text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        **MYSQL_TABLE_ARGS,
    )
    op.create_table(
        "scenario_sweeps",
        sa.Column("id", sa.String(SCENARIO_ID_MAX), primary_key=True),
        sa.Column("scenario_id", sa.String(SCENARIO_ID_MAX), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("spec", json_text(), nullable=False),
        sa.Column("samples", json_text(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index("ix_scenario_sweeps_scenario", "scenario_sweeps", ["scenario_id"])


def downgrade() -> None:
    op.drop_index("ix_scenario_sweeps_scenario", table_name="scenario_sweeps")
    op.drop_table("scenario_sweeps")
    op.drop_table("scenarios")
    op.drop_column("qsts_feeder_results", "reverse_flow_hours")
    op.drop_column("qsts_feeder_results", "min_source_kw")
