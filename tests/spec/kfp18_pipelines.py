"""Pipelines compiled by the real kfp 1.8.22 (run in its own venv): `python kfp18_pipelines.py DIR`.

Writes DIR/v2compat.yaml (kfp.compiler in V2_COMPATIBLE mode, an Argo Workflow),
DIR/v1_func.json (kfp.v2.compiler, schemaVersion 2.0.0, v1 function components) and
DIR/v2_control.json (kfp.v2.compiler, kfp.v2.dsl components, a condition and a loop) and
DIR/v2_importer.json (an importer inside an exit handler; dict and bool inputs, which
schemaVersion 2.0.0 types STRING), and a v1-component pipeline with a condition both ways:
DIR/v2compat_condition.yaml (refused) and DIR/v1_condition.json (runs).
"""

import sys
import warnings
from pathlib import Path

import kfp
from kfp import dsl
from kfp.components import InputPath, OutputPath, create_component_from_func
from kfp.v2 import compiler as v2_compiler
from kfp.v2 import dsl as v2_dsl
from kfp.v2.dsl import Dataset, Input, Output, importer

warnings.simplefilter("ignore")
# kfp 1.8 copies a v2 component's source under `from kfp.v2.dsl import *`: annotations must
# use those bare names (Output[Dataset]), not a module alias.


def add(a: float, b: float) -> float:
    return a + b


def write(text: str, data_out_path: OutputPath("Dataset")):
    with open(data_out_path, "w") as f:
        f.write(text)


def shout(data_path: InputPath("Dataset"), times: int) -> str:
    with open(data_path) as f:
        return f.read().upper() * times


add_op = create_component_from_func(add)
write_op = create_component_from_func(write)
shout_op = create_component_from_func(shout)


@dsl.pipeline(name="calc-v1", description="kfp 1.8 function components")
def calc(a: float = 1.0, b: float = 2.0, text: str = "hi"):
    total = add_op(a, b)
    add_op(total.output, 3.5)
    written = write_op(text)
    shout_op(written.outputs["data_out"], 2)


@dsl.pipeline(name="gated-v1")
def gated(a: float = 1.0):
    total = add_op(a, 1.0)
    with dsl.Condition(total.output > 1.5):
        add_op(total.output, 100.0)


@v2_dsl.component
def flip(n: int) -> str:
    return "heads" if n > 2 else "tails"


@v2_dsl.component
def make(text: str, out: Output[Dataset]):
    with open(out.path, "w") as f:
        f.write(text)


@v2_dsl.component
def show(data: Input[Dataset], item: int) -> str:
    with open(data.path) as f:
        return f.read() + str(item)


@v2_dsl.pipeline(name="control-v2", pipeline_root="/tmp/unused-root")
def control(n: int = 3, text: str = "x"):
    coin = flip(n=n)
    made = make(text=text)
    with v2_dsl.Condition(coin.output == "heads"):
        with v2_dsl.ParallelFor([1, 2]) as item:
            show(data=made.outputs["out"], item=item)


@v2_dsl.component
def measure(data: Input[Dataset], extra: dict, flag: bool) -> int:
    with open(data.path) as f:
        return len(f.read()) * 100 + len(extra) * 10 + int(flag)


@v2_dsl.component
def farewell(msg: str) -> str:
    return msg + "!"


@v2_dsl.pipeline(name="importer-v2", pipeline_root="/tmp/unused-root")
def imported(uri: str = "/nonexistent"):
    with v2_dsl.ExitHandler(farewell(msg="done")):
        data = importer(artifact_uri=uri, artifact_class=Dataset, reimport=False)
        measure(data=data.output, extra={"a": 1, "b": 2}, flag=False)


if __name__ == "__main__":
    out = Path(sys.argv[1])
    mode = dsl.PipelineExecutionMode.V2_COMPATIBLE
    kfp.compiler.Compiler(mode=mode).compile(calc, str(out / "v2compat.yaml"))
    v2_compiler.Compiler().compile(pipeline_func=calc, package_path=str(out / "v1_func.json"))
    v2_compiler.Compiler().compile(pipeline_func=control, package_path=str(out / "v2_control.json"))
    v2_compiler.Compiler().compile(
        pipeline_func=imported, package_path=str(out / "v2_importer.json")
    )
    kfp.compiler.Compiler(mode=mode).compile(gated, str(out / "v2compat_condition.yaml"))
    v2_compiler.Compiler().compile(pipeline_func=gated, package_path=str(out / "v1_condition.json"))
    print(kfp.__version__)
