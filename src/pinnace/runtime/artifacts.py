"""Artifact classes (kfp 2.x compatible): a name, a URI, metadata and a local path."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

# Remote URI schemes and the local mount folder each one is read from inside a task,
# the same mapping kfp's executor uses, so `artifact.path` agrees with kfp.
_REMOTE_TO_LOCAL = (("gs://", "/gcs/"), ("minio://", "/minio/"), ("s3://", "/s3/"))
_OCI_SCHEME, _OCI_MOUNT = "oci://", "/oci/"
_WORKSPACE_MOUNT_PATH = "/kfp-workspace"


# The task's root folder (where executor_output.json lives), set by the executor as kfp's
# does, so `get_uri()` works inside a component.
CONTAINER_TASK_ROOT: str | None = None


def get_uri(suffix: str = "Output") -> str:
    """A URI under the current task's root, for artifacts a component names itself."""
    if CONTAINER_TASK_ROOT is None:
        raise RuntimeError(
            "'dsl.get_uri' can only be called at task runtime. "
            "The task root is unknown in the current environment."
        )
    return os.path.join(uri_for_local_path(CONTAINER_TASK_ROOT), suffix)


def local_path_for_uri(uri: str) -> str:
    """Map an artifact URI to the local path a task reads or writes it at."""
    for scheme, mount in _REMOTE_TO_LOCAL:
        if uri.startswith(scheme):
            return mount + uri[len(scheme) :]
    if uri.startswith(_OCI_SCHEME):
        return _OCI_MOUNT + uri[len(_OCI_SCHEME) :].replace("/", "_")
    return uri


def uri_for_local_path(path: str) -> str:
    """Map a local mount path back to its artifact URI (inverse of local_path_for_uri)."""
    for scheme, mount in _REMOTE_TO_LOCAL:
        if path.startswith(mount):
            return scheme + path[len(mount) :]
    if path.startswith(_OCI_MOUNT):
        remote = path[len(_OCI_MOUNT) :].replace("_", "/")
        if remote.endswith("/models"):
            remote = remote[: -len("/models")]
        return _OCI_SCHEME + remote
    return path


class Artifact:
    """A generic artifact: a file or folder with a name, a URI and metadata.

    Example::

        def train(model: Output[Artifact]):
            with open(model.path, "w") as f:
                f.write("weights")
    """

    schema_title = "system.Artifact"
    schema_version = "0.0.1"

    def __init__(
        self, name: str | None = None, uri: str | None = None, metadata: dict | None = None
    ) -> None:
        self.uri = uri or ""
        self.name = name or ""
        self.metadata = metadata or {}
        self._custom_path = ""

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, uri={self.uri!r}, "
            f"metadata={self.metadata!r})"
        )

    @property
    def path(self) -> str:
        return self._get_path()

    @path.setter
    def path(self, path: str) -> None:
        self._set_path(path)

    def _get_path(self) -> str:
        local = self._custom_path or local_path_for_uri(self.uri)
        if self.metadata.get("_kfp_workspace") is True:
            local = os.path.join(_WORKSPACE_MOUNT_PATH, ".artifacts", local.lstrip("/"))
        return local

    def _set_path(self, path: str) -> None:
        self.uri = uri_for_local_path(path)

    @property
    def custom_path(self) -> str:
        return self._custom_path

    @custom_path.setter
    def custom_path(self, value: str) -> None:
        self._custom_path = value

    def set_path(self, path: str) -> None:
        """Read and write this artifact at `path` instead of the URI's local path."""
        self._custom_path = path


class Model(Artifact):
    """A machine learning model."""

    schema_title = "system.Model"

    @property
    def framework(self) -> str:
        return self.metadata.get("framework", "")

    @framework.setter
    def framework(self, framework: str) -> None:
        self.metadata["framework"] = framework

    @property
    def path(self) -> str:
        if self.uri.startswith(_OCI_SCHEME):
            return self._get_path() + "/models"
        return self._get_path()

    @path.setter
    def path(self, path: str) -> None:
        self._set_path(path)


class Dataset(Artifact):
    """A machine learning dataset."""

    schema_title = "system.Dataset"


class HTML(Artifact):
    """An HTML file, shown as a visualization."""

    schema_title = "system.HTML"


class Markdown(Artifact):
    """A Markdown file, shown as a visualization."""

    schema_title = "system.Markdown"


class Metrics(Artifact):
    """Scalar metrics, kept in the artifact's metadata."""

    schema_title = "system.Metrics"

    def log_metric(self, metric: str, value: float) -> None:
        """Record one scalar metric."""
        self.metadata[metric] = value


class ClassificationMetrics(Artifact):
    """An ROC curve and a confusion matrix, kept in the artifact's metadata."""

    schema_title = "system.ClassificationMetrics"

    def log_roc_data_point(self, fpr: float, tpr: float, threshold: float) -> None:
        """Append one point of the ROC curve."""
        point = {"confidenceThreshold": threshold, "recall": tpr, "falsePositiveRate": fpr}
        self.metadata.setdefault("confidenceMetrics", []).append(point)

    def log_roc_curve(self, fpr: list[float], tpr: list[float], threshold: list[float]) -> None:
        """Append a whole ROC curve; the three lists must have the same length."""
        if not len(fpr) == len(tpr) == len(threshold):
            raise ValueError(
                "Length of fpr, tpr and threshold must be the same. Got lengths "
                f"{len(fpr)}, {len(tpr)} and {len(threshold)} respectively."
            )
        for f, t, th in zip(fpr, tpr, threshold):  # noqa: B905 - checked; 3.9 has no strict=
            self.log_roc_data_point(fpr=f, tpr=t, threshold=th)

    def set_confusion_matrix_categories(self, categories: list[str]) -> None:
        """Start an all-zero confusion matrix over `categories`."""
        self._categories = list(categories)
        # Rows hold the caller's own sequence, unchanged, as kfp does (so `Any` values).
        self._matrix: list[dict[str, Any]] = [{"row": [0] * len(categories)} for _ in categories]
        self._confusion_matrix = {
            "annotationSpecs": [{"displayName": c} for c in categories],
            "rows": self._matrix,
        }
        self.metadata["confusionMatrix"] = self._confusion_matrix

    def _category_index(self, category: str) -> int:
        if category not in self._categories:
            raise ValueError(
                f"Invalid category: {category} passed. Expected one of: {self._categories}"
            )
        return self._categories.index(category)

    def log_confusion_matrix_row(self, row_category: str, row: Sequence[float]) -> None:
        """Set one row of the confusion matrix."""
        index = self._category_index(row_category)
        if len(row) != len(self._categories):
            raise ValueError(f"Invalid row. Expected size: {len(self._categories)} got: {len(row)}")
        self._matrix[index] = {"row": row}
        self.metadata["confusionMatrix"] = self._confusion_matrix

    def log_confusion_matrix_cell(self, row_category: str, col_category: str, value: int) -> None:
        """Set one cell of the confusion matrix."""
        row = self._category_index(row_category)
        col = self._category_index(col_category)
        self._matrix[row]["row"][col] = value
        self.metadata["confusionMatrix"] = self._confusion_matrix

    def log_confusion_matrix(self, categories: list[str], matrix: list[list[int]]) -> None:
        """Set the whole confusion matrix; it must be square over `categories`."""
        self.set_confusion_matrix_categories(categories)
        if len(matrix) != len(categories) or any(len(r) != len(categories) for r in matrix):
            raise ValueError(f"Invalid matrix: {matrix} passed for categories: {categories}")
        for category, row in zip(categories, matrix):  # noqa: B905 - checked above
            self.log_confusion_matrix_row(category, row)
        self.metadata["confusionMatrix"] = self._confusion_matrix


class SlicedClassificationMetrics(Artifact):
    """Classification metrics per slice of the evaluation data."""

    schema_title = "system.SlicedClassificationMetrics"

    def __init__(
        self, name: str | None = None, uri: str | None = None, metadata: dict | None = None
    ) -> None:
        super().__init__(name=name, uri=uri, metadata=metadata)
        self._sliced_metrics: dict[str, ClassificationMetrics] = {}

    def _slice(self, slice: str) -> ClassificationMetrics:
        return self._sliced_metrics.setdefault(slice, ClassificationMetrics())

    def _update_metadata(self) -> None:
        self.metadata = {
            "evaluationSlices": [
                {"slice": name, "sliceClassificationMetrics": metrics.metadata}
                for name, metrics in self._sliced_metrics.items()
            ]
        }

    def log_roc_reading(self, slice: str, threshold: float, tpr: float, fpr: float) -> None:
        """Append one ROC point to a slice."""
        self._slice(slice).log_roc_data_point(fpr=fpr, tpr=tpr, threshold=threshold)
        self._update_metadata()

    def load_roc_readings(self, slice: str, readings: list[list[float]]) -> None:
        """Append ROC points given as [threshold, tpr, fpr] triples to a slice."""
        for threshold, tpr, fpr in readings:
            self._slice(slice).log_roc_data_point(fpr=fpr, tpr=tpr, threshold=threshold)
        self._update_metadata()

    def set_confusion_matrix_categories(self, slice: str, categories: list[str]) -> None:
        """Start an all-zero confusion matrix for a slice."""
        self._slice(slice).set_confusion_matrix_categories(categories)
        self._update_metadata()

    def log_confusion_matrix_row(self, slice: str, row_category: str, row: list[int]) -> None:
        """Set one confusion matrix row of a slice."""
        self._slice(slice).log_confusion_matrix_row(row_category, row)
        self._update_metadata()

    def log_confusion_matrix_cell(
        self, slice: str, row_category: str, col_category: str, value: int
    ) -> None:
        """Set one confusion matrix cell of a slice."""
        self._slice(slice).log_confusion_matrix_cell(row_category, col_category, value)
        self._update_metadata()

    def load_confusion_matrix(
        self, slice: str, categories: list[str], matrix: list[list[int]]
    ) -> None:
        """Set the whole confusion matrix of a slice."""
        self._slice(slice).log_confusion_matrix(categories, matrix)
        self._update_metadata()


ARTIFACT_CLASSES: tuple[type[Artifact], ...] = (
    Artifact,
    Model,
    Dataset,
    Metrics,
    ClassificationMetrics,
    SlicedClassificationMetrics,
    HTML,
    Markdown,
)
SCHEMA_TITLE_TO_CLASS: dict[str, type[Artifact]] = {c.schema_title: c for c in ARTIFACT_CLASSES}


def artifact_class_for_schema_title(schema_title: str) -> type[Artifact]:
    """The artifact class for a schema title; unknown titles fall back to Artifact."""
    return SCHEMA_TITLE_TO_CLASS.get(schema_title, Artifact)
