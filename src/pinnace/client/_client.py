"""The client: KFP v2beta1 REST calls with the method names of kfp.Client; answers are dicts.

Example:
    >>> client = Client("http://127.0.0.1:8888", token="pnc_...")     # doctest: +SKIP
    >>> run = client.create_run_from_pipeline_package("p.yaml", {"n": 3})
    >>> client.wait_for_run_completion(run["run_id"], timeout=600)["state"]
    'SUCCEEDED'
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from ..errors import PinnaceError

_DONE = frozenset({"SUCCEEDED", "FAILED", "SKIPPED", "ERROR", "CANCELED"})


class ClientError(PinnaceError):
    """The server answered with an error; `status` is the HTTP status, `code` the gRPC code."""

    def __init__(self, message: str, *, status: int, code: int | None = None) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.code = code


class Client:
    """A client of the KFP v2beta1 API; `token` is sent as `Authorization: Bearer`."""

    def __init__(
        self,
        host: str = "http://127.0.0.1:8888",
        *,
        token: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.host = host.rstrip("/")
        self.token = token
        self.timeout = timeout

    # -- transport -------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        data: bytes | None = None,
        content_type: str | None = None,
    ) -> dict[str, Any]:
        query = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        url = f"{self.host}/apis/v2beta1{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if body is not None:
            data, content_type = json.dumps(body).encode(), "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                text = response.read()
        except urllib.error.HTTPError as exc:
            raise _error(exc) from None
        except urllib.error.URLError as exc:
            raise ClientError(f"cannot reach {self.host}: {exc.reason}", status=0) from None
        return json.loads(text) if text else {}

    def _upload(self, path: str, file: str | Path, params: dict[str, Any]) -> dict[str, Any]:
        boundary = uuid.uuid4().hex
        name = Path(file).name
        payload = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="uploadfile"; '
                f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
            ).encode()
            + Path(file).read_bytes()
            + f"\r\n--{boundary}--\r\n".encode()
        )
        return self._call(
            "POST",
            path,
            params=params,
            data=payload,
            content_type=f"multipart/form-data; boundary={boundary}",
        )

    # -- experiments -----------------------------------------------------------------------

    def create_experiment(
        self, name: str, description: str | None = None, namespace: str | None = None
    ) -> dict[str, Any]:
        found = self.list_experiments(filter=_eq("display_name", name), namespace=namespace)
        if found.get("experiments"):
            return found["experiments"][0]
        return self._call(
            "POST",
            "/experiments",
            body={
                k: v
                for k, v in {
                    "display_name": name,
                    "description": description,
                    "namespace": namespace,
                }.items()
                if v
            },
        )

    def list_experiments(
        self,
        page_token: str = "",
        page_size: int = 10,
        sort_by: str = "",
        namespace: str | None = None,
        filter: str | None = None,
    ) -> dict[str, Any]:
        return self._call(
            "GET",
            "/experiments",
            params={
                "page_token": page_token,
                "page_size": page_size,
                "sort_by": sort_by,
                "namespace": namespace,
                "filter": filter,
            },
        )

    # -- pipelines -------------------------------------------------------------------------

    def upload_pipeline(
        self,
        pipeline_package_path: str | Path,
        pipeline_name: str | None = None,
        description: str | None = None,
        namespace: str | None = None,
    ) -> dict[str, Any]:
        return self._upload(
            "/pipelines/upload",
            pipeline_package_path,
            {"name": pipeline_name, "description": description, "namespace": namespace},
        )

    def upload_pipeline_version(
        self,
        pipeline_package_path: str | Path,
        pipeline_version_name: str,
        pipeline_id: str,
        description: str | None = None,
    ) -> dict[str, Any]:
        return self._upload(
            "/pipelines/upload_version",
            pipeline_package_path,
            {"name": pipeline_version_name, "pipelineid": pipeline_id, "description": description},
        )

    def list_pipelines(
        self,
        page_token: str = "",
        page_size: int = 10,
        sort_by: str = "",
        filter: str | None = None,
        namespace: str | None = None,
    ) -> dict[str, Any]:
        return self._call(
            "GET",
            "/pipelines",
            params={
                "page_token": page_token,
                "page_size": page_size,
                "sort_by": sort_by,
                "filter": filter,
                "namespace": namespace,
            },
        )

    # -- runs ------------------------------------------------------------------------------

    def create_run_from_pipeline_package(
        self,
        pipeline_file: str | Path,
        arguments: dict[str, Any] | None = None,
        run_name: str | None = None,
        experiment_name: str | None = None,
        namespace: str | None = None,
        experiment_id: str | None = None,
    ) -> dict[str, Any]:
        """Load the spec locally (YAML, JSON or kfp 1.x Argo) and submit it."""
        from ..spec.load import load_spec

        spec = load_spec(Path(pipeline_file)).pipeline_spec
        return self._create_run(
            spec, arguments, run_name, experiment_name, namespace, experiment_id
        )

    def create_run_from_pipeline_spec(
        self,
        spec: dict[str, Any],
        arguments: dict[str, Any] | None = None,
        run_name: str | None = None,
        experiment_name: str | None = None,
        namespace: str | None = None,
        experiment_id: str | None = None,
    ) -> dict[str, Any]:
        """Submit a pipeline spec (IR dict) as a run."""
        return self._create_run(
            spec, arguments, run_name, experiment_name, namespace, experiment_id
        )

    def create_run_from_pipeline_func(
        self,
        pipeline_func: Any,
        arguments: dict[str, Any] | None = None,
        run_name: str | None = None,
        experiment_name: str | None = None,
        namespace: str | None = None,
        experiment_id: str | None = None,
    ) -> dict[str, Any]:
        """Compile a `@dsl.pipeline` function with Pinnace's compiler and submit it."""
        from ..compiler import compile_pipeline

        spec = compile_pipeline(pipeline_func)
        return self._create_run(
            spec, arguments, run_name, experiment_name, namespace, experiment_id
        )

    def _create_run(
        self,
        spec: dict[str, Any],
        arguments: dict[str, Any] | None,
        run_name: str | None,
        experiment_name: str | None,
        namespace: str | None,
        experiment_id: str | None,
    ) -> dict[str, Any]:
        if experiment_id is None:
            experiment_id = self.create_experiment(
                experiment_name or "Default", namespace=namespace
            )["experiment_id"]
        name = run_name or (spec.get("pipelineInfo") or {}).get("name", "run")
        return self._call(
            "POST",
            "/runs",
            body={
                "display_name": name,
                "experiment_id": experiment_id,
                "pipeline_spec": spec,
                "runtime_config": {"parameters": dict(arguments or {})},
            },
        )

    def get_run(self, run_id: str) -> dict[str, Any]:
        return self._call("GET", f"/runs/{urllib.parse.quote(run_id, safe='')}")

    def list_runs(
        self,
        page_token: str = "",
        page_size: int = 10,
        sort_by: str = "",
        experiment_id: str | None = None,
        namespace: str | None = None,
        filter: str | None = None,
    ) -> dict[str, Any]:
        return self._call(
            "GET",
            "/runs",
            params={
                "page_token": page_token,
                "page_size": page_size,
                "sort_by": sort_by,
                "experiment_id": experiment_id,
                "namespace": namespace,
                "filter": filter,
            },
        )

    def wait_for_run_completion(
        self, run_id: str, timeout: float, sleep_duration: float = 1.0
    ) -> dict[str, Any]:
        """Poll until the run ends (CANCELED too, unlike kfp.Client); TimeoutError after
        `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.get_run(run_id)
            if run.get("state", "").upper() in _DONE:
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} did not finish within {timeout}s")
            time.sleep(sleep_duration)


def _eq(key: str, value: str) -> str:
    return json.dumps({"predicates": [{"operation": 1, "key": key, "stringValue": value}]})


def _error(exc: urllib.error.HTTPError) -> ClientError:
    try:
        body = json.loads(exc.read() or b"{}")
    except ValueError:
        body = {}
    message = body.get("message") or body.get("error_message") or exc.reason
    return ClientError(str(message), status=exc.code, code=body.get("code"))
