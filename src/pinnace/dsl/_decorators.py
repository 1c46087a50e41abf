"""`@dsl.component` and `@dsl.pipeline`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ..errors import CompileError
from ._component import (
    DEFAULT_BASE_IMAGE,
    EXECUTOR_MODULE,
    BaseComponent,
    PythonComponent,
    executor_args,
    install_command,
    lightweight_command,
)
from ._embedded import unpack_source
from ._interface import extract_interface
from ._structures import ContainerSpec


def component(
    func: Callable | None = None,
    *,
    base_image: str | None = None,
    target_image: str | None = None,
    packages_to_install: list[str] | None = None,
    pip_index_urls: list[str] | None = None,
    output_component_file: str | None = None,
    install_kfp_package: bool = True,
    kfp_package_path: str | None = None,
    pip_trusted_hosts: list[str] | None = None,
    use_venv: bool = False,
    additional_funcs: list[Callable] | None = None,
    embedded_artifact_path: str | None = None,
    task_config_passthroughs: list[Any] | None = None,
) -> Any:
    """Make a component from a Python function (kfp 2.x `@dsl.component`).

    Example::

        @dsl.component(packages_to_install=["pandas"])
        def add(a: int, b: int) -> int:
            return a + b
    """
    options: dict[str, Any] = dict(
        base_image=base_image,
        target_image=target_image,
        packages_to_install=packages_to_install,
        pip_index_urls=pip_index_urls,
        output_component_file=output_component_file,
        install_kfp_package=install_kfp_package,
        kfp_package_path=kfp_package_path,
        pip_trusted_hosts=pip_trusted_hosts,
        use_venv=use_venv,
        additional_funcs=additional_funcs,
        embedded_artifact_path=embedded_artifact_path,
        task_config_passthroughs=task_config_passthroughs,
    )
    if func is None:
        return functools.partial(component, **options)
    return create_component_from_func(func, **options)


def create_component_from_func(func: Callable, **options: Any) -> PythonComponent:
    """Build the component spec of a function, as kfp's `@dsl.component` does."""
    if options.get("task_config_passthroughs"):
        raise CompileError(
            f"component {func.__name__!r}: task_config_passthroughs is not supported by "
            "Pinnace yet",
            hint="remove the option",
        )
    prefix = install_command(
        packages_to_install=options.get("packages_to_install"),
        pip_index_urls=options.get("pip_index_urls"),
        install_kfp_package=options.get("install_kfp_package", True),
        target_image=options.get("target_image"),
        kfp_package_path=options.get("kfp_package_path"),
        pip_trusted_hosts=options.get("pip_trusted_hosts"),
        use_venv=options.get("use_venv", False),
    )
    target_image = options.get("target_image")
    if target_image:
        image, command = target_image, ["python3", "-m", EXECUTOR_MODULE]
    else:
        image = options.get("base_image") or DEFAULT_BASE_IMAGE
        helper = options.get("helper_source")
        if helper is None and options.get("embedded_artifact_path"):
            helper = unpack_source(options["embedded_artifact_path"])
        command = lightweight_command(func, options.get("additional_funcs"), helper)
    spec = extract_interface(func)
    spec.container = ContainerSpec(image=image, command=prefix + command, args=executor_args(func))
    made = PythonComponent(spec, func)
    if options.get("output_component_file"):
        from ..compiler import Compiler

        Compiler().compile(made, options["output_component_file"])
    return made


class Pipeline(BaseComponent):
    """A pipeline defined with `@dsl.pipeline`: its function plus name and metadata.

    The function runs only when the pipeline is compiled (or run), with channels
    standing in for its parameters. `pinnace.run` and the compiler read `name`,
    `pipeline_func`, `description`, `display_name` and `pipeline_root`. Called inside
    another pipeline it is a component: a task whose implementation is its DAG.
    """

    def __init__(
        self,
        func: Callable,
        name: str | None = None,
        description: str | None = None,
        pipeline_root: str | None = None,
        display_name: str | None = None,
    ) -> None:
        self.pipeline_func = func
        super().__init__(extract_interface(func, name=name, description=description))
        self.component_spec.graph = self
        self.pipeline_root = pipeline_root
        self.display_name = display_name
        #: a `dsl.PipelineConfig` (workspace, Kubernetes resource lifetimes), or None
        self.pipeline_config: Any = None
        functools.update_wrapper(self, func)


def pipeline(
    func: Callable | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    pipeline_root: str | None = None,
    display_name: str | None = None,
    pipeline_config: Any = None,
) -> Any:
    """Define a pipeline (kfp 2.x `@dsl.pipeline`).

    Example::

        @dsl.pipeline(name="add-pipeline")
        def add_pipeline(a: int = 1, b: int = 2):
            add(a=a, b=b)
    """
    if func is None:
        return functools.partial(
            pipeline,
            name=name,
            description=description,
            pipeline_root=pipeline_root,
            display_name=display_name,
            pipeline_config=pipeline_config,
        )
    made = Pipeline(
        func,
        name=name,
        description=description,
        pipeline_root=pipeline_root,
        display_name=display_name,
    )
    made.pipeline_config = pipeline_config
    return made
