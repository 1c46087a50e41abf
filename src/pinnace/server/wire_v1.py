"""Kubeflow's v1beta1 wire rules: records as v1 JSON (`id`, `name`, `STORAGESTATE_*` enums,
resource references, Argo-style run statuses), and v1 requests read back into our terms.

The v1 API is what kfp 1.8's `kfp.Client` speaks; upstream KFP 2.x still serves it by
converting its v2 records, and so does this module (see KFP's `toApiRunV1` and friends).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import UserInputError
from ..stores.base import (
    ExperimentRecord,
    PipelineRecord,
    PipelineVersionRecord,
    RecurringRunRecord,
    RunRecord,
)
from .wire import compact, timestamp, trigger

NAMESPACE, EXPERIMENT, PIPELINE, VERSION, JOB = (
    "NAMESPACE",
    "EXPERIMENT",
    "PIPELINE",
    "PIPELINE_VERSION",
    "JOB",
)
OWNER, CREATOR = "OWNER", "CREATOR"
#: run states as v1 names them (KFP's RuntimeState.ToV1: a canceled run reads "Failed")
RUN_STATUS = {
    "PENDING": "Pending",
    "RUNNING": "Running",
    "SUCCEEDED": "Succeeded",
    "FAILED": "Failed",
    "CANCELING": "Terminating",
    "CANCELED": "Failed",
}
#: v1 status names in filters, back to our states
_STATUS_V2 = {
    "pending": ["PENDING"],
    "running": ["RUNNING"],
    "succeeded": ["SUCCEEDED"],
    "failed": ["FAILED", "CANCELED"],
    "error": ["FAILED"],
    "terminating": ["CANCELING"],
}


def storage_state(value: str) -> str:
    return f"STORAGESTATE_{value or 'AVAILABLE'}"


def reference(kind: str, key: str | None, relationship: str = OWNER) -> dict[str, Any] | None:
    if not key:
        return None
    return {"key": {"type": kind, "id": key}, "relationship": relationship}


def _references(*refs: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [r for r in refs if r is not None]


@dataclass(frozen=True)
class References:
    """What a v1 request's `resource_references` point at."""

    experiment_id: str | None = None
    namespace: str | None = None
    pipeline_id: str | None = None
    pipeline_version_id: str | None = None


def read_references(refs: Any) -> References:
    found: dict[str, str] = {}
    for ref in refs or ():
        key = ref.get("key") or {} if isinstance(ref, Mapping) else {}
        kind, ident = key.get("type"), key.get("id")
        if kind in (NAMESPACE, EXPERIMENT, PIPELINE, VERSION) and ident:
            found.setdefault(str(kind), str(ident))
    return References(
        experiment_id=found.get(EXPERIMENT),
        namespace=found.get(NAMESPACE),
        pipeline_id=found.get(PIPELINE),
        pipeline_version_id=found.get(VERSION),
    )


def parameters_from_list(items: Any) -> dict[str, Any]:
    """v1 `[{name, value}]` (values are strings) as a parameter dict."""
    values: dict[str, Any] = {}
    for item in items or ():
        if not isinstance(item, Mapping) or not item.get("name"):
            raise UserInputError("each parameter needs a name", hint='e.g. {"name": "x", ...}')
        values[str(item["name"])] = item.get("value", "")
    return values


def parameters_as_list(values: Mapping[str, Any]) -> list[dict[str, str]]:
    return [
        {"name": name, "value": value if isinstance(value, str) else json.dumps(value)}
        for name, value in values.items()
    ]


def spec_parameters(spec: Mapping[str, Any]) -> list[dict[str, str]]:
    """A pipeline's declared parameters with their defaults, as v1 lists them."""
    declared = ((spec.get("root") or {}).get("inputDefinitions") or {}).get("parameters") or {}
    listed = []
    for name, definition in declared.items():
        item = {"name": name}
        if isinstance(definition, Mapping) and "defaultValue" in definition:
            default = definition["defaultValue"]
            item["value"] = default if isinstance(default, str) else json.dumps(default)
        listed.append(item)
    return listed


def v1_filter(text: str | None) -> str | None:
    """A v1 `filter` with its enum values in our terms (`STORAGESTATE_ARCHIVED` → `ARCHIVED`,
    run status `Succeeded` → `SUCCEEDED`); everything else is read by `wire.parse_filter`."""
    if not text:
        return text
    try:
        document = json.loads(text)
    except ValueError:
        return text  # parse_filter reports it
    predicates = document.get("predicates") if isinstance(document, dict) else None
    for predicate in predicates if isinstance(predicates, list) else ():
        if not isinstance(predicate, dict):
            continue
        key = predicate.get("key")
        for field in ("string_value", "stringValue"):
            value = predicate.get(field)
            if not isinstance(value, str):
                continue
            if key == "storage_state":
                predicate[field] = value.removeprefix("STORAGESTATE_")
            elif key in ("status", "state") and value.lower() in _STATUS_V2:
                states = _STATUS_V2[value.lower()]
                predicate[field] = states[0]
                operation = predicate.get("op", predicate.get("operation"))
                if len(states) > 1 and operation in (1, "EQUALS"):
                    # "Failed" in v1 is FAILED or CANCELED here
                    del predicate[field]
                    predicate.pop("operation", None)
                    predicate.update({"op": 8, "string_values": {"values": states}})
    return json.dumps(document)


def experiment(record: ExperimentRecord) -> dict[str, Any]:
    return compact(
        {
            "id": record.experiment_id,
            "name": record.name,
            "description": record.description,
            "created_at": timestamp(record.created_at),
            "resource_references": _references(reference(NAMESPACE, record.namespace)),
            "storage_state": storage_state(record.storage_state),
        }
    )


def pipeline_version(record: PipelineVersionRecord) -> dict[str, Any]:
    return compact(
        {
            "id": record.pipeline_version_id,
            "name": record.name,
            "created_at": timestamp(record.created_at),
            "parameters": spec_parameters(record.spec),
            "code_source_url": record.code_source_url,
            "package_url": {"pipeline_url": record.code_source_url}
            if record.code_source_url
            else None,
            "resource_references": _references(reference(PIPELINE, record.pipeline_id)),
            "description": record.description,
        }
    )


def pipeline(record: PipelineRecord, latest: PipelineVersionRecord | None) -> dict[str, Any]:
    default = pipeline_version(latest) if latest is not None else None
    return compact(
        {
            "id": record.pipeline_id,
            "created_at": timestamp(record.created_at),
            "name": record.name,
            "description": record.description,
            "parameters": spec_parameters(latest.spec if latest else record.spec),
            "default_version": default,
            "url": (default or {}).get("package_url"),
            "resource_references": _references(reference(NAMESPACE, record.namespace)),
        }
    )


def _pipeline_spec(
    spec: Mapping[str, Any], pipeline_id: str | None, parameters: Mapping[str, Any]
) -> dict[str, Any]:
    return compact(
        {
            "pipeline_id": pipeline_id,
            "pipeline_name": str((spec.get("pipelineInfo") or {}).get("name") or ""),
            "pipeline_manifest": json.dumps(spec) if spec else None,
            "parameters": parameters_as_list(parameters),
        }
    )


def run(record: RunRecord, metrics: list[Any] | None = None) -> dict[str, Any]:
    """A v1 Run; `metrics` (services.artifacts.RunMetric) are given where the run is read."""
    created_by = (
        reference(JOB, record.recurring_run_id, CREATOR)
        or reference(VERSION, record.pipeline_version_id, CREATOR)
        or reference(PIPELINE, record.pipeline_id, CREATOR)
    )
    return compact(
        {
            "id": record.run_id,
            "name": record.display_name,
            "storage_state": storage_state(record.storage_state),
            "description": record.description,
            "pipeline_spec": _pipeline_spec(record.spec, record.pipeline_id, record.parameters),
            "resource_references": _references(
                reference(EXPERIMENT, record.experiment_id),
                reference(NAMESPACE, record.namespace),
                created_by,
            ),
            "created_at": timestamp(record.created_at),
            "scheduled_at": timestamp(
                record.scheduled_at or record.started_at or record.created_at
            ),
            "finished_at": timestamp(record.finished_at if record.state.terminal else None),
            "status": RUN_STATUS.get(record.state.value, "Unknown"),
            "error": record.error,
            "metrics": [
                {"name": m.name, "node_id": m.task, "number_value": m.value, "format": m.format}
                for m in metrics or ()
            ],
        }
    )


def job(record: RecurringRunRecord) -> dict[str, Any]:
    return compact(
        {
            "id": record.recurring_run_id,
            "name": record.name,
            "description": record.description,
            "pipeline_spec": _pipeline_spec(record.spec, record.pipeline_id, record.parameters),
            "resource_references": _references(
                reference(EXPERIMENT, record.experiment_id),
                reference(NAMESPACE, record.namespace),
                reference(VERSION, record.pipeline_version_id, CREATOR),
            ),
            "max_concurrency": str(record.max_concurrency),
            "trigger": trigger(record),
            "mode": "ENABLED" if record.enabled else "DISABLED",
            "created_at": timestamp(record.created_at),
            "updated_at": timestamp(record.updated_at),
            "status": "Enabled" if record.enabled else "Disabled",
            "enabled": record.enabled,
            "no_catchup": record.no_catchup or None,
        }
    )
