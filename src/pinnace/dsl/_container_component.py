"""`@dsl.container_component`: a component whose function returns a `dsl.ContainerSpec`."""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any

from ..errors import CompileError
from ..runtime import types as io_types
from . import _placeholders as ph
from ._component import BaseComponent
from ._interface import _resolved_hints, extract_interface
from ._structures import ContainerSpec as _ContainerImplementation


@dataclasses.dataclass
class ContainerSpec:
    """What a container component runs: image, command and args (kfp's `dsl.ContainerSpec`).

    Example::

        @dsl.container_component
        def hello(name: str):
            return dsl.ContainerSpec(image="alpine", command=["echo"], args=[name])
    """

    image: str
    command: list[Any] | None = None
    args: list[Any] | None = None


class ContainerComponent(BaseComponent):
    """A component made by `@dsl.container_component`."""

    def __init__(self, component_spec: Any, pipeline_func: Callable) -> None:
        super().__init__(component_spec)
        self.pipeline_func = pipeline_func
        functools.update_wrapper(self, pipeline_func)


class _ArtifactHandle:
    """`model.path` / `model.uri` / `model.metadata` inside a container component."""

    def __init__(self, io_type: str, name: str) -> None:
        self._io_type, self._name = io_type, name

    def __getattr__(self, attribute: str) -> ph.Placeholder:
        kinds = {
            ("input", "path"): ph.InputPathPlaceholder,
            ("input", "uri"): ph.InputUriPlaceholder,
            ("input", "metadata"): ph.InputMetadataPlaceholder,
            ("output", "path"): ph.OutputPathPlaceholder,
            ("output", "uri"): ph.OutputUriPlaceholder,
            ("output", "metadata"): ph.OutputMetadataPlaceholder,
        }
        if (self._io_type, attribute) not in kinds:
            raise AttributeError(f'Cannot access artifact attribute "{attribute}".')
        return kinds[(self._io_type, attribute)](self._name)


def _argument_for(name: str, annotation: Any) -> Any:
    annotation = io_types.strip_optional(annotation)
    if io_types.is_input_artifact(annotation):
        if io_types.is_list_of_artifacts(annotation.__args__[0]):
            return ph.InputListOfArtifactsPlaceholder(name)
        return _ArtifactHandle("input", name)
    if io_types.is_output_artifact(annotation):
        if io_types.is_list_of_artifacts(annotation.__args__[0]):
            return ph.OutputListOfArtifactsPlaceholder(name)
        return _ArtifactHandle("output", name)
    if io_types.is_output_path(annotation):
        return ph.OutputParameterPlaceholder(name)
    return ph.InputValuePlaceholder(name)


def _check_annotations(func: Callable) -> None:
    hints = _resolved_hints(func)
    for param in inspect.signature(func).parameters.values():
        annotation = io_types.strip_optional(hints.get(param.name, param.annotation))
        if isinstance(annotation, type) and io_types.is_artifact_class(annotation):
            raise CompileError(
                "Container Components must wrap input and output artifact annotations with "
                "Input/Output type markers (Input[<artifact>] or Output[<artifact>]). Got "
                f"function input '{param.name}' with annotation {annotation}.",
                hint=f"write {param.name}: Input[{annotation.__name__}]",
            )


def container_component(func: Callable) -> ContainerComponent:
    """Make a component from a function returning `dsl.ContainerSpec` (kfp 2.x).

    Example::

        @dsl.container_component
        def copy(src: Input[Dataset], dst: Output[Dataset]):
            return dsl.ContainerSpec(image="alpine", command=["cp", src.path, dst.path])
    """
    _check_annotations(func)
    spec = extract_interface(func)
    spec.outputs.pop("Output", None)  # the ContainerSpec return value is not an output
    hints = _resolved_hints(func)
    arguments = [
        _argument_for(p.name, hints.get(p.name, p.annotation))
        for p in inspect.signature(func).parameters.values()
    ]
    returned = func(*arguments)
    if not isinstance(returned, ContainerSpec):
        raise CompileError(
            f"container component {func.__name__!r} returned {type(returned).__name__}",
            hint="return dsl.ContainerSpec(image=..., command=[...], args=[...])",
        )
    spec.container = _ContainerImplementation(
        image=returned.image,
        command=[ph.to_string(part) for part in returned.command or []],
        args=[ph.to_string(part) for part in returned.args or []],
    )
    return ContainerComponent(spec, func)
