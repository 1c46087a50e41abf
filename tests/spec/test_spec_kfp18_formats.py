"""kfp 1.8.22's other outputs load and run: V2_COMPATIBLE Argo workflows and 2.0.0 IR.

The documents are compiled at test time by the real kfp 1.8.22 (its cached venv, built from the
package index: marked `index`) and run by `pinnace run --use-current-python`, so the run itself
needs no index.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kfp1_venv import kfp1_python
from pinnace.errors import SpecError
from pinnace.spec import load_spec

pytestmark = pytest.mark.index

PINNACE = Path(sys.executable).with_name("pinnace")
PIPELINES = Path(__file__).with_name("kfp18_pipelines.py")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("kfp18")
    done = subprocess.run(
        [str(kfp1_python()), str(PIPELINES), str(out)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1.8.22"
    return out


def _run(home: Path, spec: Path, *params: str) -> dict[str, Any]:
    argv = [str(PINNACE), "--home", str(home), "run", str(spec), "--use-current-python", "--json"]
    for param in params:
        argv += ["-p", param]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINNACE_")}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=280, env=env)
    assert done.stdout, done.stderr
    return json.loads(done.stdout)


def _outputs(run: dict[str, Any]) -> dict[str, Any]:
    assert run["state"] == "SUCCEEDED", run
    return {t["name"]: t["outputs"] for t in run["tasks"] if t["state"] == "SUCCEEDED"}


def _check_calc(run: dict[str, Any], total: float, text: str) -> None:
    outputs = _outputs(run)
    assert outputs["add"] == {"Output": total}
    assert outputs["add-2"] == {"Output": total + 3.5}
    assert outputs["shout"] == {"Output": text.upper() * 2}
    assert Path(outputs["write"]["data_out"]).read_text() == text


def test_v2_compatible_workflow_becomes_the_ir_kfp_v2_writes(compiled: Path) -> None:
    from_argo = load_spec(compiled / "v2compat.yaml")
    from_ir = load_spec(compiled / "v1_func.json")
    assert from_argo.source_format == "argo" and from_argo.notes == ()
    argo, ir = from_argo.pipeline_spec, from_ir.pipeline_spec
    assert argo["components"] == ir["components"]
    assert argo["root"]["inputDefinitions"] == ir["root"]["inputDefinitions"]
    for name, task in ir["root"]["dag"]["tasks"].items():
        assert argo["root"]["dag"]["tasks"][name]["inputs"] == task["inputs"], name
    executor = argo["deploymentSpec"]["executors"]["exec-shout"]["container"]
    same = ir["deploymentSpec"]["executors"]["exec-shout"]["container"]
    assert executor["command"] == same["command"] + same["args"]  # launcher gone
    assert executor["image"] == same["image"]


def test_v2_compatible_workflow_runs(compiled: Path, tmp_path: Path) -> None:
    _check_calc(_run(tmp_path, compiled / "v2compat.yaml"), 3.0, "hi")
    _check_calc(_run(tmp_path, compiled / "v2compat.yaml", "a=10", "text=ok"), 12.0, "ok")


def test_v2_compatible_template_without_its_interface_is_refused(compiled: Path) -> None:
    workflow = yaml.safe_load((compiled / "v2compat.yaml").read_text())
    broken = copy.deepcopy(workflow)
    template = next(t for t in broken["spec"]["templates"] if t["name"] == "write")
    env = template["container"]["env"]
    template["container"]["env"] = [e for e in env if e["name"] != "KFP_V2_RUNTIME_INFO"]
    with pytest.raises(SpecError, match=r"'write' .*V2_COMPATIBLE.*KFP_V2_RUNTIME_INFO") as info:
        load_spec(broken, path_hint="broken.yaml")
    assert info.value.field == "spec.templates.write"


def test_a_v2_compatible_condition_is_refused_pointing_at_kfp_v2_compiler(
    compiled: Path, tmp_path: Path
) -> None:
    with pytest.raises(SpecError, match="uses a condition") as info:
        load_spec(compiled / "v2compat_condition.yaml")
    assert info.value.field == "spec.templates.gated-v1.dag.tasks.condition-1.when"
    assert "kfp.v2.compiler" in str(info.value.hint)
    # ... and the same pipeline compiled as that hint says runs, its condition evaluated
    outputs = _outputs(_run(tmp_path, compiled / "v1_condition.json"))
    assert outputs["condition-1/add-2"] == {"Output": 102.0}
    skipped = _run(tmp_path, compiled / "v1_condition.json", "a=0.1")
    assert "condition-1/add-2" not in _outputs(skipped)


def test_ir_2_0_0_is_upgraded_with_its_runtime_config(compiled: Path) -> None:
    loaded = load_spec(compiled / "v2_control.json")
    spec = loaded.pipeline_spec
    assert spec["schemaVersion"] == "2.1.0"
    assert spec["root"]["inputDefinitions"]["parameters"] == {
        "n": {"parameterType": "NUMBER_INTEGER", "defaultValue": 3, "isOptional": True},
        "text": {"parameterType": "STRING", "defaultValue": "x", "isOptional": True},
    }
    condition = spec["root"]["dag"]["tasks"]["condition-1"]["triggerPolicy"]["condition"]
    assert condition == "inputs.parameter_values['pipelineparam--flip-Output'] == 'heads'"
    assert loaded.runtime_config is not None
    assert loaded.runtime_config["parameterValues"] == {"n": 3, "text": "x"}


def test_ir_2_0_0_function_components_run(compiled: Path, tmp_path: Path) -> None:
    _check_calc(_run(tmp_path, compiled / "v1_func.json", "b=0.5"), 1.5, "hi")


def test_ir_2_0_0_control_flow_runs(compiled: Path, tmp_path: Path) -> None:
    outputs = _outputs(_run(tmp_path, compiled / "v2_control.json"))
    assert outputs["flip"] == {"Output": "heads"}
    shown = sorted(v["Output"] for k, v in outputs.items() if k.endswith("/show"))
    assert shown == ["x1", "x2"]
    tails = _run(tmp_path, compiled / "v2_control.json", "n=1", "text=y")
    assert _outputs(tails)["flip"] == {"Output": "tails"}
    assert not [t for t in tails["tasks"] if t["name"].endswith("/show")]


def test_ir_2_0_0_importer_exit_handler_and_json_inputs_run(compiled: Path, tmp_path: Path) -> None:
    data = tmp_path / "data.txt"
    data.write_text("12345")
    outputs = _outputs(_run(tmp_path, compiled / "v2_importer.json", f"uri={data}"))
    assert outputs["exit-handler-1/importer"] == {"artifact": str(data)}
    # kfp 1.8 decodes the STRING-typed dict and bool by the function's annotations
    assert outputs["exit-handler-1/measure"] == {"Output": 5 * 100 + 2 * 10 + 0}
    assert outputs["farewell"] == {"Output": "done!"}


def test_ir_2_0_0_unknown_type_is_refused(compiled: Path) -> None:
    job = json.loads((compiled / "v1_func.json").read_text())
    job["pipelineSpec"]["root"]["inputDefinitions"]["parameters"]["a"]["type"] = "BOOL"
    with pytest.raises(SpecError, match="'a' has the type 'BOOL'") as info:
        load_spec(job)
    assert info.value.field == "pipelineSpec.root.inputDefinitions.parameters.a.type"
