"""Utility measurements in: import records, the AMI meter directory and its overrides, measured load
summaries, and outage records.

Revision ID: 0005_measurements
Revises: 0004_hosting
Create Date: 2026-12-01
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op
from gridtwin.store.tables import (
    FEEDER_ID_MAX,
    ID_MAX,
    IMPORT_ID_MAX,
    MYSQL_TABLE_ARGS,
    NAME_MAX,
    SITE_MAX,
    STATUS_MAX,
    json_text,
)
from sqlalchemy.dialects import mysql

revision = "0005_measurements"
down_revision = "0004_hosting"
branch_labels = None
depends_on = None


def _time() -> sa.types.TypeEngine[datetime]:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "imports",
        sa.Column("id", sa.String(IMPORT_ID_MAX), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("site", sa.String(SITE_MAX), nullable=False),
        sa.Column("status", sa.String(STATUS_MAX), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("params_json", json_text(), nullable=False),
        sa.Column("progress_json", json_text(), nullable=False),
        sa.Column("report_json", json_text(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("finished_at", _time(), nullable=True),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index("ix_imports_kind_created", "imports", ["kind", "created_at"])
    op.create_table(
        "ami_meters",
        sa.Column("site", sa.String(SITE_MAX), primary_key=True),
        sa.Column("meter_id", sa.String(NAME_MAX), primary_key=True),
        sa.Column("feeder", sa.String(FEEDER_ID_MAX), nullable=False),
        sa.Column("load", sa.String(NAME_MAX), nullable=False),
        sa.Column("transformer", sa.String(NAME_MAX), nullable=False),
        sa.Column("bus", sa.String(NAME_MAX), nullable=False),
        sa.Column("phases", sa.String(8), nullable=False),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("generating", sa.Boolean(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("customer_class", sa.Integer(), nullable=True),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("confidence", sa.String(8), nullable=False),
        sa.Column("reasons_json", json_text(), nullable=False),
        sa.Column("import_id", sa.String(IMPORT_ID_MAX), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index("ix_ami_meters_feeder", "ami_meters", ["site", "feeder"])
    op.create_table(
        "ami_meter_overrides",
        sa.Column("site", sa.String(SITE_MAX), primary_key=True),
        sa.Column("meter_id", sa.String(NAME_MAX), primary_key=True),
        sa.Column("feeder", sa.String(FEEDER_ID_MAX), nullable=False),
        sa.Column("transformer", sa.String(NAME_MAX), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        **MYSQL_TABLE_ARGS,
    )
    op.create_table(
        "ami_load_summary",
        sa.Column("feeder", sa.String(FEEDER_ID_MAX), primary_key=True),
        sa.Column("year", sa.Integer(), primary_key=True),
        sa.Column("site", sa.String(SITE_MAX), nullable=False),
        sa.Column("meters", sa.Integer(), nullable=False),
        sa.Column("transformers", sa.Integer(), nullable=False),
        sa.Column("energy_kwh", sa.Double()),
        sa.Column("peak_kw", sa.Double()),
        sa.Column("peak_utc", _time(), nullable=True),
        sa.Column("load_factor", sa.Double()),
        sa.Column("coincidence_factor", sa.Double()),
        sa.Column("coverage", sa.Double()),
        sa.Column("head_energy_kwh", sa.Double()),
        sa.Column("head_ratio", sa.Double()),
        sa.Column("summary_json", json_text(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        **MYSQL_TABLE_ARGS,
    )
    op.create_table(
        "outages",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("import_id", sa.String(IMPORT_ID_MAX), nullable=False),
        sa.Column("site", sa.String(SITE_MAX), nullable=False),
        sa.Column("feeder", sa.String(FEEDER_ID_MAX), nullable=False),
        sa.Column("outage_id", sa.String(NAME_MAX), nullable=False),
        sa.Column("device", sa.String(NAME_MAX), nullable=False),
        sa.Column("device_twin", sa.String(ID_MAX), nullable=False),
        sa.Column("start_utc", _time(), nullable=False),
        sa.Column("end_utc", _time(), nullable=False),
        sa.Column("duration_min", sa.Double(), nullable=False),
        sa.Column("cause_code", sa.String(64), nullable=False),
        sa.Column("cause", sa.String(NAME_MAX), nullable=False),
        sa.Column("customers_interrupted", sa.BigInteger(), nullable=False),
        sa.Column("customer_minutes", sa.Double(), nullable=False),
        sa.Column("momentary", sa.Boolean(), nullable=False),
        sa.Column("src", sa.String(512), nullable=False),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index("ix_outages_site_feeder_start", "outages", ["site", "feeder", "start_utc"])
    op.create_index("ix_outages_import", "outages", ["import_id"])


def downgrade() -> None:
    op.drop_index("ix_outages_import", table_name="outages")
    op.drop_index("ix_outages_site_feeder_start", table_name="outages")
    op.drop_table("outages")
    op.drop_table("ami_load_summary")
    op.drop_table("ami_meter_overrides")
    op.drop_index("ix_ami_meters_feeder", table_name="ami_meters")
    op.drop_table("ami_meters")
    op.drop_index("ix_imports_kind_created", table_name="imports")
    op.drop_table("imports")
