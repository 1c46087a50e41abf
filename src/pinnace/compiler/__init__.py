"""The compiler: pipelines defined with `pinnace.dsl` in, the KFP pipeline spec (IR) out.

from pinnace import compiler
compiler.Compiler().compile(my_pipeline, "pipeline.yaml")
spec = compiler.compile_pipeline(my_pipeline)   # the same, as a dict
"""

from __future__ import annotations

from ._compiler import Compiler, compile_documents, compile_pipeline

__all__ = ["Compiler", "compile_documents", "compile_pipeline"]
