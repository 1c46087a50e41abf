"""The kfp 1.8 book reader's flow against a Pinnace server, run inside a kfp 1.8.22 venv.

Usage: python kfp1_book_flow.py HOST TOKEN WORKDIR. Prints one JSON object of what it saw;
any failed step raises. Not a test module: `test_server_kfp1_client.py` runs it.
"""

import base64
import io
import json
import sys
import tarfile
import time
from pathlib import Path

import kfp
import kfp_server_api
from kfp import components, dsl

host, token, workdir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
client = kfp.Client(host=host, existing_token=token)
seen: dict = {}


def add(a: float, b: float) -> float:
    return a + b


def fail(message: str):
    raise RuntimeError(message)


def write_lines(count: int, text_path: components.OutputPath(str)):
    with open(text_path, "w") as f:
        f.write("".join(f"line {i}\n" for i in range(count)))


def count_lines(
    text_path: components.InputPath(str), mlpipeline_metrics_path: components.OutputPath("Metrics")
) -> int:
    import json

    with open(text_path) as f:
        count = len(f.readlines())
    with open(mlpipeline_metrics_path, "w") as f:
        json.dump({"metrics": [{"name": "lines", "numberValue": count, "format": "RAW"}]}, f)
    return count


add_op = components.create_component_from_func(add)
fail_op = components.create_component_from_func(fail)
write_op = components.create_component_from_func(write_lines)
count_op = components.create_component_from_func(count_lines)


@dsl.pipeline(name="book-adder", description="adds twice")
def adder(x: float = 1.0):
    first = add_op(x, 2)
    add_op(first.output, 3)


@dsl.pipeline(name="book-files")
def files(count: int = 3):
    count_op(write_op(count).outputs["text"])


@dsl.pipeline(name="book-failing")
def failing(message: str = "boom"):
    fail_op(message)


def expect_api_error(status: int, call, *args, **kwargs) -> dict:
    try:
        call(*args, **kwargs)
    except kfp_server_api.ApiException as exc:
        assert exc.status == status, (exc.status, exc.body)
        return json.loads(exc.body) if exc.body else {}
    raise AssertionError(f"{call.__name__} did not fail with {status}")


seen["healthz_multi_user"] = client.get_kfp_healthz().multi_user
seen["namespace_before"] = client.get_user_namespace()

# Experiments: create (idempotent by name), get by id and by name, list.
experiment = client.create_experiment("book", description="the book's experiment")
assert client.create_experiment("book").id == experiment.id
assert client.get_experiment(experiment_name="book").id == experiment.id
assert client.get_experiment(experiment_id=experiment.id).name == "book"
seen["experiment_state"] = experiment.storage_state
seen["experiments"] = [e.name for e in client.list_experiments(page_size=50).experiments]

# Runs from a function, then the results the book reads.
result = client.create_run_from_pipeline_func(
    adder, arguments={"x": 4}, experiment_name="book", run_name="adder-run"
)
detail = client.wait_for_run_completion(result.run_id, timeout=300)
seen["adder_status"] = detail.run.status
workflow = json.loads(detail.pipeline_runtime.workflow_manifest)
seen["workflow_phase"] = workflow["status"]["phase"]
nodes = workflow["status"]["nodes"].values()
seen["node_outputs"] = sorted(
    p["value"]
    for n in nodes
    if n["type"] == "Pod"
    for p in (n.get("outputs") or {}).get("parameters", [])
)
run = client.get_run(result.run_id).run
seen["run"] = {
    "name": run.name,
    "status": run.status,
    "storage_state": run.storage_state,
    "refs": sorted(r.key.type for r in run.resource_references),
    "parameters": {p.name: p.value for p in run.pipeline_spec.parameters},
    "finished": run.finished_at >= run.created_at,
}

# Upload, versions, run from an uploaded pipeline, templates.
package = workdir / "files.yaml"
kfp.compiler.Compiler().compile(files, str(package))
pipeline = client.upload_pipeline(str(package), pipeline_name="book-files")
assert client.get_pipeline_id("book-files") == pipeline.id
version = client.upload_pipeline_version(
    str(package), pipeline_version_name="v2", pipeline_id=pipeline.id
)
seen["versions"] = [
    v.name for v in client.list_pipeline_versions(pipeline.id, sort_by="created_at").versions
]
seen["pipeline"] = {
    "default_version": client.get_pipeline(pipeline.id).default_version.name,
    "parameters": [(p.name, p.value) for p in client.get_pipeline(pipeline.id).parameters],
}
seen["listed_pipelines"] = [p.name for p in client.list_pipelines(page_size=50).pipelines]
template = client.pipelines.get_template(id=pipeline.id).template
seen["template_has_root"] = "root:" in template
files_run = client.run_pipeline(
    experiment.id, "files-run", params={"count": 5}, pipeline_id=pipeline.id, version_id=version.id
)
files_detail = client.wait_for_run_completion(files_run.id, timeout=300)
seen["files_status"] = files_detail.run.status
seen["metrics"] = [(m.name, m.node_id, m.number_value, m.format) for m in files_detail.run.metrics]
files_nodes = json.loads(files_detail.pipeline_runtime.workflow_manifest)["status"]["nodes"]
writer = next(n for n in files_nodes.values() if n["displayName"] == "write-lines")
artifact = client.runs.read_artifact(files_run.id, writer["id"], "text")
with tarfile.open(fileobj=io.BytesIO(base64.b64decode(artifact.data)), mode="r:gz") as archive:
    member = archive.getmembers()[0]
    seen["artifact_text"] = archive.extractfile(member).read().decode()

# Listing with filters, sorting and pages.
page = client.list_runs(experiment_id=experiment.id, page_size=1, sort_by="created_at desc")
seen["first_page"] = [r.name for r in page.runs]
second = client.list_runs(
    experiment_id=experiment.id,
    page_size=1,
    page_token=page.next_page_token,
    sort_by="created_at desc",
)
seen["second_page"] = [r.name for r in second.runs]
named = client.list_runs(
    filter=json.dumps({"predicates": [{"op": 1, "key": "name", "stringValue": "adder-run"}]})
)
seen["filtered"] = [r.id for r in named.runs] == [result.run_id]

# A compiled package run directly, and a version uploaded by pipeline name.
package_run = client.create_run_from_pipeline_package(
    str(package), arguments={"count": 2}, run_name="package-run", experiment_name="book"
)
seen["package_status"] = package_run.wait_for_run_completion(timeout=300).run.status
by_name = client.upload_pipeline_version(
    str(package), pipeline_version_name="v3", pipeline_name="book-files"
)
seen["version_by_name"] = [by_name.name, by_name.resource_references[0].key.id == pipeline.id]

# A failing run, retried; archive, terminate (finished: nothing to do), delete.
failed = client.create_run_from_pipeline_func(
    failing, arguments={"message": "nope"}, experiment_name="book", run_name="fails"
)
seen["failed_status"] = client.wait_for_run_completion(failed.run_id, timeout=300).run.status
seen["failed_error"] = client.get_run(failed.run_id).run.error
first_finish = client.get_run(failed.run_id).run.finished_at
client.runs.terminate_run(failed.run_id)  # finished already: nothing to do
client.runs.retry_run(failed.run_id)
deadline = time.monotonic() + 300
while client.get_run(failed.run_id).run.finished_at == first_finish:  # until the retry ends
    assert time.monotonic() < deadline, "the retry did not finish"
    time.sleep(0.2)
seen["retried_status"] = client.wait_for_run_completion(failed.run_id, timeout=300).run.status
client.runs.archive_run(failed.run_id)
seen["archived"] = client.get_run(failed.run_id).run.storage_state
archived_filter = json.dumps(
    {"predicates": [{"op": 1, "key": "storage_state", "stringValue": "STORAGESTATE_ARCHIVED"}]}
)
seen["archived_listed"] = [r.id for r in client.list_runs(filter=archived_filter).runs or []]
client.runs.unarchive_run(failed.run_id)
for _ in range(100):  # the retry's driver lets go of the run a moment after it ends
    try:
        client.runs.delete_run(failed.run_id)
        break
    except kfp_server_api.ApiException as exc:
        assert exc.status == 400, exc.body
        time.sleep(0.1)
seen["deleted_run"] = expect_api_error(404, client.get_run, failed.run_id).get("code")

# Recurring runs (jobs).
job = client.create_recurring_run(
    experiment.id,
    "nightly",
    cron_expression="0 0 3 * * *",
    pipeline_package_path=str(package),
    params={"count": 2},
    enabled=False,
)
seen["job"] = {"name": job.name, "enabled": bool(job.enabled), "mode": job.mode}
client.jobs.enable_job(id=job.id)
seen["job_enabled"] = client.get_recurring_run(job.id).enabled
client.disable_job(job.id)
seen["jobs"] = [j.name for j in client.list_recurring_runs(experiment_id=experiment.id).jobs]
client.delete_job(job.id)
seen["jobs_after_delete"] = client.list_recurring_runs(experiment_id=experiment.id).jobs

# Deleting versions, pipelines and experiments.
client.delete_pipeline_version(version.id)
client.delete_pipeline(pipeline.id)
seen["pipeline_after_delete"] = client.get_pipeline_id("book-files")
client.archive_experiment(experiment.id)
seen["experiment_archived"] = client.get_experiment(experiment_id=experiment.id).storage_state
empty = client.create_experiment("book-empty")
seen["empty_runs"] = client.list_runs(experiment_id=empty.id).runs
client.delete_experiment(empty.id)
seen["deleted_experiment"] = expect_api_error(404, client.get_experiment, empty.id).get("code")

client.set_user_namespace("")  # single namespace per user here: the server picks it
seen["namespace_after"] = client.get_user_namespace()

print(json.dumps(seen))
