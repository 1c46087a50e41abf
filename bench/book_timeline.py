"""When the book's fork servers import and when its steps wait for them (issue 12).

    .venv/bin/python bench/book_timeline.py [--repeat 3] [--events] [--home PATH]

Runs examples/basic_pipeline.py through `pinnace.run(cache=False)` in this process (after one
warm-up run that builds the task environments), with the fork servers' and steps' moments
stamped (the functions are wrapped here; nothing in the code changes): a server spawned and
ready (with its import seconds and module count), a step asking for its server (`acquire`)
and getting it, a preload round, a fork, a child's end. Per run it prints one line:

    wall       the run, as the bench's engine row measures it
    ready      seconds from the run's start to each server's imports done, by packages
    waited     per server: how long the steps that needed it waited for it in all
    after      wall - the last server's ready (the steps that ran once every import was done)
    preloads   import rounds run while a step waited (each drops the server's spare)

`--events` also prints every stamp. Other work on the machine skews it all: the load average
is printed with each run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
EXAMPLE = BENCH.parent / "examples" / "basic_pipeline.py"
sys.path.insert(0, str(BENCH))


class Stamps:
    """(seconds since the run's start, event, server packages, details) for one run."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.events: list[tuple[float, str, tuple[str, ...], Any]] = []
        self._lock = threading.Lock()

    def add(self, event: str, packages: tuple[str, ...], detail: Any = None) -> None:
        with self._lock:
            self.events.append((time.perf_counter() - self.start, event, packages, detail))

    def summary(self, wall: float) -> dict[str, Any]:
        ready = {p: t for t, e, p, _ in self.events if e == "ready"}
        asked: dict[tuple[str, ...], float] = {}
        waited: dict[tuple[str, ...], float] = {}
        for t, event, packages, _ in self.events:
            if event == "acquire":
                asked[packages] = t
            elif event == "acquired" and packages in asked:
                waited[packages] = waited.get(packages, 0.0) + t - asked.pop(packages)
        return {
            "wall": wall,
            "ready": {"+".join(p): round(t, 3) for p, t in ready.items()},
            "waited": {"+".join(p): round(t, 3) for p, t in waited.items()},
            "after": round(wall - max(ready.values(), default=0.0), 3),
            "preloads": sum(e == "preload" for _, e, _, _ in self.events),
        }


def instrument(current: Callable[[], Stamps]) -> None:
    """Wrap the fork servers' and the pool's functions to stamp into `current()`."""
    from pinnace.executors import forkserver, forkserver_pool

    server_init = forkserver.ForkServer.__init__

    def init(self: Any, spec: Any, *args: Any, **kwargs: Any) -> None:
        current().add("spawn", spec.packages)
        try:
            server_init(self, spec, *args, **kwargs)
        finally:
            report = getattr(self, "report", {})
            detail = (report.get("seconds"), report.get("modules"))
            current().add("ready", spec.packages, detail)

    def wrap(cls: Any, name: str, before: str, after: str, packages: Callable[..., Any]) -> None:
        original = getattr(cls, name)

        def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
            if before:
                current().add(before, packages(self, *args, **kwargs))
            result = original(self, *args, **kwargs)
            current().add(after, packages(self, *args, **kwargs))
            return result

        setattr(cls, name, wrapped)

    forkserver.ForkServer.__init__ = init  # type: ignore[method-assign]
    pool = forkserver_pool.ForkServerPool
    acquire = pool.acquire

    def acquire_stamped(self: Any, spec: Any, *, wait: bool = True, soon: bool = False) -> Any:
        if not wait:
            return acquire(self, spec, wait=wait, soon=soon)
        current().add("acquire", spec.packages)
        server = acquire(self, spec, wait=wait, soon=soon)
        current().add("acquired", spec.packages)
        return server

    pool.acquire = acquire_stamped  # type: ignore[method-assign]
    wrap(
        forkserver.ForkServer, "preload", "preload", "preloaded", lambda s, *a, **k: s.spec.packages
    )
    wrap(forkserver.ForkServer, "fork", "", "forked", lambda s, *a, **k: s.spec.packages)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--events", action="store_true", help="print every stamp")
    parser.add_argument("--home", type=Path, help="a Pinnace home to use (kept)")
    args = parser.parse_args(argv)
    # Bytecode caching on, as in the bench (PYTHONDONTWRITEBYTECODE is dropped there too).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    import _pinnace

    home = args.home or Path(tempfile.mkdtemp(prefix="pinnace-book-timeline-"))
    stamps = [Stamps()]
    instrument(lambda: stamps[-1])
    print(f"warm-up run in {home} (builds the task environments the first time)", file=sys.stderr)
    _pinnace.time_engine(home, str(EXAMPLE))
    rows = []
    for _ in range(args.repeat):
        stamps.append(Stamps())
        wall = _pinnace.time_engine(home, str(EXAMPLE))["wall"]
        row = stamps[-1].summary(wall)
        row["load"] = round(os.getloadavg()[0], 2)
        rows.append(row)
        print({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
        if args.events:
            for t, event, packages, detail in stamps[-1].events:
                print(f"  {t:7.3f}  {event:9} {'+'.join(packages):32} {detail or ''}")
    print(
        "median wall",
        round(statistics.median(r["wall"] for r in rows), 3),
        "after",
        round(statistics.median(r["after"] for r in rows), 3),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
