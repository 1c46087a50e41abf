"""The same calls under the real kfp.local and under Pinnace's local runner give the same results.

Components that install nothing (`install_kfp_package=False`, kfp on PATH) run offline under
kfp 2.17.3's SubprocessRunner too: both runners execute the same program in a fresh interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("kfp.local")

PROGRAM = """
import json, sys
from kfp import dsl, local

local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=sys.argv[1])


@dsl.component(install_kfp_package=False)  # nothing to install: both run it offline
def greet(name: str, card: dsl.Output[dsl.Artifact]) -> str:
    with open(card.path, "w") as f:
        f.write(f"card for {name}")
    return f"hello {name}"


@dsl.pipeline
def twice(name: str = "ada") -> str:
    first = greet(name=name)
    return greet(name=first.outputs["Output"]).outputs["Output"]


task = greet(name="grace")
results = {
    "greeting": task.outputs["Output"],
    "card_type": type(task.outputs["card"]).__name__,
    "card": open(task.outputs["card"].path).read(),
    "pipeline": twice(name="ada").output,
}
try:
    greet(name="x").after(task)
except Exception as exc:
    results["after"] = str(exc).split("\\n")[0]  # kfp: Exception; Pinnace: a RuntimeError
print("RESULTS" + json.dumps(results))
"""


def _run(tmp_path: Path, with_pinnace: bool) -> dict:
    folder = tmp_path / ("pinnace" if with_pinnace else "kfp")
    folder.mkdir()
    (folder / "program.py").write_text(PROGRAM)
    if with_pinnace:
        (folder / "sitecustomize.py").write_text(
            "import pinnace.kfp_alias\npinnace.kfp_alias.activate()\n"
        )
    done = subprocess.run(
        [sys.executable, "program.py", str(folder / "outputs")],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        env={
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "PYTHONPATH": str(folder),
            "PINNACE_HOME": str(folder / "home"),
            "HOME": str(folder),
        },
    )
    assert done.returncode == 0, done.stdout + done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULTS"))
    return json.loads(line[len("RESULTS") :])


def test_pinnace_local_returns_what_kfp_local_returns(tmp_path):
    kfp = _run(tmp_path, with_pinnace=False)
    ours = _run(tmp_path, with_pinnace=True)
    assert kfp["greeting"] == "hello grace" and kfp["pipeline"] == "hello hello ada"
    assert ours == kfp
