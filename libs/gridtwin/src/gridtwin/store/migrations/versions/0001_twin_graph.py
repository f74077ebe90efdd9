"""Twin graph: models, twins, relationships, feeders.

Revision ID: 0001_twin_graph
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from gridtwin.store.tables import (
    ETAG_MAX,
    FEEDER_ID_MAX,
    ID_MAX,
    MODEL_MAX,
    MYSQL_TABLE_ARGS,
    NAME_MAX,
    SITE_MAX,
    json_text,
)

revision = "0001_twin_graph"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Column types are spelled out here (not taken from tables.py) so later schema edits need a new
    # revision; only the width constants and the JSON column type are shared.
    op.create_table(
        "models",
        sa.Column("dtmi", sa.String(MODEL_MAX), primary_key=True),
        sa.Column("json", json_text(), nullable=False),
        sa.Column("extends", json_text(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(), nullable=False),
        **MYSQL_TABLE_ARGS,
    )
    op.create_table(
        "twins",
        sa.Column("id", sa.String(ID_MAX), primary_key=True),
        sa.Column("model", sa.String(MODEL_MAX), nullable=False),
        sa.Column("site", sa.String(SITE_MAX), nullable=True),
        sa.Column("feeder", sa.String(FEEDER_ID_MAX), nullable=True),
        sa.Column("etag", sa.String(ETAG_MAX), nullable=False),
        sa.Column("properties", json_text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index("ix_twins_model", "twins", ["model"])
    op.create_index("ix_twins_feeder", "twins", ["feeder"])
    op.create_index("ix_twins_site", "twins", ["site"])
    op.create_table(
        "relationships",
        sa.Column("source_id", sa.String(ID_MAX), primary_key=True),
        sa.Column("id", sa.String(ID_MAX), primary_key=True),
        sa.Column("name", sa.String(NAME_MAX), nullable=False),
        sa.Column("target_id", sa.String(ID_MAX), nullable=False),
        sa.Column("etag", sa.String(ETAG_MAX), nullable=False),
        sa.Column("properties", json_text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index("ix_relationships_target", "relationships", ["target_id"])
    op.create_index("ix_relationships_source_name", "relationships", ["source_id", "name"])
    op.create_table(
        "feeders",
        sa.Column("id", sa.String(FEEDER_ID_MAX), primary_key=True),
        sa.Column("site", sa.String(SITE_MAX), nullable=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("twin_count", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index("ix_feeders_site", "feeders", ["site"])


def downgrade() -> None:
    op.drop_table("feeders")
    op.drop_table("relationships")
    op.drop_table("twins")
    op.drop_table("models")
