"""Contract tests every MetadataStore passes: SQLite, PostgreSQL, MariaDB and the in-memory twin.

PostgreSQL and MariaDB are real servers, each with a database made fresh for the test
session (see tests/service_support.py).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pinnace.errors import NotFoundError, StoreError
from pinnace.model.state import IllegalTransition, RunState, TaskState
from pinnace.stores import open_metadata_store
from pinnace.stores.base import (
    AcrossRuns,
    ArtifactRecord,
    CacheEntry,
    ExecutionRecord,
    MetadataStore,
    PipelineRecord,
    RunRecord,
    TaskRecord,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
BACKENDS = ["sqlite", "memory", "postgresql", "mysql"]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> MetadataStore:
    if request.param == "sqlite":
        s = open_metadata_store(f"sqlite:///{tmp_path / 'pinnace.db'}")
    elif request.param == "memory":
        s = open_metadata_store("memory://")
    else:
        # one database per session; unique ids keep the tests apart
        s = open_metadata_store(request.getfixturevalue(f"{request.param}_url"))
    yield s
    s.close()


def uid(prefix: str) -> str:
    # unique ids keep the PostgreSQL run (one shared database) independent of earlier tests
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_run(run_id: str | None = None, **kw: object) -> RunRecord:
    values: dict[str, object] = dict(
        run_id=run_id or uid("run"),
        pipeline_name="demo",
        display_name="demo run",
        spec={"pipelineInfo": {"name": "demo"}, "root": {"dag": {"tasks": {}}}},
        parameters={"n": 3, "name": "x", "ratio": 0.5, "flags": [True, None]},
        state=RunState.PENDING,
        created_at=T0,
    )
    values.update(kw)
    return RunRecord(**values)  # type: ignore[arg-type]


def make_task(run_id: str, name: str = "train", state: TaskState = TaskState.PENDING, **kw):
    return TaskRecord(run_id=run_id, task_name=name, display_name=name, state=state, **kw)


# pipelines


def test_put_pipeline_round_trips_and_is_found_by_name(store: MetadataStore) -> None:
    name = uid("pipe")
    record = PipelineRecord(uid("p"), name, "first", {"a": [1, 2]}, T0)
    stored = store.put_pipeline(record)
    assert stored == record
    assert store.get_pipeline_by_name(name) == record
    assert store.get_pipeline_by_name(uid("absent")) is None


def test_put_pipeline_with_existing_name_updates_spec_and_keeps_identity(
    store: MetadataStore,
) -> None:
    name = uid("pipe")
    first = store.put_pipeline(PipelineRecord(uid("p"), name, "v1", {"v": 1}, T0))
    later = T0 + timedelta(days=1)
    second = store.put_pipeline(PipelineRecord(uid("p"), name, "v2", {"v": 2}, later))
    assert second.pipeline_id == first.pipeline_id
    assert second.created_at == T0
    assert (second.description, second.spec) == ("v2", {"v": 2})
    assert store.get_pipeline_by_name(name) == second


def test_put_pipeline_refuses_a_taken_id_under_another_name(store: MetadataStore) -> None:
    pid = uid("p")
    store.put_pipeline(PipelineRecord(pid, uid("a"), "", {}, T0))
    with pytest.raises(StoreError, match="already exists"):
        store.put_pipeline(PipelineRecord(pid, uid("b"), "", {}, T0))


# runs


def test_run_round_trips_every_field(store: MetadataStore) -> None:
    pipe = store.put_pipeline(PipelineRecord(uid("p"), uid("pipe"), "", {}, T0))
    run = make_run(
        started_at=T0 + timedelta(seconds=1),
        finished_at=T0 + timedelta(seconds=2),
        error="boom",
        owner="pid:1@host",
        outputs={"parameters": {"acc": 0.9}, "artifacts": {"m": [{"uri": "/a"}]}},
        pipeline_id=pipe.pipeline_id,
        cache_enabled=False,
    )
    store.create_run(run)
    got = store.get_run(run.run_id)
    assert got == run
    assert got.created_at.tzinfo is not None and got.created_at.utcoffset() == timedelta(0)
    assert isinstance(got.state, RunState)


def test_json_values_come_back_as_json_gives_them(store: MetadataStore) -> None:
    run = make_run(parameters={"t": (1, 2), "nested": {"k": [{"x": "ü"}]}, "big": 2**40})
    store.create_run(run)
    got = store.get_run(run.run_id).parameters
    assert got == {"t": [1, 2], "nested": {"k": [{"x": "ü"}]}, "big": 2**40}


@pytest.mark.parametrize("bad", [{"x": object()}, {"x": float("nan")}, {1j: 1}])
def test_values_that_are_not_json_are_refused(store: MetadataStore, bad: dict) -> None:
    run = make_run(parameters=bad)
    with pytest.raises(StoreError, match=r"RunRecord\.parameters is not JSON"):
        store.create_run(run)
    with pytest.raises(NotFoundError):
        store.get_run(run.run_id)


def test_datetimes_come_back_aware_utc_whatever_zone_went_in(store: MetadataStore) -> None:
    plus2 = timezone(timedelta(hours=2))
    naive_local = datetime(2024, 5, 1, 9, 30)
    run = make_run(created_at=T0.astimezone(plus2), started_at=naive_local)
    store.create_run(run)
    got = store.get_run(run.run_id)
    assert got.created_at == T0 and got.created_at.tzinfo == timezone.utc
    assert got.started_at == naive_local.astimezone(timezone.utc)
    assert got.started_at.tzinfo == timezone.utc


def test_create_run_twice_is_refused(store: MetadataStore) -> None:
    run = make_run()
    store.create_run(run)
    with pytest.raises(StoreError, match="already exists"):
        store.create_run(replace(run, display_name="other"))
    assert store.get_run(run.run_id).display_name == "demo run"


def test_create_run_with_unknown_pipeline_is_not_found(store: MetadataStore) -> None:
    with pytest.raises(NotFoundError, match="pipeline"):
        store.create_run(make_run(pipeline_id=uid("nope")))


def test_get_missing_run_raises_not_found_with_hint(store: MetadataStore) -> None:
    with pytest.raises(NotFoundError, match="not found") as info:
        store.get_run("no-such-run")
    assert info.value.hint


def test_update_run_applies_changes_and_returns_the_record(store: MetadataStore) -> None:
    run = make_run()
    store.create_run(run)
    started = T0 + timedelta(minutes=1)
    got = store.update_run(run.run_id, state=RunState.RUNNING, started_at=started, owner="me")
    # A write returns the run without its spec (only creating a run writes one).
    assert got == replace(run, spec={}, state=RunState.RUNNING, started_at=started, owner="me")
    assert store.get_run(run.run_id) == replace(got, spec=run.spec)
    # a state given as its string works too; staying in a state is not a move
    got = store.update_run(run.run_id, state="RUNNING", outputs={"parameters": {"a": 1}})
    assert got.state is RunState.RUNNING and got.outputs == {"parameters": {"a": 1}}


def test_a_run_read_without_its_spec_has_every_other_field(store: MetadataStore) -> None:
    run = make_run(owner="pid:1@host", outputs={"parameters": {"acc": 0.9}}, error="boom")
    store.create_run(run)
    store.update_run(run.run_id, state=RunState.RUNNING)
    running = replace(run, state=RunState.RUNNING)
    assert store.get_run(run.run_id) == running
    assert store.get_run(run.run_id, spec=False) == replace(running, spec={})
    listed = [r for r in store.list_runs(limit=1000, spec=False) if r.run_id == run.run_id]
    assert listed == [replace(running, spec={})]
    by_state = store.list_runs(limit=1000, state=RunState.RUNNING, spec=False)
    assert replace(running, spec={}) in by_state
    # Each record has its own empty spec: changing one changes no other.
    first, second = store.get_run(run.run_id, spec=False), store.get_run(run.run_id, spec=False)
    first.spec["x"] = 1
    assert second.spec == {} and store.get_run(run.run_id) == running


def test_writes_of_a_run_return_it_without_its_spec(store: MetadataStore) -> None:
    run = make_run()
    store.create_run(run)
    kept = store.update_record_if(RunRecord, run.run_id, {"owner": None}, owner="me")
    assert kept == replace(run, spec={}, owner="me")
    assert store.update_record(RunRecord, run.run_id, description="d").spec == {}
    # ...unless the write changes the spec: then it returns the new one.
    new_spec = {"pipelineInfo": {"name": "other"}, "root": {"dag": {"tasks": {}}}}
    assert store.update_run(run.run_id, spec=new_spec).spec == new_spec
    assert store.get_run(run.run_id).spec == new_spec


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ([RunState.RUNNING, RunState.SUCCEEDED], RunState.RUNNING),
        ([], RunState.SUCCEEDED),
        ([RunState.CANCELED], RunState.SUCCEEDED),
    ],
)
def test_update_run_refuses_illegal_state_moves(
    store: MetadataStore, path: list[RunState], refused: RunState
) -> None:
    run = make_run()
    store.create_run(run)
    for state in path:
        store.update_run(run.run_id, state=state)
    before = store.get_run(run.run_id)
    with pytest.raises(IllegalTransition):
        store.update_run(run.run_id, state=refused, error="should not be written")
    assert store.get_run(run.run_id) == before


def test_update_run_refuses_unknown_fields_states_and_missing_runs(store: MetadataStore) -> None:
    run = make_run()
    store.create_run(run)
    with pytest.raises(StoreError, match="colour"):
        store.update_run(run.run_id, colour="red")
    with pytest.raises(StoreError, match="unknown RunState"):
        store.update_run(run.run_id, state="DONE")
    with pytest.raises(NotFoundError):
        store.update_run("no-such-run", state=RunState.RUNNING)


def test_list_runs_is_newest_first_with_limit_offset_and_state(store: MetadataStore) -> None:
    plus5 = timezone(timedelta(hours=5))
    ids = [uid("run") for _ in range(5)]
    # created out of order and in different zones: the store must sort by the instant
    # far in the future, so runs of other tests (a shared PostgreSQL database) come later
    base = datetime.now(timezone.utc) + timedelta(days=3650)
    for i in (2, 0, 4, 1, 3):
        created = (base + timedelta(hours=i)).astimezone(plus5 if i % 2 else timezone.utc)
        store.create_run(make_run(ids[i], created_at=created))
    store.update_run(ids[1], state=RunState.RUNNING)
    store.update_run(ids[3], state=RunState.RUNNING)
    newest_first = [r.run_id for r in store.list_runs(limit=5)]
    assert newest_first == ids[::-1]
    assert [r.run_id for r in store.list_runs(limit=2, offset=1)] == [ids[3], ids[2]]
    assert [r.run_id for r in store.list_runs(limit=2, state=RunState.RUNNING)] == [ids[3], ids[1]]
    assert store.list_runs(limit=0) == []


# tasks


def test_upsert_task_inserts_updates_and_lists_in_insertion_order(store: MetadataStore) -> None:
    run = make_run()
    store.create_run(run)
    for name in ("zeta", "alpha", "mid"):
        store.upsert_task(make_task(run.run_id, name, inputs={"x": 1}))
    running = make_task(
        run.run_id, "alpha", TaskState.RUNNING, started_at=T0, attempts=1, component="comp-a"
    )
    store.upsert_task(running)
    done = replace(
        running,
        state=TaskState.SUCCEEDED,
        finished_at=T0 + timedelta(seconds=3),
        outputs={"parameters": {"Output": 7}, "artifacts": {"m": [{"uri": "/x", "metadata": {}}]}},
        cache_key="k1",
        log_path="/logs/a.log",
    )
    store.upsert_task(done)
    tasks = store.list_tasks(run.run_id)
    assert [t.task_name for t in tasks] == ["zeta", "alpha", "mid"]
    assert tasks[1] == done
    assert store.list_tasks("no-such-run") == []


def test_get_task_by_path(store: MetadataStore) -> None:
    run = make_run()
    store.create_run(run)
    for name in ("prep", "loop[0]/train"):
        store.upsert_task(make_task(run.run_id, name, inputs={"x": name}))
    found = store.get_task(run.run_id, "loop[0]/train")
    assert found is not None and found.inputs == {"x": "loop[0]/train"}
    assert store.get_task(run.run_id, "missing") is None
    assert store.get_task("no-such-run", "prep") is None


def test_upsert_task_refuses_illegal_moves(store: MetadataStore) -> None:
    run = make_run()
    store.create_run(run)
    store.upsert_task(make_task(run.run_id, "a", TaskState.PENDING))
    store.upsert_task(make_task(run.run_id, "a", TaskState.CACHED, cached_from="r/a"))
    with pytest.raises(IllegalTransition):
        store.upsert_task(make_task(run.run_id, "a", TaskState.RUNNING))
    assert store.list_tasks(run.run_id)[0].state is TaskState.CACHED
    # a retry: FAILED goes back to PENDING
    store.upsert_task(make_task(run.run_id, "b", TaskState.RUNNING))
    store.upsert_task(make_task(run.run_id, "b", TaskState.FAILED, error="x"))
    store.upsert_task(make_task(run.run_id, "b", TaskState.PENDING))


def test_upsert_task_of_missing_run_is_not_found(store: MetadataStore) -> None:
    with pytest.raises(NotFoundError):
        store.upsert_task(make_task("no-such-run"))


# executions


def test_executions_add_update_list(store: MetadataStore) -> None:
    run = make_run()
    store.create_run(run)
    first = ExecutionRecord(
        uid("e"), run.run_id, "train", 1, TaskState.RUNNING, T0,
        environment={"python": "/usr/bin/python3", "requirements": ["pandas==2.2"]},
    )  # fmt: skip
    second = replace(first, execution_id=uid("e"), attempt=2)
    store.add_execution(first)
    store.add_execution(second)
    store.update_execution(
        first.execution_id, state=TaskState.FAILED, exit_code=1, error="bad", finished_at=T0
    )
    got = store.list_executions(run.run_id)
    assert got == [
        replace(first, state=TaskState.FAILED, exit_code=1, error="bad", finished_at=T0),
        second,
    ]
    assert store.list_executions("no-such-run") == []


def test_an_execution_keeps_its_process_identity(store: MetadataStore) -> None:
    run = make_run()
    store.create_run(run)
    execution = ExecutionRecord(uid("e"), run.run_id, "train", 1, TaskState.RUNNING, T0)
    store.add_execution(execution)
    assert store.list_executions(run.run_id)[0].process is None
    identity = {"host": "h", "pid": 42, "start_ticks": "1234", "groups": ["/sys/fs/cgroup/x"]}
    store.update_execution(execution.execution_id, process=identity)
    assert store.list_executions(run.run_id)[0].process == identity


def test_execution_errors(store: MetadataStore) -> None:
    run = make_run()
    store.create_run(run)
    record = ExecutionRecord(uid("e"), run.run_id, "t", 1, TaskState.RUNNING, T0)
    store.add_execution(record)
    with pytest.raises(StoreError, match="already exists"):
        store.add_execution(record)
    with pytest.raises(NotFoundError):
        store.add_execution(replace(record, execution_id=uid("e"), run_id="no-such-run"))
    with pytest.raises(NotFoundError):
        store.update_execution("no-such-execution", exit_code=0)
    with pytest.raises(StoreError, match="nonsense"):
        store.update_execution(record.execution_id, nonsense=1)


# artifacts


def test_artifacts_add_and_list(store: MetadataStore) -> None:
    run = make_run()
    store.create_run(run)
    model = ArtifactRecord(
        uid("a"), run.run_id, "train", "model", "/store/r/train/model", "system.Model",
        {"framework": "sklearn", "accuracy": 0.93}, T0,
    )  # fmt: skip
    data = replace(model, artifact_id=uid("a"), output_name="data", created_at=None, metadata={})
    store.add_artifact(model)
    store.add_artifact(data)
    assert store.list_artifacts(run.run_id) == [model, data]
    with pytest.raises(StoreError, match="already exists"):
        store.add_artifact(model)
    with pytest.raises(NotFoundError):
        store.add_artifact(replace(model, artifact_id=uid("a"), run_id="no-such-run"))


def test_artifact_get_by_id(store: MetadataStore) -> None:
    run = make_run()
    store.create_run(run)
    model = ArtifactRecord(
        uid("a"), run.run_id, "train", "model", "/store/r/train/model", "system.Model",
        {"accuracy": 0.93}, T0,
    )  # fmt: skip
    store.add_artifact(model)
    assert store.get_artifact(model.artifact_id) == model
    with pytest.raises(NotFoundError, match="not found"):
        store.get_artifact("no-such-artifact")


def _art(run_id: str, task: str, title: str) -> ArtifactRecord:
    return ArtifactRecord(uid("a"), run_id, task, "out", f"/s/{run_id}/{task}", title, {}, T0)


def test_artifacts_across_runs_by_namespace_type_task_and_page(store: MetadataStore) -> None:
    mine, theirs = uid("ns"), uid("ns")
    first = make_run(namespace=mine, display_name="first")
    other = make_run(namespace=theirs, display_name="other")
    second = make_run(namespace=mine, display_name="second")
    for run in (first, other, second):
        store.create_run(run)
    a1 = _art(first.run_id, "train", "system.Metrics")
    a2 = _art(other.run_id, "train", "system.Metrics")
    a3 = _art(second.run_id, "eval", "system.Model")
    a4 = _art(second.run_id, "train", "custom.a_b")
    a5 = _art(second.run_id, "train", "system.metricsX")
    for artifact in (a1, a2, a3, a4, a5):
        store.add_artifact(artifact)
    scope = frozenset({mine})

    def ids(**kw: object) -> list[str]:
        page = store.query_artifacts(AcrossRuns(namespaces=scope, limit=50, **kw))  # type: ignore[arg-type]
        assert page.total == len(page.records)
        return [record.artifact_id for record, _ in page.records]

    page = store.query_artifacts(AcrossRuns(namespaces=scope, limit=50))
    assert [(r, name) for r, name in page.records] == [
        (a5, "second"), (a4, "second"), (a3, "second"), (a1, "first"),
    ]  # fmt: skip
    assert ids(schema_type="METRICS") == [a1.artifact_id]  # the title's last part, any case
    assert ids(schema_type="system.metrics") == [a1.artifact_id]
    assert ids(schema_type="aXb") == []  # `_` is no wildcard
    assert ids(schema_type="a_b") == [a4.artifact_id]
    assert ids(task_name="train") == [a5.artifact_id, a4.artifact_id, a1.artifact_id]
    assert ids(run_id=first.run_id) == [a1.artifact_id]
    assert ids(run_id=other.run_id) == []  # another namespace's run stays hidden
    window = store.query_artifacts(AcrossRuns(namespaces=scope, limit=2, offset=1))
    assert [r.artifact_id for r, _ in window.records] == [a4.artifact_id, a3.artifact_id]
    assert window.total == 4
    both = store.query_artifacts(AcrossRuns(namespaces=frozenset({mine, theirs}), limit=50))
    assert a2.artifact_id in [r.artifact_id for r, _ in both.records] and both.total == 5


def test_executions_across_runs_by_namespace_state_and_task(store: MetadataStore) -> None:
    mine, theirs = uid("ns"), uid("ns")
    first = make_run(namespace=mine, display_name="first")
    other = make_run(namespace=theirs, display_name="other")
    for run in (first, other):
        store.create_run(run)
    done = ExecutionRecord(uid("e"), first.run_id, "train", 1, TaskState.SUCCEEDED, T0)
    failed = replace(done, execution_id=uid("e"), task_name="eval", state=TaskState.FAILED)
    hidden = replace(done, execution_id=uid("e"), run_id=other.run_id)
    for execution in (done, failed, hidden):
        store.add_execution(execution)
    scope = frozenset({mine})
    page = store.query_executions(AcrossRuns(namespaces=scope))
    assert page.records == [(failed, "first"), (done, "first")] and page.total == 2
    by_state = store.query_executions(AcrossRuns(namespaces=scope, state="failed"))
    assert [e.execution_id for e, _ in by_state.records] == [failed.execution_id]
    by_task = store.query_executions(AcrossRuns(namespaces=scope, task_name="train"))
    assert [e.execution_id for e, _ in by_task.records] == [done.execution_id]
    everyone = store.query_executions(AcrossRuns(run_id=other.run_id))
    assert [e.execution_id for e, _ in everyone.records] == [hidden.execution_id]


# cache


def test_cache_put_get_and_replace(store: MetadataStore) -> None:
    run = make_run()
    store.create_run(run)
    key = uid("key")
    assert store.get_cache(key) is None
    entry = CacheEntry(key, run.run_id, "train", {"parameters": {"Output": 1}}, T0)
    store.put_cache(entry)
    assert store.get_cache(key) == entry
    newer = replace(entry, task_name="train-2", outputs={"parameters": {"Output": 2}})
    store.put_cache(newer)
    assert store.get_cache(key) == newer
    with pytest.raises(NotFoundError):
        store.put_cache(replace(entry, cache_key=uid("key"), run_id="no-such-run"))


# copies, not shared references


def test_records_are_copies_both_ways(store: MetadataStore) -> None:
    run = make_run(parameters={"xs": [1]})
    store.create_run(run)
    run.parameters["xs"].append(2)  # the caller changes its own object afterwards
    got = store.get_run(run.run_id)
    assert got.parameters == {"xs": [1]}
    got.parameters["xs"].append(3)
    assert store.get_run(run.run_id).parameters == {"xs": [1]}
    store.upsert_task(make_task(run.run_id, outputs={"parameters": {}}))
    store.list_tasks(run.run_id)[0].outputs["parameters"]["leak"] = 1
    assert store.list_tasks(run.run_id)[0].outputs == {"parameters": {}}


# concurrency


def test_many_threads_write_tasks_to_one_store(store: MetadataStore) -> None:
    run = make_run()
    store.create_run(run)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(10):
                name = f"t{n}-{i}"
                store.upsert_task(make_task(run.run_id, name))
                store.upsert_task(make_task(run.run_id, name, TaskState.RUNNING))
                store.upsert_task(make_task(run.run_id, name, TaskState.SUCCEEDED))
                store.update_run(run.run_id, owner=name)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    tasks = store.list_tasks(run.run_id)
    assert len(tasks) == 80
    assert {t.state for t in tasks} == {TaskState.SUCCEEDED}


# batches


def test_a_batch_keeps_every_write_and_reads_inside_it_see_them(store: MetadataStore) -> None:
    run = make_run()
    store.create_run(run)
    key = uid("key")
    with store.batch():
        store.upsert_task(make_task(run.run_id, "a", TaskState.RUNNING))
        store.add_execution(
            ExecutionRecord("e-" + uid("x"), run.run_id, "a", 1, TaskState.RUNNING, T0)
        )
        execution = store.list_executions(run.run_id)[0]  # a read sees the writes before it
        store.update_execution(execution.execution_id, state=TaskState.SUCCEEDED, exit_code=0)
        store.upsert_task(make_task(run.run_id, "a", TaskState.SUCCEEDED))
        store.add_artifact(ArtifactRecord(uid("art"), run.run_id, "a", "out", "file:///x", "t", {}))
        store.put_cache(CacheEntry(key, run.run_id, "a", {"parameters": {"x": 1}}, T0))
        assert store.get_cache(key) == CacheEntry(
            key, run.run_id, "a", {"parameters": {"x": 1}}, T0
        )
        store.update_run(run.run_id, state=RunState.RUNNING)  # runs after the writes above
    assert [(t.task_name, t.state) for t in store.list_tasks(run.run_id)] == [
        ("a", TaskState.SUCCEEDED)
    ]
    [execution] = store.list_executions(run.run_id)
    assert (execution.state, execution.exit_code) == (TaskState.SUCCEEDED, 0)
    assert [a.output_name for a in store.list_artifacts(run.run_id)] == ["out"]
    assert store.get_cache(key) is not None
    assert store.get_run(run.run_id).state is RunState.RUNNING


def test_a_batch_copies_what_it_is_given_when_called(store: MetadataStore) -> None:
    run = make_run()
    store.create_run(run)
    task = make_task(run.run_id, "a", TaskState.RUNNING, inputs={"n": 1})
    environment = {"python": "3.11"}
    execution = ExecutionRecord("e-" + uid("x"), run.run_id, "a", 1, TaskState.RUNNING, T0)
    with store.batch():
        store.upsert_task(task)
        store.add_execution(execution)
        store.update_execution(execution.execution_id, environment=environment)
        task.inputs["n"] = 2  # the caller goes on changing its objects
        task.state = TaskState.FAILED
        environment["python"] = "changed"
    [stored] = store.list_tasks(run.run_id)
    assert (stored.state, stored.inputs) == (TaskState.RUNNING, {"n": 1})
    assert store.list_executions(run.run_id)[0].environment == {"python": "3.11"}


def test_writes_before_an_exception_in_a_batch_are_kept(store: MetadataStore) -> None:
    run = make_run()
    store.create_run(run)
    with pytest.raises(RuntimeError, match="driver broke"), store.batch():
        store.upsert_task(make_task(run.run_id, "a", TaskState.RUNNING))
        raise RuntimeError("driver broke")
    assert [t.state for t in store.list_tasks(run.run_id)] == [TaskState.RUNNING]


def test_a_write_in_a_batch_for_a_missing_run_fails_the_batch(store: MetadataStore) -> None:
    with pytest.raises(StoreError, match="cannot update"), store.batch():
        store.update_execution("any", no_such_field=1)  # a caller bug: refused at once
    with pytest.raises(NotFoundError), store.batch():
        store.upsert_task(make_task(uid("absent"), "a"))


def test_writing_the_same_values_again_is_not_taken_for_a_missing_row(
    store: MetadataStore,
) -> None:
    run = make_run()
    store.create_run(run)
    task = make_task(run.run_id, "a", TaskState.RUNNING)
    execution = ExecutionRecord("e-" + uid("x"), run.run_id, "a", 1, TaskState.RUNNING, T0)
    entry = CacheEntry(uid("key"), run.run_id, "a", {"parameters": {}}, T0)
    store.add_execution(execution)
    for _ in range(2):  # MySQL counts changed rows unless told to count matched ones
        store.upsert_task(task)
        store.update_execution(execution.execution_id, state=TaskState.RUNNING, exit_code=None)
        store.put_cache(entry)
    assert [t.state for t in store.list_tasks(run.run_id)] == [TaskState.RUNNING]
    assert store.get_cache(entry.cache_key) == entry
    with pytest.raises(NotFoundError):
        store.update_execution("absent-" + uid("x"), exit_code=1)
    with pytest.raises(IllegalTransition):
        store.upsert_task(make_task(run.run_id, "a", TaskState.PENDING))


def test_add_tasks_stores_new_tasks_in_order_and_refuses_a_known_one(
    store: MetadataStore,
) -> None:
    run = make_run()
    store.create_run(run)
    store.add_tasks([make_task(run.run_id, "b"), make_task(run.run_id, "a", inputs={"n": 1})])
    tasks = store.list_tasks(run.run_id)
    assert [(t.task_name, t.inputs) for t in tasks] == [("b", {}), ("a", {"n": 1})]
    with pytest.raises(StoreError, match="already exists"):
        store.add_tasks([make_task(run.run_id, "c"), make_task(run.run_id, "a")])
    assert [t.task_name for t in store.list_tasks(run.run_id)] == ["b", "a"]  # all or none
    with pytest.raises(NotFoundError):
        store.add_tasks([make_task(uid("absent"), "a")])
