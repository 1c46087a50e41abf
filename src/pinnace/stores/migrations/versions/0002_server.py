"""Server schema: pipeline versions, experiments, users, API tokens, recurring runs.

Also gives pipelines a display name and namespace, and runs their experiment, namespace,
storage state, description, pipeline version and recurring run.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Written out by hand (not imported from _tables) so this revision never changes.
UTC_DATETIME = sa.DateTime(timezone=True)


def _nullable(name: str) -> sa.Column:
    return sa.Column(name, sa.String(), nullable=True)


def upgrade() -> None:
    # Existing rows get the server defaults; new rows get theirs from the code.
    with op.batch_alter_table("pipelines") as batch:
        batch.add_column(sa.Column("display_name", sa.String(), nullable=False, server_default=""))
        batch.add_column(_nullable("namespace"))
        batch.create_index("ix_pipelines_namespace_created_at", ["namespace", "created_at"])
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("description", sa.Text(), nullable=False, server_default=""))
        batch.add_column(_nullable("experiment_id"))
        batch.add_column(_nullable("namespace"))
        batch.add_column(
            sa.Column("storage_state", sa.String(16), nullable=False, server_default="AVAILABLE")
        )
        batch.add_column(_nullable("pipeline_version_id"))
        batch.add_column(_nullable("recurring_run_id"))
        batch.create_index("ix_runs_experiment_id_created_at", ["experiment_id", "created_at"])
        batch.create_index("ix_runs_namespace_created_at", ["namespace", "created_at"])
        batch.create_index("ix_runs_recurring_run_id", ["recurring_run_id"])
    _create_catalog_tables()
    _create_account_tables()


def _create_catalog_tables() -> None:
    op.create_table(
        "pipeline_versions",
        sa.Column("pipeline_version_id", sa.String(), nullable=False),
        sa.Column(
            "pipeline_id",
            sa.String(),
            sa.ForeignKey(
                "pipelines.pipeline_id",
                ondelete="CASCADE",
                name="fk_pipeline_versions_pipeline_id_pipelines",
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("display_name", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("code_source_url", sa.String(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("pipeline_version_id", name="pk_pipeline_versions"),
    )
    op.create_index(
        "ix_pipeline_versions_pipeline_id_created_at",
        "pipeline_versions",
        ["pipeline_id", "created_at"],
    )
    op.create_table(
        "experiments",
        sa.Column("experiment_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        _nullable("namespace"),
        sa.Column("storage_state", sa.String(16), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("last_run_created_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("experiment_id", name="pk_experiments"),
    )
    op.create_index("ix_experiments_namespace_name", "experiments", ["namespace", "name"])
    op.create_index("ix_experiments_created_at", "experiments", ["created_at"])
    op.create_table(
        "recurring_runs",
        sa.Column("recurring_run_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        _nullable("experiment_id"),
        _nullable("namespace"),
        _nullable("pipeline_id"),
        _nullable("pipeline_version_id"),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        _nullable("cron"),
        sa.Column("interval_seconds", sa.Integer(), nullable=True),
        sa.Column("start_time", UTC_DATETIME, nullable=True),
        sa.Column("end_time", UTC_DATETIME, nullable=True),
        sa.Column("max_concurrency", sa.Integer(), nullable=False),
        sa.Column("no_catchup", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("last_scheduled_at", UTC_DATETIME, nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("recurring_run_id", name="pk_recurring_runs"),
    )
    op.create_index(
        "ix_recurring_runs_namespace_created_at", "recurring_runs", ["namespace", "created_at"]
    )
    op.create_index("ix_recurring_runs_enabled", "recurring_runs", ["enabled"])


def _create_account_tables() -> None:
    op.create_table(
        "users",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("password_hash", sa.String(), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("namespace", sa.String(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_users"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("token_id", sa.String(), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column(
            "user_name",
            sa.String(),
            sa.ForeignKey("users.name", ondelete="CASCADE", name="fk_api_tokens_user_name_users"),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("last_used_at", UTC_DATETIME, nullable=True),
        sa.Column("expires_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("token_id", name="pk_api_tokens"),
    )
    op.create_index("ix_api_tokens_token_hash", "api_tokens", ["token_hash"], unique=True)
    op.create_index("ix_api_tokens_user_name", "api_tokens", ["user_name"])


def downgrade() -> None:
    for table in ("api_tokens", "users", "recurring_runs", "experiments", "pipeline_versions"):
        op.drop_table(table)
    with op.batch_alter_table("runs") as batch:
        for index in (
            "ix_runs_experiment_id_created_at",
            "ix_runs_namespace_created_at",
            "ix_runs_recurring_run_id",
        ):
            batch.drop_index(index)
        for column in (
            "description",
            "experiment_id",
            "namespace",
            "storage_state",
            "pipeline_version_id",
            "recurring_run_id",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("pipelines") as batch:
        batch.drop_index("ix_pipelines_namespace_created_at")
        batch.drop_column("namespace")
        batch.drop_column("display_name")
