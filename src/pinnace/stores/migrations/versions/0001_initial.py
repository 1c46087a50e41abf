"""Initial schema: pipelines, runs, tasks, executions, artifacts, cache entries.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Written out by hand (not imported from _tables) so this revision never changes.
UTC_DATETIME = sa.DateTime(timezone=True)


def _run_fk(table: str) -> sa.Column:
    return sa.Column(
        "run_id",
        sa.String(),
        sa.ForeignKey("runs.run_id", ondelete="CASCADE", name=f"fk_{table}_run_id_runs"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "pipelines",
        sa.Column("pipeline_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("pipeline_id", name="pk_pipelines"),
    )
    op.create_index("ix_pipelines_name", "pipelines", ["name"], unique=True)

    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column(
            "pipeline_id",
            sa.String(),
            sa.ForeignKey(
                "pipelines.pipeline_id", ondelete="SET NULL", name="fk_runs_pipeline_id_pipelines"
            ),
            nullable=True,
        ),
        sa.Column("pipeline_name", sa.String(), nullable=False),
        sa.Column("display_name", sa.String(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=True),
        sa.Column("finished_at", UTC_DATETIME, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(), nullable=True),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("cache_enabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name="pk_runs"),
    )
    op.create_index("ix_runs_created_at", "runs", ["created_at"])
    op.create_index("ix_runs_state_created_at", "runs", ["state", "created_at"])
    op.create_index("ix_runs_pipeline_id", "runs", ["pipeline_id"])

    op.create_table(
        "tasks",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        _run_fk("tasks"),
        sa.Column("task_name", sa.String(), nullable=False),
        sa.Column("display_name", sa.String(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("component", sa.String(), nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=True),
        sa.Column("finished_at", UTC_DATETIME, nullable=True),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("cache_key", sa.String(), nullable=True),
        sa.Column("cached_from", sa.String(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("log_path", sa.String(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_tasks"),
        sa.UniqueConstraint("run_id", "task_name", name="uq_tasks_run_id_task_name"),
    )
    op.create_index("ix_tasks_cache_key", "tasks", ["cache_key"])

    op.create_table(
        "executions",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("execution_id", sa.String(), nullable=False),
        _run_fk("executions"),
        sa.Column("task_name", sa.String(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=False),
        sa.Column("finished_at", UTC_DATETIME, nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("log_path", sa.String(), nullable=True),
        sa.Column("environment", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_executions"),
    )
    op.create_index("ix_executions_execution_id", "executions", ["execution_id"], unique=True)
    op.create_index("ix_executions_run_id_task_name", "executions", ["run_id", "task_name"])

    op.create_table(
        "artifacts",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("artifact_id", sa.String(), nullable=False),
        _run_fk("artifacts"),
        sa.Column("task_name", sa.String(), nullable=False),
        sa.Column("output_name", sa.String(), nullable=False),
        sa.Column("uri", sa.String(), nullable=False),
        sa.Column("schema_title", sa.String(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_artifacts"),
    )
    op.create_index("ix_artifacts_artifact_id", "artifacts", ["artifact_id"], unique=True)
    op.create_index("ix_artifacts_run_id_task_name", "artifacts", ["run_id", "task_name"])

    op.create_table(
        "cache_entries",
        sa.Column("cache_key", sa.String(), nullable=False),
        _run_fk("cache_entries"),
        sa.Column("task_name", sa.String(), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("cache_key", name="pk_cache_entries"),
    )
    op.create_index("ix_cache_entries_run_id", "cache_entries", ["run_id"])


def downgrade() -> None:
    for table in ("cache_entries", "artifacts", "executions", "tasks", "runs", "pipelines"):
        op.drop_table(table)
