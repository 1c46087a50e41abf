"""Measure Pinnace against Kubeflow's own pipeline corpus (a checkout of kubeflow/pipelines).

    python scripts/kfp_corpus.py --kfp-repo /path/to/pipelines [--out DIR] [--no-run]

For every pipeline program of the corpus (test_data/sdk_compiled_pipelines,
test_data/sdk_uncompiled_pipelines, samples/core, samples/tutorials):

1. compile it with the real kfp 2.17.3, choosing the pipeline (or lone component) as
   `kfp dsl compile` does;
2. compile it with Pinnace (`kfp` aliased to Pinnace, as `pinnace compile` does) and compare
   the two specs field for field (`sdkVersion` aside);
3. run the kfp-compiled spec on Pinnace (a fresh home, every required parameter given a value of
   its type) and record the outcome.

It prints the figures and writes `results.json` in `--out`. Kubeflow's files are read where
they lie; nothing is copied into this repository. Needs the `test` extra (kfp 2.17.3,
kfp-kubernetes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOTS = (
    "test_data/sdk_compiled_pipelines",
    "test_data/sdk_uncompiled_pipelines",
    "samples/core",
    "samples/tutorials",
)


def expected_outcome(name: str, spec_path: Path) -> str:
    """FAILED for the pipelines that fail on purpose: the program's name or one of its
    components' names says so (`fail_op` inside an exit handler); else SUCCEEDED."""
    import yaml

    if "fail" in Path(name).name:
        return "FAILED"
    spec = next(yaml.safe_load_all(spec_path.read_text()))
    components = spec.get("components", {})
    return "FAILED" if any("fail" in key for key in components) else "SUCCEEDED"


#: why a run cannot succeed on a machine without a cluster, read from its error output
OFFLINE_REASONS = (
    ("no container engine answered", "needs its container image (no docker/podman here)"),
    ("not used (docker", "its command ran on the host, without its container image"),
    ("No module named 'kfp'", "its component is built into its image (target_image)"),
    ("the container has no command to run", "CreatePVC/DeletePVC (Kubeflow's backend acts)"),
    ("auth credentials", "needs a remote service and its credentials"),
    ("no filesystem for", "imports from cloud storage (gs://, s3://, ...)"),
    ("cannot read imported artifact", "imports from cloud storage (gs://, s3://, ...)"),
    ("a run cannot be given artifacts", "needs a pipeline input artifact"),
    ("pinnace secrets set", "reads a Kubernetes secret not set locally"),
    ("GPU", "needs an accelerator"),
)

#: placeholder values for required parameters, by parameter type
ARGUMENTS = {
    "STRING": "corpus",
    "NUMBER_INTEGER": 1,
    "NUMBER_DOUBLE": 1.0,
    "BOOLEAN": True,
    "LIST": [],
    "STRUCT": {},
}


def discover(repo: Path) -> list[Path]:
    files = []
    for root in ROOTS:
        for path in sorted((repo / root).rglob("*.py")):
            name = path.name
            if name == "__init__.py" or name.endswith("_test.py") or name.startswith("test_"):
                continue
            files.append(path)
    return files


# -- workers (each compiles every file in one process) --------------------------------------


def _choose(namespace: dict[str, Any], is_pipeline: Any, is_component: Any, path: Path) -> str:
    """The name of the pipeline (or lone component) to compile, as `kfp dsl compile` chooses.

    Where a program defines several, kfp's own tests name one; this picks the one whose
    pipeline name the expected YAML beside the program names, else the last one defined.
    """
    pipelines: dict[int, str] = {}
    components: dict[int, str] = {}
    for name, value in namespace.items():
        if name.startswith("_"):
            continue
        if is_pipeline(value):
            pipelines.setdefault(id(value), name)
        elif is_component(value):
            components.setdefault(id(value), name)
    several = list(pipelines.values()) or list(components.values())
    if len(several) == 1:
        return several[0]
    if not several:
        raise ValueError("defines no pipeline and no component")
    expected = _expected_name(path)
    for name in several:
        if getattr(namespace[name], "name", None) == expected:
            return name
    return several[-1]


def _expected_name(path: Path) -> str | None:
    import yaml

    for suffix in (".yaml", ".yml"):
        sibling = path.with_suffix(suffix)
        if sibling.exists():
            try:
                document = next(yaml.safe_load_all(sibling.read_text()))
                return str(document.get("pipelineInfo", {}).get("name"))
            except Exception:
                return None
    return None


def _run_file(path: Path) -> dict[str, Any]:
    import runpy

    sys.path.insert(0, str(path.parent))
    cwd = os.getcwd()
    try:
        os.chdir(path.parent)
        return runpy.run_path(str(path), run_name="__corpus__")
    finally:
        os.chdir(cwd)
        sys.path.remove(str(path.parent))


def worker_kfp(files: list[Path], out: Path) -> dict[str, str]:
    import warnings

    from kfp import compiler
    from kfp.dsl import base_component, graph_component

    def is_pipeline(value: Any) -> bool:
        return isinstance(value, graph_component.GraphComponent)

    def is_component(value: Any) -> bool:
        return isinstance(value, base_component.BaseComponent)

    results = {}
    chosen: dict[str, str] = {}
    for path in files:
        target = out / "kfp" / _key(path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                namespace = _run_file(path)
                name = _choose(namespace, is_pipeline, is_component, path)
                chosen[str(path)] = name
                target.parent.mkdir(parents=True, exist_ok=True)
                compiler.Compiler().compile(namespace[name], str(target))
            results[str(path)] = "ok"
        except BaseException as exc:
            results[str(path)] = f"error: {type(exc).__name__}: {str(exc)[:300]}"
    (out / "chosen.json").write_text(json.dumps(chosen))
    return results


def worker_pinnace(files: list[Path], out: Path) -> dict[str, str]:
    import warnings

    from pinnace.compiler._compiler import serialize
    from pinnace.sources import load_pipeline_documents

    chosen_file = out / "chosen.json"
    chosen = json.loads(chosen_file.read_text()) if chosen_file.exists() else {}
    results = {}
    for path in files:
        target = out / "pinnace" / _key(path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cwd = os.getcwd()
                os.chdir(path.parent)
                try:
                    spec, platform = load_pipeline_documents(
                        path, pipeline_name=chosen.get(str(path)), force_kfp_alias=True
                    )
                finally:
                    os.chdir(cwd)
            target.parent.mkdir(parents=True, exist_ok=True)
            description = spec.get("pipelineInfo", {}).get("description")
            target.write_text(serialize(spec, str(target), description, platform))
            results[str(path)] = "ok"
        except BaseException as exc:
            message = getattr(exc, "message", None) or str(exc)
            results[str(path)] = f"error: {type(exc).__name__}: {message[:300]}"
    return results


def _key(path: Path) -> str:
    parts = path.parts
    for root in ROOTS:
        marker = tuple(root.split("/"))
        for i in range(len(parts) - len(marker) + 1):
            if parts[i : i + len(marker)] == marker:
                rest = "__".join(parts[i + len(marker) :])
                return f"{marker[-1]}__{rest}".replace(" ", "_")[:-3] + ".yaml"
    return path.name[:-3] + ".yaml"


def _worker(kind: str, files: list[Path], out: Path) -> dict[str, str]:
    listing = out / f"{kind}-files.json"
    listing.write_text(json.dumps([str(f) for f in files]))
    result_file = out / f"{kind}-results.json"
    env = dict(os.environ, PINNACE_KFP_ALIAS="always", PYTHONWARNINGS="ignore")
    command = [sys.executable, __file__, "--worker", kind, str(listing), str(result_file)]
    subprocess.run(command, env=env, check=False, timeout=3600, stdin=subprocess.DEVNULL)
    if not result_file.exists():
        return {str(f): "error: the worker crashed" for f in files}
    return json.loads(result_file.read_text())


# -- comparing --------------------------------------------------------------------------


def _normalized(path: Path) -> Any:
    import yaml

    documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    for doc in documents:
        if isinstance(doc, dict):
            doc.pop("sdkVersion", None)
    return documents


def first_difference(a: Any, b: Any, where: str = "") -> str | None:
    if type(a) is not type(b):
        return f"{where or '/'}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, dict):
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                return f"{where}/{key}: only in {'pinnace' if key in b else 'kfp'}"
            found = first_difference(a[key], b[key], f"{where}/{key}")
            if found:
                return found
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{where}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = first_difference(x, y, f"{where}[{i}]")
            if found:
                return found
        return None
    return None if a == b else f"{where}: {str(a)[:80]!r} != {str(b)[:80]!r}"


# -- running ------------------------------------------------------------------------------


def arguments_for(spec: dict[str, Any]) -> dict[str, Any]:
    definitions = spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})
    arguments = {}
    for name, definition in definitions.items():
        if "defaultValue" in definition or definition.get("isOptional"):
            continue
        arguments[name] = ARGUMENTS.get(definition.get("parameterType", "STRING"), "corpus")
    return arguments


def run_spec(path: Path, home: Path, timeout: float) -> dict[str, Any]:
    import yaml

    documents = list(yaml.safe_load_all(path.read_text()))
    spec = documents[0]
    if "root" not in spec:
        return {"outcome": "not a pipeline"}
    arguments = arguments_for(spec)
    command = [
        str(Path(sys.executable).parent / "pinnace"),
        "run",
        str(path),
        "--json",
        "--no-cache",
    ]
    for name, value in arguments.items():
        command += ["-p", f"{name}={json.dumps(value) if not isinstance(value, str) else value}"]
    env = dict(os.environ, PINNACE_HOME=str(home))
    started = time.monotonic()
    try:
        done = subprocess.run(
            command,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return {"outcome": "timeout", "seconds": timeout}
    seconds = round(time.monotonic() - started, 1)
    try:
        result = json.loads(done.stdout[done.stdout.index("{") :])
    except ValueError:
        return {"outcome": "error", "detail": (done.stderr or done.stdout)[-2000:]}
    failed = [t["name"] for t in result.get("tasks", []) if t["state"] == "FAILED"]
    return {
        "outcome": result.get("state"),
        "failed": failed,
        "seconds": seconds,
        "detail": done.stderr[-2000:] if failed else "",
    }


def offline_reason(run: dict[str, Any]) -> str | None:
    """Why a run that did not reach its expected outcome could not, offline (or None)."""
    detail = run.get("detail", "")
    for marker, reason in OFFLINE_REASONS:
        if marker in detail:
            return reason
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kfp-repo", type=Path)
    parser.add_argument("--out", type=Path, default=Path("/tmp/kfp-corpus"))
    parser.add_argument("--no-run", action="store_true", help="compile and compare only")
    parser.add_argument("--only", default="", help="only files whose path contains this")
    parser.add_argument("--timeout", type=float, default=180, help="seconds per run")
    parser.add_argument("--report", action="store_true", help="print the figures of --out again")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.report:
        report = json.loads((args.out / "results.json").read_text())
        for name, entry in report.items():
            if "run" in entry:
                spec_path = args.out / "kfp" / _key(Path(name))
                entry["run"]["expected"] = expected_outcome(name, spec_path)
        print_figures(report)
        return 0
    if args.worker:
        kind, listing, result_file = args.worker
        files = [Path(f) for f in json.loads(Path(listing).read_text())]
        work = worker_kfp if kind == "kfp" else worker_pinnace
        results = work(files, Path(listing).parent)
        Path(result_file).write_text(json.dumps(results, indent=1))
        return 0
    if args.kfp_repo is None:
        parser.error("--kfp-repo is required")
    repo = args.kfp_repo.resolve()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    files = [f for f in discover(repo) if args.only in str(f)]
    print(f"{len(files)} pipeline programs under {', '.join(ROOTS)}")
    kfp_results = _worker("kfp", files, out)
    pinnace_results = _worker("pinnace", files, out)
    report: dict[str, Any] = {}
    for path in files:
        key = _key(path)
        entry: dict[str, Any] = {
            "kfp": kfp_results[str(path)],
            "pinnace": pinnace_results[str(path)],
        }
        if entry["kfp"] == "ok" and entry["pinnace"] == "ok":
            diff = first_difference(
                _normalized(out / "kfp" / key), _normalized(out / "pinnace" / key)
            )
            entry["compare"] = "identical" if diff is None else f"differs at {diff}"
        report[str(path.relative_to(repo))] = entry
    if not args.no_run:
        for name, entry in report.items():
            if entry["kfp"] != "ok":
                continue
            key = _key(repo / name)
            entry["run"] = run_spec(out / "kfp" / key, out / "home", args.timeout)
            entry["run"]["expected"] = expected_outcome(name, out / "kfp" / key)
            print(f"  {name}: {entry['run']['outcome']}", flush=True)
    (out / "results.json").write_text(json.dumps(report, indent=1))
    print_figures(report)
    return 0


def print_figures(report: dict[str, Any]) -> None:
    compiled = [e for e in report.values() if e["kfp"] == "ok"]
    print(f"\nkfp 2.17.3 compiles {len(compiled)} of {len(report)} programs")
    same = [e for e in compiled if e.get("compare") == "identical"]
    differ = [e for e in compiled if str(e.get("compare", "")).startswith("differs")]
    failed = [e for e in compiled if e["pinnace"] != "ok"]
    print(
        f"Pinnace compiles {len(same)} identically, {len(differ)} differently, fails {len(failed)}"
    )
    for name, e in report.items():
        if e["kfp"] == "ok" and e.get("compare") != "identical":
            print(f"  {name}: {e.get('compare') or e['pinnace']}")
    ran = [(n, e["run"]) for n, e in report.items() if "run" in e]
    if not ran:
        return
    counts: Counter[str] = Counter()
    unexplained = []
    for name, run in ran:
        if run["outcome"] == run["expected"]:
            counts["as expected"] += 1
        elif run["outcome"] == "timeout":
            counts["timeout"] += 1
            unexplained.append((name, run))
        elif offline_reason(run):
            counts[f"cannot run here: {offline_reason(run)}"] += 1
        else:
            counts["other failure"] += 1
            unexplained.append((name, run))
    print(f"\nkfp-compiled specs run on Pinnace ({len(ran)}):")
    for label, count in counts.most_common():
        print(f"  {count:4d}  {label}")
    for name, run in unexplained:
        print(f"  {name}: {run['outcome']} (expected {run['expected']}) {run.get('failed', '')}")


if __name__ == "__main__":
    sys.exit(main())
