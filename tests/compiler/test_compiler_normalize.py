"""The protobuf normalization of the IR: entry by entry (one round trip per distinct
component, task and executor) it gives what the round trip of the whole spec gives."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest
from google.protobuf import json_format

from pinnace import dsl
from pinnace.compiler import _builder, _compiler, compile_pipeline
from pinnace.dsl import Dataset, Input, Output


@dsl.component
def add(x: int) -> int:
    return x + 1


@dsl.component
def write(text: str, data: Output[Dataset]) -> None:
    data.metadata["n"] = 1.5
    with open(data.path, "w") as f:
        f.write(text)


@dsl.component
def read(data: Input[Dataset]) -> str:
    with open(data.path) as f:
        return f.read()


def fan_out(n: int) -> Any:
    @dsl.pipeline(name=f"fan-out-{n}")
    def pipeline(x: int = 0) -> None:
        for _ in range(n):
            add(x=x)

    return pipeline


def chain(n: int) -> Any:
    @dsl.pipeline(name=f"chain-{n}")
    def pipeline(x: int = 0) -> None:
        task = add(x=x)
        for _ in range(n - 1):
            task = add(x=task.output)

    return pipeline


@dsl.pipeline(name="inner")
def inner(text: str = "a") -> str:
    return read(data=write(text=text).outputs["data"]).output


@dsl.pipeline(name="mixed")
def mixed(x: int = 1, text: str = "t") -> None:
    first = add(x=x).set_caching_options(False).set_retry(2)
    with dsl.If(first.output > 1):
        inner(text=text)
    with dsl.ParallelFor([1, 2, 3]) as item:
        add(x=item).set_cpu_limit("1").set_env_variable("A", "b")
    with dsl.ExitHandler(add(x=5)):
        inner(text="b")
    dsl.importer(artifact_uri="gs://b/x", artifact_class=Dataset, metadata={"k": [1, 2.5]})


def test_a_few_entries_are_normalized_all_at_once() -> None:
    assert _compiler._normalize_entries(raw_spec(fan_out(7))) is None  # 21 entries
    assert _compiler._normalize_entries(raw_spec(fan_out(8))) is not None


def raw_spec(pipeline: Any) -> dict[str, Any]:
    spec = _builder.build_pipeline_spec(pipeline)
    spec.pop("platformSpec", None)
    return spec


@pytest.mark.parametrize("pipeline", [fan_out(30), chain(30), mixed], ids=lambda p: p.name)
def test_entry_by_entry_gives_the_whole_round_trip_keys_in_the_same_order(pipeline: Any) -> None:
    spec = raw_spec(pipeline)
    by_entry = _compiler._normalize_entries(copy.deepcopy(spec))
    assert by_entry is not None
    # json.dumps keeps the key order: the protobuf maps' order, which kfp writes too
    assert json.dumps(by_entry) == json.dumps(_compiler._normalize_whole(copy.deepcopy(spec)))


def test_entries_are_fresh_dicts_even_where_they_were_normalized_once() -> None:
    spec = _compiler._normalize(raw_spec(fan_out(10)))
    executors = list(spec["deploymentSpec"]["executors"].values())
    assert executors[0] == executors[1] and executors[0] is not executors[1]
    assert executors[0]["container"]["command"] is not executors[1]["container"]["command"]
    components = spec["components"]
    labels = {"exec-add"} | {f"exec-add-{n}" for n in range(2, 11)}
    assert {c["executorLabel"] for c in components.values()} == labels
    tasks = spec["root"]["dag"]["tasks"]
    assert [(n, t["taskInfo"]["name"], t["componentRef"]["name"]) for n, t in tasks.items()] == [
        (n, n, f"comp-{n}") for n in tasks
    ]
    assert tasks["add"]["inputs"] is not tasks["add-2"]["inputs"]


def test_an_invalid_entry_fails_as_the_whole_spec_round_trip_fails() -> None:
    spec = raw_spec(fan_out(10))
    spec["root"]["dag"]["tasks"]["add-2"]["taskInfo"]["nme"] = "x"
    with pytest.raises(json_format.ParseError) as whole:
        _compiler._normalize_whole(copy.deepcopy(spec))
    with pytest.raises(json_format.ParseError) as normalized:
        _compiler._normalize(spec)
    assert str(normalized.value) == str(whole.value)
    assert "root.dag.tasks[add-2].taskInfo" in str(whole.value)


#: sha256 of the sorted JSON (sdkVersion left out) of the IR that the compiler wrote
#: before it normalized entry by entry (and before task names were found without a scan)
GOLDEN = {
    "fan-out-1000": "8c2e944c127c63719cdda3f715df605d2f3c0c04632219ca05ff1b5b68d8901f",
    "chain-1000": "9b0d5e36b476309a15686540760c2f0e11a50983c5d39fc01b7bae0c05ab3831",
}


def digest(spec: dict[str, Any]) -> str:
    spec = dict(spec)
    spec.pop("sdkVersion")
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


@pytest.mark.parametrize("pipeline", [fan_out(1000), chain(1000)], ids=lambda p: p.name)
def test_a_thousand_tasks_compile_to_the_ir_they_compiled_to_before(pipeline: Any) -> None:
    spec = compile_pipeline(pipeline)
    assert len(spec["root"]["dag"]["tasks"]) == 1000
    assert {"add", "add-2", "add-1000"} <= set(spec["root"]["dag"]["tasks"])
    assert digest(spec) == GOLDEN[pipeline.name]
