"""Spec files: the text kfp writes for a compiled spec (YAML with its header, or JSON), and
writing it atomically. Used by `Compiler.compile`, `pinnace compile` and component files."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from ..errors import CompileError

_COMMENT_TYPES = {
    "STRING": "str",
    "NUMBER_INTEGER": "int",
    "NUMBER_DOUBLE": "float",
    "LIST": "list",
    "STRUCT": "dict",
    "BOOLEAN": "bool",
    "TASK_FINAL_STATUS": "PipelineTaskFinalStatus",
}


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
