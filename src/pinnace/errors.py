"""The one exception tree of Pinnace.

    PinnaceError
    ├── UserInputError                 bad input from the user (exit code 2)
    │   ├── PipelineSourceError        a pipeline file that cannot be read or has no pipeline
    │   ├── SpecError                  a pipeline spec with a missing or wrong field
    │   ├── CompileError               a pipeline that cannot be compiled (cycle, unknown output...)
    │   ├── ParameterError             a run parameter that is missing or of the wrong type
    │   ├── NotFoundError              a run, task or pipeline that does not exist
    │   └── RunBusyError               a run that another live process drives (leased)
    ├── EnvironmentBuildError          a task's virtual environment could not be built (exit 3)
    ├── StoreError                     the metadata or artifact store failed (exit 4)
    ├── ExecutorError                  a task's process could not be started (exit 4)
    ├── OutputRefusedError             a task output that is a link, a special file or too big
    └── LocalRunError                  a component or pipeline called outside a pipeline
                                       (kfp.local) was not set up or failed; also a RuntimeError

Every error carries the context needed to act on it (file, field path, task, run id)
and its message says what to do. Errors from libraries are translated at the adapter.
"""

from __future__ import annotations


class PinnaceError(Exception):
    """Base of every error Pinnace raises on purpose."""

    exit_code = 4

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class UserInputError(PinnaceError):
    """The user's input is wrong; nothing was run or stored."""

    exit_code = 2


class PipelineSourceError(UserInputError):
    """A pipeline file (Python, notebook, YAML, JSON) that cannot be loaded."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        where = path or ""
        if path and line:
            where = f"{path}:{line}"
        super().__init__(f"{where}: {message}" if where else message, hint=hint)
        self.path = path
        self.line = line


class SpecError(UserInputError):
    """A pipeline spec with a missing or invalid field; `field` is its dotted path."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        path: str | None = None,
        hint: str | None = None,
    ) -> None:
        prefix = ": ".join(p for p in (path, field) if p)
        super().__init__(f"{prefix}: {message}" if prefix else message, hint=hint)
        self.field = field
        self.path = path


class CompileError(UserInputError):
    """A pipeline definition that cannot be turned into a pipeline spec."""

    def __init__(
        self,
        message: str,
        *,
        pipeline: str | None = None,
        task: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = "/".join(p for p in (pipeline, task) if p)
        super().__init__(f"{where}: {message}" if where else message, hint=hint)
        self.pipeline = pipeline
        self.task = task


class ParameterError(UserInputError):
    """A run parameter that is missing, unknown, or of the wrong type."""

    def __init__(
        self, message: str, *, parameter: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(f"parameter {parameter!r}: {message}" if parameter else message, hint=hint)
        self.parameter = parameter


class NotFoundError(UserInputError):
    """A run, task, pipeline or artifact that does not exist."""


class RunBusyError(UserInputError):
    """A run that another live process (a `pinnace run`, a server) drives: its lease holds."""


class EnvironmentBuildError(PinnaceError):
    """A task's virtual environment could not be built."""

    exit_code = 3

    def __init__(
        self, message: str, *, packages: list[str] | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.packages = packages or []


class StoreError(PinnaceError):
    """The metadata store or the artifact store failed."""

    def __init__(self, message: str, *, uri: str | None = None, hint: str | None = None) -> None:
        super().__init__(f"{message} ({uri})" if uri else message, hint=hint)
        self.uri = uri


class ExecutorError(PinnaceError):
    """A task's process could not be started or watched."""

    def __init__(self, message: str, *, task: str | None = None, hint: str | None = None) -> None:
        super().__init__(f"task {task!r}: {message}" if task else message, hint=hint)
        self.task = task


class OutputRefusedError(PinnaceError):
    """A task wrote an output Pinnace does not store: a symbolic or hard link, a special
    file, or more files or bytes than the limits (the task fails)."""


class LocalRunError(PinnaceError, RuntimeError):
    """Running a component or pipeline by calling it (kfp.local) was impossible or failed.

    A RuntimeError too, as kfp's local runner raises, so kfp test suites catch it unchanged.
    """

    exit_code = 1


__all__ = [
    "CompileError",
    "EnvironmentBuildError",
    "ExecutorError",
    "LocalRunError",
    "NotFoundError",
    "OutputRefusedError",
    "ParameterError",
    "PinnaceError",
    "PipelineSourceError",
    "RunBusyError",
    "SpecError",
    "StoreError",
    "UserInputError",
]
