"""Pinnace benchmark: the book pipeline and trivial tasks against floors and kfp.local.

    .venv/bin/python bench/run.py [--quick] [--skip-kfp-local] [--repeat N]

Everything is measured in this one run, in a fresh temporary Pinnace home (never ~/.pinnace):
the home is warmed once (task environments built), then every Pinnace run has the task cache
off. Fork servers are on unless a row says "fresh" (the same run with PINNACE_FORK_SERVERS=0).
Prints a table and writes the same figures to bench/results.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

import _floor  # noqa: E402
import _kfp_local  # noqa: E402
import _pinnace  # noqa: E402
import _server  # noqa: E402

EXAMPLE = REPO / "examples" / "basic_pipeline.py"
TRIVIAL = BENCH / "trivial_pipelines.py"
N_TRIVIAL = 20
CLI_TARGET = 1.5
ENGINE_TARGET = 1.2
SERVER_TARGET_SECONDS = 0.8
OVERHEAD_TARGET_MS = 10.0
WIDE_TARGET = 100.0


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def repeated(count: int, measure: Any) -> dict[str, Any]:
    """`measure()` `count` times: the median wall (the figure used), min and every sample."""
    samples = [measure() for _ in range(count)]
    walls = [s["wall"] for s in samples]
    return {"wall": statistics.median(walls), "min": min(walls), "samples": samples}


def bench_book(home: Path, scratch: Path, repeat: int) -> dict[str, Any]:
    from pinnace.data import SALARY_CSV
    from pinnace.envs.cache import EnvironmentCache

    log("warming the home: first book runs, CLI then engine (they build the task environments)")
    # Both: the environment key holds the interpreter's path as spelled (`python3` for the
    # CLI's shebang, `python` here), so each side may build its own environments once.
    cold = {
        "cli": _pinnace.time_cli(home, EXAMPLE, cwd=scratch)["wall"],
        "engine": _pinnace.time_engine(home, str(EXAMPLE))["wall"],
    }
    env = EnvironmentCache(home / "envs").ensure(["pandas", "scikit-learn", "joblib"])
    log(f"book floor with {env.python}")
    floor = repeated(
        repeat,
        lambda: _floor.time_book_floor(
            env.python, EXAMPLE, Path(SALARY_CSV), scratch / "book-floor"
        ),
    )
    log("book pipeline, `pinnace run --no-cache` (CLI), fork servers on, then off")
    cli = repeated(repeat, lambda: _pinnace.time_cli(home, EXAMPLE, cwd=scratch))
    cli_fresh = repeated(
        repeat, lambda: _pinnace.time_cli(home, EXAMPLE, cwd=scratch, fork_servers=False)
    )
    log("book pipeline, pinnace.run(cache=False) (engine), fork servers on, then off")
    engine = repeated(repeat, lambda: _pinnace.time_engine(home, str(EXAMPLE)))
    engine_fresh = repeated(
        repeat, lambda: _pinnace.time_engine(home, str(EXAMPLE), fork_servers=False)
    )
    return {
        "cold_first_runs": cold,
        "floor": floor,
        "cli": cli,
        "cli_fresh": cli_fresh,
        "engine": engine,
        "engine_fresh": engine_fresh,
        "task_python": str(env.python),
        "csv": str(SALARY_CSV),
    }


def bench_server(home: Path, repeat: int, sandboxed: bool) -> dict[str, Any]:
    log("book pipeline through a running server's API: a first run, then warm runs")
    spec = _server.book_spec(EXAMPLE)
    result = _server.time_server_book(home, spec, max(3, repeat))
    if sandboxed:
        from pinnace.data import SALARY_CSV

        shares = (str(Path(SALARY_CSV).parent),)
        log("the same through a server whose steps run sandboxed (its default): forked")
        result["sandboxed"] = _server.time_server_book(
            home, spec, max(3, repeat), sandboxed=True, shares=shares
        )
        log("... and with sandboxed fork servers off: fresh processes")
        result["sandboxed_fresh"] = _server.time_server_book(
            home, spec, repeat, sandboxed=True, shares=shares, forked=False
        )
    return result


def bench_cold(scratch: Path) -> dict[str, Any]:
    """The first book run in a fresh home (environments built, from uv's cache), on and off."""
    result: dict[str, Any] = {}
    for fork_servers in (True, False):
        home = scratch / f"cold-{'forked' if fork_servers else 'fresh'}"
        log(f"cold path: first CLI book run in a fresh home, fork servers {fork_servers}")
        result["forked" if fork_servers else "fresh"] = _pinnace.time_cli(
            home, EXAMPLE, cwd=scratch, fork_servers=fork_servers
        )
        shutil.rmtree(home, ignore_errors=True)
    return result


def bench_trivial(home: Path, scratch: Path, repeat: int, cpus: int, n_wide: int) -> dict[str, Any]:
    log(f"trivial tasks: chain and fan-out of {N_TRIVIAL}, parallelism {cpus}")
    _pinnace.time_engine(home, _chain(), parallelism=cpus)  # warm-up, not measured
    floor = repeated(
        repeat,
        lambda: _floor.time_trivial_floor(
            Path(sys.executable), N_TRIVIAL, scratch / "trivial-floor"
        ),
    )
    result: dict[str, Any] = {"floor": floor, "n": N_TRIVIAL, "parallelism": cpus}
    for shape, pipeline in (("chain", _chain()), ("fanout", _fanout())):
        cli = repeated(
            repeat,
            lambda s=shape: _pinnace.time_cli(
                home, TRIVIAL, pipeline_name=s, parallelism=cpus, cwd=scratch
            ),
        )
        engine = repeated(
            repeat, lambda p=pipeline: _pinnace.time_engine(home, p, parallelism=cpus)
        )
        for measured in (cli, engine):
            for sample in measured["samples"]:
                sample["timing"] = _pinnace.task_timing(home, sample["run_id"], sample["wall"])
        result[shape] = {"cli": cli, "engine": engine}
    log("CLI start-up: a 1-task trivial pipeline")
    result["single"] = {
        "cli": repeated(
            repeat,
            lambda: _pinnace.time_cli(
                home, TRIVIAL, pipeline_name="single", parallelism=cpus, cwd=scratch
            ),
        )
    }
    wide = _trivial_module().wide_fanout(n_wide)
    log(f"wide fan-out: {n_wide} trivial tasks, engine, parallelism {cpus}")
    measured = _pinnace.time_engine(home, wide, parallelism=cpus)
    measured["timing"] = _pinnace.task_timing(home, measured["run_id"], measured["wall"])
    result["wide"] = {"n": n_wide, **measured, "tasks_per_second": n_wide / measured["wall"]}
    return result


def _chain() -> Any:
    return _trivial_module().chain


def _fanout() -> Any:
    return _trivial_module().fanout


def _trivial_module() -> Any:
    import trivial_pipelines

    return trivial_pipelines


def bench_kfp(book: dict[str, Any], quick: bool) -> dict[str, Any]:
    venv = BENCH / ".cache" / "kfp-venv"
    log(f"kfp.local: side venv {venv} (kfp=={_kfp_local.KFP_VERSION})")
    try:
        python = _kfp_local.ensure_kfp_venv(venv, Path(book["task_python"]))
    except RuntimeError as exc:
        return {"error": str(exc)}
    csv = Path(book["csv"])
    result: dict[str, Any] = {"python": str(python)}
    runs = [("book", "book", False), ("chain", "chain", False), ("fanout", "fanout", False)]
    if not quick:
        runs.append(("book_venv", "book", True))
    for key, mode, use_venv in runs:
        log(f"kfp.local {mode}, SubprocessRunner(use_venv={use_venv})")
        result[key] = _kfp_local.time_kfp_local(
            python, mode, use_venv=use_venv, csv=csv, n=N_TRIVIAL
        )
        if result[key].get("error"):
            log(f"kfp.local {key} failed: {result[key]['error'].splitlines()[0]}")
    return result


def summarize(
    book: dict[str, Any],
    trivial: dict[str, Any],
    kfp: dict[str, Any] | None,
    cpus: int,
    server: dict[str, Any],
    cold: dict[str, Any] | None,
) -> list[dict[str, Any]]:
    """The table rows: seconds, ratio to the floor, per-task overhead, concurrency."""
    floor = book["floor"]["wall"]
    rows = [_row("book floor: 5 bodies, one fresh process", floor, floor)]
    rows.append(
        _row(
            "book, pinnace run --no-cache (CLI)",
            book["cli"]["wall"],
            floor,
            target=f"<= {CLI_TARGET:g}x",
        )
    )
    rows.append(_row("book, CLI, fork servers off (fresh)", book["cli_fresh"]["wall"], floor))
    rows.append(
        _row(
            "book, pinnace.run(cache=False) (engine)",
            book["engine"]["wall"],
            floor,
            target=f"<= {ENGINE_TARGET:g}x",
        )
    )
    rows.append(_row("book, engine, fork servers off (fresh)", book["engine_fresh"]["wall"], floor))
    rows.append(
        _row(
            "book, warm server: submit to SUCCEEDED",
            server["wall"],
            floor,
            target=f"< {SERVER_TARGET_SECONDS:g} s",
        )
    )
    rows.append(_row("book, server: its first run (servers start)", server["first"]["wall"], floor))
    if "sandboxed" in server:
        rows.append(
            _row(
                "book, warm server, steps sandboxed (forked)",
                server["sandboxed"]["wall"],
                floor,
                target=f"< {SERVER_TARGET_SECONDS:g} s",
            )
        )
    if "sandboxed_fresh" in server:
        rows.append(
            _row(
                "book, warm server, sandboxed, fresh steps",
                server["sandboxed_fresh"]["wall"],
                floor,
            )
        )
    if cold:
        rows.append(
            _row(
                "cold: first CLI run, fresh home (envs built)",
                cold["forked"]["wall"],
                floor,
                target="no slower than fresh",
            )
        )
        rows.append(_row("cold: same, fork servers off (fresh)", cold["fresh"]["wall"], floor))
    for key, label in (("book", "use_venv=False"), ("book_venv", "use_venv=True")):
        if kfp and key in kfp:
            rows += _kfp_rows(f"book, kfp.local {label}", kfp[key], floor)
    t_floor = trivial["floor"]["wall"]
    rows.append(_row(f"trivial floor: {N_TRIVIAL} calls, one fresh process", t_floor, None))
    for shape in ("chain", "fanout"):
        for kind, label in (("cli", "CLI"), ("engine", "engine")):
            measured = trivial[shape][kind]
            row = _row(
                f"{shape} of {N_TRIVIAL}, Pinnace {label}",
                measured["wall"],
                None,
                per_task=(measured["wall"] - t_floor) / N_TRIVIAL,
                target=f"< {OVERHEAD_TARGET_MS:g} ms/task",
            )
            if shape == "fanout":
                row["concurrency"] = statistics.median(
                    s["timing"]["concurrency"] for s in measured["samples"]
                )
                row["target"] = f"concurrency ~{cpus}"
            rows.append(row)
            if (shape, kind) == ("chain", "cli"):
                rows += _cli_start_rows(trivial)
        if kfp and shape in kfp:
            rows += _kfp_rows(
                f"{shape} of {N_TRIVIAL}, kfp.local", kfp[shape], None, per_task_floor=t_floor
            )
    wide = trivial["wide"]
    row = _row(
        f"fan-out of {wide['n']}, Pinnace engine",
        wide["wall"],
        None,
        per_task=wide["wall"] / wide["n"],
        target=f"{wide['tasks_per_second']:.0f} tasks/s (>= {WIDE_TARGET:g})",
    )
    row["concurrency"] = wide["timing"]["concurrency"]
    rows.append(row)
    return rows


def _cli_start_rows(trivial: dict[str, Any]) -> list[dict[str, Any]]:
    """The CLI's fixed cost (a 1-task run) and its cost per further task on the chain."""
    single = trivial["single"]["cli"]["wall"]
    chain = trivial["chain"]["cli"]["wall"]
    return [
        _row("CLI start-up: a 1-task trivial pipeline", single, None),
        _row(
            f"chain of {N_TRIVIAL}, CLI slope: (chain - 1-task)/{N_TRIVIAL - 1}",
            None,
            None,
            per_task=(chain - single) / (N_TRIVIAL - 1),
            target=f"< {OVERHEAD_TARGET_MS:g} ms/task",
        ),
    ]


def memory_lines(server: dict[str, Any]) -> list[str]:
    """The fork servers a running server kept after the book runs, with their memory."""
    lines = ["fork servers kept by the server after its book runs (MB):"]
    for fork in server["fork_servers"]:
        packages = ", ".join(fork.get("packages", ())) or "no packages"
        lines.append(
            f"  [{packages}]: RSS {fork['rss'] / 1e6:.0f}, PSS {fork['pss'] / 1e6:.0f}, "
            f"{fork['modules']} modules imported in {fork['imports_seconds']:.2f} s"
        )
    return lines


def _row(
    label: str,
    seconds: float | None,
    floor: float | None,
    *,
    per_task: float | None = None,
    target: str = "",
) -> dict[str, Any]:
    return {
        "label": label,
        "seconds": seconds,
        "x_floor": seconds / floor if floor and seconds is not None else None,
        "ms_per_task": per_task * 1000 if per_task is not None else None,
        "concurrency": None,
        "target": target,
    }


def _kfp_rows(
    label: str,
    measured: dict[str, Any],
    floor: float | None,
    *,
    per_task_floor: float | None = None,
) -> list[dict[str, Any]]:
    if measured.get("error"):
        row = _row(f"{label} FAILED", None, None)
        row["target"] = measured["error"].splitlines()[0][:60]
        return [row]
    rows = []
    for key, kind in (("wall", "process"), ("pipeline", "pipeline call")):
        seconds = measured[key]
        per_task = (seconds - per_task_floor) / N_TRIVIAL if per_task_floor is not None else None
        rows.append(_row(f"{label} ({kind})", seconds, floor, per_task=per_task))
    return rows


def render(rows: list[dict[str, Any]], header: str) -> str:
    def cell(value: float | None, fmt: str) -> str:
        width = int(fmt.split(".")[0])
        return format(value, fmt) if value is not None else f"{'-':>{width}}"

    width = max(len(r["label"]) for r in rows)
    lines = [
        header,
        f"{'':{width}}  {'seconds':>8}  {'x floor':>8}  {'ms/task':>8}  {'conc.':>6}  target",
    ]
    for r in rows:
        lines.append(
            f"{r['label']:{width}}  {cell(r['seconds'], '8.2f')}  "
            f"{cell(r['x_floor'], '8.1f')}  {cell(r['ms_per_task'], '8.0f')}  "
            f"{cell(r['concurrency'], '6.2f')}  {r['target']}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one sample each, and skip kfp.local with use_venv=True",
    )
    parser.add_argument("--skip-kfp-local", action="store_true", help="measure Pinnace only")
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="samples per Pinnace figure, the median is used [3; 1 with --quick]",
    )
    parser.add_argument("--keep-home", action="store_true", help="keep the temporary home")
    parser.add_argument(
        "--wide", type=int, default=None, help="tasks of the wide fan-out [1000; 200 with --quick]"
    )
    parser.add_argument(
        "--skip-cold", action="store_true", help="skip the first runs in fresh homes"
    )
    parser.add_argument(
        "--skip-sandboxed",
        action="store_true",
        help="skip the warm server with sandboxed steps (needs bwrap and slirp4netns)",
    )
    parser.add_argument("--output", type=Path, default=BENCH / "results.json")
    args = parser.parse_args(argv)
    repeat = max(1, args.repeat or (1 if args.quick else 3))
    cpus = os.cpu_count() or 1
    home = Path(tempfile.mkdtemp(prefix="pinnace-bench-home-"))
    scratch = Path(tempfile.mkdtemp(prefix="pinnace-bench-scratch-"))
    log(f"home {home}, {cpus} CPUs, repeat {repeat}")
    started = time.perf_counter()
    n_wide = args.wide or (200 if args.quick else 1000)
    try:
        book = bench_book(home, scratch, repeat)
        server = bench_server(home, repeat, sandboxed=not args.skip_sandboxed)
        trivial = bench_trivial(home, scratch, repeat, cpus, n_wide)
        cold = None if args.skip_cold else bench_cold(scratch)
        kfp = None if args.skip_kfp_local else bench_kfp(book, args.quick)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if not args.keep_home:
            shutil.rmtree(home, ignore_errors=True)
    rows = summarize(book, trivial, kfp, cpus, server, cold)
    header = (
        f"Pinnace bench: {cpus} CPUs, {platform.python_implementation()} "
        f"{platform.python_version()}, median of {repeat}, kfp.local 1 sample each"
    )
    print(render(rows, header))
    print("\n".join(memory_lines(server)))
    document = {
        "machine": {
            "cpus": cpus,
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "repeat": repeat,
        "quick": args.quick,
        "seconds_total": time.perf_counter() - started,
        "rows": rows,
        "book": book,
        "trivial": trivial,
        "server": server,
        "cold": cold,
        "kfp_local": kfp,
    }
    args.output.write_text(json.dumps(document, indent=2, default=str) + "\n")
    log(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
