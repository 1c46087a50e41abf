"""The metadata store's tables as SQLAlchemy Core objects (the schema the migrations build).

Changing a table here needs a new migration in `migrations/versions/`; a test compares
this module with the migrated database and fails when they drift apart.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

#: the migration the code expects; opening a store upgrades older databases to it
HEAD_REVISION = "0006"

# Named constraints let later migrations drop or alter them (SQLite batch mode needs names).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


_NAIVE_UTC = ("sqlite", "mysql", "mariadb")


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = value.astimezone(timezone.utc)
        # SQLite compares datetimes as text and MySQL's DATETIME has no zone: both store
        # naive UTC.
        return value.replace(tzinfo=None) if dialect.name in _NAIVE_UTC else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


metadata = MetaData(naming_convention=NAMING_CONVENTION)

pipelines = Table(
    "pipelines",
    metadata,
    Column("pipeline_id", String, primary_key=True),
    Column("name", String, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("spec", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("display_name", String, nullable=False, default=""),
    Column("namespace", String, nullable=True),
    Index("ix_pipelines_name", "name"),
    Index("ix_pipelines_namespace_name", "namespace", "name", unique=True),
    Index("ix_pipelines_namespace_created_at", "namespace", "created_at"),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String, primary_key=True),
    Column(
        "pipeline_id",
        String,
        ForeignKey("pipelines.pipeline_id", ondelete="SET NULL"),
        nullable=True,
    ),
    Column("pipeline_name", String, nullable=False),
    Column("display_name", String, nullable=False),
    Column("spec", JSON, nullable=False),
    Column("parameters", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("started_at", UtcDateTime, nullable=True),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("error", Text, nullable=True),
    Column("owner", String, nullable=True),
    Column("outputs", JSON, nullable=False),
    Column("cache_enabled", Boolean, nullable=False, default=True),
    Column("description", Text, nullable=False, default=""),
    Column("experiment_id", String, nullable=True),
    Column("namespace", String, nullable=True),
    Column("storage_state", String(16), nullable=False, default="AVAILABLE"),
    Column("pipeline_version_id", String, nullable=True),
    Column("recurring_run_id", String, nullable=True),
    Column("scheduled_at", UtcDateTime, nullable=True),
    Column("lease_owner", String, nullable=True),
    Column("lease_kind", String(16), nullable=True),
    Column("lease_expires_at", UtcDateTime, nullable=True),
    Index("ix_runs_created_at", "created_at"),
    Index("ix_runs_experiment_id_created_at", "experiment_id", "created_at"),
    Index("ix_runs_namespace_created_at", "namespace", "created_at"),
    Index("ix_runs_recurring_run_id", "recurring_run_id"),
    # One run per schedule slot, whichever process claims it (NULLs never collide).
    Index("ix_runs_recurring_run_id_scheduled_at", "recurring_run_id", "scheduled_at", unique=True),
    Index("ix_runs_state_created_at", "state", "created_at"),
    Index("ix_runs_pipeline_id", "pipeline_id"),
)


def _run_fk() -> Column[str]:
    return Column("run_id", String, ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False)


# `seq` columns keep insertion order, the order tasks, executions and artifacts are listed in.
tasks = Table(
    "tasks",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    _run_fk(),
    Column("task_name", String, nullable=False),
    Column("display_name", String, nullable=False),
    Column("state", String(16), nullable=False),
    Column("component", String, nullable=False, default=""),
    Column("started_at", UtcDateTime, nullable=True),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("inputs", JSON, nullable=False),
    Column("outputs", JSON, nullable=False),
    Column("cache_key", String, nullable=True),
    Column("cached_from", String, nullable=True),
    Column("error", Text, nullable=True),
    Column("log_path", String, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    UniqueConstraint("run_id", "task_name", name="uq_tasks_run_id_task_name"),
    Index("ix_tasks_cache_key", "cache_key"),
)

executions = Table(
    "executions",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("execution_id", String, nullable=False),
    _run_fk(),
    Column("task_name", String, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("exit_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("log_path", String, nullable=True),
    Column("environment", JSON, nullable=False),
    Column("process", JSON, nullable=True),
    Index("ix_executions_execution_id", "execution_id", unique=True),
    Index("ix_executions_run_id_task_name", "run_id", "task_name"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("artifact_id", String, nullable=False),
    _run_fk(),
    Column("task_name", String, nullable=False),
    Column("output_name", String, nullable=False),
    Column("uri", String, nullable=False),
    Column("schema_title", String, nullable=False),
    Column("metadata", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=True),
    Index("ix_artifacts_artifact_id", "artifact_id", unique=True),
    Index("ix_artifacts_run_id_task_name", "run_id", "task_name"),
)

cache_entries = Table(
    "cache_entries",
    metadata,
    Column("cache_key", String, primary_key=True),
    _run_fk(),
    Column("task_name", String, nullable=False),
    Column("outputs", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_cache_entries_run_id", "run_id"),
)

pipeline_versions = Table(
    "pipeline_versions",
    metadata,
    Column("pipeline_version_id", String, primary_key=True),
    Column(
        "pipeline_id",
        String,
        ForeignKey("pipelines.pipeline_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String, nullable=False),
    Column("display_name", String, nullable=False, default=""),
    Column("description", Text, nullable=False, default=""),
    Column("code_source_url", String, nullable=False, default=""),
    Column("spec", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_pipeline_versions_pipeline_id_created_at", "pipeline_id", "created_at"),
)

experiments = Table(
    "experiments",
    metadata,
    Column("experiment_id", String, primary_key=True),
    Column("name", String, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("namespace", String, nullable=True),
    Column("storage_state", String(16), nullable=False, default="AVAILABLE"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_run_created_at", UtcDateTime, nullable=True),
    Index("ix_experiments_namespace_name", "namespace", "name"),
    Index("ix_experiments_created_at", "created_at"),
)

users = Table(
    "users",
    metadata,
    Column("name", String, primary_key=True),
    Column("password_hash", String, nullable=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("namespace", String, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_id", String, primary_key=True),
    Column("token_hash", String, nullable=False),
    Column("user_name", String, ForeignKey("users.name", ondelete="CASCADE"), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_used_at", UtcDateTime, nullable=True),
    Column("expires_at", UtcDateTime, nullable=True),
    Index("ix_api_tokens_token_hash", "token_hash", unique=True),
    Index("ix_api_tokens_user_name", "user_name"),
)

recurring_runs = Table(
    "recurring_runs",
    metadata,
    Column("recurring_run_id", String, primary_key=True),
    Column("name", String, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("experiment_id", String, nullable=True),
    Column("namespace", String, nullable=True),
    Column("pipeline_id", String, nullable=True),
    Column("pipeline_version_id", String, nullable=True),
    Column("spec", JSON, nullable=False),
    Column("parameters", JSON, nullable=False),
    Column("cron", String, nullable=True),
    Column("interval_seconds", Integer, nullable=True),
    Column("start_time", UtcDateTime, nullable=True),
    Column("end_time", UtcDateTime, nullable=True),
    Column("max_concurrency", Integer, nullable=False, default=1),
    Column("no_catchup", Boolean, nullable=False, default=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("last_scheduled_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_recurring_runs_namespace_created_at", "namespace", "created_at"),
    Index("ix_recurring_runs_enabled", "enabled"),
)
# On MySQL/MariaDB the lengthless strings get their types as variants from
# `_dialects.register`, called before the first such engine is made.
