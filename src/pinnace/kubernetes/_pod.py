"""Pod settings: scheduling, metadata, images, timeouts and field-path variables."""

from __future__ import annotations

from typing import Any

from ..dsl import PipelineChannel, PipelineTask
from ._config import config_of, parameter_input

_PULL_POLICIES = ("Always", "Never", "IfNotPresent")


def add_node_selector(task: PipelineTask, label_key: str, label_value: str) -> PipelineTask:
    """Schedule the task's pod on nodes with this label (ignored locally, with a warning)."""
    selector = config_of(task).setdefault("nodeSelector", {})
    selector.setdefault("labels", {})[label_key] = label_value
    return task


def add_node_selector_json(
    task: PipelineTask, node_selector_json: dict | PipelineChannel
) -> PipelineTask:
    """A node selector given as a dict or a pipeline parameter."""
    selector = config_of(task).setdefault("nodeSelector", {})
    selector["nodeSelectorJson"] = parameter_input(node_selector_json, task)
    return task


def add_toleration(
    task: PipelineTask,
    key: str | None = None,
    operator: str | None = None,
    value: str | None = None,
    effect: str | None = None,
    toleration_seconds: int | None = None,
) -> PipelineTask:
    """Let the task's pod run on nodes with a matching taint."""
    entry: dict[str, Any] = {}
    for name, given in (("key", key), ("operator", operator), ("value", value), ("effect", effect)):
        if given:
            entry[name] = given
    if toleration_seconds is not None:
        entry["tolerationSeconds"] = str(int(toleration_seconds))  # an int64: a JSON string
    config_of(task).setdefault("tolerations", []).append(entry)
    return task


def add_toleration_json(task: PipelineTask, toleration_json: Any) -> PipelineTask:
    """A toleration (or a list of them) given as JSON or a pipeline parameter."""
    entry = {"tolerationJson": parameter_input(toleration_json, task, "toleration_json")}
    config_of(task).setdefault("tolerations", []).append(entry)
    return task


def add_pod_label(task: PipelineTask, label_key: str, label_value: str) -> PipelineTask:
    """Label the task's pod."""
    metadata = config_of(task).setdefault("podMetadata", {})
    metadata.setdefault("labels", {})[label_key] = label_value
    return task


def add_pod_annotation(
    task: PipelineTask, annotation_key: str, annotation_value: str
) -> PipelineTask:
    """Annotate the task's pod."""
    metadata = config_of(task).setdefault("podMetadata", {})
    metadata.setdefault("annotations", {})[annotation_key] = annotation_value
    return task


def set_image_pull_policy(task: PipelineTask, policy: str) -> PipelineTask:
    """`Always`, `Never` or `IfNotPresent`."""
    if policy not in _PULL_POLICIES:
        raise ValueError(
            "Invalid imagePullPolicy. Must be one of `Always`, `Never`, `IfNotPresent`."
        )
    config_of(task)["imagePullPolicy"] = policy
    return task


def set_image_pull_secrets(
    task: PipelineTask, secret_names: list[str | PipelineChannel]
) -> PipelineTask:
    """Secrets the cluster uses to pull the task's image."""
    secrets = config_of(task).setdefault("imagePullSecret", [])
    for name in secret_names:
        entry: dict[str, Any] = {"secretNameParameter": parameter_input(name, task)}
        if isinstance(name, str):
            entry["secretName"] = name
        secrets.append(entry)
    return task


def set_timeout(task: PipelineTask, seconds: int) -> PipelineTask:
    """The pod's active deadline; 0 removes an earlier one."""
    if seconds < 0:
        raise ValueError(
            'Argument for "seconds" must be an integer greater or equals to 0. '
            f"Got invalid input: {seconds}. "
        )
    config = config_of(task)
    if seconds:
        config["activeDeadlineSeconds"] = str(int(seconds))  # an int64: a JSON string
    else:
        config.pop("activeDeadlineSeconds", None)
    return task


def use_field_path_as_env(task: PipelineTask, env_name: str, field_path: str) -> PipelineTask:
    """Set an environment variable from a pod field (`metadata.name`, ...)."""
    entry = {"name": env_name, "fieldPath": field_path}
    config_of(task).setdefault("fieldPathAsEnv", []).append(entry)
    return task


_AFFINITY_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")


def _selectors(terms: list[dict] | None, kind: str) -> list[dict[str, Any]]:
    found = []
    for term in terms or []:
        key, operator = term.get("key"), term.get("operator")
        if not key:
            raise ValueError(f"Each {kind} must have a non-empty 'key'.")
        if not operator:
            raise ValueError(f"Each {kind} for key '{key}' must have a non-empty 'operator'.")
        if operator not in _AFFINITY_OPERATORS:
            raise ValueError(
                f"Invalid operator '{operator}' for key '{key}' in {kind}. "
                f"Must be one of {sorted(_AFFINITY_OPERATORS)}."
            )
        entry: dict[str, Any] = {"key": key, "operator": operator}
        if term.get("values"):
            entry["values"] = list(term["values"])
        found.append(entry)
    return found


def add_node_affinity(
    task: PipelineTask,
    match_expressions: list[dict] | None = None,
    match_fields: list[dict] | None = None,
    weight: int | None = None,
) -> PipelineTask:
    """Require (or with `weight` 1-100, prefer) nodes matching these expressions."""
    term: dict[str, Any] = {}
    expressions = _selectors(match_expressions, "match_expression")
    fields = _selectors(match_fields, "match_field")
    if expressions:
        term["matchExpressions"] = expressions
    if fields:
        term["matchFields"] = fields
    if weight is not None:
        if not 1 <= weight <= 100:
            raise ValueError(f"weight must be between 1 and 100, got {weight}.")
        term["weight"] = weight
    config_of(task).setdefault("nodeAffinity", []).append(term)
    return task


def add_node_affinity_json(
    task: PipelineTask, node_affinity_json: dict | PipelineChannel
) -> PipelineTask:
    """A node affinity given as a dict or a pipeline parameter (replaces an earlier one)."""
    terms = config_of(task).setdefault("nodeAffinity", [])
    terms[:] = [t for t in terms if "nodeAffinityJson" not in t]
    terms.append({"nodeAffinityJson": parameter_input(node_affinity_json, task)})
    return task


def set_security_context(
    task: PipelineTask,
    run_as_user: int | None = None,
    run_as_group: int | None = None,
    run_as_non_root: bool | None = None,
) -> PipelineTask:
    """The user, group and non-root requirement of the task's container."""
    if run_as_user is None and run_as_group is None and run_as_non_root is None:
        raise ValueError("At least one security context field must be provided.")
    for name, value in (("run_as_user", run_as_user), ("run_as_group", run_as_group)):
        if value is not None and (isinstance(value, bool) or value < 0):
            raise ValueError(f'Argument for "{name}" must be an int >= 0. Got: {value}.')
    context = config_of(task).setdefault("securityContext", {})
    if run_as_user is not None:
        context["runAsUser"] = str(run_as_user)  # int64: a JSON string
    if run_as_group is not None:
        context["runAsGroup"] = str(run_as_group)
    if run_as_non_root is not None:
        context["runAsNonRoot"] = bool(run_as_non_root)
    return task
