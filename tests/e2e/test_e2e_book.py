"""The book's pipeline, end to end: run, logs, cache, runs, the kfp 1.x YAML, the notebook.

This is the acceptance test of Pinnace's first release. It builds real virtual environments
(pandas, scikit-learn) with uv from the package index, once, in one home shared by the module.
"""

from __future__ import annotations

import itertools
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_support import EXAMPLES, CliResult, clean_env, pinnace

from book_reference import book_numbers
from pinnace.data import SALARY_CSV

pytestmark = pytest.mark.index

BOOK_TASKS = [
    "download-dataset",
    "process-data",
    "train-model",
    "evaluate-model",
    "perform-sample-prediction",
]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("book-home")


@pytest.fixture(scope="module")
def first_run(home: Path) -> CliResult:
    """`pinnace run examples/basic_pipeline.py --json` in a fresh home: builds the envs."""
    result = pinnace(home, "run", EXAMPLES / "basic_pipeline.py", "--json")
    assert result.returncode == 0, result.describe()
    return result


@pytest.fixture(scope="module")
def compiled_spec(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("compiled") / "x.yaml"
    result = pinnace(home, "compile", EXAMPLES / "basic_pipeline.py", "-o", out)
    assert result.returncode == 0, result.describe()
    return out


def _log(home: Path, run_id: str, task: str) -> str:
    result = pinnace(home, "logs", run_id, task)
    assert result.returncode == 0, result.describe()
    return result.stdout


def _printed_float(log: str) -> float:
    """The last line of a task log that is a number (what the component printed)."""
    for line in reversed(log.splitlines()):
        try:
            return float(line.strip())
        except ValueError:
            continue
    raise AssertionError(f"no number printed in the log:\n{log}")


def _states(document: dict[str, Any]) -> dict[str, str]:
    return {task["name"]: task["state"] for task in document["tasks"]}


def test_book_pipeline_runs_all_five_tasks(first_run: CliResult) -> None:
    document = first_run.json()
    assert document["state"] == "SUCCEEDED"
    assert [task["name"] for task in document["tasks"]] == BOOK_TASKS
    assert set(_states(document).values()) == {"SUCCEEDED"}


def test_progress_names_each_task_as_it_happens(first_run: CliResult) -> None:
    arrivals: dict[tuple[str, str], float] = {}
    for seconds, line in first_run.stderr_lines:
        # "[  13.1s] SUCCEEDED download-dataset 11.5s"
        match = re.match(r"\[\s*[\d.]+s\] (RUNNING|SUCCEEDED)\s+(\S+)", line)
        if match and match.group(2) in BOOK_TASKS:
            arrivals.setdefault((match.group(1), match.group(2)), seconds)
    assert set(arrivals) == {(s, t) for s in ("RUNNING", "SUCCEEDED") for t in BOOK_TASKS}, (
        first_run.stderr
    )
    # Lines arrive while the run goes on, not all at the end: the first task's success is
    # printed well before the last task starts (each task takes seconds).
    assert arrivals[("SUCCEEDED", BOOK_TASKS[0])] + 1.0 < arrivals[("RUNNING", BOOK_TASKS[-1])]
    for earlier, later in itertools.pairwise(BOOK_TASKS):
        assert arrivals[("SUCCEEDED", earlier)] <= arrivals[("RUNNING", later)]


def test_logs_show_score_prediction_and_sklearn_warning(home: Path, first_run: CliResult) -> None:
    run_id = first_run.json()["run_id"]
    expected_score, expected_prediction = book_numbers(home, run_id)
    score = _printed_float(_log(home, run_id, "evaluate-model"))
    assert 0.0 < score < 1.0
    assert score == pytest.approx(expected_score, rel=1e-9)
    prediction = _printed_float(_log(home, run_id, "perform-sample-prediction"))
    assert prediction == pytest.approx(expected_prediction, rel=1e-9)
    all_logs = pinnace(home, "logs", run_id)
    assert all_logs.returncode == 0, all_logs.describe()
    assert "'sklearn' with 'scikit-learn'" in all_logs.stdout
    assert all(f"==> {task} (SUCCEEDED)" in all_logs.stdout for task in BOOK_TASKS)


def test_second_run_is_served_from_the_task_cache(home: Path, first_run: CliResult) -> None:
    again = pinnace(home, "run", EXAMPLES / "basic_pipeline.py", "--json")
    assert again.returncode == 0, again.describe()
    assert set(_states(again.json()).values()) == {"CACHED"}


def test_runs_list_and_show(home: Path, first_run: CliResult) -> None:
    run_id = first_run.json()["run_id"]
    listed = pinnace(home, "runs", "list")
    assert listed.returncode == 0, listed.describe()
    assert run_id in listed.stdout and "SUCCEEDED" in listed.stdout
    listed_json = pinnace(home, "runs", "list", "--json").json()
    assert run_id in [r["run_id"] for r in listed_json]
    for given in (run_id, run_id[:10]):
        shown = pinnace(home, "runs", "show", given, "--json")
        assert shown.returncode == 0, shown.describe()
        document = shown.json()
        assert document["run_id"] == run_id and document["state"] == "SUCCEEDED"
        assert _states(document) == dict.fromkeys(BOOK_TASKS, "SUCCEEDED")
    outputs = {task["name"]: task["outputs"] for task in document["tasks"]}
    assert set(outputs["process-data"]) == {"df_training_data", "df_test_data"}
    artifacts = (home / "artifacts").resolve()
    uris = [uri for task in outputs.values() for uri in task.values()]
    assert len(uris) == 4
    for uri in uris:
        path = Path(uri.removeprefix("file://")).resolve()
        assert path.exists() and artifacts in path.parents, uri
    assert "monthly_salary" in Path(outputs["download-dataset"]["df_all_data"]).read_text()
    text = pinnace(home, "runs", "show", run_id[:10])
    assert all(task in text.stdout for task in BOOK_TASKS), text.describe()


def test_kfp1_argo_yaml_runs_with_a_local_csv(home: Path, first_run: CliResult) -> None:
    result = pinnace(
        home, "run", EXAMPLES / "basic_pipeline.yaml", "-p", f"dataset_url={SALARY_CSV}", "--json"
    )
    assert result.returncode == 0, result.describe()
    document = result.json()
    assert document["state"] == "SUCCEEDED"
    assert set(_states(document)) == set(BOOK_TASKS)
    log = _log(home, document["run_id"], "evaluate-model")
    assert _printed_float(log) == pytest.approx(book_numbers(home, document["run_id"])[0], rel=1e-9)
    assert "reused" in log  # the kfp 1.x program ran in the environment built earlier


def test_compiled_spec_is_a_real_kfp_spec(compiled_spec: Path) -> None:
    from kfp import components  # the real kfp 2.x, a test-only oracle

    spec = yaml.safe_load(compiled_spec.read_text())
    assert spec["schemaVersion"] == "2.1.0"
    loaded = components.load_component_from_file(str(compiled_spec))
    assert loaded.name == "basic-pipeline"
    assert set(loaded.pipeline_spec.root.dag.tasks) == set(BOOK_TASKS)
    assert compiled_spec.read_text().startswith(
        "# PIPELINE DEFINITION\n# Name: basic-pipeline\n# Description: Basic pipeline\n"
    )


def test_compiled_spec_runs_without_cache_reusing_envs(
    home: Path, first_run: CliResult, compiled_spec: Path
) -> None:
    # A file:// URL for the dataset, the spec Pinnace compiled, and no task cache.
    csv_url = SALARY_CSV.resolve().as_uri()
    result = pinnace(
        home, "run", compiled_spec, "--no-cache", "-p", f"dataset_url={csv_url}", "--json"
    )
    assert result.returncode == 0, result.describe()
    document = result.json()
    assert _states(document) == dict.fromkeys(BOOK_TASKS, "SUCCEEDED")
    logs = pinnace(home, "logs", document["run_id"]).stdout
    assert logs.count(") reused") == len(BOOK_TASKS), logs
    assert " built " not in logs
    score = _printed_float(_log(home, document["run_id"], "evaluate-model"))
    assert score == pytest.approx(book_numbers(home, document["run_id"])[0], rel=1e-9)


def test_unchanged_notebook_compiles_with_the_kfp_alias(
    home: Path, tmp_path: Path, compiled_spec: Path
) -> None:
    notebook = tmp_path / "book_notebook.ipynb"
    shutil.copy(EXAMPLES / "book_notebook.ipynb", notebook)
    result = pinnace(
        home,
        "compile",
        notebook,
        "-o",
        "out.yaml",
        cwd=tmp_path,
        env=clean_env(PINNACE_KFP_ALIAS="always"),
    )
    assert result.returncode == 0, result.describe()
    assert "Traceback" not in result.output
    # The notebook's own last cell compiled the pipeline into the working folder too.
    written_by_notebook = tmp_path / "basic_pipeline.yaml"
    assert written_by_notebook.is_file()
    example = yaml.safe_load(compiled_spec.read_text())
    for path in (tmp_path / "out.yaml", written_by_notebook):
        spec = yaml.safe_load(path.read_text())
        assert spec["schemaVersion"] == "2.1.0"
        assert _dependencies(spec) == _dependencies(example)
    assert (tmp_path / "out.yaml").read_text() == written_by_notebook.read_text()


def _dependencies(spec: dict[str, Any]) -> dict[str, list[str]]:
    tasks = spec["root"]["dag"]["tasks"]
    return {name: sorted(task.get("dependentTasks", [])) for name, task in tasks.items()}
