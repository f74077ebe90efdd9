"""The SQL schema (SQLAlchemy Core tables). Alembic migrations under ``migrations/`` create exactly this.

JSON documents are stored as text that we serialise ourselves (``json_text``): exports then read the raw
strings straight into Arrow without a decode/encode round trip, and queries view the same column through
SQLAlchemy's ``JSON`` type (``type_coerce``) so property filters run in SQL on SQLite and MySQL alike.
On MySQL every table uses ``utf8mb4_bin`` so ids and string filters compare case-sensitively, as on SQLite.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.dialects import mysql

__all__ = [
    "FEEDER_ID_MAX",
    "ID_MAX",
    "MODEL_MAX",
    "NAME_MAX",
    "SITE_MAX",
    "feeders",
    "json_text",
    "metadata",
    "models",
    "relationships",
    "twins",
]

# Column widths; the registry checks input against them so the database never truncates or errors.
ID_MAX = 255
MODEL_MAX = 512
NAME_MAX = 255
SITE_MAX = 128
FEEDER_ID_MAX = 64
ETAG_MAX = 64

MYSQL_TABLE_ARGS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}

metadata = MetaData()


def json_text() -> Text:
    """A JSON document column: TEXT on SQLite, LONGTEXT on MySQL (TEXT there stops at 64 KiB)."""
    return Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


models = Table(
    "models",
    metadata,
    Column("dtmi", String(MODEL_MAX), primary_key=True),
    Column("json", json_text(), nullable=False),
    Column("extends", json_text(), nullable=False),  # JSON list of DTMIs
    Column("uploaded_at", DateTime(timezone=False), nullable=False),
    **MYSQL_TABLE_ARGS,
)

twins = Table(
    "twins",
    metadata,
    Column("id", String(ID_MAX), primary_key=True),
    Column("model", String(MODEL_MAX), nullable=False),
    Column("site", String(SITE_MAX), nullable=True),
    Column("feeder", String(FEEDER_ID_MAX), nullable=True),
    Column("etag", String(ETAG_MAX), nullable=False),
    # The document less $dtId, $etag, site, feeder and $metadata.$model.
    Column("properties", json_text(), nullable=False),
    Column("updated_at", DateTime(timezone=False), nullable=False),
    Index("ix_twins_model", "model"),
    Index("ix_twins_feeder", "feeder"),
    Index("ix_twins_site", "site"),
    **MYSQL_TABLE_ARGS,
)

# Relationship ids are unique per source twin (as in Azure Digital Twins), hence the composite key.
# No foreign keys: bulk loads insert relationships whose twins arrive in the same batch, and the
# registry deletes a twin's relationships itself.
relationships = Table(
    "relationships",
    metadata,
    Column("source_id", String(ID_MAX), primary_key=True),
    Column("id", String(ID_MAX), primary_key=True),
    Column("name", String(NAME_MAX), nullable=False),
    Column("target_id", String(ID_MAX), nullable=False),
    Column("etag", String(ETAG_MAX), nullable=False),
    Column("properties", json_text(), nullable=False),
    Column("updated_at", DateTime(timezone=False), nullable=False),
    Index("ix_relationships_target", "target_id"),
    Index("ix_relationships_source_name", "source_id", "name"),
    **MYSQL_TABLE_ARGS,
)

# One row per feeder ever seen; kept (twin_count 0) after a feeder is deleted so its version counter
# never goes back and a cached (feeder, version) pair can never name two different contents.
feeders = Table(
    "feeders",
    metadata,
    Column("id", String(FEEDER_ID_MAX), primary_key=True),
    Column("site", String(SITE_MAX), nullable=True),
    Column("version", BigInteger, nullable=False),
    Column("twin_count", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=False), nullable=False),
    Index("ix_feeders_site", "site"),
    **MYSQL_TABLE_ARGS,
)
