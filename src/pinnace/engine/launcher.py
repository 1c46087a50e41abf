"""The task launcher: container and importer instances (cache, submit, complete, retry)."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import Future
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import PinnaceError
from ..executors.base import ExecutionOutcome, ExecutionOutputs, Executor, Mount, Prestarter
from ..model.state import TaskState
from ..stores.base import ArtifactStore, CacheEntry, ExecutionRecord, MetadataStore, RunRecord
from .cache import cache_key
from .events import AttemptEvent
from .importer import import_artifact, is_external
from .inputs import BoundInputs, TaskOutputs, build_executor_input
from .launch import make_launch, upcoming_task
from .nodes import Attempt, Node, NodeKind, Progress, Starting, in_exit_subtree
from .outputs import OutputError, collect_outputs
from .platform import PVC_STUBS, kubernetes_config, local_pod_settings, node_selector, pvc_stub
from .retry import backoff_seconds, max_attempts
from .settler import Settler, now

#: upcoming tasks told to the executor per step beyond the running ones (their servers queue)
_AHEAD = 16


class TaskLauncher:
    """Starts container tasks on the executor (or reuses a cached execution), runs
    importer tasks, and turns an execution's outcome into success, a retry or a failure."""

    def __init__(
        self,
        *,
        metadata: MetadataStore,
        artifacts: ArtifactStore,
        executor: Executor,
        work_dir: Path,
        logs_dir: Path,
        cache_ttl: dict[str, float],
        settler: Settler,
    ) -> None:
        self.metadata = metadata
        self.artifacts = artifacts
        self.executor = executor
        self.work_dir = work_dir
        self.logs_dir = logs_dir
        #: run id -> cache TTL in seconds (shared with the driver)
        self.cache_ttl = cache_ttl
        self.settler = settler
        #: log folders made by this launcher
        self._log_dirs: set[Path] = set()

    # -- starting ---------------------------------------------------------------------------

    def start_container(
        self,
        run: RunRecord,
        progress: Progress,
        node: Node,
        inputs: BoundInputs,
        *,
        retry: bool = False,
    ) -> None:
        task, record = node.task, progress.records[node.path]
        record.inputs = inputs.as_dict()
        if task.executor["container"].get("image") in PVC_STUBS:
            self._run_pvc_stub(run, progress, node, inputs)
            return
        scope = (progress.plan.pipeline_name, run.namespace)  # a cache per namespace
        key = cache_key(task, inputs, *scope) if task.cache_enabled else None
        record.cache_key = key
        # A retry re-executes: its task is RUNNING and must not turn CACHED midway.
        if key and run.cache_enabled and not retry and self._reuse(run, progress, node, key):
            return
        try:
            self._submit(run, progress, node, inputs, key)
        except PinnaceError as exc:  # e.g. an input artifact that cannot be fetched
            self.settler.fail(run, progress, node.path, str(exc))

    def _run_pvc_stub(
        self, run: RunRecord, progress: Progress, node: Node, inputs: BoundInputs
    ) -> None:
        """kfp-kubernetes' CreatePVC / DeletePVC: no process runs (engine/platform.py)."""
        try:
            parameters = pvc_stub(
                node.task.executor["container"]["image"],
                inputs.parameters,
                self.work_dir.parent,
                run.namespace,
                f"{run.run_id}/{node.path}",
            )
        except PinnaceError as exc:
            self.settler.fail(run, progress, node.path, str(exc))
            return
        self._succeed_at_once(run, progress, node.path, TaskOutputs(parameters, {}))

    def _apply_platform(
        self,
        run: RunRecord,
        progress: Progress,
        node: Node,
        env: dict[str, str],
        log: Path,
        selector: dict[str, str],
        execution_id: str,
    ) -> tuple[Mount, ...]:
        """The task's Kubernetes settings on this machine (engine/platform.py): its volumes;
        its node selector goes to `selector` (the launch's), for executors that place tasks."""
        config = kubernetes_config(run.spec, node.task.component.get("executorLabel", ""))
        if not config:
            return ()

        def resolve(reference: Mapping[str, Any]) -> Any:
            if "runtimeValue" in reference:
                return reference["runtimeValue"].get("constant")
            if "componentInputParameter" in reference:
                return node.parameters.get(reference["componentInputParameter"])
            produced = reference.get("taskOutputParameter", {})
            outputs = progress.sibling_outputs(node).get(produced.get("producerTask", ""))
            return outputs.parameters.get(produced.get("outputParameterKey")) if outputs else None

        pod = local_pod_settings(
            config,
            home=self.work_dir.parent,  # the Pinnace home: secrets/ and configmaps/ beside work/
            resolve=resolve,
            pod_name=f"{run.run_id[:8]}-{node.path}".replace("/", "-").replace("[", "-")[:63],
            namespace=run.namespace,
            scratch=self.work_dir.parent / "volumes" / ".executions" / execution_id,
        )
        env.update(pod.env)
        selector.update(node_selector(config, resolve))
        if pod.notes:
            with open(log, "a", encoding="utf-8") as handle:
                handle.writelines(note + "\n" for note in pod.notes)
        return tuple(pod.mounts)

    def _reuse(self, run: RunRecord, progress: Progress, node: Node, key: str) -> bool:
        entry = self.metadata.get_cache(key)
        if entry is None:
            return False
        ttl = self.cache_ttl.get(run.run_id)
        if ttl is not None and (now() - _aware(entry.created_at)).total_seconds() > ttl:
            return False
        # An output the step left unwritten (metrics logged only as metadata) has no file.
        uris = [
            a["uri"]
            for arts in entry.outputs.get("artifacts", {}).values()
            for a in arts
            if a.get("written", True)
        ]
        if not all(is_external(u, self.artifacts.root) or self.artifacts.exists(u) for u in uris):
            return False
        record = progress.records[node.path]
        record.state = record.state.check_move(TaskState.CACHED)
        record.outputs = entry.outputs
        record.cached_from = f"{entry.run_id}/{entry.task_name}"
        record.started_at = record.finished_at = now()
        self.metadata.upsert_task(record)
        outputs = TaskOutputs.from_dict(entry.outputs)
        self.settler.record_artifacts(run.run_id, node.path, outputs)
        progress.finished[node.path] = outputs
        self.settler.emit(
            run.run_id,
            node.path,
            TaskState.CACHED,
            f"reused the outputs of run {entry.run_id[:8]}",
        )
        return True

    def _submit(
        self,
        run: RunRecord,
        progress: Progress,
        node: Node,
        inputs: BoundInputs,
        key: str | None,
    ) -> None:
        task, record = node.task, progress.records[node.path]
        log_path = self.logs_dir / run.run_id / f"{node.path}.log"
        if log_path.parent not in self._log_dirs:  # one mkdir per folder, not per task
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_dirs.add(log_path.parent)
        executor_input = build_executor_input(
            task, inputs, lambda name: self.artifacts.uri_for(run.run_id, node.path, name)
        )
        record.attempts += 1
        execution_id = uuid.uuid4().hex
        launch = make_launch(
            run_id=run.run_id,
            task=task,
            execution_id=execution_id,
            executor_input=executor_input,
            artifact_root=self.artifacts.root,
            log_path=log_path,
            attempt=record.attempts,
            task_name=node.path,
            namespace=run.namespace,
        )
        mounts = self._apply_platform(
            run, progress, node, launch.env, log_path, launch.node_selector, execution_id
        )
        if mounts:
            launch = dataclasses.replace(launch, mounts=mounts)
        execution = ExecutionRecord(
            execution_id=execution_id,
            run_id=run.run_id,
            task_name=node.path,
            attempt=record.attempts,
            state=TaskState.RUNNING,
            started_at=now(),
            log_path=str(log_path),
        )
        self.metadata.add_execution(execution)
        record.state = record.state.check_move(TaskState.RUNNING)
        record.started_at = record.started_at or execution.started_at
        record.log_path = str(log_path)
        self.metadata.upsert_task(record)
        # Its process starts once these records are committed (`launch`, after the round).
        attempt = Attempt(node.path, task, execution, inputs, executor_input, key, 0.0)
        suffix = f" (attempt {record.attempts})" if record.attempts > 1 else ""
        progress.starting.append(Starting(attempt, launch, f"started{suffix}"))

    def launch(self, run: RunRecord, progress: Progress) -> bool:
        """Submit the attempts recorded as started: call it once their records are committed
        (an execution is durably RUNNING before its process exists, so that whoever resumes
        the run after a crash knows to look for that process). Whether one could not start
        (its task failed)."""
        failed = False
        while progress.starting:
            # Left in `starting` if submit breaks: the driver's abort then records it.
            starting = progress.starting[0]
            attempt = starting.attempt
            attempt.started = time.monotonic()
            try:
                future = self.executor.submit(starting.launch)
            except PinnaceError as exc:  # e.g. an input artifact that cannot be fetched
                progress.starting.pop(0)
                self.metadata.update_execution(
                    attempt.execution.execution_id,
                    state=TaskState.FAILED,
                    finished_at=now(),
                    error=str(exc),
                )
                self.settler.fail(run, progress, attempt.path, str(exc))
                failed = True
                continue
            progress.starting.pop(0)
            progress.running[future] = attempt
            self.settler.emit(run.run_id, attempt.path, TaskState.RUNNING, starting.message)
        return failed

    def run_importer(
        self, run: RunRecord, progress: Progress, node: Node, inputs: BoundInputs
    ) -> None:
        """An importer task: its artifact is an existing URI; no process runs."""
        record = progress.records[node.path]
        record.inputs = inputs.as_dict()
        try:
            outputs = import_artifact(node.task, inputs, node.path)
        except PinnaceError as exc:
            self.settler.fail(run, progress, node.path, str(exc))
            return
        self._succeed_at_once(run, progress, node.path, outputs)
        self.settler.record_artifacts(run.run_id, node.path, outputs)

    def _succeed_at_once(
        self, run: RunRecord, progress: Progress, path: str, outputs: TaskOutputs
    ) -> None:
        """A task that runs no process (a PVC stand-in, an importer): RUNNING, then
        SUCCEEDED with `outputs`."""
        record = progress.records[path]
        record.state = record.state.check_move(TaskState.RUNNING)
        record.started_at = now()
        self.metadata.upsert_task(record)
        record.outputs = outputs.as_dict()
        self.settler.move(run, record, TaskState.SUCCEEDED, None)
        progress.finished[path] = outputs

    # -- prestarting ------------------------------------------------------------------------

    def prestart(self, run: RunRecord, progress: Progress) -> None:
        """Tell the executor which container tasks start next, so it can get them ready.

        Those are, in the order they will need it: the tasks just started (not told yet),
        then the pending tasks whose upstream tasks are all running, done or upcoming
        themselves (in plan order: a chain warms steps ahead, so that the imports of later
        tasks use idle cores while earlier ones run), at most `_AHEAD` (or `capacity`) new
        ones per step. The executor starts what they need in that order and bounds how much
        runs at once. Executors that are not Prestarters are left alone.
        """
        if not isinstance(self.executor, Prestarter) or not progress.pending:
            return
        upcoming = []
        soon = set(progress.prestarted)
        for attempt in progress.running.values():
            if attempt.path not in soon:
                soon.add(attempt.path)
                upcoming.append(
                    upcoming_task(
                        run_id=run.run_id,
                        task=attempt.task,
                        path=attempt.path,
                        namespace=run.namespace,
                    )
                )
        ahead = len(upcoming) + max(_AHEAD, self.executor.capacity)
        for path in progress.pending:
            if path in soon:
                continue  # told already (or upcoming): nothing to work out
            node = progress.nodes[path]
            if node.kind is not NodeKind.CONTAINER:
                continue
            if (
                progress.failure
                and not node.task.runs_after_failure
                and not in_exit_subtree(progress, node)
            ):
                continue
            siblings = [node.sibling(u) for u in node.task.upstream]
            if all(p in soon or _underway(progress.records[p].state) for p in siblings):
                soon.add(path)
                if path not in progress.prestarted:
                    upcoming.append(
                        upcoming_task(
                            run_id=run.run_id, task=node.task, path=path, namespace=run.namespace
                        )
                    )
                if len(upcoming) >= ahead:
                    break
        if upcoming:
            accepted = set(self.executor.prestart(upcoming))
            prefix = len(run.run_id) + 1
            progress.prestarted.update(u.hint[prefix:] for u in upcoming if u.hint in accepted)

    def forget(self, run_id: str) -> None:
        """The run is no longer driven: drop what was kept for it (its log folders)."""
        folder = self.logs_dir / run_id
        self._log_dirs = {d for d in self._log_dirs if not d.is_relative_to(folder)}

    def discard_prestarted(self, run_id: str) -> None:
        """Warm processes of tasks that never started are not needed any more."""
        if isinstance(self.executor, Prestarter):
            self.executor.discard_prestarted(run_id)

    # -- completing -------------------------------------------------------------------------

    def complete(
        self,
        run: RunRecord,
        progress: Progress,
        attempt: Attempt,
        future: Future[ExecutionOutcome],
    ) -> None:
        """An execution ended: the task succeeds, waits out a retry backoff, or fails."""
        path, execution = attempt.path, attempt.execution
        seconds = time.monotonic() - attempt.started
        try:
            outcome = future.result()
        except Exception as exc:  # an executor bug must fail the task, not hang the run
            outcome = ExecutionOutcome(exit_code=-1, error=f"executor error: {exc}")
        error = outcome.error or (
            f"exited with code {outcome.exit_code}" if outcome.exit_code else None
        )
        outputs = None
        if error is None:
            try:
                outputs = collect_outputs(
                    attempt.task, attempt.executor_input, outcome.outputs or ExecutionOutputs()
                )
            except (OutputError, PinnaceError) as exc:
                error = str(exc)
        self.metadata.update_execution(
            execution.execution_id,
            state=TaskState.FAILED if error else TaskState.SUCCEEDED,
            finished_at=now(),
            exit_code=outcome.exit_code,
            error=error,
            environment=outcome.environment,
        )
        policy = attempt.task.retry_policy
        tried = progress.records[path].attempts - progress.prior_attempts.get(path, 0)
        if error is None and outputs is not None:
            self._succeed(run, progress, attempt, outputs, seconds)
        elif tried < max_attempts(policy):
            delay = backoff_seconds(policy, tried)
            progress.delayed.append((time.monotonic() + delay, path))
            self.settler.emit(
                run.run_id,
                path,
                AttemptEvent.RETRYING,
                f"{error}; retrying in {delay:.1f}s",
                seconds,
            )
        else:
            self.settler.fail(run, progress, path, error or "failed", seconds)

    def _succeed(
        self,
        run: RunRecord,
        progress: Progress,
        attempt: Attempt,
        outputs: TaskOutputs,
        seconds: float,
    ) -> None:
        record = progress.records[attempt.path]
        record.state = record.state.check_move(TaskState.SUCCEEDED)
        record.outputs = outputs.as_dict()
        record.finished_at = now()
        self.metadata.upsert_task(record)
        self.settler.record_artifacts(run.run_id, attempt.path, outputs)
        if attempt.key:
            self.metadata.put_cache(
                CacheEntry(
                    cache_key=attempt.key,
                    run_id=run.run_id,
                    task_name=attempt.path,
                    outputs=record.outputs,
                    created_at=record.finished_at,
                )
            )
        progress.finished[attempt.path] = outputs
        self.settler.emit(run.run_id, attempt.path, TaskState.SUCCEEDED, "", seconds)


def _underway(state: TaskState) -> bool:
    return state is TaskState.RUNNING or state.ok or state is TaskState.SKIPPED


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; the engine writes UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
