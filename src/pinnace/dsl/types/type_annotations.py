"""kfp's `kfp.dsl.types.type_annotations`: the input and output annotations."""

from __future__ import annotations

from ...runtime.types import Input, InputPath, Output, OutputPath

__all__ = ["Input", "InputPath", "Output", "OutputPath"]
