"""kfp 2.x pipelines compiled by the real kfp (the test oracle) for the spec tests."""

# No `from __future__ import annotations` here: kfp reads the real annotation objects.
import warnings
from pathlib import Path
from typing import Any, NamedTuple

from kfp import compiler, dsl
from kfp.dsl import Dataset, Input, Model, Output

warnings.filterwarnings("ignore", category=FutureWarning)

IMAGE = "python:3.11"


@dsl.component(base_image=IMAGE)
def add(a: float, b: float) -> float:
    return a + b


@dsl.component(base_image=IMAGE)
def make(n: int, out: Output[Dataset]) -> None:
    with open(out.path, "w") as f:
        f.write("x" * n)


@dsl.component(base_image=IMAGE)
def train(data: Input[Dataset], lr: float, model: Output[Model]) -> NamedTuple(
    "Out", [("score", float), ("name", str)]
):
    from collections import namedtuple

    open(model.path, "w").write(open(data.path).read())
    return namedtuple("Out", ["score", "name"])(lr * 2, "m")


@dsl.component(base_image=IMAGE)
def flip() -> str:
    return "heads"


@dsl.component(base_image=IMAGE)
def show(msg: str) -> None:
    print(msg)


@dsl.component(base_image=IMAGE)
def total(xs: list[float]) -> float:
    return sum(xs)


@dsl.pipeline(name="simple", description="two steps")
def simple(a: float = 1.0, n: int = 3, s: str = "x") -> None:
    t = add(a=a, b=2.0)
    t.set_display_name("Adder").set_caching_options(False).set_retry(2)
    t.set_cpu_limit("2").set_memory_limit("1G")
    m = make(n=n)
    tr = train(data=m.outputs["out"], lr=t.output)
    tr.after(t)
    show(msg=s).after(tr)


@dsl.pipeline(name="inner")
def inner(x: float = 1.0) -> float:
    return add(a=x, b=x).output


@dsl.pipeline(name="control-flow")
def control_flow(xs: list[float] = [1.0, 2.0]) -> None:  # kfp reads the default
    bye = show(msg="bye")
    with dsl.ExitHandler(bye):
        f = flip()
        with dsl.If(f.output == "heads"):
            show(msg="heads")
        with dsl.Elif(f.output == "tails"):
            show(msg="tails")
        with dsl.Else():
            show(msg="edge")
        with dsl.ParallelFor(xs) as x:
            a = add(a=x, b=1.0)
        total(xs=dsl.Collected(a.output))
        inner(x=3.0)
        dsl.importer(artifact_uri="gs://b/m", artifact_class=Model, reimport=False)


PIPELINES = {"simple": simple, "control_flow": control_flow, "add_component": add}


def compile_all(folder: Path) -> dict[str, Path]:
    """Compile every pipeline above into `folder`; returns name → YAML path."""
    paths = {}
    for name, func in PIPELINES.items():
        paths[name] = folder / f"{name}.yaml"
        compiler.Compiler().compile(func, str(paths[name]))
    return paths


def compile_nesting(component: Any, target: Path) -> Path:
    """Compile a pipeline whose one task runs `component` (which takes `dataset_url`)."""

    @dsl.pipeline(name="outer")
    def outer(url: str = "data.csv") -> None:
        component(dataset_url=url)

    compiler.Compiler().compile(outer, str(target))
    return target
