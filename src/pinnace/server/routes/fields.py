"""The API keys each list call may filter and sort on, and the record field each means."""

from __future__ import annotations

RUN = {
    "run_id": "run_id",
    "id": "run_id",
    "display_name": "display_name",
    "name": "display_name",
    "created_at": "created_at",
    "finished_at": "finished_at",
    "scheduled_at": "started_at",
    "state": "state",
    "status": "state",
    "storage_state": "storage_state",
    "experiment_id": "experiment_id",
    "namespace": "namespace",
    "description": "description",
    "recurring_run_id": "recurring_run_id",
    "pipeline_version_id": "pipeline_version_id",
}
RUN_TIMES = frozenset({"created_at", "finished_at", "started_at"})
EXPERIMENT = {
    "experiment_id": "experiment_id",
    "id": "experiment_id",
    "display_name": "name",
    "name": "name",
    "created_at": "created_at",
    "storage_state": "storage_state",
    "namespace": "namespace",
    "description": "description",
    "last_run_created_at": "last_run_created_at",
}
EXPERIMENT_TIMES = frozenset({"created_at", "last_run_created_at"})
PIPELINE = {
    "pipeline_id": "pipeline_id",
    "id": "pipeline_id",
    "name": "name",
    "display_name": "display_name",
    "created_at": "created_at",
    "namespace": "namespace",
    "description": "description",
}
VERSION = {
    "pipeline_version_id": "pipeline_version_id",
    "id": "pipeline_version_id",
    "name": "name",
    "display_name": "display_name",
    "created_at": "created_at",
    "description": "description",
}
RECURRING = {
    "recurring_run_id": "recurring_run_id",
    "id": "recurring_run_id",
    "display_name": "name",
    "name": "name",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "experiment_id": "experiment_id",
    "pipeline_id": "pipeline_id",
    "namespace": "namespace",
}
RECURRING_TIMES = frozenset({"created_at", "updated_at"})
CREATED = frozenset({"created_at"})
