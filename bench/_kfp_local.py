"""The `kfp.local` side: a kfp 2.x venv under bench/.cache and timed runs of kfp_local_side.py.

The venv gets the same pandas, scikit-learn and joblib versions as Pinnace's task environment,
because `SubprocessRunner(use_venv=False)` runs every task with the venv's own interpreter.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

KFP_VERSION = "2.17.3"
SIDE_SCRIPT = Path(__file__).resolve().parent / "kfp_local_side.py"
_VERSIONS = (
    "import importlib.metadata as m, json; "
    "print(json.dumps({n: m.version(n) for n in ('pandas', 'scikit-learn', 'joblib')}))"
)


def ensure_kfp_venv(venv: Path, task_python: Path) -> Path:
    """The kfp venv's python, created with uv once; packages pinned to the tasks' versions."""
    python = venv / "bin" / "python"
    marker = venv / "bench-ready.json"
    versions = json.loads(_check([str(task_python), "-c", _VERSIONS]))
    wanted = [f"kfp=={KFP_VERSION}", "pip", *(f"{n}=={v}" for n, v in sorted(versions.items()))]
    if marker.is_file() and json.loads(marker.read_text()) == wanted:
        return python
    uv = _uv()
    if not python.exists():
        _check([uv, "venv", "--python", sys.executable, str(venv)])
    _check([uv, "pip", "install", "--python", str(python), *wanted])
    marker.write_text(json.dumps(wanted))
    return python


def time_kfp_local(
    python: Path,
    mode: str,
    *,
    use_venv: bool = False,
    csv: Path | None = None,
    n: int = 20,
    timeout: float = 3600,
) -> dict[str, Any]:
    """One kfp.local run in a fresh process: wall seconds, the pipeline call's seconds, error."""
    scratch = Path(tempfile.mkdtemp(prefix=f"kfp-local-{mode}-"))
    argv = [
        str(python),
        "-W",
        "ignore",
        str(SIDE_SCRIPT),
        mode,
        "--root",
        str(scratch / "out"),
        "--n",
        str(n),
    ]
    if use_venv:
        argv.append("--use-venv")
    if csv is not None:
        argv += ["--csv", str(csv)]
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    }
    started = time.perf_counter()
    try:
        done = subprocess.run(
            argv, cwd=scratch, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {"wall": time.perf_counter() - started, "error": f"timed out after {timeout:.0f}s"}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    wall = time.perf_counter() - started
    report = _last_json(done.stdout)
    if not report:
        tail = (done.stdout + done.stderr)[-1500:]
        return {"wall": wall, "error": f"exit {done.returncode}, no report:\n{tail}"}
    error = report.get("error")
    if error:
        error = f"{error}\n{(done.stdout + done.stderr)[-1500:]}"
    return {
        "wall": wall,
        "pipeline": report["seconds"],
        "import": report["import_seconds"],
        "error": error,
    }


def _uv() -> str:
    found = Path(sys.executable).with_name("uv")
    return str(found) if found.exists() else (shutil.which("uv") or "uv")


def _check(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        output = done.stdout[-1500:] + done.stderr[-1500:]
        raise RuntimeError(f"`{' '.join(argv)}` failed:\n{output}")
    return done.stdout


def _last_json(stdout: str) -> dict[str, Any]:
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return {}
    return {}
