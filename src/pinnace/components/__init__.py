"""Component loading and the kfp 1.x function API (`kfp.components`).

from pinnace import components
op = components.load_component_from_file("component.yaml")
make_op = components.create_component_from_func(make_data, base_image="python:3.9")
"""

from __future__ import annotations

from ..dsl.graph import BaseComponent, ContainerComponent, PythonComponent
from ..runtime.types import InputPath, OutputPath
from ._loading import (
    YamlComponent,
    create_component_from_func,
    func_to_container_op,
    load_component_from_file,
    load_component_from_text,
    load_component_from_url,
)

__all__ = [
    "BaseComponent",
    "ContainerComponent",
    "InputPath",
    "OutputPath",
    "PythonComponent",
    "YamlComponent",
    "create_component_from_func",
    "func_to_container_op",
    "load_component_from_file",
    "load_component_from_text",
    "load_component_from_url",
]
