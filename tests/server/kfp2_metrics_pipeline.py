"""A kfp 2 pipeline whose task logs a metric (compiled by kfp in the v1 API test)."""

# No `from __future__ import annotations`: kfp reads the components' real annotations.

from kfp import dsl
from kfp.dsl import Metrics, Output


@dsl.component(install_kfp_package=False, base_image="python:3.11")
def score(metrics: Output[Metrics]):
    metrics.log_metric("accuracy", 0.75)


@dsl.pipeline(name="scored")
def scored():
    score()
