"""The floors: the pipelines' function bodies called in one fresh Python process, no orchestrator.

The book floor runs the five functions of examples/basic_pipeline.py (their source, taken from
that file with the annotations dropped, so no Pinnace import is needed) with the interpreter of a
Pinnace-built environment holding pandas, scikit-learn and joblib: the tasks' own packages.
"""

from __future__ import annotations

import ast
import json
import subprocess
import time
from pathlib import Path

BOOK_FUNCTIONS = (
    "download_dataset",
    "process_data",
    "train_model",
    "evaluate_model",
    "perform_sample_prediction",
)

_BOOK_MAIN = """
import json, os, sys, time
started = time.perf_counter()
csv, out = sys.argv[1], sys.argv[2]
p = lambda name: os.path.join(out, name)
download_dataset(csv, p("all.csv"))
process_data(p("all.csv"), p("train.csv"), p("test.csv"))
train_model(p("train.csv"), p("model.joblib"))
evaluate_model(p("model.joblib"), p("test.csv"))
perform_sample_prediction(p("model.joblib"))
print(json.dumps({"calls_seconds": time.perf_counter() - started}))
"""

_TRIVIAL = """
import json, sys, time
started = time.perf_counter()
def step(x: int) -> int:
    return x + 1
x = 0
for _ in range(int(sys.argv[1])):
    x = step(x)
print(json.dumps({"calls_seconds": time.perf_counter() - started}))
"""


def book_floor_script(example: Path) -> str:
    """The five function definitions of the book example, annotations dropped, plus a main."""
    tree = ast.parse(example.read_text(encoding="utf-8"))
    functions = [
        n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in BOOK_FUNCTIONS
    ]
    missing = set(BOOK_FUNCTIONS) - {f.name for f in functions}
    if missing:
        raise SystemExit(f"bench: {example} lacks the functions {sorted(missing)}")
    for function in functions:
        # InputPath(str)/OutputPath(str) are Pinnace objects; the bodies need none of them.
        for arg in function.args.args:
            arg.annotation = None
        function.returns = None
    return "\n\n".join(ast.unparse(f) for f in functions) + "\n" + _BOOK_MAIN


def time_book_floor(python: Path, example: Path, csv: Path, scratch: Path) -> dict[str, float]:
    """Wall seconds of one fresh process running the five bodies (and the calls alone)."""
    scratch.mkdir(parents=True, exist_ok=True)
    script = scratch / "book_floor.py"
    script.write_text(book_floor_script(example), encoding="utf-8")
    return _time_process([str(python), str(script), str(csv), str(scratch)], scratch)


def time_trivial_floor(python: Path, n: int, scratch: Path) -> dict[str, float]:
    """Wall seconds of one fresh process calling the trivial step `n` times."""
    scratch.mkdir(parents=True, exist_ok=True)
    return _time_process([str(python), "-c", _TRIVIAL, str(n)], scratch)


def _time_process(argv: list[str], cwd: Path) -> dict[str, float]:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"bench: the floor process failed:\n{done.stdout}\n{done.stderr}")
    last = done.stdout.strip().splitlines()[-1]
    return {"wall": wall, "calls": float(json.loads(last)["calls_seconds"])}
