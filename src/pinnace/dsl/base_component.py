"""kfp's `kfp.dsl.base_component` module name, for code that imports `BaseComponent` from it."""

from __future__ import annotations

from ._component import BaseComponent

__all__ = ["BaseComponent"]
