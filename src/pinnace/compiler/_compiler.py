"""`Compiler().compile(...)` and `compile_pipeline(...)`: pipeline in, IR out."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from ..dsl.graph import BaseComponent, Pipeline
from ..errors import CompileError
from . import _builder
from ._platform import PLATFORM_KEY, check_workspace

_COMMENT_TYPES = {
    "STRING": "str",
    "NUMBER_INTEGER": "int",
    "NUMBER_DOUBLE": "float",
    "LIST": "list",
    "STRUCT": "dict",
    "BOOLEAN": "bool",
    "TASK_FINAL_STATUS": "PipelineTaskFinalStatus",
}


def _normalize(spec: dict[str, Any]) -> dict[str, Any]:
    """Round-trip through the kfp-pipeline-spec protos, so numbers, defaults and empty
    messages serialize exactly as kfp's `MessageToDict` writes them."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    deployment = json_format.ParseDict(
        spec.pop("deploymentSpec"), pipeline_spec_pb2.PipelineDeploymentConfig()
    )
    message = json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    message.deployment_spec.update(json_format.MessageToDict(deployment))
    return json_format.MessageToDict(message)


def _normalize_platform(platform: dict[str, Any]) -> dict[str, Any]:
    """Through the PlatformSpec proto, as kfp writes it (Struct values)."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    message = json_format.ParseDict(platform, pipeline_spec_pb2.PlatformSpec())
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


def _header(spec: dict[str, Any], description: str | None) -> str:
    """The `# PIPELINE DEFINITION` comment block kfp writes on top of a YAML spec."""
    lines = ["# PIPELINE DEFINITION", "# Name: " + spec["pipelineInfo"]["name"]]
    if description:
        lines.append("# Description: " + "\n#              ".join(description.splitlines()))
    headings = (("inputDefinitions", "# Inputs:"), ("outputDefinitions", "# Outputs:"))
    for key, heading in headings:
        if key not in spec["root"]:
            continue
        lines.append(heading)
        entries = []
        for name, body in spec["root"][key].get("parameters", {}).items():
            type_name = _COMMENT_TYPES.get(body["parameterType"], body["parameterType"])
            text = f"#    {name}: {type_name}"
            if "defaultValue" in body:
                default = body["defaultValue"]
                default = f"'{default}'" if isinstance(default, str) else default
                text += f" [Default: {default}]"
            entries.append((name, text))
        for name, body in spec["root"][key].get("artifacts", {}).items():
            entries.append((name, f"#    {name}: {body['artifactType']['schemaTitle']}"))
        lines.extend(text for _, text in sorted(entries, key=lambda e: e[0]))
    return "\n".join(lines) + "\n"


def serialize(
    spec: dict[str, Any],
    path: str,
    description: str | None = None,
    platform: dict[str, Any] | None = None,
) -> str:
    """The text of a spec file: YAML with kfp's header (or JSON for a `.json` path); the
    platform spec, if any, is the YAML's second document."""
    if path.endswith(".json"):
        if platform:
            raise CompileError(
                "Platform-specific features are only supported when serializing to YAML",
                hint="write the pipeline to a .yaml file",
            )
        return json.dumps(spec, indent=2, sort_keys=True)
    if not path.endswith((".yaml", ".yml")):
        raise CompileError(
            f"the output path {path} should end with .yaml, .yml or .json",
            hint="pass a package_path like 'pipeline.yaml'",
        )
    import yaml

    documents = [spec, platform] if platform else [spec]
    return _header(spec, description) + yaml.dump_all(documents, sort_keys=True)


def write_atomic(path: str, text: str) -> None:
    """Write through a temporary file in the same folder, then rename over the target."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".pinnace-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        # mkstemp creates 0600; give the file the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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
