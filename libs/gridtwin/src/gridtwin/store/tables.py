"""The SQL schema (SQLAlchemy Core tables). Alembic migrations under ``migrations/`` create exactly this.

JSON documents are stored as text that we serialise ourselves (``json_text``): exports then read the raw
strings straight into Arrow without a decode/encode round trip, and queries view the same column through
SQLAlchemy's ``JSON`` type (``type_coerce``) so property filters run in SQL on SQLite and MySQL alike.
On MySQL every table uses ``utf8mb4_bin`` so ids and string filters compare case-sensitively, as on SQLite.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects import mysql

__all__ = [
    "ELEMENT_KIND_MAX",
    "ELEMENT_RESULT_COLUMNS",
    "FEEDER_ID_MAX",
    "FEEDER_RESULT_COLUMNS",
    "ID_MAX",
    "IMPORT_ID_MAX",
    "JOB_ID_MAX",
    "JOB_KIND_MAX",
    "MODEL_MAX",
    "NAME_MAX",
    "SCENARIO_ID_MAX",
    "SCENARIO_NAME_MAX",
    "SITE_MAX",
    "STATUS_MAX",
    "TASK_KEY_MAX",
    "USERNAME_MAX",
    "VERSION_MAX",
    "WORKER_MAX",
    "ami_load_summary",
    "ami_meter_overrides",
    "ami_meters",
    "api_keys",
    "audit_log",
    "feeders",
    "hosting_bus_results",
    "hosting_stochastic_results",
    "imports",
    "job_tasks",
    "jobs",
    "json_text",
    "metadata",
    "models",
    "outages",
    "qsts_element_results",
    "qsts_feeder_results",
    "real",
    "refresh_tokens",
    "relationships",
    "scenario_sweeps",
    "scenarios",
    "twins",
    "users",
    "utc_time",
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


# --- Jobs and QSTS results (migration 0002) ---------------------------------------------------------

JOB_ID_MAX = 64
JOB_KIND_MAX = 64
STATUS_MAX = 16
TASK_KEY_MAX = 255
WORKER_MAX = 255
VERSION_MAX = 64
ELEMENT_KIND_MAX = 32


def utc_time() -> DateTime:
    """A naive-UTC timestamp with microseconds: plain DATETIME on MySQL keeps whole seconds only, which
    would tie jobs created in the same second (list order) and drop sub-second task times."""
    return DateTime(timezone=False).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def real() -> Double[float]:
    """A double-precision float: SQLAlchemy's ``Float`` is single precision (FLOAT) on MySQL."""
    return Double()


jobs = Table(
    "jobs",
    metadata,
    Column("id", String(JOB_ID_MAX), primary_key=True),
    Column("kind", String(JOB_KIND_MAX), nullable=False),
    Column("status", String(STATUS_MAX), nullable=False),
    Column("site", String(SITE_MAX), nullable=False),
    Column("params_json", json_text(), nullable=False),
    Column("created_at", utc_time(), nullable=False),
    Column("started_at", utc_time(), nullable=True),
    Column("finished_at", utc_time(), nullable=True),
    Column("total_tasks", Integer, nullable=False),
    Column("done_tasks", Integer, nullable=False),
    Column("failed_tasks", Integer, nullable=False),
    Column("message", Text, nullable=False),
    Index("ix_jobs_created", "created_at"),
    Index("ix_jobs_status_created", "status", "created_at"),
    Index("ix_jobs_kind_created", "kind", "created_at"),
    **MYSQL_TABLE_ARGS,
)

# One row per unit of work of a job (a feeder for QSTS). No foreign key: the job store deletes both.
job_tasks = Table(
    "job_tasks",
    metadata,
    Column("job_id", String(JOB_ID_MAX), primary_key=True),
    Column("task_key", String(TASK_KEY_MAX), primary_key=True),
    Column("status", String(STATUS_MAX), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("error_json", json_text(), nullable=True),  # list of {where, message, code}
    Column("started_at", utc_time(), nullable=True),
    Column("finished_at", utc_time(), nullable=True),
    Column("duration_s", real(), nullable=True),
    Column("worker", String(WORKER_MAX), nullable=False),
    Index("ix_job_tasks_job_status", "job_id", "status"),
    **MYSQL_TABLE_ARGS,
)

# Typed columns of gridtwin.store.qsts_columns.FEEDER_SUMMARY_COLUMNS / ELEMENT_COLUMNS, in that
# order (a test checks they agree): SQL needs their types.
FEEDER_RESULT_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("feeder", String(FEEDER_ID_MAX)),
    ("version", String(VERSION_MAX)),
    ("steps", Integer),
    ("step_minutes", Integer),
    ("unconverged_steps", Integer),
    ("delivered_kwh", real()),
    ("source_kvarh", real()),
    ("losses_kwh", real()),
    ("line_losses_kwh", real()),
    ("xfmr_load_losses_kwh", real()),
    ("xfmr_noload_losses_kwh", real()),
    ("loss_pct", real()),
    ("peak_kw", real()),
    ("peak_step", Integer),
    ("vmin_pu", real()),
    ("vmin_bus", String(NAME_MAX)),
    ("vmin_step", Integer),
    ("vmax_pu", real()),
    ("vmax_bus", String(NAME_MAX)),
    ("vmax_step", Integer),
    ("buses", Integer),
    ("buses_outside_a", Integer),
    ("buses_outside_b", Integer),
    ("bus_hours_outside_a", real()),
    ("bus_hours_outside_b", real()),
    ("elements", Integer),
    ("elements_over_normal", Integer),
    ("elements_over_emergency", Integer),
    ("max_loading_pct", real()),
    ("max_loading_element", String(NAME_MAX)),
    ("max_aging_factor", real()),
    ("max_aging_element", String(NAME_MAX)),
    ("solve_s", real()),
    ("total_s", real()),
    ("min_source_kw", real()),
    ("reverse_flow_hours", real()),
)

ELEMENT_RESULT_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("element", String(NAME_MAX)),
    ("kind", String(ELEMENT_KIND_MAX)),
    ("hours_over_normal", real()),
    ("hours_over_emergency", real()),
    ("max_loading_pct", real()),
    ("max_loading_step", Integer),
    ("equivalent_aging_factor", real()),
    ("loss_of_life_h", real()),
)

qsts_feeder_results = Table(
    "qsts_feeder_results",
    metadata,
    Column("job_id", String(JOB_ID_MAX), primary_key=True),
    *(Column(name, type_, primary_key=name == "feeder") for name, type_ in FEEDER_RESULT_COLUMNS),
    # InnoDB secondary indexes end with the primary key, so (job_id, metric) also orders ties by feeder.
    Index("ix_qsts_feeder_results_bus_hours_a", "job_id", "bus_hours_outside_a"),
    Index("ix_qsts_feeder_results_loading", "job_id", "max_loading_pct"),
    **MYSQL_TABLE_ARGS,
)

qsts_element_results = Table(
    "qsts_element_results",
    metadata,
    Column("job_id", String(JOB_ID_MAX), primary_key=True),
    Column("feeder", String(FEEDER_ID_MAX), primary_key=True),
    *(Column(name, type_, primary_key=name == "element") for name, type_ in ELEMENT_RESULT_COLUMNS),
    Index("ix_qsts_element_results_loading", "job_id", "max_loading_pct"),
    Index("ix_qsts_element_results_kind_loading", "job_id", "kind", "max_loading_pct"),
    **MYSQL_TABLE_ARGS,
)

SCENARIO_ID_MAX = 64
SCENARIO_NAME_MAX = 200

# Scenario documents (gridtwin.scenarios.schema), stored resolved (data files inline) beside the text
# the user sent, so a run is reproducible from the row alone.
scenarios = Table(
    "scenarios",
    metadata,
    Column("id", String(SCENARIO_ID_MAX), primary_key=True),
    Column("name", String(SCENARIO_NAME_MAX), nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("body", json_text(), nullable=False),  # the validated scenario as JSON
    Column("source_text", json_text(), nullable=False),  # the YAML/JSON text as sent
    Column("revision", Integer, nullable=False),  # +1 on every update
    Column("created_at", utc_time(), nullable=False),
    Column("updated_at", utc_time(), nullable=False),
    Column("site", String(SITE_MAX), nullable=False, server_default=""),  # who may see it; "" = every site
    **MYSQL_TABLE_ARGS,
)

# A sweep: one QSTS job per sample of the scenario's parameters.
scenario_sweeps = Table(
    "scenario_sweeps",
    metadata,
    Column("id", String(SCENARIO_ID_MAX), primary_key=True),
    Column("scenario_id", String(SCENARIO_ID_MAX), nullable=False),
    Column("method", String(16), nullable=False),  # grid | lhs
    Column("spec", json_text(), nullable=False),  # parameters, bounds/values, n, seed
    Column("samples", json_text(), nullable=False),  # [{sample, values: {path: value}, job_id}]
    Column("created_at", utc_time(), nullable=False),
    Index("ix_scenario_sweeps_scenario", "scenario_id"),
    **MYSQL_TABLE_ARGS,
)

# Hosting capacity per bus: the latest result per (feeder, der, inverter, bus), with the feeder version
# it was computed on (a connection check compares it with the registry's version).
hosting_bus_results = Table(
    "hosting_bus_results",
    metadata,
    Column("feeder", String(FEEDER_ID_MAX), primary_key=True),
    Column("der", String(16), primary_key=True),
    Column("inverter", String(16), primary_key=True),
    Column("bus", String(NAME_MAX), primary_key=True),
    Column("version", String(VERSION_MAX), nullable=False),
    Column("method", String(16), nullable=False),
    Column("phases", Integer),
    Column("kv_base", real()),
    Column("x", real()),
    Column("y", real()),
    Column("capacity_kw", real()),
    Column("limiting_criterion", String(64)),
    Column("limiting_element", String(NAME_MAX)),
    Column("limiting_snapshot", String(64)),
    Column("base_ok", Boolean),
    Column("verified", Boolean),
    Column("error_pct", real()),
    Column("computed_at", utc_time(), nullable=False),
    Index("ix_hosting_bus_results_capacity", "feeder", "der", "inverter", "capacity_kw"),
    **MYSQL_TABLE_ARGS,
)

# Stochastic hosting capacity: one summary row per (job, feeder); per-sample tables are Parquet.
hosting_stochastic_results = Table(
    "hosting_stochastic_results",
    metadata,
    Column("job_id", String(JOB_ID_MAX), primary_key=True),
    Column("feeder", String(FEEDER_ID_MAX), primary_key=True),
    Column("placement", String(16), nullable=False),
    Column("peak_load_kw", real()),
    Column("samples", Integer),
    Column("failed_samples", Integer),
    Column("p5_kw", real()),
    Column("mean_kw", real()),
    Column("p95_kw", real()),
    Column("summary", json_text(), nullable=False),
    **MYSQL_TABLE_ARGS,
)


# --- measurements in (issue 7, migration 0005) ---------------------------------------------------------
IMPORT_ID_MAX = 32

# One row per import of utility measurements (ami | meters | oms | weather): its status (staging ->
# committed | failed), the checkpoint a resumed import continues from, and the report it returned.
imports = Table(
    "imports",
    metadata,
    Column("id", String(IMPORT_ID_MAX), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("site", String(SITE_MAX), nullable=False),
    Column("status", String(STATUS_MAX), nullable=False),
    Column("source", Text, nullable=False),
    Column("params_json", json_text(), nullable=False),
    Column("progress_json", json_text(), nullable=False),
    Column("report_json", json_text(), nullable=False),
    Column("created_at", utc_time(), nullable=False),
    Column("finished_at", utc_time(), nullable=True),
    Index("ix_imports_kind_created", "kind", "created_at"),
    **MYSQL_TABLE_ARGS,
)

# The meter directory: which feeder, load and service transformer each AMI meter belongs to, how that was
# decided (source | twin | override | connectivity | nearest) and how sure it is (high | medium | low).
ami_meters = Table(
    "ami_meters",
    metadata,
    Column("site", String(SITE_MAX), primary_key=True),
    Column("meter_id", String(NAME_MAX), primary_key=True),
    Column("feeder", String(FEEDER_ID_MAX), nullable=False),
    Column("load", String(NAME_MAX), nullable=False),
    Column("transformer", String(NAME_MAX), nullable=False),
    Column("bus", String(NAME_MAX), nullable=False),
    Column("phases", String(8), nullable=False),
    Column("lon", real(), nullable=True),
    Column("lat", real(), nullable=True),
    Column("generating", Boolean, nullable=False),
    Column("role", String(16), nullable=False),  # customer | feeder_head
    Column("customer_class", Integer, nullable=True),
    Column("method", String(16), nullable=False),
    Column("confidence", String(8), nullable=False),
    Column("reasons_json", json_text(), nullable=False),
    Column("import_id", String(IMPORT_ID_MAX), nullable=False),
    Column("updated_at", utc_time(), nullable=False),
    Index("ix_ami_meters_feeder", "site", "feeder"),
    **MYSQL_TABLE_ARGS,
)

# Planner-given meter -> transformer (and feeder) assignments; every later mapping run respects them.
ami_meter_overrides = Table(
    "ami_meter_overrides",
    metadata,
    Column("site", String(SITE_MAX), primary_key=True),
    Column("meter_id", String(NAME_MAX), primary_key=True),
    Column("feeder", String(FEEDER_ID_MAX), nullable=False),
    Column("transformer", String(NAME_MAX), nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", utc_time(), nullable=False),
    **MYSQL_TABLE_ARGS,
)

# Measured load per feeder and year (from the AMI store's aggregation), with the feeder-head check.
ami_load_summary = Table(
    "ami_load_summary",
    metadata,
    Column("feeder", String(FEEDER_ID_MAX), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("site", String(SITE_MAX), nullable=False),
    Column("meters", Integer, nullable=False),
    Column("transformers", Integer, nullable=False),
    Column("energy_kwh", real()),
    Column("peak_kw", real()),
    Column("peak_utc", utc_time(), nullable=True),
    Column("load_factor", real()),
    Column("coincidence_factor", real()),
    Column("coverage", real()),
    Column("head_energy_kwh", real()),
    Column("head_ratio", real()),
    Column("summary_json", json_text(), nullable=False),
    Column("updated_at", utc_time(), nullable=False),
    **MYSQL_TABLE_ARGS,
)

# Outage records (OMS), one row per outage as imported, linked to the twin of the device that operated.
outages = Table(
    "outages",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("import_id", String(IMPORT_ID_MAX), nullable=False),
    Column("site", String(SITE_MAX), nullable=False),
    Column("feeder", String(FEEDER_ID_MAX), nullable=False),
    Column("outage_id", String(NAME_MAX), nullable=False),
    Column("device", String(NAME_MAX), nullable=False),
    Column("device_twin", String(ID_MAX), nullable=False),
    Column("start_utc", utc_time(), nullable=False),
    Column("end_utc", utc_time(), nullable=False),
    Column("duration_min", real(), nullable=False),
    Column("cause_code", String(64), nullable=False),
    Column("cause", String(NAME_MAX), nullable=False),
    Column("customers_interrupted", BigInteger, nullable=False),
    Column("customer_minutes", real(), nullable=False),
    Column("momentary", Boolean, nullable=False),
    Column("src", String(512), nullable=False),  # file:row it came from
    Index("ix_outages_site_feeder_start", "site", "feeder", "start_utc"),
    Index("ix_outages_import", "import_id"),
    **MYSQL_TABLE_ARGS,
)

# -- accounts (issue 15): users, API keys, refresh tokens, the audit log ------------------------------

USERNAME_MAX = 64
# A user: argon2id hash only (never the password); sites as a JSON list ("*" = every site); lockout state.
users = Table(
    "users",
    metadata,
    Column("username", String(USERNAME_MAX), primary_key=True),
    Column("password_hash", String(256), nullable=False),  # "" for users who log in through OIDC only
    Column("role", String(16), nullable=False),
    Column("sites_json", json_text(), nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("failed_logins", Integer, nullable=False),
    Column("locked_until", utc_time(), nullable=True),
    Column(
        "oidc_subject", String(255), nullable=True
    ),  # issuer|sub of a user linked to the identity provider
    Column("created_at", utc_time(), nullable=False),
    Column("updated_at", utc_time(), nullable=False),
    Column("password_changed_at", utc_time(), nullable=True),
    Index("ix_users_oidc", "oidc_subject", unique=True),
    **MYSQL_TABLE_ARGS,
)

# An API key for scripts and CI: its own role and sites; only the SHA-256 of the secret is kept.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),  # the key's public prefix
    Column("secret_sha256", String(64), nullable=False),
    Column("name", String(NAME_MAX), nullable=False),
    Column("owner", String(USERNAME_MAX), nullable=False),
    Column("role", String(16), nullable=False),
    Column("sites_json", json_text(), nullable=False),
    Column("created_at", utc_time(), nullable=False),
    Column("expires_at", utc_time(), nullable=True),
    Column("last_used_at", utc_time(), nullable=True),
    Column("revoked_at", utc_time(), nullable=True),
    Index("ix_api_keys_owner", "owner"),
    **MYSQL_TABLE_ARGS,
)

# Rotating refresh tokens: each use replaces the token by a new one of the same family; a rotated one used
# again revokes the whole family (it was stolen); logout revokes the family.
refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("family", String(32), nullable=False),
    Column("username", String(USERNAME_MAX), nullable=False),
    Column("via", String(16), nullable=False),
    Column("issued_at", utc_time(), nullable=False),
    Column("expires_at", utc_time(), nullable=False),
    Column("rotated_at", utc_time(), nullable=True),
    Column("revoked_at", utc_time(), nullable=True),
    Index("ix_refresh_family", "family"),
    Index("ix_refresh_user", "username"),
    **MYSQL_TABLE_ARGS,
)

# Append-only: every login, refusal and write. Triggers refuse UPDATE and DELETE (migration 0006).
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("ts", utc_time(), nullable=False),
    Column("actor", String(USERNAME_MAX + 16), nullable=False),  # user, key:<id>, service:<name>, or "-"
    Column("via", String(16), nullable=False),
    Column("action", String(64), nullable=False),  # e.g. login, refresh, POST /api/v1/jobs, users.create
    Column("resource", String(512), nullable=False),
    Column("site", String(SITE_MAX), nullable=False),
    Column("outcome", String(16), nullable=False),  # ok | denied | failed | error
    Column("status", Integer, nullable=False),  # HTTP status (0 when none)
    Column("ip", String(64), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("trace_id", String(32), nullable=False),
    Column("detail_json", json_text(), nullable=False),
    Index("ix_audit_ts", "ts"),
    Index("ix_audit_actor_ts", "actor", "ts"),
    **MYSQL_TABLE_ARGS,
)
