"""Run a pipeline function at compile time, channels standing in for its parameters."""

from __future__ import annotations

import inspect
from typing import Any

from ..dsl.graph import Pipeline, PipelineContext, create_channel
from ..errors import CompileError, PinnaceError


def run_pipeline_function(pipeline: Pipeline) -> tuple[PipelineContext, Any]:
    """The tasks and groups the function creates, and what it returns."""
    context = PipelineContext(pipeline.name)
    try:
        with context:
            args = [
                create_channel(name, spec.type, is_artifact_list=spec.is_artifact_list)
                for name, spec in pipeline.component_spec.inputs.items()
            ]
            returned = pipeline.pipeline_func(*args)
    except CompileError as exc:
        if exc.pipeline is not None:
            raise
        error = CompileError(exc.message, pipeline=pipeline.name, hint=exc.hint)
        error.task = exc.task
        raise error from None
    except PinnaceError:
        raise
    except Exception as exc:
        raise CompileError(
            f"the pipeline function raised {type(exc).__name__}: {exc}{_error_line(exc, pipeline)}",
            pipeline=pipeline.name,
            hint="fix the pipeline function; it runs at compile time with placeholders "
            "instead of values, so it cannot compute with parameter values",
        ) from exc
    if not context.tasks:
        raise CompileError(
            "the pipeline has no tasks",
            pipeline=pipeline.name,
            hint="call at least one component inside the pipeline function",
        )
    return context, returned


def _error_line(exc: Exception, pipeline: Pipeline) -> str:
    func = pipeline.pipeline_func
    source = inspect.getsourcefile(func) if inspect.isfunction(func) else None
    tb = exc.__traceback__
    where = ""
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == source:
            where = f" (at {source}:{tb.tb_lineno})"
        tb = tb.tb_next
    return where
