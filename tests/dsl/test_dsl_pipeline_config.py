"""dsl.PipelineConfig checks its values as kfp does; importers into the workspace need one."""

import pytest

from pinnace import dsl
from pinnace.compiler import compile_documents


def test_values_are_checked_as_in_kfp():
    with pytest.raises(ValueError, match="Workspace size is required"):
        dsl.WorkspaceConfig(size="")
    with pytest.raises(ValueError, match="is invalid"):
        dsl.WorkspaceConfig(size="lots")
    with pytest.raises(TypeError, match="must be an int"):
        dsl.PipelineConfig(active_deadline_seconds=1.5)
    with pytest.raises(ValueError, match="non-negative"):
        dsl.PipelineConfig(ttl_seconds_after_success=-1)


def _importing(config):
    @dsl.pipeline(name="download", pipeline_config=config)
    def download():
        dsl.importer(
            artifact_uri="gs://bucket/data.csv",
            artifact_class=dsl.Dataset,
            download_to_workspace=True,
        )

    return download


def test_an_importer_into_the_workspace_needs_a_workspace():
    with pytest.raises(Exception, match="requires PipelineConfig"):
        compile_documents(_importing(None))
    spec, platform = compile_documents(
        _importing(dsl.PipelineConfig(workspace=dsl.WorkspaceConfig(size="2Gi")))
    )
    executor = spec["deploymentSpec"]["executors"]["exec-importer"]["importer"]
    assert executor["downloadToWorkspace"] is True
    workspace = platform["platforms"]["kubernetes"]["pipelineConfig"]["workspace"]
    assert workspace["size"] == "2Gi"
