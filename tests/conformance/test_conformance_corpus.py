"""Every corpus pipeline, compiled by the real kfp 2.17.3, runs on Pinnace as on Kubeflow.

Each fixture under tests/fixtures/pipelines declares `EXPECTED`: the run state, task states,
loop iteration counts and outputs a Kubeflow cluster produces for `EXPECTED["arguments"]`.

How an EXPECTED task key (an IR DAG task key) maps to Pinnace's task instances, which the
engine records by path (see pinnace.engine.nodes):

- the instances of key `k` are those whose LAST path segment is `k`: `condition-2` matches
  `condition-branches-1/condition-2`, `add` matches every `for-loop-2[i]/for-loop-3[j]/add`;
  when the key also names a task inside a nested pipeline at another depth (root `scale`
  and `condition-1/for-loop-3[0]/twice/scale`), only the shallowest instances count.
  Loop iterations (`for-loop-2[0]`) have their own last segment, so `for-loop-2` is the loop.
- a string state must hold for every such instance (there is at least one);
- a list of states gives one state per instance, in loop iteration order (instances sorted
  by the iteration indices in their path), so it also fixes how many instances there are;
- `iterations: {"for-loop-N": n}`: every instance of the loop has exactly n iterations;
- `outputs: {k: {name: value}}`: every instance of `k` has that output value;
- `values: {k: {name: [v0, v1, ...]}}`: the instances' values of that output, in loop
  iteration order (None for an instance without it, e.g. a skipped one);
- `outputs_match: {k: {name: regex}}`: every instance's output value matches the regex;
- `artifacts: {k: {name: text}}`: the file of every instance's output artifact holds `text`;
- `logs: {k: [regex, ...]}` / `logs_exclude`: every instance's log has (has no) a match of
  each regex (multiline; `<run_id>` stands for the run's id);
- `display_names: {k: name}`; `final_status: {k: {field: value}}`: the fields of the
  PipelineTaskFinalStatus input exit task `k` was given;
- `rerun: {"cached": [k...], "executed": [k...]}`: a second identical run reuses (CACHED)
  or runs again (SUCCEEDED) those tasks.
- CACHED counts as SUCCEEDED: Kubeflow also reuses the outputs of an identical earlier task
  (say-3 in p25 repeats say-2's inputs), and which of two identical tasks runs first can vary.

For a FAILED run, the container tasks marked FAILED are exactly the ones EXPECTED marks
FAILED, and every exit task (trigger policy ALL_UPSTREAM_TASKS_COMPLETED) ran, succeeded and
was handed the real final status (FAILED) through its PipelineTaskFinalStatus input.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import types
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("kfp.compiler")

import pinnace
from pinnace.settings import Settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pipelines"
PIPELINES = sorted(p.name for p in FIXTURES.glob("p[0-9]*.py"))

#: fixtures that cannot run on a machine without the internet or special hardware
SKIPS = {
    "p09_task_options.py": "asks for a TPU_V3 accelerator: no local machine has one (a "
    "Kubeflow cluster without TPU nodes leaves that pod unschedulable)",
    "p10_packages.py": "installs pandas==2.0.3, scikit-learn, numpy and requests, some from "
    "pypi.example.org indexes: needs the internet, which tests must not",
}

#: engine behaviour that differs from Kubeflow; strict, so a fix makes these fail loudly
XFAILS: dict[str, str] = {}


def _params() -> list[Any]:
    params = []
    for name in PIPELINES:
        marks = []
        if name in SKIPS:
            marks.append(pytest.mark.skip(reason=SKIPS[name]))
        if name in XFAILS:
            marks.append(pytest.mark.xfail(strict=True, reason=XFAILS[name]))
        params.append(pytest.param(name, marks=marks, id=name[:-3]))
    return params


def load_fixture(name: str) -> types.ModuleType:
    """Import a corpus module with the real kfp (fixture folders are not packages)."""
    spec = importlib.util.spec_from_file_location(
        f"conformance_fixture_{name[:-3]}", FIXTURES / name
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec.loader.exec_module(module)
    return module


def compile_with_kfp(module: types.ModuleType, tmp_path: Path) -> dict[str, Any]:
    from kfp import compiler

    out = tmp_path / "pipeline.yaml"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiler.Compiler().compile(module.pipeline, str(out))
    return next(yaml.safe_load_all(out.read_text()))  # the IR; a platform spec may follow


@pytest.fixture(autouse=True)
def corpus_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # p32 imports these URIs; on a cluster they would already be in object storage.
    Path("/tmp/pinnace-fixture-data.csv").write_text("a,b\n1,2\n")
    Path("/tmp/pinnace-fixture-model").write_text("model")


# -- mapping EXPECTED keys to task instances ---------------------------------------------


def _indices(path: str) -> tuple[int, ...]:
    return tuple(int(i) for i in re.findall(r"\[(\d+)\]", path))


def instances(tasks: dict[str, Any], key: str) -> list[Any]:
    """The task instances whose last path segment is `key`, in loop iteration order."""
    found = [t for path, t in tasks.items() if path.rsplit("/", 1)[-1] == key]
    # A key reused inside a nested pipeline (p40: root `scale`, `.../twice/scale`) names the
    # outermost one: keep the instances with the fewest path segments.
    depth = min((t.name.count("/") for t in found), default=0)
    found = [t for t in found if t.name.count("/") == depth]
    return sorted(found, key=lambda t: (_indices(t.name), t.name))


def _state(task: Any) -> str:
    return "SUCCEEDED" if task.state == "CACHED" else task.state


def check_tasks(tasks: dict[str, Any], expected: dict[str, Any]) -> None:
    for key, want in expected.items():
        found = instances(tasks, key)
        assert found, f"no task instance for {key!r}; paths: {sorted(tasks)}"
        states = [_state(t) for t in found]
        if isinstance(want, list):
            assert states == want, f"{key}: {[t.name for t in found]} are {states}"
        else:
            assert set(states) == {want}, f"{key}: {[t.name for t in found]} are {states}"


def check_iterations(tasks: dict[str, Any], expected: dict[str, int]) -> None:
    for key, count in expected.items():
        loops = instances(tasks, key)
        assert loops, f"no loop instance for {key!r}"
        for loop in loops:
            pattern = re.compile(re.escape(loop.name) + r"\[\d+\]$")
            got = sum(1 for path in tasks if pattern.match(path))
            assert got == count, f"{loop.name} ran {got} iterations, expected {count}"


def check_outputs(tasks: dict[str, Any], expected: dict[str, dict[str, Any]]) -> None:
    for key, outputs in expected.items():
        found = instances(tasks, key)
        assert found, f"no task instance for {key!r}"
        for task in found:
            for name, value in outputs.items():
                assert task.outputs.get(name) == value, (
                    f"{task.name}.{name} = {task.outputs.get(name)!r}, expected {value!r}"
                )


def check_values(tasks: dict[str, Any], expected: dict[str, dict[str, list[Any]]]) -> None:
    for key, outputs in expected.items():
        found = instances(tasks, key)
        for name, values in outputs.items():
            got = [t.outputs.get(name) for t in found]
            assert got == values, f"{key}.{name} per instance {[t.name for t in found]}: {got}"


def check_outputs_match(tasks: dict[str, Any], expected: dict[str, dict[str, str]]) -> None:
    for key, outputs in expected.items():
        found = instances(tasks, key)
        assert found, f"no task instance for {key!r}"
        for task in found:
            for name, pattern in outputs.items():
                value = str(task.outputs.get(name))
                assert re.fullmatch(pattern, value), f"{task.name}.{name} = {value!r} !~ {pattern}"


def check_artifacts(tasks: dict[str, Any], expected: dict[str, dict[str, str]]) -> None:
    for key, artifacts in expected.items():
        found = instances(tasks, key)
        assert found, f"no task instance for {key!r}"
        for task in found:
            for name, text in artifacts.items():
                uri = str(task.outputs.get(name, ""))
                path = Path(uri.removeprefix("file://"))
                assert path.is_file(), f"{task.name}.{name}: no file at {uri!r}"
                assert path.read_text() == text, f"{task.name}.{name} holds {path.read_text()!r}"


def check_logs(
    tasks: dict[str, Any], expected: dict[str, list[str]], run_id: str, present: bool = True
) -> None:
    for key, patterns in expected.items():
        found = instances(tasks, key)
        assert found, f"no task instance for {key!r}"
        for task in found:
            log = Path(task.log_path).read_text() if task.log_path else ""
            for pattern in patterns:
                match = re.search(pattern.replace("<run_id>", run_id), log, re.MULTILINE)
                assert bool(match) is present, (
                    f"{task.name}: log {'lacks' if present else 'has'} {pattern!r}:\n{log}"
                )


def check_final_status(
    run_id: str, settings: Settings, expected: dict[str, dict[str, Any]]
) -> None:
    """The PipelineTaskFinalStatus each exit task received, as stored with its inputs."""
    from pinnace.backend import open_backend

    backend = open_backend(settings)
    try:
        records = {r.task_name: r for r in backend.metadata.list_tasks(run_id)}
    finally:
        backend.close()
    for key, fields in expected.items():
        found = [r for path, r in records.items() if path.rsplit("/", 1)[-1] == key]
        assert found, f"no task instance for {key!r}"
        for record in found:
            statuses = [
                v
                for v in record.inputs.get("parameters", {}).values()
                if isinstance(v, dict) and "pipelineTaskName" in v
            ]
            assert len(statuses) == 1, f"{key}: final status inputs {statuses}"
            got = {name: statuses[0].get(name) for name in fields}
            assert got == fields, f"{key} was given {statuses[0]}"


def check_failure(spec: dict[str, Any], tasks: dict[str, Any], expected: dict[str, Any]) -> None:
    """The right container task is FAILED, and the exit tasks ran with the real status."""
    leaves = leaf_keys(spec)
    failed = {
        t.name.rsplit("/", 1)[-1]
        for t in tasks.values()
        if t.state == "FAILED" and t.name.rsplit("/", 1)[-1] in leaves
    }
    wanted = {k for k, v in expected["tasks"].items() if v == "FAILED" and k in leaves}
    assert wanted, "a failing pipeline's EXPECTED names the failing task"
    assert failed == wanted, f"failed container tasks {failed}, expected {wanted}"
    for key, task_spec in spec["root"]["dag"]["tasks"].items():
        if task_spec.get("triggerPolicy", {}).get("strategy") != "ALL_UPSTREAM_TASKS_COMPLETED":
            continue
        (task,) = instances(tasks, key)
        assert task.state == "SUCCEEDED", f"exit task {key} is {task.state}: {task.error}"
        bindings = task_spec.get("inputs", {}).get("parameters", {}).values()
        if any("taskFinalStatus" in b for b in bindings):
            assert key in expected.get("final_status", {}), (
                f"EXPECTED of a failing pipeline states what exit task {key} is told"
            )


def leaf_keys(spec: dict[str, Any]) -> set[str]:
    """DAG task keys whose component runs something (a container or an importer)."""
    components = spec.get("components", {})
    keys = set()
    for component in [spec["root"], *components.values()]:
        for key, task in (component.get("dag") or {}).get("tasks", {}).items():
            if "dag" not in components.get(task.get("componentRef", {}).get("name"), {}):
                keys.add(key)
    return keys


# -- the test ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", _params())
def test_corpus_pipeline_runs_as_on_kubeflow(name: str, tmp_path: Path) -> None:
    module = load_fixture(name)
    expected = module.EXPECTED
    spec = compile_with_kfp(module, tmp_path)
    # The corpus assumes a cluster with two GPUs (p33 asks for some); the components never
    # touch them, so two device ids are enough here.
    settings = Settings.load(env={}, home=tmp_path / "home", gpus="0,1")

    def run() -> Any:
        return pinnace.run(
            spec,
            arguments=expected["arguments"],
            settings=settings,
            use_current_python=True,
            parallelism=2,
        )

    result = run()
    tasks = {t.name: t for t in result.tasks}
    summary = {path: (t.state, t.outputs, t.error) for path, t in tasks.items()}
    assert result.state == expected["state"], f"run {result.state}: {result.error}\n{summary}"
    check_tasks(tasks, expected["tasks"])
    check_iterations(tasks, expected.get("iterations", {}))
    check_outputs(tasks, expected.get("outputs", {}))
    check_values(tasks, expected.get("values", {}))
    check_outputs_match(tasks, expected.get("outputs_match", {}))
    check_artifacts(tasks, expected.get("artifacts", {}))
    check_logs(tasks, expected.get("logs", {}), result.run_id)
    check_logs(tasks, expected.get("logs_exclude", {}), result.run_id, present=False)
    for key, name in expected.get("display_names", {}).items():
        assert {t.display_name for t in instances(tasks, key)} == {name}, key
    check_final_status(result.run_id, settings, expected.get("final_status", {}))
    if "rerun" in expected:
        again = {t.name: t for t in run().tasks}
        for key in expected["rerun"]["cached"]:
            assert {t.state for t in instances(again, key)} == {"CACHED"}, key
        for key in expected["rerun"]["executed"]:
            assert {t.state for t in instances(again, key)} == {"SUCCEEDED"}, key
    if "pipeline_outputs" in expected:
        assert result.outputs == expected["pipeline_outputs"]
    if expected["state"] == "FAILED":
        check_failure(spec, tasks, expected)


#: what an EXPECTED may check beyond task states; each fixture checks at least one
PRODUCED = ("outputs", "values", "outputs_match", "artifacts", "logs", "pipeline_outputs")


@pytest.mark.parametrize("name", [n for n in PIPELINES if n not in SKIPS])
def test_every_fixture_checks_what_its_tasks_produced(name: str) -> None:
    expected = load_fixture(name).EXPECTED
    assert any(expected.get(key) for key in PRODUCED), f"{name} checks task states only"


def test_the_corpus_has_forty_pipelines_with_expectations() -> None:
    assert len(PIPELINES) >= 40
    missing = [
        n for n in PIPELINES if n not in SKIPS and "EXPECTED" not in (FIXTURES / n).read_text()
    ]
    assert not missing, f"fixtures without EXPECTED: {missing}"
