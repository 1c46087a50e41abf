"""Artifact classes and I/O annotations shared by the authoring DSL and the runtime.

`Input[Dataset]`, `Output[Model]`, `InputPath(str)` and `OutputPath("Dataset")` behave as
in kfp 2.x. The `is_*` helpers duck-type, so they also recognise kfp's own classes when a
component module was written against the real `kfp` package.
"""

from __future__ import annotations

import dataclasses
import re
import types as _pytypes
from typing import Annotated, Any, TypeVar, Union

from .artifacts import (
    ARTIFACT_CLASSES,
    HTML,
    SCHEMA_TITLE_TO_CLASS,
    Artifact,
    ClassificationMetrics,
    Dataset,
    Markdown,
    Metrics,
    Model,
    SlicedClassificationMetrics,
    artifact_class_for_schema_title,
    local_path_for_uri,
    uri_for_local_path,
)

__all__ = [
    "ARTIFACT_CLASSES",
    "HTML",
    "SCHEMA_TITLE_TO_CLASS",
    "Artifact",
    "ClassificationMetrics",
    "Dataset",
    "EmbeddedAnnotation",
    "EmbeddedInput",
    "Input",
    "InputAnnotation",
    "InputPath",
    "Markdown",
    "Metrics",
    "Model",
    "Output",
    "OutputAnnotation",
    "OutputPath",
    "PipelineTaskFinalStatus",
    "SlicedClassificationMetrics",
    "artifact_class_for_schema_title",
    "bundled_artifact_type",
    "io_artifact_class",
    "is_artifact_class",
    "is_embedded_input",
    "is_input_artifact",
    "is_input_path",
    "is_list_of_artifacts",
    "is_output_artifact",
    "is_output_path",
    "is_task_final_status",
    "local_path_for_uri",
    "parameter_type_name",
    "strip_optional",
    "uri_for_local_path",
]

DEFAULT_SCHEMA_VERSION = "0.0.1"
_UnionType = getattr(_pytypes, "UnionType", None)  # `X | None` (Python 3.10+)

# Parameter type names (lower case) as kfp accepts them, mapped to the IR enum names.
_PARAMETER_TYPES = {
    "integer": "NUMBER_INTEGER",
    "int": "NUMBER_INTEGER",
    "double": "NUMBER_DOUBLE",
    "float": "NUMBER_DOUBLE",
    "string": "STRING",
    "str": "STRING",
    "text": "STRING",
    "bool": "BOOLEAN",
    "boolean": "BOOLEAN",
    "dict": "STRUCT",
    "list": "LIST",
    "jsonobject": "STRUCT",
    "jsonarray": "LIST",
}
_ARTIFACTS_BY_LOWER_NAME = {c.__name__.lower(): c for c in ARTIFACT_CLASSES}


class InputAnnotation:
    """Marker inside `Input[T]`: the argument is an input artifact."""


class OutputAnnotation:
    """Marker inside `Output[T]`: the argument is an output artifact the task writes."""


class EmbeddedAnnotation:
    """Marker inside `EmbeddedInput[T]`: files embedded in the component, found at run time."""


T = TypeVar("T")
Input = Annotated[T, InputAnnotation]
Output = Annotated[T, OutputAnnotation]
EmbeddedInput = Annotated[T, EmbeddedAnnotation]


@dataclasses.dataclass
class PipelineTaskFinalStatus:
    """The final status of a task, passed to an exit-handler component."""

    state: str
    pipeline_job_resource_name: str
    pipeline_task_name: str
    error_code: int | None
    error_message: str | None


def bundled_artifact_type(schema_title: str, schema_version: str | None = None) -> str:
    """`system.Dataset` -> `system.Dataset@0.0.1`, as kfp writes artifact types."""
    return f"{schema_title}@{schema_version or DEFAULT_SCHEMA_VERSION}"


def parameter_type_name(type_: Any) -> str | None:
    """The IR parameter type (`STRING`, `NUMBER_INTEGER`, ...) of a type, or None."""
    if is_task_final_status(type_) or type_ == "PipelineTaskFinalStatus":
        return "STRUCT"
    if isinstance(type_, type):
        name = type_.__name__
    elif isinstance(type_, dict):
        name = next(iter(type_), "")
    else:
        match = re.match(r"(typing\.)?(?P<type>\w+)(?:\[.+\])?", str(type_))
        name = match["type"] if match else str(type_)
    return _PARAMETER_TYPES.get(name.lower())


def _path_type(type_: Any) -> Any:
    """The `.type` kfp stores on InputPath/OutputPath for a given argument."""
    if is_artifact_class(type_):
        return bundled_artifact_type(type_.schema_title, type_.schema_version)
    if isinstance(type_, str) and type_.lower() in _ARTIFACTS_BY_LOWER_NAME:
        return bundled_artifact_type(_ARTIFACTS_BY_LOWER_NAME[type_.lower()].schema_title)
    if parameter_type_name(type_):
        return type_
    return bundled_artifact_type(Artifact.schema_title)


class InputPath:
    """Annotation: the function receives the local path of an input (file or artifact).

    Example::

        def count_lines(data: InputPath("Dataset")) -> int:
            return len(open(data).readlines())
    """

    def __init__(self, type: Any = None) -> None:
        self.type = _path_type(type)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InputPath) and self.type == other.type

    def __repr__(self) -> str:
        return f"InputPath({self.type!r})"


class OutputPath:
    """Annotation: the function receives a local path to write an output to.

    Example::

        def greet(name: str, greeting: OutputPath(str)):
            open(greeting, "w").write(f"hello {name}")
    """

    def __init__(self, type: Any = None) -> None:
        self.type = _path_type(type)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OutputPath) and self.type == other.type

    def __repr__(self) -> str:
        return f"OutputPath({self.type!r})"


def is_artifact_class(obj: Any) -> bool:
    """True for an artifact class or instance (ours, kfp's or a custom one)."""
    return hasattr(obj, "schema_title") and hasattr(obj, "schema_version")


def _marker_name(annotation: Any) -> str | None:
    metadata = getattr(annotation, "__metadata__", None)
    if not metadata:
        return None
    return getattr(metadata[0], "__name__", None)


def is_input_artifact(annotation: Any) -> bool:
    """True for `Input[T]` (ours or kfp's)."""
    return _marker_name(annotation) == "InputAnnotation"


def is_embedded_input(annotation: Any) -> bool:
    """True for `EmbeddedInput[T]` (ours or kfp's): not an input of the component."""
    return _marker_name(annotation) == "EmbeddedAnnotation"


def is_output_artifact(annotation: Any) -> bool:
    """True for `Output[T]` (ours or kfp's)."""
    return _marker_name(annotation) == "OutputAnnotation"


def io_artifact_class(annotation: Any) -> Any:
    """`Input[Dataset]` -> Dataset; `Output[List[Model]]` -> Model; otherwise None."""
    if not (is_input_artifact(annotation) or is_output_artifact(annotation)):
        return None
    inner = annotation.__args__[0]
    if isinstance(inner, TypeVar):
        return None
    if getattr(inner, "__origin__", None) is list:
        return inner.__args__[0]
    return inner


def is_list_of_artifacts(annotation: Any) -> bool:
    """True for `List[Dataset]` / `list[Model]` (a list of artifacts)."""
    if getattr(annotation, "__origin__", None) is not list:
        return False
    args: tuple[Any, ...] = getattr(annotation, "__args__", ())
    return len(args) == 1 and isinstance(args[0], type) and is_artifact_class(args[0])


def is_input_path(annotation: Any) -> bool:
    """True for an `InputPath(...)` instance (ours or kfp's)."""
    return type(annotation).__name__ == "InputPath" and hasattr(annotation, "type")


def is_output_path(annotation: Any) -> bool:
    """True for an `OutputPath(...)` instance (ours or kfp's)."""
    return type(annotation).__name__ == "OutputPath" and hasattr(annotation, "type")


def is_task_final_status(annotation: Any) -> bool:
    """True for the `PipelineTaskFinalStatus` class (ours or kfp's)."""
    return isinstance(annotation, type) and annotation.__name__ == "PipelineTaskFinalStatus"


def strip_optional(annotation: Any) -> Any:
    """`Optional[str]` and `str | None` -> `str`; anything else unchanged."""
    args: tuple[Any, ...] = getattr(annotation, "__args__", ())
    is_union = getattr(annotation, "__origin__", None) is Union or (
        _UnionType is not None and isinstance(annotation, _UnionType)
    )
    if is_union and len(args) == 2 and args[1] is type(None):
        return args[0]
    return annotation
