"""Files the dashboard shows: task logs (tail, full) and artifact previews and downloads.

Nothing here takes a path from a request: logs are found through the task record (and must
lie under the home's log folder), artifacts through the artifact store (which refuses URIs
outside its root, symlinks included).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ...errors import NotFoundError, StoreError, UserInputError
from ..context import ServerContext
from .accounts import Principal
from .ui import artifact_view, find_artifact, find_task, visible_run

DEFAULT_TAIL_BYTES = 64 * 1024
MAX_TAIL_BYTES = 16 * 1024 * 1024
PREVIEW_BYTES = 64 * 1024
PREVIEW_ROWS = 100
#: images are sent whole for <img>; bigger ones are offered as a download only
MAX_IMAGE_BYTES = 8 * 1024 * 1024
CHUNK = 256 * 1024
#: an HTML report (Plotly, Bokeh) inlines its libraries: a few MiB is common
MAX_HTML_BYTES = 32 * 1024 * 1024
#: headers of an HTML artifact shown in a frame: scripts and styles run, under a CSP sandbox
#: without allow-same-origin, so the document has an opaque origin whoever frames or opens it
FRAME_HEADERS = {
    "Content-Security-Policy": (
        "sandbox allow-scripts allow-popups allow-popups-to-escape-sandbox; "
        "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval' https: data: blob:; "
        "style-src 'unsafe-inline' https: data:; img-src data: blob: https:; "
        "font-src data: https:; media-src data: blob:; connect-src 'none'; "
        "form-action 'none'; base-uri 'none'; frame-ancestors 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "private, no-cache",
    "Cross-Origin-Resource-Policy": "same-origin",
}

_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


# -- logs --------------------------------------------------------------------------------------


def log_file(ctx: ServerContext, principal: Principal, run_id: str, path: str) -> Path | None:
    """The task's log file (None while it has none), checked to lie under the log folder."""
    visible_run(ctx, principal, run_id)
    task = find_task(ctx, run_id, path)
    if not task.log_path:
        return None
    root = Path(ctx.backend.settings.logs_dir).resolve()
    log = Path(task.log_path).resolve()
    if not log.is_relative_to(root):
        raise StoreError(
            f"the log of task {path!r} is outside the log folder",
            hint="the metadata store points at a file Pinnace did not write",
        )
    return log


def log_tail(
    ctx: ServerContext, principal: Principal, run_id: str, path: str, tail_bytes: int | None
) -> dict[str, Any]:
    """`{text, size, offset, truncated}`: the last `tail_bytes` of the log (whole lines)."""
    limit = min(max(tail_bytes or DEFAULT_TAIL_BYTES, 1), MAX_TAIL_BYTES)
    log = log_file(ctx, principal, run_id, path)
    if log is None or not log.is_file():
        return {"text": "", "size": 0, "offset": 0, "truncated": False}
    with log.open("rb") as handle:
        size = handle.seek(0, io.SEEK_END)
        start = max(size - limit, 0)
        handle.seek(start)
        data = handle.read(size - start)
    if start > 0:
        # Drop the partial first line, so the tail starts at a line.
        newline = data.find(b"\n")
        if 0 <= newline < len(data) - 1:
            start += newline + 1
            data = data[newline + 1 :]
    return {
        "text": data.decode("utf-8", errors="replace"),
        "size": size,
        "offset": start,
        "truncated": start > 0,
    }


def read_log_chunks(log: Path, offset: int, *, whole_lines: bool = True) -> tuple[bytes, int]:
    """Lines appended since `offset` (at most 1 MiB), and the new offset; `whole_lines`
    keeps a line still being written for the next read."""
    if not log.is_file():
        return b"", offset
    with log.open("rb") as handle:
        size = handle.seek(0, io.SEEK_END)
        if size < offset:  # the file was replaced (a retry starts a fresh log)
            offset = 0
        handle.seek(offset)
        data = handle.read(min(size - offset, 1024 * 1024))
    end = data.rfind(b"\n") if whole_lines else len(data) - 1
    if end < 0:
        return b"", offset
    return data[: end + 1], offset + end + 1


# -- artifacts ---------------------------------------------------------------------------------


def artifact_preview(ctx: ServerContext, principal: Principal, artifact_id: str) -> dict[str, Any]:
    """What the panel shows for an artifact; `kind` says how:

    table (`columns`, `rows`), json / text / markdown / html / svg (`text`), image
    (fetch `content`), folder (`entries`), binary or missing (offer the download).
    """
    artifact = find_artifact(ctx, principal, artifact_id)
    result: dict[str, Any] = {"artifact": artifact_view(artifact), "truncated": False}
    store = ctx.backend.artifacts
    try:
        exists = store.exists(artifact.uri)
    except StoreError:
        exists = False
    if not exists:
        return {**result, "kind": "missing"}
    local = store.local_path(artifact.uri)
    if local is not None and local.is_dir():
        entries = sorted(p.name for p in local.iterdir())
        return {**result, "kind": "folder", "entries": entries[:PREVIEW_ROWS]}
    with _open(ctx, artifact.uri) as handle:
        head = handle.read(PREVIEW_BYTES + 1)
    truncated = len(head) > PREVIEW_BYTES
    head = head[:PREVIEW_BYTES]
    result["truncated"] = truncated
    return {**result, **_classify(head, artifact.schema_title, artifact.uri, truncated)}


def _classify(head: bytes, schema_title: str, uri: str, truncated: bool) -> dict[str, Any]:
    for magic, content_type in _IMAGE_MAGIC:
        if head.startswith(magic):
            return {"kind": "image", "content_type": content_type}
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if not truncated or exc.start < len(head) - 4:
            return {"kind": "binary"}
        text = head[: exc.start].decode("utf-8")  # a character cut at the preview's end
    if "\x00" in text:
        return {"kind": "binary"}
    title = schema_title.lower()
    name = uri.rstrip("/").rpartition("/")[2].lower()
    stripped = text.lstrip()
    if title.endswith("html") or name.endswith((".html", ".htm")):
        return {"kind": "html", "text": text}
    if title.endswith("markdown") or name.endswith(".md"):
        return {"kind": "markdown", "text": text}
    if (
        name.endswith(".svg")
        or stripped.startswith("<svg")
        or (stripped.startswith("<?xml") and "<svg" in stripped[:512])
    ):
        return {"kind": "svg", "text": text}
    if stripped[:1] in ("{", "[") and not truncated:
        try:
            return {"kind": "json", "text": text, "value": json.loads(text)}
        except ValueError:
            pass
    table = _csv_table(text, name, truncated)
    if table is not None:
        return {"kind": "table", **table}
    return {"kind": "text", "text": text}


def _csv_table(text: str, name: str, truncated: bool) -> dict[str, Any] | None:
    """The first rows as a table when the text reads as CSV (or TSV) with a steady width."""
    lines = text.splitlines()
    if truncated and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut
    if len(lines) < 2 and not name.endswith((".csv", ".tsv")):
        return None
    delimiter = "\t" if name.endswith(".tsv") or ("\t" in lines[0] and "," not in lines[0]) else ","
    rows = list(csv.reader(lines[: PREVIEW_ROWS + 1], delimiter=delimiter))
    if not rows or len(rows[0]) < 2:
        return None
    width = len(rows[0])
    if sum(len(r) == width for r in rows) < max(len(rows) * 0.9, 1):
        return None
    cells = [[cell[:1000] for cell in row] for row in rows]
    return {
        "columns": cells[0],
        "rows": cells[1 : PREVIEW_ROWS + 1],
        "more_rows": truncated or len(lines) > PREVIEW_ROWS + 1,
    }


def html_document(ctx: ServerContext, principal: Principal, artifact_id: str) -> bytes:
    """The bytes of an HTML artifact (an HTML schema or a .html/.htm file), for the frame."""
    artifact = find_artifact(ctx, principal, artifact_id)
    name = artifact.uri.rstrip("/").rpartition("/")[2].lower()
    if not (artifact.schema_title.lower().endswith("html") or name.endswith((".html", ".htm"))):
        raise UserInputError(
            f"artifact {artifact_id!r} is not an HTML document",
            hint="only HTML artifacts are shown as pages; download the others",
        )
    store = ctx.backend.artifacts
    if not store.exists(artifact.uri):
        raise NotFoundError(
            f"the file of artifact {artifact_id!r} is gone", hint="its run may have been cleaned up"
        )
    with _open(ctx, artifact.uri) as handle:
        body: bytes = handle.read(MAX_HTML_BYTES + 1)
    if len(body) > MAX_HTML_BYTES:
        raise UserInputError(
            f"the HTML artifact is over {MAX_HTML_BYTES // (1024 * 1024)} MiB",
            hint="download it instead",
        )
    return body


def artifact_content(
    ctx: ServerContext, principal: Principal, artifact_id: str, *, inline: bool
) -> tuple[Iterator[bytes], str, str, bool]:
    """(chunks, content type, file name, inline): PNG/JPEG/GIF inline for <img>, all else
    (SVG included: it can carry scripts) as an octet-stream attachment."""
    artifact = find_artifact(ctx, principal, artifact_id)
    store = ctx.backend.artifacts
    if not store.exists(artifact.uri):
        raise NotFoundError(
            f"the file of artifact {artifact_id!r} is gone", hint="its run may have been cleaned up"
        )
    local = store.local_path(artifact.uri)
    if local is not None and local.is_dir():
        raise UserInputError(
            "this artifact is a folder", hint="download it with `pinnace artifacts get`"
        )
    with _open(ctx, artifact.uri) as handle:
        head = handle.read(16)
    content_type = "application/octet-stream"
    image = next((t for magic, t in _IMAGE_MAGIC if head.startswith(magic)), None)
    if inline and image:
        content_type = image
    name = _file_name(artifact.output_name, artifact.uri)
    return _chunks(ctx, artifact.uri), content_type, name, bool(inline and image)


def _chunks(ctx: ServerContext, uri: str) -> Iterator[bytes]:
    with _open(ctx, uri) as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def _open(ctx: ServerContext, uri: str) -> Any:
    try:
        return ctx.backend.artifacts.open(uri)
    except (IsADirectoryError, PermissionError) as exc:
        raise UserInputError(f"cannot read the artifact: {exc.strerror or exc}") from None


def _file_name(output_name: str, uri: str) -> str:
    last = uri.rstrip("/").rpartition("/")[2]
    name = last if "." in last else output_name
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:100] or "artifact"
