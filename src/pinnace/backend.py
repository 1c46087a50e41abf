"""The composition root for local runs: stores, environment cache and executor from Settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .engine.events import EventSink, ignore_events
from .settings import Settings

if TYPE_CHECKING:
    from .engine.driver import RunDriver
    from .engine.lease import LeaseKeeper
    from .executors.base import Executor
    from .executors.local import LocalExecutor, Sandbox
    from .executors.ray import RayExecutor
    from .stores.base import ArtifactStore, MetadataStore


@dataclass
class Backend:
    """The stores of one Pinnace home, opened once and shared by the CLI, API and server.

    The metadata store opens when `open_backend` returns, or with `lazy=True` on first use
    of `metadata` (runs orphaned by a dead process are settled then).
    """

    settings: Settings
    artifacts: ArtifactStore
    _metadata: MetadataStore | None = None
    _settle: bool = True
    _leases: dict[str, LeaseKeeper] = field(default_factory=dict)

    @property
    def metadata(self) -> MetadataStore:
        if self._metadata is None:
            self._metadata = _open_metadata(self.settings, settle=self._settle)
        return self._metadata

    def leases(self, kind: str) -> LeaseKeeper:
        """This process's leases of `kind` ("cli" or "server"), renewed by one heartbeat."""
        from .engine.lease import LeaseKeeper

        if kind not in self._leases:
            self._leases[kind] = LeaseKeeper(
                self.metadata, kind=kind, seconds=self.settings.lease_seconds
            )
        return self._leases[kind]

    def executor(
        self, *, parallelism: int | None = None, use_current_python: bool | None = None
    ) -> Executor:
        """The executor `settings.executor` names: local processes or a Ray cluster."""
        if self.settings.executor == "ray":
            return self.ray_executor(use_current_python=use_current_python)
        return self.local_executor(parallelism=parallelism, use_current_python=use_current_python)

    def ray_executor(self, *, use_current_python: bool | None = None) -> RayExecutor:
        from .executors.ray import RayExecutor

        current = (
            self.settings.use_current_python if use_current_python is None else use_current_python
        )
        return RayExecutor(
            address=self.settings.ray_address,
            artifact_root=self.artifacts.root,
            use_current_python=current,
            on_process=self._record_process,
            node_ip_address=self.settings.ray_node_ip,
            sandbox=self.settings.sandbox,
        )

    def local_executor(
        self, *, parallelism: int | None = None, use_current_python: bool | None = None
    ) -> LocalExecutor:
        from .envs.cache import EnvironmentCache
        from .executors.local import LocalExecutor
        from .executors.runtime_copy import materialize_runtime

        current = (
            self.settings.use_current_python if use_current_python is None else use_current_python
        )
        return LocalExecutor(
            env_cache=_swept(EnvironmentCache(self.settings.envs_dir)),
            runtime_path=materialize_runtime(self.settings.home),
            parallelism=parallelism or self.settings.parallelism,
            use_current_python=current,
            gpus=self.settings.gpus,
            fork_servers=self.settings.fork_servers,
            on_process=self._record_process,
            artifacts=self.artifacts,
            work_dir=self.settings.work_dir,
            sandbox=self.sandbox() if self.settings.sandbox else None,
            sandboxed_fork_servers=self.settings.sandboxed_fork_servers,
        )

    def sandbox(self) -> Sandbox:
        """The step sandbox, hiding this home, its database and its artifact root (raises
        SandboxUnavailable, saying what to install, where none can be made)."""
        from .executors.local import Sandbox

        protected = [self.settings.home]
        for location in (_sqlite_path(self.settings.database_url), self.settings.artifact_root):
            if location and "://" not in location:
                protected.append(Path(location).expanduser())
        return Sandbox.require(
            protected, shares=self.settings.sandbox_shares, network=self.settings.step_network
        )

    def _record_process(self, execution_id: str, identity: dict[str, Any]) -> None:
        self.metadata.update_execution(execution_id, process=identity)

    def driver(self, executor: Executor, on_event: EventSink = ignore_events) -> RunDriver:
        """A driver for this process's own runs (leased as "cli")."""
        from .engine.driver import RunDriver
        from .engine.lease import CLI

        return RunDriver(
            metadata=self.metadata,
            artifacts=self.artifacts,
            executor=executor,
            work_dir=self.settings.work_dir,
            logs_dir=self.settings.logs_dir,
            on_event=on_event,
            leases=self.leases(CLI),
        )

    def close(self) -> None:
        for keeper in self._leases.values():
            keeper.close()
        if self._metadata is not None:
            self._metadata.close()


def _sqlite_path(database_url: str) -> str | None:
    prefix = "sqlite:///"
    return database_url[len(prefix) :] if database_url.startswith(prefix) else None


def _swept(cache: Any) -> Any:
    """The environment cache, rid of builds a killed process left half done."""
    cache.remove_stale_builds()
    return cache


def private_folder(path: Path) -> None:
    """Create `path` (mode 0700), or make an existing one of ours private: the home holds
    the database and other users' artifacts. A shared sticky folder (/tmp) is left alone."""
    import os
    import stat

    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    mine = info.st_uid == os.getuid() and not info.st_mode & stat.S_ISVTX
    if mine and stat.S_IMODE(info.st_mode) & 0o077:
        path.chmod(0o700)


def open_backend(settings: Settings, *, settle: bool = True, lazy: bool = False) -> Backend:
    """Open the stores of `settings.home`; runs orphaned by a dead process are settled.

    `lazy` leaves the metadata store (the database, and SQLAlchemy's import) to its first use:
    `pinnace.run` starts the first tasks' fork servers before that.
    """
    from .stores import open_artifact_store

    if settings.home.exists() and not settings.home.is_dir():
        from .errors import UserInputError

        raise UserInputError(
            f"the Pinnace home {settings.home} is not a folder",
            hint="point PINNACE_HOME (or --home) at a folder, or remove that file",
        )
    private_folder(settings.home)
    from ._files import OutputLimits

    limits = OutputLimits(settings.max_output_files, settings.max_output_bytes)
    artifacts = open_artifact_store(settings.artifact_root, limits)
    backend = Backend(settings=settings, artifacts=artifacts, _settle=settle)
    if not lazy:
        backend.metadata  # noqa: B018 (opens it)
    return backend


def _open_metadata(settings: Settings, *, settle: bool) -> MetadataStore:
    from .engine.settle import settle_orphaned_runs
    from .errors import StoreError
    from .executors.supervision import kill_leftover
    from .stores import open_metadata_store

    metadata = open_metadata_store(settings.database_url)
    if settle:
        try:
            settled = settle_orphaned_runs(metadata, kill_leftover=kill_leftover)
            if settled:
                from .housekeeping import clean_after

                clean_after(settings, settled)  # half-written outputs of the dead driver
        except StoreError as exc:
            # A full disk or a read-only database: reading what is recorded still works,
            # the runs are settled by a later command.
            logging.getLogger("pinnace.backend").warning("cannot settle orphaned runs: %s", exc)
    return metadata
