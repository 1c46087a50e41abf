"""kfp's `kfp.compiler.compiler` module name, for code that imports `Compiler` from it."""

from __future__ import annotations

from ._compiler import Compiler

__all__ = ["Compiler"]
