"""Calling a component or pipeline outside a pipeline (kfp.local): the hook and the result.

`pinnace.local.init()` registers a runner here; a component called with no pipeline being
defined is handed to it and the call returns a `LocalTask`, already finished, whose
`.output`/`.outputs` hold the values and artifacts, as kfp's local runner returns them. The
DSL does not import the engine: the runner is registered from above (`pinnace.local`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import LocalRunError

#: (component, arguments) -> (outputs by name, task name); set by `pinnace.local.init`
LocalRunner = Callable[[Any, dict[str, Any]], tuple[dict[str, Any], str]]

# kfp's local API is one process-wide session (`local.init(...)` then plain calls); this
# slot is that session's entry point, set only by `pinnace.local.init`.
_runner: list[LocalRunner] = []


def set_local_runner(runner: LocalRunner | None) -> None:
    """Register (or with None, remove) the runner used by calls outside a pipeline."""
    _runner.clear()
    if runner is not None:
        _runner.append(runner)


def run_outside_pipeline(component: Any, arguments: dict[str, Any]) -> LocalTask:
    """Run `component` now with `arguments` (kfp.local semantics)."""
    if not _runner:
        raise LocalRunError(
            "Local environment not initialized. Please run 'kfp.local.init()' before "
            "executing tasks locally.",
            hint="from pinnace import local; local.init(runner=local.SubprocessRunner()) "
            "(or call components inside a @dsl.pipeline function)",
        )
    outputs, name = _runner[0](component, arguments)
    return LocalTask(component, arguments, outputs, name)


# kfp 2.17.3: configuration a local run cannot honour raises; Kubernetes-only settings warn.
_BLOCKED = (
    "set_caching_options",
    "set_retry",
    "set_env_variable",
    "set_debug_pause",
    "set_container_image",
    "after",
    "ignore_upstream_failure",
)
_IGNORED = (
    "set_cpu_request",
    "set_cpu_limit",
    "set_accelerator_limit",
    "set_gpu_limit",
    "set_memory_request",
    "set_memory_limit",
    "add_node_selector_constraint",
    "set_accelerator_type",
    "set_display_name",
)


_AMBIGUOUS = "The task has multiple outputs. Please reference the output by its name."


class LocalTask:
    """A task that already ran (a component or pipeline called outside a pipeline).

    `outputs` maps output names to values (parameters) and artifact objects (`dsl.Dataset`,
    ... with a local `path`); `output` is the only output.
    """

    def __init__(
        self, component: Any, arguments: dict[str, Any], outputs: dict[str, Any], name: str
    ) -> None:
        self.component_spec = component.component_spec
        self.name = name
        self.inputs = dict(arguments)
        self._outputs = dict(outputs)

    @property
    def outputs(self) -> Mapping[str, Any]:
        return self._outputs

    @property
    def output(self) -> Any:
        if len(self._outputs) != 1:
            raise AttributeError(_AMBIGUOUS)
        return next(iter(self._outputs.values()))

    @property
    def dependent_tasks(self) -> list[str]:
        raise LocalRunError("Task has no dependent tasks since it is executed independently.")

    @property
    def platform_spec(self) -> Any:
        raise LocalRunError("Platform-specific features are not supported for local execution.")

    def __getattr__(self, name: str) -> Any:
        if name == "output":  # the property raised: Python asks here next
            raise AttributeError(_AMBIGUOUS)
        if name in _BLOCKED:
            raise LocalRunError(
                "Task configuration methods are not supported for local execution. "
                f"Got call to '.{name}()'."
            )
        if name in _IGNORED:

            def ignored(*args: Any, **kwargs: Any) -> LocalTask:
                warnings.warn(
                    f"'.{name}()' is not used by the current local runner and will be ignored.",
                    stacklevel=2,
                )
                return self

            return ignored
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        return f"LocalTask(name={self.name!r}, outputs={sorted(self._outputs)})"
