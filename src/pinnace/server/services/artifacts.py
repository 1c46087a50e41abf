"""Reading an artifact a run's task produced, by name: never a path from the request."""

from __future__ import annotations

from ...errors import NotFoundError, StoreError, UserInputError
from ..context import ServerContext
from ..errors import PayloadTooLargeError
from .accounts import Principal
from .runs import get_run

MAX_READ_BYTES = 32 * 1024 * 1024


def read_artifact(
    ctx: ServerContext, principal: Principal, run_id: str, node_id: str, artifact_name: str
) -> bytes:
    """The bytes of output `artifact_name` of task `node_id` in run `run_id`.

    The artifact is looked up in the metadata store; its URI is the one the engine
    recorded, and the artifact store refuses URIs outside its root (symlinks included).
    """
    get_run(ctx, principal, run_id)  # 404 for runs the caller does not see
    for artifact in ctx.backend.metadata.list_artifacts(run_id):
        if artifact.task_name == node_id and artifact.output_name == artifact_name:
            return _read(ctx, artifact.uri)
    raise NotFoundError(
        f"run {run_id!r} has no artifact {artifact_name!r} of task {node_id!r}",
        hint="see run_details.task_details for the run's tasks",
    )


def read_artifact_tarball(
    ctx: ServerContext, principal: Principal, run_id: str, node_id: str, artifact_name: str
) -> bytes:
    """The artifact as kfp 1.x's API gives it: a gzipped tarball holding the one file (Argo
    archived every output that way; v1 readers untar it)."""
    import io
    import tarfile

    data = read_artifact(ctx, principal, run_id, node_id, artifact_name)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(name=artifact_name)
        info.size = len(data)
        info.mode = 0o644
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _read(ctx: ServerContext, uri: str) -> bytes:
    store = ctx.backend.artifacts
    local = store.local_path(uri)
    if local is not None and local.is_dir():
        raise UserInputError("this artifact is a folder; download it with the CLI")
    try:
        with store.open(uri) as handle:
            data = handle.read(MAX_READ_BYTES + 1)
    except IsADirectoryError:
        raise UserInputError("this artifact is a folder; download it with the CLI") from None
    except OSError as exc:
        raise StoreError(f"cannot read the artifact: {exc.strerror or exc}") from None
    if len(data) > MAX_READ_BYTES:
        raise PayloadTooLargeError(f"the artifact is over {MAX_READ_BYTES} bytes")
    return data
