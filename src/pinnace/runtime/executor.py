"""The KFP executor protocol: build a component function's arguments, call it, write outputs.

Mirrors `kfp.dsl.executor.Executor` (kfp 2.x): the same argument rules, the same output
files and the same `executor_output.json`, so the engine reads our tasks' outputs exactly
as a Kubeflow launcher would.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from . import artifacts, types

_PARAMETER_CLASSES = (str, int, float, bool, dict, list)
_CHIEF_NODE_LABELS = {"workerpool0", "chief", "master"}


def is_parameter(annotation: Any) -> bool:
    """True for a parameter type: str, int, float, bool, dict, list, List[int], ..."""
    if isinstance(annotation, type):
        if annotation in _PARAMETER_CLASSES:
            return True
        if annotation.__name__ in ("PipelineTaskFinalStatus", "TaskConfig"):
            return True
    if isinstance(annotation, str) and annotation in ("PipelineTaskFinalStatus", "TaskConfig"):
        return True
    return types.parameter_type_name(str(annotation)) is not None


def is_artifact(annotation: Any) -> bool:
    """True for an artifact class used as a bare annotation or return type."""
    return type(annotation) is type and types.is_artifact_class(annotation)


def is_named_tuple(annotation: Any) -> bool:
    """True for a NamedTuple class (a multi-output return annotation)."""
    return (
        type(annotation) is type
        and issubclass(annotation, tuple)
        and hasattr(annotation, "_fields")
        and hasattr(annotation, "__annotations__")
    )


def makedirs_for(path: str) -> None:
    """Create the parent folder of `path` (the function only receives a file path)."""
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)


def _schema_title_classes() -> dict[str, type]:
    """Artifact classes by schema title, from whichever `kfp.dsl` is loaded (real or ours)."""
    known = dict(types.SCHEMA_TITLE_TO_CLASS)
    real = sys.modules.get("kfp.dsl.types.artifact_types")
    known.update(getattr(real, "_SCHEMA_TITLE_TO_TYPE", None) or {})
    return known


def create_artifact(runtime_artifact: dict, fallback_cls: Any) -> Any:
    """An artifact instance from a RuntimeArtifact dict; the schema title picks the class."""
    title = runtime_artifact.get("type", {}).get("schemaTitle", "")
    cls = _schema_title_classes().get(title, fallback_cls)
    fields = {
        "uri": runtime_artifact.get("uri", ""),
        "name": runtime_artifact.get("name", ""),
        "metadata": runtime_artifact.get("metadata", {}),
    }
    factory = getattr(cls, "_from_executor_fields", None)
    return factory(**fields) if factory else cls(**fields)


def _resolve_annotations(func: Callable) -> dict[str, Any]:
    """Parameter annotations; string annotations (postponed evaluation) are evaluated."""
    resolved = {}
    for name, annotation in inspect.getfullargspec(func).annotations.items():
        if isinstance(annotation, str):
            # Keep the string if it does not evaluate: it may be a type name such as "str".
            with contextlib.suppress(Exception):
                annotation = eval(annotation, func.__globals__)
        resolved[name] = annotation
    return resolved


class Executor:
    """Runs one component function against one KFP ExecutorInput.

    Example::

        Executor(json.loads(executor_input_json), module.my_component).execute()
    """

    def __init__(self, executor_input: dict, function_to_execute: Callable) -> None:
        # A function still wrapped by kfp's own decorator is a PythonComponent.
        self.func = getattr(function_to_execute, "python_func", function_to_execute)
        self.executor_input = executor_input
        self.executor_output_path: str = executor_input["outputs"]["outputFile"]
        self._set_task_root(os.path.split(self.executor_output_path)[0])
        self.annotations = _resolve_annotations(self.func)
        self.return_annotation = self.annotations.pop("return", inspect.Signature.empty)
        self.executor_output: dict[str, Any] = {}
        self.input_artifacts: dict[str, Any] = {}
        self.output_artifacts: dict[str, Any] = {}
        self._scratch_dir: str | None = None
        self._assign_artifacts()

    @staticmethod
    def _set_task_root(root: str) -> None:
        artifacts.CONTAINER_TASK_ROOT = root
        real = sys.modules.get("kfp.dsl.types.artifact_types")
        if real is not None and not getattr(real, "__pinnace_standin__", False):
            # So kfp's own dsl.get_uri() works too; a module found at run time, untyped here.
            real.CONTAINER_TASK_ROOT = root  # type: ignore[attr-defined]

    # -- inputs -------------------------------------------------------------------------

    def _assign_artifacts(self) -> None:
        inputs = self.executor_input.get("inputs", {}).get("artifacts", {})
        for name, entry in inputs.items():
            runtime_artifacts = entry.get("artifacts")
            if runtime_artifacts:
                self.input_artifacts[name] = self._make_input(name, runtime_artifacts)
        outputs = self.executor_input.get("outputs", {}).get("artifacts", {})
        for name, entry in outputs.items():
            runtime_artifacts = entry.get("artifacts")
            if runtime_artifacts:
                artifact = self._make_artifact(runtime_artifacts[0], name)
                self.output_artifacts[name] = artifact
                makedirs_for(artifact.path)

    def _make_input(self, name: str, runtime_artifacts: list) -> Any:
        annotation = types.strip_optional(self.annotations.get(name))
        inner = types.io_artifact_class(annotation) if _wraps_list(annotation) else None
        if inner is None and types.is_list_of_artifacts(annotation):
            inner = annotation.__args__[0]
        if inner is not None:
            return [self._make_artifact(a, name, inner) for a in runtime_artifacts]
        return self._make_artifact(runtime_artifacts[0], name)

    def _make_artifact(self, runtime_artifact: dict, name: str, annotation: Any = None) -> Any:
        if annotation is None:
            annotation = types.strip_optional(self.annotations.get(name))
        if types.is_input_path(annotation) or types.is_output_path(annotation):
            title = str(annotation.type).split("@")[0]
            if title not in _schema_title_classes():
                raise TypeError(f"Invalid type argument to InputPath: {annotation.type}")
            annotation = _schema_title_classes()[title]
        elif types.io_artifact_class(annotation) is not None:
            annotation = types.io_artifact_class(annotation)
        if not types.is_artifact_class(annotation):
            annotation = types.Artifact
        return create_artifact(runtime_artifact, annotation)

    def _parameter_value(self, name: str) -> Any:
        values = self.executor_input.get("inputs", {}).get("parameterValues") or {}
        return values.get(name)

    def _output_parameter_path(self, name: str) -> str | None:
        parameter = self.executor_input.get("outputs", {}).get("parameters", {}).get(name)
        path = (parameter or {}).get("outputFile")
        if path:
            makedirs_for(path)
        return path or None

    def _artifact_path(self, table: dict[str, Any], name: str, kind: str) -> str:
        artifact = table.get(name)
        if not artifact:
            raise ValueError(f"Failed to get {kind} artifact path for artifact name {name}")
        return artifact.path

    def build_arguments(self) -> dict[str, Any]:
        """The keyword arguments to call the function with, following kfp's rules."""
        kwargs: dict[str, Any] = {}
        for name, raw in self.annotations.items():
            annotation = types.strip_optional(raw)
            found, value = self._argument(name, annotation)
            if found:
                kwargs[name] = value
        return kwargs

    def _argument(self, name: str, annotation: Any) -> tuple[bool, Any]:
        if _named(annotation, "PipelineTaskFinalStatus"):
            return True, _final_status(annotation, self._parameter_value(name))
        if _named(annotation, "TaskConfig"):
            return True, _task_config(annotation, self._parameter_value(name) or {})
        if types.is_list_of_artifacts(annotation):
            return True, self.input_artifacts.get(name)
        if is_parameter(annotation):
            value = _decoded(self._parameter_value(name), annotation)
            return value is not None, value  # missing: the function's default applies
        if types.is_input_artifact(annotation):
            return True, self.input_artifacts.get(name)
        if types.is_output_artifact(annotation):
            return True, self.output_artifacts.get(name)
        if _marker(annotation) == "EmbeddedAnnotation":
            return True, self._embedded_artifact(annotation)
        if is_artifact(annotation):
            return True, self.input_artifacts.get(name)
        if types.is_output_path(annotation):
            if is_parameter(annotation.type):
                return True, self._output_parameter_path(name)
            return True, self._artifact_path(self.output_artifacts, name, "output")
        if types.is_input_path(annotation):
            if name not in self.input_artifacts and is_parameter(annotation.type):
                return True, self._parameter_file(name)
            return True, self._artifact_path(self.input_artifacts, name, "input")
        return False, None

    def _parameter_file(self, name: str) -> str:
        """A file holding an input parameter's value, for `InputPath(str)` and friends.

        kfp 2's executor fails here (it looks for an artifact); the kfp 1.x function API
        passed parameters this way, so Pinnace supports it.
        """
        value = self._parameter_value(name)
        if value is None:
            raise ValueError(f"Failed to get input parameter value for InputPath {name!r}")
        if self._scratch_dir is None:
            import tempfile  # only for inputs that need a scratch copy: keep start-up lean

            self._scratch_dir = tempfile.mkdtemp(prefix="pinnace-inputs-")
        path = os.path.join(self._scratch_dir, name)
        with open(path, "w") as f:
            f.write(serialize_parameter(value))
        return path

    def _embedded_artifact(self, annotation: Any) -> Any:
        inner = annotation.__args__[0]
        artifact = (inner if types.is_artifact_class(inner) else types.Artifact)()
        path = self.func.__globals__.get("__KFP_EMBEDDED_ASSET_FILE") or self.func.__globals__.get(
            "__KFP_EMBEDDED_ASSET_DIR"
        )
        if not path:
            raise RuntimeError(
                "EmbeddedInput was specified but no embedded asset was found at runtime."
            )
        artifact.path = path
        return artifact

    # -- run and outputs ----------------------------------------------------------------

    def execute(self) -> str | None:
        """Call the function and write its outputs; return the executor output file path."""
        try:
            result = self.func(**self.build_arguments())
            return self.write_executor_output(result)
        finally:
            if self._scratch_dir is not None:
                import shutil

                shutil.rmtree(self._scratch_dir, ignore_errors=True)

    def write_executor_output(self, func_output: Any = None) -> str | None:
        """Record the return value and output artifacts, then write executor_output.json."""
        if func_output is not None:
            self._record_return(func_output)
        if self.output_artifacts:
            self.executor_output["artifacts"] = {
                name: {"artifacts": [_runtime_artifact(a)]}
                for name, a in self.output_artifacts.items()
            }
        cluster_spec = os.environ.get("CLUSTER_SPEC")
        if cluster_spec and json.loads(cluster_spec)["task"]["type"] not in _CHIEF_NODE_LABELS:
            return None  # only the chief of a distributed job writes the output file
        makedirs_for(self.executor_output_path)
        with open(self.executor_output_path, "w") as f:
            f.write(json.dumps(self.executor_output))
        return self.executor_output_path

    def _record_return(self, func_output: Any) -> None:
        annotation = self.return_annotation
        if is_parameter(annotation) or is_artifact(annotation):
            self._record_output("Output", annotation, func_output)
        elif is_named_tuple(annotation):
            fields = annotation._fields
            if len(fields) != len(func_output):
                raise RuntimeError(
                    f"Expected {len(fields)} return values from function "
                    f"`{self.func.__name__}`, got {len(func_output)}"
                )
            for index, field in enumerate(fields):
                value = (
                    func_output[index]
                    if type(func_output) is tuple
                    else getattr(func_output, field)
                )
                self._record_output(field, annotation.__annotations__[field], value)
        else:
            raise RuntimeError(
                f"Unknown return type: {annotation}. Must be one of `str`, `int`, `float`, a "
                "subclass of `Artifact`, or a NamedTuple collection of these types."
            )

    def _record_output(self, name: str, annotation: Any, value: Any) -> None:
        if is_parameter(annotation):
            origin = getattr(annotation, "__origin__", None) or annotation
            accepted = (int, float) if origin is float else origin
            if not isinstance(value, accepted):
                raise ValueError(
                    f"Function `{self.func.__name__}` returned value of type {type(value)}; "
                    f"want type {origin}"
                )
            _check_serializable(value)
            self.executor_output.setdefault("parameterValues", {})[name] = value
        elif is_artifact(annotation):
            if types.is_artifact_class(value) and not isinstance(value, type):
                self.output_artifacts[name] = value  # the function returned an artifact
            else:
                path = self._artifact_path(self.output_artifacts, name, "output")
                with open(path, "w") as f:
                    f.write(str(value))
        else:
            raise RuntimeError(
                f"Unknown return type: {annotation}. Must be one of the supported data types: "
                "https://www.kubeflow.org/docs/components/pipelines/v2/data-types/"
            )


def serialize_parameter(value: Any) -> str:
    """A parameter value as text, as kfp serializes output parameters."""
    _check_serializable(value)
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value)


def _check_serializable(value: Any) -> None:
    if not isinstance(value, (str, int, float, bool, list, dict)):
        raise ValueError(
            f"Unable to serialize unknown type `{value}` for parameter input with value "
            f"`{type(value)}`"
        )


def _runtime_artifact(artifact: Any) -> dict[str, Any]:
    record = {"name": artifact.name, "uri": artifact.uri, "metadata": artifact.metadata}
    custom = getattr(artifact, "custom_path", "")
    if custom:
        # `Output.set_path(...)`: on Kubeflow the launcher uploads from the custom path in the
        # pod. Here the step itself copies it to the declared place, so the engine reads
        # outputs only inside the task's folder.
        target = types.local_path_for_uri(artifact.uri)
        if os.path.abspath(custom) != os.path.abspath(target) and os.path.lexists(custom):
            _copy_output(custom, target)
        else:
            record["custom_path"] = custom
    return record


def _copy_output(source: str, target: str) -> None:
    import shutil  # only here: the runtime's start-up stays lean

    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    if os.path.isdir(source) and not os.path.islink(source):
        shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
    else:
        shutil.copy2(source, target, follow_symlinks=False)


def _decoded(value: Any, annotation: Any) -> Any:
    """A dict, list or bool input that arrives as a string: JSON-decoded, as kfp 1.8's v2
    executor does (schemaVersion 2.0.0 types such parameters STRING); else `value` as is."""
    kind = getattr(annotation, "__origin__", annotation)
    if not isinstance(value, str) or kind not in (dict, list, bool):
        return value
    try:
        decoded = json.loads(value.lower() if kind is bool else value)
    except ValueError:
        return value
    return decoded if isinstance(decoded, kind) else value


def _named(annotation: Any, name: str) -> bool:
    return isinstance(annotation, type) and annotation.__name__ == name


def _marker(annotation: Any) -> str | None:
    metadata = getattr(annotation, "__metadata__", None)
    return getattr(metadata[0], "__name__", None) if metadata else None


def _wraps_list(annotation: Any) -> bool:
    """True for `Input[List[Dataset]]`."""
    if not types.is_input_artifact(annotation):
        return False
    return getattr(annotation.__args__[0], "__origin__", None) is list


def _final_status(cls: type, value: dict | None) -> Any:
    value = value or {}
    job_key = "pipelineJobResourceName"
    if value.get(job_key) is None:
        job_key = "pipeline_job_resource_name"
    task_key = "pipelineTaskName"
    if value.get(task_key) is None:
        task_key = "pipeline_task_name"
    error = value.get("error", {})
    return cls(
        state=value.get("state"),
        pipeline_job_resource_name=value.get(job_key),
        pipeline_task_name=value.get(task_key),
        error_code=error.get("code"),
        error_message=error.get("message"),
    )


def _task_config(cls: type, value: dict) -> Any:
    return cls(
        affinity=value.get("affinity"),
        tolerations=value.get("tolerations"),
        node_selector=value.get("nodeSelector"),
        env=value.get("env"),
        volumes=value.get("volumes"),
        volume_mounts=value.get("volumeMounts"),
        resources=value.get("resources"),
    )
