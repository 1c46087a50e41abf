"""The real kfp 1.8.22 client drives the v1beta1 API of a live server: the book reader's flow.

kfp 1.8 cannot share a virtual environment with kfp 2, so the flow (`kfp1_book_flow.py`)
runs in its own venv, built once with uv from the package index and cached under
~/.cache/pinnace-test/kfp18 (or $PINNACE_TEST_CACHE/kfp18).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from server_support import LiveServer

from kfp1_venv import kfp1_python

pytestmark = pytest.mark.index

FLOW = Path(__file__).with_name("kfp1_book_flow.py")


@pytest.fixture(scope="module")
def seen(server: LiveServer, admin_token: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("kfp1")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KF_PIPELINES")}
    env["HOME"] = str(work)  # kfp 1.8 reads and writes ~/.config/kfp/context.json
    done = subprocess.run(
        [str(kfp1_python()), str(FLOW), server.url, admin_token, str(work)],
        capture_output=True,
        text=True,
        env=env,
        cwd=work,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_health_and_namespace(seen: dict) -> None:
    assert seen["healthz_multi_user"] is True  # accounts are on
    assert seen["namespace_before"] == "" and seen["namespace_after"] == ""


def test_experiments(seen: dict) -> None:
    assert seen["experiment_state"] == "STORAGESTATE_AVAILABLE"
    assert seen["experiments"] == ["book"]
    assert seen["experiment_archived"] == "STORAGESTATE_ARCHIVED"
    assert seen["deleted_experiment"] == 5


def test_run_from_a_function_and_its_workflow_manifest(seen: dict) -> None:
    assert seen["adder_status"] == "Succeeded" and seen["workflow_phase"] == "Succeeded"
    assert "6.0" in seen["node_outputs"]  # 4 + 2 from the first task
    run = seen["run"]
    assert run["name"] == "adder-run" and run["status"] == "Succeeded"
    assert run["storage_state"] == "STORAGESTATE_AVAILABLE"
    assert run["refs"] == ["EXPERIMENT", "NAMESPACE"] and run["finished"]
    assert float(run["parameters"]["x"]) == 4


def test_uploads_versions_and_a_run_of_a_version(seen: dict) -> None:
    assert seen["versions"] == ["book-files", "v2"]
    assert seen["pipeline"] == {"default_version": "v2", "parameters": [["count", "3"]]}
    assert seen["listed_pipelines"] == ["book-files"] and seen["template_has_root"]
    assert seen["files_status"] == "Succeeded"
    assert seen["metrics"] == [["lines", "count-lines", 5.0, "RAW"]]
    assert seen["artifact_text"] == "".join(f"line {i}\n" for i in range(5))
    assert seen["pipeline_after_delete"] is None
    assert seen["package_status"] == "Succeeded"
    assert seen["version_by_name"] == ["v3", True]


def test_listing_pages_and_filters(seen: dict) -> None:
    assert seen["first_page"] == ["files-run"] and seen["second_page"] == ["adder-run"]
    assert seen["filtered"]
    assert seen["empty_runs"] is None


def test_failure_retry_archive_delete(seen: dict) -> None:
    assert seen["failed_status"] == "Failed" and "nope" in seen["failed_error"]
    assert seen["retried_status"] == "Failed"
    assert seen["archived"] == "STORAGESTATE_ARCHIVED" and len(seen["archived_listed"]) == 1
    assert seen["deleted_run"] == 5


def test_recurring_runs(seen: dict) -> None:
    assert seen["job"] == {"name": "nightly", "enabled": False, "mode": "DISABLED"}
    assert seen["job_enabled"] is True and seen["jobs"] == ["nightly"]
    assert seen["jobs_after_delete"] is None
