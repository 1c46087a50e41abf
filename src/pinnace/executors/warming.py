"""The prestarting half of LocalExecutor: warm processes for upcoming tasks (mixed in)."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ..envs.commands import KFP_V2, recognize_command
from ._supervision import MARKER
from .base import TaskLaunch, UpcomingTask
from .prestart import kill as kill_warm
from .prestart import launch as launch_warm
from .prestart import warm_key

if TYPE_CHECKING:
    import threading
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from ..envs.cache import Environment, EnvironmentCache
    from ..envs.commands import LightweightProgram
    from ._supervision import Containment
    from .local import _Program
    from .prestart import WarmPool


class Prestarting:
    """Starts, hands out and discards warm processes (`self` is the LocalExecutor)."""

    # What this half uses from LocalExecutor, declared for the type checker only.
    _envs: EnvironmentCache
    _runtime_path: Path
    _use_current: bool
    _lock: threading.Lock
    _warm: WarmPool | None
    _warmer: ThreadPoolExecutor | None
    _seen_modules: dict[str, dict[str, list[str]]]
    _modules_lock: threading.Lock

    if TYPE_CHECKING:

        def _shape(self, program: LightweightProgram, env: Environment) -> _Program: ...

        def _task_env(
            self,
            cpu_limit: float | None,
            task_env: Mapping[str, str],
            gpus: list[str],
            managed: bool,
        ) -> tuple[dict[str, str], set[int] | None]: ...

    def prestart(self, upcoming: Sequence[UpcomingTask]) -> list[str]:
        """Start warm processes for tasks expected soon; return the hints dealt with.

        A hint not returned (its environment is not built yet, or the pool is full) may be
        offered again later. Never raises: a task that cannot be warmed just starts cold.
        """
        if self._warm is None:
            return [task.hint for task in upcoming]
        done: list[str] = []
        for task in upcoming:
            try:
                plan = self._warm_plan(task)
            except Exception:  # warming is an optimisation only
                plan = None
            if plan == "later":
                continue
            if plan is not None:
                assert isinstance(plan, dict)  # the only str _warm_plan returns is "later"
                if not self._warm.reserve():
                    break
                with self._lock:
                    if self._warmer is None:
                        self._warmer = ThreadPoolExecutor(1, thread_name_prefix="pinnace-warm")
                self._warmer.submit(self._warm.start, **plan)
            done.append(task.hint)
        return done

    def discard_prestarted(self, run_id: str) -> None:
        """Kill the unused warm processes started for `run_id` (its run has ended)."""
        if self._warm is not None:
            self._warm.discard(run_id)

    def _warm_plan(self, task: UpcomingTask) -> dict[str, Any] | str | None:
        """The warm process for `task`; None: never ("cold" only), "later": env not built."""
        if (task.resources.accelerator_count or 0) > 0:
            return None  # its environment depends on the GPUs it will get
        program = recognize_command(list(task.command), list(task.args))
        if program is None:
            return None
        if self._use_current:
            env = self._envs.current()
        else:
            found = self._envs.find(program.packages, index_urls=program.index_urls)
            if found is None:
                return "later"
            env = found
        shape = self._shape(program, env)
        environ, _ = self._task_env(task.resources.cpu_limit, task.env, [], shape.managed)
        python = str(env.python)
        # Cores are chosen at launch and given to the process then (Containment.adopt).
        return {
            "key": warm_key(python, shape.kind, environ, None),
            "run_id": task.run_id,
            "python": python,
            "modules": self._modules_for(python, shape.modules),
            "runtime": shape.kind == KFP_V2,
            "env": environ,
            "cwd": str(self._runtime_path),
            "preexec": None,
        }

    def _modules_for(
        self, python: str, modules: list[tuple[str, list[str]]]
    ) -> list[tuple[str, list[str]]]:
        """The modules of every program seen for `python` so far, these ones included.

        One program's imports are not all it imports: `joblib.load` of a model imports
        scikit-learn's estimator modules that another task of the pipeline imported by name.
        """
        with self._modules_lock:  # its own lock: never held while anything waits
            known = self._seen_modules.setdefault(python, {})
            for module, names in modules:
                merged = known.setdefault(module, [])
                merged.extend(n for n in names if n not in merged)
            return [(m, list(n)) for m, n in known.items()]

    def _warm_process(
        self,
        launch: TaskLaunch,
        argv: list[str],
        env: dict[str, str],
        shape: _Program | None,
        gpus: list[str],
        environment: dict[str, Any],
        attempt: Containment,
    ) -> subprocess.Popen[bytes] | None:
        """A prestarted process now running this launch inside `attempt`, or None."""
        if self._warm is None or shape is None or gpus:
            return None
        self._modules_for(argv[0], shape.modules)
        bare = {k: v for k, v in env.items() if k != MARKER}
        process = self._warm.take(warm_key(argv[0], shape.kind, bare, None))
        if process is None:
            return None
        attempt.adopt(process.pid)
        if launch_warm(process, argv, str(launch.workdir), env, str(launch.log_path)):
            environment["prestarted"] = True
            return process
        kill_warm(process)
        return None
