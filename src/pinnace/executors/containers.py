"""Container components in a local container engine (docker or podman), when one answers.

The task's work folder and its input artifact paths are bind-mounted at the same paths,
so the placeholders the engine resolved (local paths) mean the same inside the container.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENGINES = ("docker", "podman")


@dataclass(frozen=True)
class EngineProbe:
    """The container engine found (`engine` is None when none answers) and why not others."""

    engine: str | None
    reasons: tuple[str, ...]

    def explain(self) -> str:
        return "; ".join(self.reasons) or "no container engine was looked for"


def probe_engines(engines: Sequence[str] = ENGINES, timeout: float = 5.0) -> EngineProbe:
    """The first engine on PATH whose `info` succeeds within `timeout` seconds."""
    reasons = []
    for name in engines:
        path = shutil.which(name)
        if path is None:
            reasons.append(f"{name}: not on PATH")
            continue
        try:
            result = subprocess.run(
                [path, "info"], capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired:
            reasons.append(f"{name}: `{name} info` did not answer within {timeout:g}s")
            continue
        except OSError as exc:
            reasons.append(f"{name}: cannot run it ({exc})")
            continue
        if result.returncode == 0:
            return EngineProbe(path, tuple(reasons))
        detail = result.stderr.decode("utf-8", "replace").strip().splitlines() or ["no detail"]
        reasons.append(f"{name}: its engine is not running ({detail[-1]})")
    return EngineProbe(None, tuple(reasons))


def input_paths(executor_input: Mapping[str, Any]) -> list[str]:
    """Local paths of the input artifacts (the engine resolved their URIs to paths)."""
    paths = []
    for entry in (executor_input.get("inputs", {}).get("artifacts") or {}).values():
        for artifact in entry.get("artifacts", []):
            uri = str(artifact.get("uri", ""))
            if uri.startswith("/"):
                paths.append(uri)
    return paths


def container_command(
    engine: str,
    *,
    image: str,
    command: Sequence[str],
    args: Sequence[str],
    workdir: Path,
    mounts: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    gpus: Sequence[str] | None = None,
    cpus: float | None = None,
    memory_bytes: int | None = None,
    user: str | None = None,
    name: str | None = None,
) -> list[str]:
    """The `docker run` (or podman) argv for one execution; a pure function of its inputs."""
    argv = [engine, "run", "--rm", "--workdir", str(workdir)]
    if name:
        argv += ["--name", name]
    if user:
        argv += ["--user", user]
    for path in dict.fromkeys([str(workdir), *mounts]):  # each once, in order
        argv += ["--volume", f"{path}:{path}"]
    for key, value in sorted((env or {}).items()):
        argv += ["--env", f"{key}={value}"]
    if gpus:
        argv += ["--gpus", f"device={','.join(gpus)}"]
    if cpus:
        argv += ["--cpus", f"{cpus:g}"]
    if memory_bytes:
        argv += ["--memory", str(memory_bytes)]
    if command:
        argv += ["--entrypoint", command[0], image, *command[1:], *args]
    else:
        argv += [image, *args]
    return argv


def current_user() -> str | None:
    """uid:gid, so files the container writes in the work folder stay ours."""
    if not hasattr(os, "getuid"):
        return None
    return f"{os.getuid()}:{os.getgid()}"
