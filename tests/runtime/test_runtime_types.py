"""runtime/types.py against kfp 2.x's artifact classes and annotations (the oracle)."""

# Components and annotations are written the way kfp users write them (typing.List, Optional).
# ruff: noqa: UP006, UP035, UP045

from __future__ import annotations

from typing import Dict, List, Optional

import kfp.dsl as kfp_dsl
import pytest

from pinnace.runtime import artifacts, types
from pinnace.runtime.types import (
    HTML,
    Artifact,
    ClassificationMetrics,
    Dataset,
    Input,
    InputPath,
    Markdown,
    Metrics,
    Model,
    Output,
    OutputPath,
    SlicedClassificationMetrics,
)

URIS = ["gs://b/x", "s3://b/x/y", "minio://b/x", "oci://reg/img:1", "/local/x", "", "file://z"]
OURS_AND_KFP = [
    (Artifact, kfp_dsl.Artifact),
    (Dataset, kfp_dsl.Dataset),
    (Model, kfp_dsl.Model),
    (Metrics, kfp_dsl.Metrics),
    (ClassificationMetrics, kfp_dsl.ClassificationMetrics),
    (SlicedClassificationMetrics, kfp_dsl.SlicedClassificationMetrics),
    (HTML, kfp_dsl.HTML),
    (Markdown, kfp_dsl.Markdown),
]


@pytest.mark.parametrize(("ours", "theirs"), OURS_AND_KFP)
def test_schema_titles_and_versions_match_kfp(ours, theirs) -> None:
    assert (ours.schema_title, ours.schema_version) == (theirs.schema_title, theirs.schema_version)
    assert ours.__name__ == theirs.__name__


@pytest.mark.parametrize("uri", URIS)
@pytest.mark.parametrize(("ours", "theirs"), [(Artifact, kfp_dsl.Artifact), (Model, kfp_dsl.Model)])
def test_path_mapping_and_setter_match_kfp(ours, theirs, uri: str) -> None:
    mine, kfps = ours(name="a", uri=uri), theirs(name="a", uri=uri)
    assert mine.path == kfps.path
    mine.path = kfps.path = mine.path
    assert mine.uri == kfps.uri
    mine.set_path("/custom/p")
    kfps.set_path("/custom/p")
    assert (mine.path, mine.custom_path) == (kfps.path, kfps.custom_path)


def test_workspace_artifacts_live_under_the_workspace_mount() -> None:
    metadata = {"_kfp_workspace": True}
    mine = Dataset(uri="gs://b/d", metadata=dict(metadata))
    assert mine.path == kfp_dsl.Dataset(uri="gs://b/d", metadata=dict(metadata)).path


def test_constructor_defaults_match_kfp() -> None:
    mine, kfps = Artifact(), kfp_dsl.Artifact()
    assert (mine.name, mine.uri, mine.metadata) == (kfps.name, kfps.uri, kfps.metadata)
    model = Model()
    model.framework = "torch"
    assert model.metadata == {"framework": "torch"} and model.framework == "torch"


def _log_classification(metrics) -> dict:
    metrics.log_roc_curve([0.0, 0.5], [0.1, 0.9], [1.0, 0.5])
    metrics.log_roc_data_point(fpr=1.0, tpr=1.0, threshold=0.0)
    metrics.set_confusion_matrix_categories(["x", "y", "z"])
    metrics.log_confusion_matrix_row("y", [1, 2, 3])
    metrics.log_confusion_matrix_cell("z", "x", 9)
    return metrics.metadata


def test_classification_metrics_metadata_matches_kfp() -> None:
    assert _log_classification(ClassificationMetrics()) == _log_classification(
        kfp_dsl.ClassificationMetrics()
    )
    mine, kfps = ClassificationMetrics(), kfp_dsl.ClassificationMetrics()
    mine.log_confusion_matrix(["a", "b"], [[1, 2], [3, 4]])
    kfps.log_confusion_matrix(["a", "b"], [[1, 2], [3, 4]])
    assert mine.metadata == kfps.metadata


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.log_roc_curve([0.1], [0.2, 0.3], [0.4]),
        lambda m: m.log_confusion_matrix(["a", "b"], [[1, 2]]),
        lambda m: (m.set_confusion_matrix_categories(["a"]), m.log_confusion_matrix_row("q", [1])),
        lambda m: (m.set_confusion_matrix_categories(["a"]), m.log_confusion_matrix_row("a", [])),
    ],
)
def test_classification_metrics_reject_what_kfp_rejects(call) -> None:
    with pytest.raises(ValueError):
        call(kfp_dsl.ClassificationMetrics())
    with pytest.raises(ValueError):
        call(ClassificationMetrics())


def test_metrics_log_metric() -> None:
    metrics = Metrics()
    metrics.log_metric("accuracy", 0.5)
    assert metrics.metadata == {"accuracy": 0.5}


def test_sliced_classification_metrics_builds_evaluation_slices() -> None:
    # kfp 2.17's own class fails on first use (AttributeError); ours follows its schema.
    sliced = SlicedClassificationMetrics()
    sliced.load_roc_readings("all", [[0.5, 0.9, 0.1]])
    sliced.load_confusion_matrix("all", ["a", "b"], [[1, 0], [0, 1]])
    sliced.log_roc_reading("x", threshold=1.0, tpr=0.2, fpr=0.3)
    slices = sliced.metadata["evaluationSlices"]
    assert [s["slice"] for s in slices] == ["all", "x"]
    first = slices[0]["sliceClassificationMetrics"]
    assert first["confidenceMetrics"] == [
        {"confidenceThreshold": 0.5, "recall": 0.9, "falsePositiveRate": 0.1}
    ]
    assert first["confusionMatrix"]["rows"] == [{"row": [1, 0]}, {"row": [0, 1]}]


@pytest.mark.parametrize(
    "argument",
    [
        str,
        int,
        float,
        bool,
        list,
        dict,
        "String",
        "Integer",
        "Dataset",
        "model",
        Model,
        Dataset,
        None,
        "Unknown",
        List[int],
        Dict[str, int],
        "JsonObject",
    ],
)
def test_input_path_and_output_path_types_match_kfp(argument) -> None:
    kfp_argument = {Model: kfp_dsl.Model, Dataset: kfp_dsl.Dataset}.get(argument, argument)
    assert InputPath(argument).type == kfp_dsl.InputPath(kfp_argument).type
    assert OutputPath(argument).type == kfp_dsl.OutputPath(kfp_argument).type


def test_path_annotations_compare_like_kfp() -> None:
    assert InputPath(str) == InputPath(str)
    assert InputPath(str) != OutputPath(str)
    assert InputPath("Dataset") == InputPath(Dataset)
    assert InputPath(str) != InputPath(int)


def test_input_output_helpers_recognise_ours_and_kfps() -> None:
    for inp, out, dataset in [
        (Input, Output, Dataset),
        (kfp_dsl.Input, kfp_dsl.Output, kfp_dsl.Dataset),
    ]:
        assert types.is_input_artifact(inp[dataset]) and not types.is_output_artifact(inp[dataset])
        assert types.is_output_artifact(out[dataset]) and not types.is_input_artifact(out[dataset])
        assert types.io_artifact_class(inp[dataset]) is dataset
        assert types.io_artifact_class(inp[List[dataset]]) is dataset
        assert types.is_list_of_artifacts(List[dataset])
    assert types.is_input_path(kfp_dsl.InputPath(str)) and types.is_output_path(OutputPath(str))
    assert not types.is_input_artifact(Dataset) and types.io_artifact_class(str) is None
    assert types.is_task_final_status(kfp_dsl.PipelineTaskFinalStatus)
    assert types.is_task_final_status(types.PipelineTaskFinalStatus)
    assert types.strip_optional(Optional[int]) is int and types.strip_optional(int) is int


def test_input_marker_matches_kfp_shape() -> None:
    assert (
        Input[Dataset].__metadata__[0].__name__
        == kfp_dsl.Input[kfp_dsl.Dataset].__metadata__[0].__name__
    )
    assert Output[Model].__origin__ is Model


def test_get_uri_needs_a_task_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(artifacts, "CONTAINER_TASK_ROOT", None)
    with pytest.raises(RuntimeError, match="only be called at task runtime"):
        artifacts.get_uri()
    monkeypatch.setattr(artifacts, "CONTAINER_TASK_ROOT", "/gcs/bucket/task")
    assert artifacts.get_uri("model") == "gs://bucket/task/model"


def test_strip_optional_accepts_pep604_unions() -> None:
    assert types.strip_optional(int | None) is int
    assert types.strip_optional(int | str) == int | str
