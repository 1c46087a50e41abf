"""`@dsl.notebook_component`: a component that runs a Jupyter notebook with nbclient.

The notebook is embedded in the component (as `embedded_artifact_path` files are); the
function body calls `dsl.run_notebook(name=value, ...)`, which at run time injects a cell that
sets those names (after the cell tagged `parameters`, else first, as papermill does) and
executes the notebook in a Python kernel with nbclient, printing each cell's output.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import CompileError
from ._embedded import unpack_source

#: what a notebook needs in the task's environment (kfp 2.17.3's defaults)
NOTEBOOK_PACKAGES = ["nbclient>=0.10,<1", "ipykernel>=6,<7", "jupyter_client>=7,<9"]

_RUNNER = '''__KFP_NOTEBOOK_REL_PATH = {relpath!r}


def __pinnace_run_notebook(**parameters):
    """Run the embedded notebook with `parameters` set first (papermill's rule)."""
    import json
    import os
    import subprocess
    import sys

    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient

    if "python3" not in KernelSpecManager().find_kernel_specs():
        subprocess.run(
            [sys.executable, "-m", "ipykernel", "install", "--user", "--name", "python3"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    path = os.path.join(__KFP_EMBEDDED_ASSET_DIR, __KFP_NOTEBOOK_REL_PATH)
    notebook = nbformat.read(path, as_version=4)
    if parameters:
        lines = ["import json"] + [
            f"{{name}} = json.loads({{json.dumps(json.dumps(value))}})"
            for name, value in parameters.items()
        ]
        cell = nbformat.v4.new_code_cell("\\n".join(lines) + "\\n")
        cell.metadata["tags"] = ["injected-parameters"]
        at = 0
        for index, existing in enumerate(notebook.cells):
            tags = existing.get("metadata", {{}}).get("tags", []) or []
            if existing.get("cell_type") == "code" and "parameters" in tags:
                at = index + 1
                break
        notebook.cells.insert(at, cell)
    cells = len(notebook.cells)
    print(f"[notebook] running {{__KFP_NOTEBOOK_REL_PATH}} ({{cells}} cells)", flush=True)
    client = NotebookClient(
        notebook, timeout=None, kernel_name="python3",
        resources={{"metadata": {{"path": os.path.dirname(path)}}}},
    )
    try:
        client.execute()
    finally:
        for index, cell in enumerate(notebook.cells):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream":
                    print(f"[cell {{index}}] {{output.get('text', '')}}", end="", flush=True)
                elif output.get("output_type") == "error":
                    print("\\n".join(output.get("traceback", [])), file=sys.stderr, flush=True)
                elif "text/plain" in output.get("data", {{}}):
                    print(f"[cell {{index}}] {{output['data']['text/plain']}}", flush=True)


dsl.run_notebook = __pinnace_run_notebook'''


def _notebook_file(notebook_path: str) -> str:
    """The notebook's path inside the embedded files."""
    path = Path(notebook_path)
    if not path.exists():
        raise CompileError(
            f"Notebook path does not exist: {notebook_path}", hint="give a .ipynb file or folder"
        )
    if path.is_dir():
        found = [
            p for p in path.rglob("*.ipynb") if p.is_file() and ".ipynb_checkpoints" not in p.parts
        ]
        if len(found) != 1:
            raise CompileError(
                f"{len(found)} .ipynb files found in directory: {notebook_path}. "
                "Exactly one is required.",
                hint="keep one notebook in the folder",
            )
        return found[0].relative_to(path).as_posix()
    if path.suffix.lower() != ".ipynb":
        raise CompileError(
            f"Invalid notebook_path (expected .ipynb file): {notebook_path}",
            hint="give a .ipynb file",
        )
    return path.name


def notebook_component(
    func: Callable | None = None,
    *,
    notebook_path: str,
    base_image: str | None = None,
    packages_to_install: list[str] | None = None,
    pip_index_urls: list[str] | None = None,
    output_component_file: str | None = None,
    install_kfp_package: bool = True,
    kfp_package_path: str | None = None,
    pip_trusted_hosts: list[str] | None = None,
    use_venv: bool = False,
    task_config_passthroughs: list[Any] | None = None,
) -> Any:
    """A component that runs a notebook (kfp 2.17.3's `@dsl.notebook_component`).

    Example::

        @dsl.notebook_component(notebook_path="train.ipynb")
        def train(lr: float):
            dsl.run_notebook(lr=lr)
    """
    from ._decorators import create_component_from_func

    options: dict[str, Any] = dict(
        notebook_path=notebook_path,
        base_image=base_image,
        packages_to_install=packages_to_install,
        pip_index_urls=pip_index_urls,
        output_component_file=output_component_file,
        install_kfp_package=install_kfp_package,
        kfp_package_path=kfp_package_path,
        pip_trusted_hosts=pip_trusted_hosts,
        use_venv=use_venv,
        task_config_passthroughs=task_config_passthroughs,
    )
    if func is None:
        return lambda f: notebook_component(f, **options)
    relpath = _notebook_file(notebook_path)
    helper = unpack_source(notebook_path) + "\n\n" + _RUNNER.format(relpath=relpath)
    options.pop("notebook_path")
    if options["packages_to_install"] is None:
        options["packages_to_install"] = list(NOTEBOOK_PACKAGES)
    return create_component_from_func(
        func, **options, embedded_artifact_path=notebook_path, helper_source=helper
    )


def run_notebook(**kwargs: Any) -> None:
    """Run the component's notebook with these parameters (only inside a running
    `@dsl.notebook_component`; the component's program replaces this function)."""
    raise NotImplementedError(
        "dsl.run_notebook is only available inside a @dsl.notebook_component at runtime."
    )
