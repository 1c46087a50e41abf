"""`Compiler().compile(...)` and `compile_pipeline(...)`: pipeline in, IR out."""

from __future__ import annotations

import os
from typing import Any

from ..dsl.graph import BaseComponent, Pipeline
from ..errors import CompileError
from ..spec.protos import pipeline_spec_pb2
from . import _builder
from ._platform import PLATFORM_KEY, check_workspace
from .spec_file import serialize, write_atomic


def _normalize(spec: dict[str, Any]) -> dict[str, Any]:
    """Round-trip through the kfp-pipeline-spec protos, so numbers, defaults and empty
    messages serialize exactly as kfp's `MessageToDict` writes them.

    Entry by entry (`_normalize_entries`) where the spec has the usual shape, which gives
    the same dict in less time; the whole spec at once otherwise, or where an entry fails
    (so errors read as before)."""
    try:
        fast = _normalize_entries(spec)
    except Exception:  # the whole-spec round trip below says what is wrong
        fast = None
    return fast if fast is not None else _normalize_whole(spec)


def _normalize_whole(spec: dict[str, Any]) -> dict[str, Any]:
    from google.protobuf import json_format

    protos = pipeline_spec_pb2()
    deployment = json_format.ParseDict(
        spec.pop("deploymentSpec"), protos.PipelineDeploymentConfig()
    )
    message = json_format.ParseDict(spec, protos.PipelineSpec())
    message.deployment_spec.update(json_format.MessageToDict(deployment))
    return json_format.MessageToDict(message)


#: the executor label, task name and component name that components and tasks are
#: normalized with, then replaced by their own: string fields are written as they are
_NAME = "pinnace-normalized-name"


def _normalize_entries(spec: dict[str, Any]) -> dict[str, Any] | None:
    """What `_normalize_whole` returns, built from one round trip per component, task and
    executor, each distinct entry once (a fan-out of 1,000 tasks has one executor, and
    components and tasks that differ only in their names); None when the spec's shape is
    not the usual one. The maps' order, which is the protobuf map's and not the dict's, comes
    from the round trip of a skeleton with an empty entry in place of each: the same keys
    inserted in the same order iterate in the same order. Each entry is a fresh dict."""
    import json

    from google.protobuf import json_format, struct_pb2

    root: Any = spec.get("root")
    deployment: Any = spec.get("deploymentSpec")
    components: Any = spec.get("components", {})
    dag = root.get("dag") if isinstance(root, dict) else None
    tasks = dag.get("tasks", {}) if isinstance(dag, dict) else {}
    executors = deployment.get("executors") if isinstance(deployment, dict) else None
    if not (isinstance(tasks, dict) and isinstance(components, dict)):
        return None
    if not isinstance(executors, dict):
        return None
    skeleton = dict(spec)
    skeleton["deploymentSpec"] = {**deployment, "executors": {key: {} for key in executors}}
    if "components" in spec:
        skeleton["components"] = {key: {} for key in components}
    if isinstance(dag, dict) and "tasks" in dag:
        skeleton["root"] = {**root, "dag": {**dag, "tasks": {key: {} for key in tasks}}}
    normalized = _normalize_whole(skeleton)

    protos = pipeline_spec_pb2()
    seen: dict[str, str] = {}

    def once(key: str, convert: Any) -> Any:
        text = seen.get(key)
        if text is not None:
            return json.loads(text)
        result = convert()
        seen[key] = json.dumps(result)  # before the caller changes the result
        return result

    def component(value: Any) -> Any:
        return named(value, [("executorLabel",)], "c", protos.ComponentSpec)

    def task(value: Any) -> Any:
        paths: list[tuple[str, ...]] = [("taskInfo", "name"), ("componentRef", "name")]
        paths.append(("dependentTasks",))
        inputs = value.get("inputs") if isinstance(value, dict) else None
        for kind, source in _PRODUCERS:
            found = inputs.get(kind) if isinstance(inputs, dict) else None
            for name in found if isinstance(found, dict) else ():
                paths.append(("inputs", kind, name, source, "producerTask"))
        return named(value, paths, "t", protos.PipelineTaskSpec)

    def named(value: Any, paths: list[tuple[str, ...]], kind: str, message: Any) -> Any:
        """The round trip of `value` with the names at `paths` (plain string fields, written
        as they are) put back after that of a template with `_NAME` in their place."""
        if not isinstance(value, dict):
            return _round_trip(value, message())
        template, holes = _holes(value, paths)
        result = once(kind + repr(template), lambda: _round_trip(template, message()))
        for path, name in holes:
            _fill(result, path, name)
        return result

    def executor(value: Any) -> Any:
        def convert() -> Any:
            plain = _round_trip(value, protos.PipelineDeploymentConfig.ExecutorSpec())
            struct = struct_pb2.Struct()
            struct.update({"executor": plain})
            return json_format.MessageToDict(struct)["executor"]

        return once("e" + repr(value), convert)

    if "components" in normalized:
        out = normalized["components"]
        for name in out:
            out[name] = component(components[name])
    out = normalized["deploymentSpec"]["executors"]
    for label in out:
        out[label] = executor(executors[label])
    out = normalized["root"].get("dag", {}).get("tasks", {})
    for name in out:
        out[name] = task(tasks[name])
    return normalized


#: where a task's inputs name the task they come from
_PRODUCERS = (("parameters", "taskOutputParameter"), ("artifacts", "taskOutputArtifact"))


def _holes(value: dict[str, Any], paths: list[tuple[str, ...]]) -> tuple[dict, list]:
    """A copy of `value` with `_NAME` for the non-empty string (or strings) at each path
    (parents copied, nothing shared changed), and the (path, value) pairs replaced."""
    template = dict(value)
    holes: list[tuple[tuple[str, ...], Any]] = []
    for path in paths:
        node: Any = template
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        leaf = node.get(path[-1]) if isinstance(node, dict) else None
        if isinstance(leaf, str) and leaf:
            hole: Any = _NAME
        elif isinstance(leaf, list) and leaf and all(isinstance(n, str) and n for n in leaf):
            hole = [_NAME] * len(leaf)
        else:
            continue
        node = template
        for key in path[:-1]:
            node[key] = dict(node[key])
            node = node[key]
        node[path[-1]] = hole
        holes.append((path, leaf))
    return template, holes


def _fill(result: Any, path: tuple[str, ...], name: Any) -> None:
    """Put a name `_holes` replaced back into the round trip of its template."""
    for key in path[:-1]:
        result = result.get(key) if isinstance(result, dict) else None
    hole = _NAME if isinstance(name, str) else [_NAME] * len(name)
    if not isinstance(result, dict) or result.get(path[-1]) != hole:
        raise ValueError(f"unexpected {'.'.join(path)}")  # the whole-spec round trip
    result[path[-1]] = name if isinstance(name, str) else list(name)


def _round_trip(value: Any, message: Any) -> dict[str, Any]:
    from google.protobuf import json_format

    return json_format.MessageToDict(json_format.ParseDict(value, message))


def _normalize_platform(platform: dict[str, Any]) -> dict[str, Any]:
    """Through the PlatformSpec proto, as kfp writes it (Struct values)."""
    from google.protobuf import json_format

    message = json_format.ParseDict(platform, pipeline_spec_pb2().PlatformSpec())
    return json_format.MessageToDict(message)


def _override(
    spec: dict[str, Any], pipeline_name: str | None, pipeline_parameters: dict[str, Any] | None
) -> None:
    if pipeline_name is not None:
        spec["pipelineInfo"]["name"] = pipeline_name
    inputs = spec["root"].get("inputDefinitions", {})
    for name, value in (pipeline_parameters or {}).items():
        if name in inputs.get("parameters", {}):
            if value is not None:
                inputs["parameters"][name]["defaultValue"] = value
        elif name in inputs.get("artifacts", {}):
            raise CompileError(
                f"pipeline parameter {name!r} is an artifact; artifact inputs cannot have defaults",
                pipeline=spec["pipelineInfo"]["name"],
                hint="remove it from pipeline_parameters",
            )
        else:
            raise CompileError(
                f"pipeline parameter {name!r} does not match any pipeline input",
                pipeline=spec["pipelineInfo"]["name"],
                hint=f"inputs: {', '.join(inputs.get('parameters', {}))}",
            )


def compile_pipeline(
    pipeline_func: Any,
    *,
    pipeline_name: str | None = None,
    pipeline_parameters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Compile a `@dsl.pipeline` (or a single component) to the IR, as a JSON-like dict.

    Example::

        spec = compile_pipeline(my_pipeline)
        spec["root"]["dag"]["tasks"].keys()
    """
    spec, _ = compile_documents(
        pipeline_func, pipeline_name=pipeline_name, pipeline_parameters=pipeline_parameters
    )
    return spec


def compile_documents(
    pipeline_func: Any,
    *,
    pipeline_name: str | None = None,
    pipeline_parameters: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The IR and the platform spec (kfp-kubernetes' settings; None without any)."""
    if isinstance(pipeline_func, Pipeline):
        spec = _builder.build_pipeline_spec(pipeline_func)
    elif isinstance(pipeline_func, BaseComponent):
        spec = _builder.build_component_spec(pipeline_func)
    else:
        raise CompileError(
            f"cannot compile {pipeline_func!r}: not a pipeline or component",
            hint="decorate the function with @dsl.pipeline (or @dsl.component)",
        )
    _override(spec, pipeline_name, pipeline_parameters)
    platform = spec.pop(PLATFORM_KEY, None)
    check_workspace(spec, platform)
    try:
        return _normalize(spec), _normalize_platform(platform) if platform else None
    except (ValueError, TypeError) as exc:  # protobuf's ParseError is a ValueError
        raise CompileError(
            f"the pipeline spec is invalid: {exc}",
            pipeline=spec["pipelineInfo"]["name"],
            hint="check constant arguments: only str, int, float, bool, list and dict are allowed",
        ) from None


class Compiler:
    """Compiles pipelines to the KFP pipeline spec (kfp's `compiler.Compiler`).

    Example::

        Compiler().compile(my_pipeline, "my_pipeline.yaml")
    """

    def compile(
        self,
        pipeline_func: Any,
        package_path: str,
        pipeline_name: str | None = None,
        pipeline_parameters: dict[str, Any] | None = None,
        type_check: bool = True,
    ) -> None:
        """Compile and write YAML (or JSON when the path ends with .json), atomically."""
        spec, platform = compile_documents(
            pipeline_func, pipeline_name=pipeline_name, pipeline_parameters=pipeline_parameters
        )
        description = pipeline_func.description if isinstance(pipeline_func, Pipeline) else None
        text = serialize(spec, os.fspath(package_path), description, platform)
        try:
            write_atomic(os.fspath(package_path), text)
        except OSError as exc:
            raise CompileError(
                f"cannot write {package_path}: {exc.strerror or exc}",
                hint="check that the folder exists and is writable",
            ) from None
