"""Jobs, their tasks, and QSTS result summaries (per feeder and per element).

Revision ID: 0002_jobs_and_results
Revises: 0001_twin_graph
Create Date: 2026-11-29
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op
from gridtwin.store.tables import (
    ELEMENT_KIND_MAX,
    FEEDER_ID_MAX,
    JOB_ID_MAX,
    JOB_KIND_MAX,
    MYSQL_TABLE_ARGS,
    NAME_MAX,
    SITE_MAX,
    STATUS_MAX,
    TASK_KEY_MAX,
    VERSION_MAX,
    WORKER_MAX,
    json_text,
)
from sqlalchemy.dialects import mysql

revision = "0002_jobs_and_results"
down_revision = "0001_twin_graph"
branch_labels = None
depends_on = None


# Types spelled out here, as in 0001, so later schema edits need a new revision.
def _time() -> sa.types.TypeEngine[datetime]:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def _real() -> sa.Double[float]:
    return sa.Double()


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(JOB_ID_MAX), primary_key=True),
        sa.Column("kind", sa.String(JOB_KIND_MAX), nullable=False),
        sa.Column("status", sa.String(STATUS_MAX), nullable=False),
        sa.Column("site", sa.String(SITE_MAX), nullable=False),
        sa.Column("params_json", json_text(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("started_at", _time(), nullable=True),
        sa.Column("finished_at", _time(), nullable=True),
        sa.Column("total_tasks", sa.Integer(), nullable=False),
        sa.Column("done_tasks", sa.Integer(), nullable=False),
        sa.Column("failed_tasks", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index("ix_jobs_created", "jobs", ["created_at"])
    op.create_index("ix_jobs_status_created", "jobs", ["status", "created_at"])
    op.create_index("ix_jobs_kind_created", "jobs", ["kind", "created_at"])
    op.create_table(
        "job_tasks",
        sa.Column("job_id", sa.String(JOB_ID_MAX), primary_key=True),
        sa.Column("task_key", sa.String(TASK_KEY_MAX), primary_key=True),
        sa.Column("status", sa.String(STATUS_MAX), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error_json", json_text(), nullable=True),
        sa.Column("started_at", _time(), nullable=True),
        sa.Column("finished_at", _time(), nullable=True),
        sa.Column("duration_s", _real(), nullable=True),
        sa.Column("worker", sa.String(WORKER_MAX), nullable=False),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index("ix_job_tasks_job_status", "job_tasks", ["job_id", "status"])
    op.create_table(
        "qsts_feeder_results",
        sa.Column("job_id", sa.String(JOB_ID_MAX), primary_key=True),
        sa.Column("feeder", sa.String(FEEDER_ID_MAX), primary_key=True),
        sa.Column("version", sa.String(VERSION_MAX)),
        sa.Column("steps", sa.Integer()),
        sa.Column("step_minutes", sa.Integer()),
        sa.Column("unconverged_steps", sa.Integer()),
        sa.Column("delivered_kwh", _real()),
        sa.Column("source_kvarh", _real()),
        sa.Column("losses_kwh", _real()),
        sa.Column("line_losses_kwh", _real()),
        sa.Column("xfmr_load_losses_kwh", _real()),
        sa.Column("xfmr_noload_losses_kwh", _real()),
        sa.Column("loss_pct", _real()),
        sa.Column("peak_kw", _real()),
        sa.Column("peak_step", sa.Integer()),
        sa.Column("vmin_pu", _real()),
        sa.Column("vmin_bus", sa.String(NAME_MAX)),
        sa.Column("vmin_step", sa.Integer()),
        sa.Column("vmax_pu", _real()),
        sa.Column("vmax_bus", sa.String(NAME_MAX)),
        sa.Column("vmax_step", sa.Integer()),
        sa.Column("buses", sa.Integer()),
        sa.Column("buses_outside_a", sa.Integer()),
        sa.Column("buses_outside_b", sa.Integer()),
        sa.Column("bus_hours_outside_a", _real()),
        sa.Column("bus_hours_outside_b", _real()),
        sa.Column("elements", sa.Integer()),
        sa.Column("elements_over_normal", sa.Integer()),
        sa.Column("elements_over_emergency", sa.Integer()),
        sa.Column("max_loading_pct", _real()),
        sa.Column("max_loading_element", sa.String(NAME_MAX)),
        sa.Column("max_aging_factor", _real()),
        sa.Column("max_aging_element", sa.String(NAME_MAX)),
        sa.Column("solve_s", _real()),
        sa.Column("total_s", _real()),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index(
        "ix_qsts_feeder_results_bus_hours_a", "qsts_feeder_results", ["job_id", "bus_hours_outside_a"]
    )
    op.create_index("ix_qsts_feeder_results_loading", "qsts_feeder_results", ["job_id", "max_loading_pct"])
    op.create_table(
        "qsts_element_results",
        sa.Column("job_id", sa.String(JOB_ID_MAX), primary_key=True),
        sa.Column("feeder", sa.String(FEEDER_ID_MAX), primary_key=True),
        sa.Column("element", sa.String(NAME_MAX), primary_key=True),
        sa.Column("kind", sa.String(ELEMENT_KIND_MAX)),
        sa.Column("hours_over_normal", _real()),
        sa.Column("hours_over_emergency", _real()),
        sa.Column("max_loading_pct", _real()),
        sa.Column("max_loading_step", sa.Integer()),
        sa.Column("equivalent_aging_factor", _real()),
        sa.Column("loss_of_life_h", _real()),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index("ix_qsts_element_results_loading", "qsts_element_results", ["job_id", "max_loading_pct"])
    op.create_index(
        "ix_qsts_element_results_kind_loading", "qsts_element_results", ["job_id", "kind", "max_loading_pct"]
    )


def downgrade() -> None:
    op.drop_table("qsts_element_results")
    op.drop_table("qsts_feeder_results")
    op.drop_table("job_tasks")
    op.drop_table("jobs")
