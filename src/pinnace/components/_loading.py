"""Load components from YAML text, files and URLs; make kfp 1.x components from functions."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from ..dsl.graph import BaseComponent
from ..errors import PipelineSourceError, SpecError
from ._ir_loader import spec_from_ir
from ._v1_loader import spec_from_v1


class YamlComponent(BaseComponent):
    """A component loaded from YAML (kfp 2.x IR or kfp 1.x `component.yaml`).

    Components from kfp 1.x specs keep kfp 1.x calling conventions: besides keyword
    arguments they accept POSITIONAL arguments, bound to the inputs in declaration
    order (`process_data_op(download_task.output)`). kfp 2.x refuses positional
    arguments; Pinnace allows them for v1 components on purpose, so kfp 1.x
    pipelines keep working.
    """

    # Set only on components made from a function (kfp 1.x `create_component_from_func`);
    # declared without a value because the executor tells the two kinds apart by getattr.
    python_func: Callable[..., Any]

    def __init__(
        self, component_spec: Any, text: str = "", v1: bool = False, document: Any = None
    ) -> None:
        super().__init__(component_spec)
        self._text = text
        #: the spec `component_text` is written from on first use, when `text` is not given
        self._document = document
        self.allow_positional = v1

    @property
    def component_text(self) -> str:
        """The component's YAML. A component made from a function writes it when asked: a
        pipeline run never reads it, and PyYAML's import and dump cost ~30 ms a pipeline."""
        if self._document is not None:
            import yaml

            self._text, self._document = yaml.dump(self._document, sort_keys=False), None
        return self._text


def _component_from_dict(document: Any, text: str) -> YamlComponent:
    if not isinstance(document, dict):
        raise SpecError(
            "a component YAML must hold a mapping",
            hint="load a component.yaml or a compiled component",
        )
    if "implementation" in document:
        return YamlComponent(spec_from_v1(document), text, v1=True)
    return YamlComponent(spec_from_ir(document, text), text)


def load_component_from_text(text: str) -> YamlComponent:
    """Load a component from YAML text (kfp 2.x IR or kfp 1.x ComponentSpec)."""
    import yaml

    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise SpecError(
            f"the component YAML cannot be parsed: {exc}", hint="check indentation and quoting"
        ) from None
    if len(documents) not in (1, 2):
        raise SpecError(
            f"expected one or two YAML documents, got {len(documents)}",
            hint="a component file holds one component spec",
        )
    return _component_from_dict(documents[0], text)


def load_component_from_file(file_path: str | os.PathLike) -> YamlComponent:
    """Load a component from a YAML file."""
    try:
        with open(file_path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise PipelineSourceError(
            f"cannot read component file: {exc.strerror or exc}",
            path=os.fspath(file_path),
            hint="check the path",
        ) from None
    try:
        return load_component_from_text(text)
    except SpecError as exc:
        raise SpecError(exc.message, path=os.fspath(file_path), hint=exc.hint) from None


def load_component_from_url(url: str, auth: Any = None) -> YamlComponent:
    """Load a component from a URL (http(s):// or file://)."""
    # Imported here: urllib.request (http.client, email, ssl) takes ~25 ms to import.
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            text = response.read().decode("utf-8")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise PipelineSourceError(
            f"cannot download component: {exc}", path=url, hint="check the URL and your network"
        ) from None
    return load_component_from_text(text)


def create_component_from_func(
    func: Callable,
    output_component_file: str | None = None,
    base_image: str | None = None,
    packages_to_install: list[str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> YamlComponent:
    """Make a kfp 1.x component from a Python function (kfp 1.x's function of that name).

    Example::

        def count(text_path: InputPath(str)) -> int:
            return len(open(text_path).read())

        count_op = create_component_from_func(count, base_image="python:3.9")
    """
    from ._v1_func import func_to_v1_component_spec

    spec = func_to_v1_component_spec(
        func,
        base_image=base_image,
        packages_to_install=packages_to_install,
        annotations=annotations,
    )
    # spec_from_v1 works on a copy: `spec` stays as written for component_text
    component = YamlComponent(spec_from_v1(spec, files_as_artifacts=True), v1=True, document=spec)
    if output_component_file:
        from ..compiler.spec_file import write_atomic

        write_atomic(os.fspath(output_component_file), component.component_text)
    component.python_func = func
    return component


func_to_container_op = create_component_from_func
