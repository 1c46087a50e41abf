"""Settings: the one configuration object, built at the edges and passed down.

Precedence: explicit argument (command-line flag), then `PINNACE_*` environment variable,
then defaults. Each value remembers where it came from (`Settings.sources`).
Nothing here runs at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

#: the executors `Settings.executor` may name
EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class Settings:
    """Where Pinnace keeps its state and how it runs tasks.

    Example:
        >>> s = Settings.load(home="/tmp/pinnace-home")
        >>> s.database_url
        'sqlite:////tmp/pinnace-home/pinnace.db'
    """

    home: Path
    database_url: str
    artifact_root: str
    parallelism: int
    use_current_python: bool = False
    #: "auto": `import kfp` in pipeline files means Pinnace when kfp is not installed;
    #: "always": even when it is (lets the kfp 1.x book code run beside a kfp 2.x install)
    kfp_alias: str = "auto"
    #: fork tasks from per-environment fork servers, imports done (PINNACE_FORK_SERVERS=0: off)
    fork_servers: bool = True
    #: where tasks run: "local" (processes on this machine) or "ray" (a Ray cluster)
    executor: str = "local"
    #: the Ray cluster's address (HOST:PORT of its GCS, or "auto"); None starts a local one
    ray_address: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def envs_dir(self) -> Path:
        return self.home / "envs"

    @property
    def work_dir(self) -> Path:
        """Scratch space for running executions; emptied as executions finish."""
        return self.home / "work"

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from overrides (flags), then `env` (default os.environ), then defaults."""
        env = os.environ if env is None else env
        sources: dict[str, str] = {}

        def pick(name: str, default: Any) -> Any:
            if overrides.get(name) is not None:
                sources[name] = "argument"
                return overrides[name]
            var = f"PINNACE_{name.upper()}"
            if env.get(var):
                sources[name] = f"environment ({var})"
                return env[var]
            sources[name] = "default"
            return default

        home = Path(pick("home", Path.home() / ".pinnace")).expanduser().resolve()
        database_url = pick("database_url", f"sqlite:///{home / 'pinnace.db'}")
        artifact_root = str(pick("artifact_root", str(home / "artifacts")))
        parallelism = int(pick("parallelism", os.cpu_count() or 1))
        use_current = pick("use_current_python", False)
        if isinstance(use_current, str):
            use_current = use_current.lower() in ("1", "true", "yes", "on")
        fork_servers = pick("fork_servers", True)
        if isinstance(fork_servers, str):
            fork_servers = fork_servers.lower() not in ("0", "false", "no", "off")
        executor = str(pick("executor", "local")).lower()
        if executor not in EXECUTORS:
            from .errors import UserInputError

            raise UserInputError(
                f"unknown executor {executor!r}",
                hint=f"PINNACE_EXECUTOR / --executor takes one of: {', '.join(EXECUTORS)}",
            )
        ray_address = pick("ray_address", None)
        kfp_alias = str(pick("kfp_alias", "auto")).lower()
        if kfp_alias not in ("auto", "always"):
            from .errors import UserInputError

            raise UserInputError(f"PINNACE_KFP_ALIAS must be 'auto' or 'always', not {kfp_alias!r}")
        return cls(
            home=home,
            executor=executor,
            ray_address=str(ray_address) if ray_address else None,
            kfp_alias=kfp_alias,
            fork_servers=bool(fork_servers),
            database_url=str(database_url),
            artifact_root=artifact_root,
            parallelism=max(1, parallelism),
            use_current_python=bool(use_current),
            sources=sources,
        )

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)
