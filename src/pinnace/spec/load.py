"""Load a pipeline spec from a file, text or dict, whatever wrote it, as a validated IR dict."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PipelineSourceError, SpecError
from .argo import convert_argo_workflow, is_argo_workflow
from .ir_v20 import is_v20, upgrade_v20
from .validate import validate_platform_spec, validate_spec
from .yaml_safe import DEFAULT_LIMITS, YamlLimits, check_tree, load_documents

__all__ = ["LoadedSpec", "load_spec"]

_EXPECTED = (
    "expected a kfp 2.x pipeline spec (schemaVersion/root/components), a PipelineJob "
    "(pipelineSpec), or a kfp 1.x Argo Workflow (apiVersion argoproj.io/v1alpha1, kind Workflow)"
)


@dataclass(frozen=True)
class LoadedSpec:
    """What `load_spec` found.

    pipeline_spec:  the PipelineSpec as a JSON-like dict with the YAML's camelCase keys.
    platform_spec:  the optional second YAML document (`{"platforms": {...}}`), else None.
    source_format:  "ir" (kfp 2.x / pinnace YAML or JSON), "pipeline_job" (a PipelineJob
                    wrapper; its runtimeConfig is kept) or "argo" (converted from kfp 1.x).
    runtime_config: the PipelineJob's runtimeConfig (parameter values...), else None.
    notes:          things dropped while converting an Argo workflow (empty otherwise).
    """

    pipeline_spec: dict[str, Any]
    platform_spec: dict[str, Any] | None
    source_format: str
    runtime_config: dict[str, Any] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def load_spec(
    source: str | Path | bytes | Mapping[str, Any],
    *,
    path_hint: str | None = None,
    validate: bool = True,
    limits: YamlLimits = DEFAULT_LIMITS,
) -> LoadedSpec:
    """Load and (by default) validate a pipeline spec.

    `source` is a Path (a file), bytes (file content), a dict (an already parsed document),
    or a str: YAML/JSON text when it holds a newline or starts with "{", else a file path.
    `path_hint` names the source in errors. Raises PipelineSourceError when a file cannot
    be read, SpecError for anything else (with file, line or field path).

    Example: ``load_spec(Path("basic_pipeline.yaml")).pipeline_spec["root"]["dag"]["tasks"]``.
    """
    docs, where = _documents(source, path_hint, limits)
    docs = [d for d in docs if d is not None]
    if not docs:
        raise SpecError("the document is empty", path=where, hint=_EXPECTED)
    first = docs[0]
    if not isinstance(first, Mapping):
        raise SpecError(
            f"the document is a {type(first).__name__}, not a mapping", path=where, hint=_EXPECTED
        )
    platform = _platform_spec(docs[1:], where)
    loaded = _detect(dict(first), platform, where)
    if validate:
        validate_spec(loaded.pipeline_spec, path=where)
        if loaded.platform_spec is not None:
            validate_platform_spec(loaded.platform_spec, path=where)
    return loaded


def _documents(
    source: str | Path | bytes | Mapping[str, Any], path_hint: str | None, limits: YamlLimits
) -> tuple[list[Any], str | None]:
    if isinstance(source, Mapping):
        check_tree(source, path_hint, limits)
        return [copy.deepcopy(dict(source))], path_hint
    if isinstance(source, bytes):
        return load_documents(source, path=path_hint, limits=limits), path_hint
    if isinstance(source, str) and ("\n" in source or source.lstrip().startswith("{")):
        return load_documents(source, path=path_hint, limits=limits), path_hint
    if not isinstance(source, (str, Path)):
        raise SpecError(
            f"cannot load a spec from a {type(source).__name__}",
            path=path_hint,
            hint="pass a path, YAML/JSON text, bytes or a dict",
        )
    file = Path(source)
    where = path_hint or str(file)
    try:
        size = file.stat().st_size
        if size > limits.max_bytes:  # refuse before reading a huge file into memory
            raise _too_big(size, limits, where)
        data = file.read_bytes()
    except OSError as exc:
        raise PipelineSourceError(
            f"cannot read the pipeline file: {exc.strerror or exc}",
            path=where,
            hint="check the path and its permissions",
        ) from None
    return load_documents(data, path=where, limits=limits), where


def _too_big(size: int, limits: YamlLimits, where: str) -> SpecError:
    return SpecError(
        f"file is {size} bytes, over the limit of {limits.max_bytes} bytes",
        path=where,
        hint="pipeline specs are small; is this the right file?",
    )


def _platform_spec(rest: list[Any], where: str | None) -> dict[str, Any] | None:
    if not rest:
        return None
    if len(rest) > 1 or not isinstance(rest[0], Mapping) or "platforms" not in rest[0]:
        raise SpecError(
            "only one extra YAML document is allowed: a platform spec with a 'platforms' key",
            path=where,
            field="(document 2)",
            hint="write the pipeline spec first and the platform spec second",
        )
    return dict(rest[0])


def _detect(doc: dict[str, Any], platform: dict[str, Any] | None, where: str | None) -> LoadedSpec:
    if is_argo_workflow(doc):
        notes: list[str] = []
        spec = convert_argo_workflow(doc, path=where, notes=notes)
        return LoadedSpec(spec, platform, "argo", notes=tuple(notes))
    if "pipelineSpec" in doc:
        spec = doc["pipelineSpec"]
        if not isinstance(spec, Mapping):
            raise SpecError("pipelineSpec must be a mapping", field="pipelineSpec", path=where)
        runtime = doc.get("runtimeConfig")
        if is_v20(spec):  # kfp 1.8's kfp.v2.compiler: its runtimeConfig holds typed values
            values = runtime.get("parameters") if isinstance(runtime, Mapping) else None
            spec = upgrade_v20(spec, values or {}, path=where, prefix="pipelineSpec")
            defaults = spec["root"].get("inputDefinitions", {}).get("parameters", {})
            runtime = {
                **{k: v for k, v in dict(runtime or {}).items() if k != "parameters"},
                "parameterValues": {k: defaults[k]["defaultValue"] for k in values or {}},
            }
        return LoadedSpec(
            dict(spec),
            platform,
            "pipeline_job",
            runtime_config=dict(runtime) if isinstance(runtime, Mapping) else None,
        )
    if "root" in doc or "schemaVersion" in doc or "deploymentSpec" in doc:
        return LoadedSpec(upgrade_v20(doc, path=where) if is_v20(doc) else doc, platform, "ir")
    _refuse_other(doc, where)
    raise SpecError("this is not a pipeline spec", path=where, hint=_EXPECTED)


def _refuse_other(doc: Mapping[str, Any], where: str | None) -> None:
    if "implementation" in doc and ("name" in doc or "inputs" in doc or "outputs" in doc):
        raise SpecError(
            f"this is a component ({doc.get('name') or 'unnamed'}), not a pipeline",
            path=where,
            hint="use it inside a pipeline (kfp.components.load_component_from_file) and "
            "compile that pipeline, then load the pipeline file",
        )
    api, kind = str(doc.get("apiVersion", "")), doc.get("kind")
    if api.startswith("argoproj.io/"):
        raise SpecError(
            f"an Argo {kind} cannot be imported; only a kfp 1.x Workflow can",
            field="kind",
            path=where,
            hint=_EXPECTED,
        )
