"""`Compiler().compile(...)` and `compile_pipeline(...)`: pipeline in, IR out."""

from __future__ import annotations

import os
from typing import Any

from ..dsl.graph import BaseComponent, Pipeline
from ..errors import CompileError
from ..spec import entries
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


def _normalize_entries(spec: dict[str, Any]) -> dict[str, Any] | None:
    """What `_normalize_whole` returns, built from one round trip per distinct component,
    task and executor, names aside (`spec.entries`: a fan-out or chain of 1,000 tasks has one
    of each), and one of the spec's skeleton, for the maps' order; None when the spec's shape
    is not the usual one, or it has only a few entries. Each entry is a fresh dict."""
    import json

    from google.protobuf import json_format, struct_pb2

    found = entries.entries(spec)
    if found is None:
        return None
    components, tasks, executors = found
    normalized = _normalize_whole(entries.skeleton(spec))
    protos = pipeline_spec_pb2()
    seen: dict[str, str] = {}

    def once(key: str, convert: Any) -> Any:
        text = seen.get(key)
        if text is not None:
            return json.loads(text)
        result = convert()
        seen[key] = json.dumps(result)  # before the caller changes the result
        return result

    def named(value: Any, kind: str, message: Any) -> Any:
        """The round trip of `value`, from that of its template (names put back)."""
        depth = entries.DEPTH[kind]
        if not isinstance(value, dict):
            return _round_trip(value, message(), depth)
        template, holes = entries.template(value, entries.name_paths(kind, value))
        result = once(kind + repr(template), lambda: _round_trip(template, message(), depth))
        for path, name in holes:
            entries.fill(result, path, name)
        return result

    def executor(value: Any) -> Any:
        def convert() -> Any:
            executor = protos.PipelineDeploymentConfig.ExecutorSpec()
            plain = _round_trip(value, executor, entries.DEPTH["executor"])
            struct = struct_pb2.Struct()
            struct.update({"executor": plain})
            return json_format.MessageToDict(struct)["executor"]

        return once("executor" + repr(value), convert)

    if "components" in normalized:
        out = normalized["components"]
        for name in out:
            out[name] = named(components[name], "component", protos.ComponentSpec)
    out = normalized["deploymentSpec"]["executors"]
    for label in out:
        out[label] = executor(executors[label])
    out = normalized["root"].get("dag", {}).get("tasks", {})
    for name in out:
        out[name] = named(tasks[name], "task", protos.PipelineTaskSpec)
    return normalized


def _round_trip(value: Any, message: Any, depth: int) -> dict[str, Any]:
    """MessageToDict(ParseDict(...)) of an entry that `depth` messages enclose in the whole
    spec: its nesting limit is that many levels less than the whole spec's (100)."""
    from google.protobuf import json_format

    parsed = json_format.ParseDict(value, message, max_recursion_depth=100 - depth)
    return json_format.MessageToDict(parsed)


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
