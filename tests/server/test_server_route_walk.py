"""Every route the app serves x {no credentials, bad, expired, revoked, another user's token}.

The routes come from the app itself (`iter_routes`), so a route added later is walked too.
Path parameters are filled with the ids of another user's objects (guessed from the
parameter's name; an unknown name tries every id), and write bodies point at her objects.
A stranger must get 401 on every non-public route; another user must never change her
objects, never create anything in her namespace, and never read any of her ids or names.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from server_support import LiveServer

from pinnace.server.app import iter_routes
from pinnace.server.services import accounts, pipelines

#: the routes that answer without credentials (the API description holds no data)
PUBLIC = {
    "/apis/v2beta1/healthz",
    "/apis/v1beta1/healthz",
    "/apis/pinnace/v1/login",
    "/openapi.json",
}
#: routes of the dashboard's static files (no data, no credentials needed)
_STATIC = re.compile(r"^/($|static/|favicon|index\.html)")
QUICK = {
    "pipelineInfo": {"name": "alice-secret-pipeline"},
    "schemaVersion": "2.1.0",
    "sdkVersion": "kfp-2.17.3",
    "root": {"dag": {"tasks": {"t": {"taskInfo": {"name": "t"}, "componentRef": {"name": "c"}}}}},
    "components": {"c": {"executorLabel": "e"}},
    "deploymentSpec": {
        "executors": {
            "e": {"container": {"image": "python:3.11", "command": ["python", "-c", "print(1)"]}}
        }
    },
}


def h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Alice:
    """Alice's objects (and a shared pipeline an admin uploaded), made through the API."""

    def __init__(self, server: LiveServer, admin: str) -> None:
        self.token = server.add_user("alice-walk", "alice-walk-password")
        base = server.url + "/apis/v2beta1"
        me = h(self.token)
        exp = httpx.post(f"{base}/experiments", json={"display_name": "alice-exp-x"}, headers=me)
        self.experiment = exp.json()["experiment_id"]
        up = httpx.post(
            f"{base}/pipelines/upload?name=alice-secret-pipeline",
            files={"uploadfile": ("p.json", json.dumps(QUICK))},
            headers=me,
        )
        assert up.status_code == 200, up.text
        self.pipeline = up.json()["pipeline_id"]
        versions = httpx.get(f"{base}/pipelines/{self.pipeline}/versions", headers=me).json()
        self.version = versions["pipeline_versions"][0]["pipeline_version_id"]
        run = httpx.post(
            f"{base}/runs",
            json={
                "display_name": "alice-run-x",
                "experiment_id": self.experiment,
                "pipeline_spec": QUICK,
            },
            headers=me,
        )
        assert run.status_code == 200, run.text
        self.run = run.json()["run_id"]
        rec = httpx.post(
            f"{base}/recurringruns",
            json={
                "display_name": "alice-rec-x",
                "experiment_id": self.experiment,
                "pipeline_spec": QUICK,
                "mode": "DISABLE",
                "trigger": {"periodic_schedule": {"interval_second": 3600}},
            },
            headers=me,
        )
        assert rec.status_code == 200, rec.text
        self.recurring = rec.json()["recurring_run_id"]
        store = server.app.state.ctx.backend.metadata
        shared, _ = pipelines.upload_pipeline(  # no namespace: readable by all, admins write
            store,
            accounts.ANONYMOUS_ADMIN,
            filename="p.json",
            data=json.dumps({**QUICK, "pipelineInfo": {"name": "shared"}}).encode(),
            max_bytes=1 << 20,
            name="shared-walk-pipeline",
        )
        self.shared_pipeline = shared.pipeline_id
        store = server.app.state.ctx.backend.metadata
        self.api_token, record = accounts.issue_token(store, "alice-walk", description="walk")
        self.token_id = record.token_id
        # Bob's ids must not reach alice's objects; these strings must never reach Bob
        self.secrets = {
            self.experiment,
            self.pipeline,
            self.version,
            self.run,
            self.recurring,
            self.token_id,
            "alice-secret-pipeline",
            "alice-exp-x",
            "alice-run-x",
            "alice-rec-x",
        }

    def candidates(self, param: str) -> list[tuple[str, bool]]:
        """Values for a path parameter, each with whether it is a shared (readable) object."""
        name = param.lower()
        table = [
            ("version", [(self.version, False)]),
            ("pipeline", [(self.pipeline, False), (self.shared_pipeline, True)]),
            ("experiment", [(self.experiment, False)]),
            ("recurring", [(self.recurring, False)]),
            ("job", [(self.recurring, False)]),
            ("run", [(self.run, False)]),
            ("token", [(self.token_id, False)]),
            ("name", [("alice-secret-pipeline", False)]),
            ("node", [("t", True)]),
            ("task", [("t", True)]),
            ("artifact", [("x", True)]),
        ]
        for word, values in table:
            if word in name:
                return values
        return [(v, False) for v in (self.run, self.experiment, self.pipeline, self.recurring)]

    def bodies(self) -> list[dict[str, Any]]:
        ref = {"pipeline_id": self.pipeline, "pipeline_version_id": self.version}
        return [
            {"json": {}},
            {"json": {"display_name": "walk-plain", "pipeline_spec": QUICK}},
            {
                "json": {
                    "display_name": "walk",
                    "experiment_id": self.experiment,
                    "pipeline_spec": QUICK,
                }
            },
            {
                "json": {
                    "display_name": "walk",
                    "pipeline_version_reference": ref,
                    "pipeline_version_id": self.version,
                }
            },
            {
                "json": {
                    "name": "walk-v",
                    "display_name": "walk",
                    "pipeline_spec": QUICK,
                    "pipeline_id": self.pipeline,
                    "namespace": "alice-walk",
                }
            },
            {"files": {"uploadfile": ("p.json", json.dumps(QUICK))}},
        ]

    def query(self) -> dict[str, str]:
        return {
            "namespace": "alice-walk",
            "pipelineid": self.pipeline,
            "experiment_id": self.experiment,
            "name": "walk-q",
        }

    def state(self, server: LiveServer) -> dict[str, Any]:
        """What Bob must not change: Alice's view of her objects."""
        base, me = server.url + "/apis/v2beta1", h(self.token)
        got = {}
        for path in (
            f"/experiments/{self.experiment}",
            f"/pipelines/{self.pipeline}",
            f"/pipelines/{self.pipeline}/versions",
            f"/pipelines/{self.shared_pipeline}/versions",
            f"/recurringruns/{self.recurring}",
            "/experiments",
            "/pipelines",
            "/recurringruns",
            "/runs",
        ):
            response = httpx.get(base + path, headers=me)
            assert response.status_code == 200, (path, response.text)
            body = response.json()
            for volatile in ("runs",):  # a run's state moves on by itself
                body.pop(volatile, None)
            got[path] = body
        run = httpx.get(f"{base}/runs/{self.run}", headers=me).json()
        got["run"] = (run["display_name"], run.get("storage_state"))
        got["me"] = httpx.get(server.url + "/apis/pinnace/v1/me", headers=h(self.api_token)).json()
        return got


def _paths(path: str, alice: Alice) -> Iterator[tuple[str, bool, bool]]:
    """(url path, whether it names one of Alice's objects, whether all of them are shared)."""
    params = re.findall(r"\{([^}:]+)(?::[^}]*)?\}", path)
    if not params:
        yield path, False, False
        return
    choices = [alice.candidates(p) for p in params]
    for combo in itertools.product(*choices):
        filled = path
        for param, (value, _) in zip(params, combo, strict=True):
            filled = re.sub(r"\{" + re.escape(param) + r"(?::[^}]*)?\}", value, filled, count=1)
        yield filled, True, all(shared for _, shared in combo)


def _api_routes(server: LiveServer) -> list[tuple[str, str]]:
    found = []
    for path, methods in iter_routes(server.app):
        if path in PUBLIC or _STATIC.match(path):
            continue
        found.extend((path, m) for m in sorted(methods - {"HEAD", "OPTIONS"}))
    return found


@pytest.fixture(scope="module")
def alice(server: LiveServer, admin_token: str) -> Alice:
    return Alice(server, admin_token)


def test_every_route_refuses_missing_bad_expired_and_revoked_credentials(
    server: LiveServer, alice: Alice
) -> None:
    store = server.app.state.ctx.backend.metadata
    accounts.add_user(store, "mallory", "mallory-password")
    expired = accounts.create_token(store, "mallory", expires_in=timedelta(seconds=-1))
    revoked, record = accounts.issue_token(store, "mallory")
    accounts.revoke_token_id(store, record.token_id)
    variants = {
        "none": {},
        "bad": h("pnc_not-a-token"),
        "malformed": {"Authorization": "Basic YWRtaW46YWRtaW4="},
        "expired": h(expired),
        "revoked": h(revoked),
        "forged-cookie": {"Cookie": "pinnace_session=pnc_forged"},
    }
    checked = 0
    for path, method in _api_routes(server):
        url_path = next(_paths(path, alice))[0]
        for name, headers in variants.items():
            response = httpx.request(method, server.url + url_path, headers=headers)
            assert response.status_code == 401, (method, path, name, response.text[:200])
            body = response.json()  # KFP's upload routes answer {error_message, ...}
            assert body.get("code", 16) == 16 and (body.get("message") or body["error_message"])
            checked += 1
    assert checked >= 40 * len(variants)


def test_another_users_token_reaches_nothing_of_hers(server: LiveServer, alice: Alice) -> None:
    deadline = time.monotonic() + 60  # let her quick run finish, so its state stays put
    while time.monotonic() < deadline:
        state = httpx.get(
            f"{server.url}/apis/v2beta1/runs/{alice.run}", headers=h(alice.token)
        ).json()["state"]
        if state in ("SUCCEEDED", "FAILED"):
            break
        time.sleep(0.2)
    before = alice.state(server)
    bob = server.add_user("bob-walk", "bob-walk-password")
    tried = refused = 0
    for path, method in _api_routes(server):
        for url_path, names_hers, shared in _paths(path, alice):
            bodies = alice.bodies() if method in ("POST", "PUT", "PATCH") else [{}]
            for body in bodies:
                response = httpx.request(
                    method,
                    server.url + url_path,
                    params=alice.query(),
                    headers=h(bob),
                    **body,
                )
                tried += 1
                where = (method, url_path, list(body.get("json", {}) or body))
                assert response.status_code < 500, (where, response.text[:300])
                if names_hers and not (shared and method == "GET"):
                    assert response.status_code >= 400, (where, response.text[:300])
                if response.status_code >= 400:
                    refused += 1
                sent = f"{url_path} {alice.query()} {body}"  # an echo of the request is no leak
                leaked = [s for s in alice.secrets if s in response.text and s not in sent]
                assert not leaked, (where, leaked)
    assert tried >= 100 and refused >= 80
    assert alice.state(server) == before


def test_pipeline_names_are_per_namespace(server: LiveServer, alice: Alice) -> None:
    carl = server.add_user("carl-walk", "carl-walk-password")
    base = server.url + "/apis/v2beta1/pipelines"
    # Alice's name is free in Carl's namespace: no 409 that would reveal hers
    mine = httpx.post(base, json={"name": "alice-secret-pipeline"}, headers=h(carl))
    assert mine.status_code == 200, mine.text
    again = httpx.post(base, json={"name": "alice-secret-pipeline"}, headers=h(carl))
    assert again.status_code == 409
    # the by-name route answers each one their own
    for token, expected in ((carl, mine.json()["pipeline_id"]), (alice.token, alice.pipeline)):
        found = httpx.get(f"{base}/names/alice-secret-pipeline", headers=h(token))
        assert found.json()["pipeline_id"] == expected
    other = httpx.get(f"{base}/names/alice-secret-pipeline?namespace=alice-walk", headers=h(carl))
    assert other.status_code == 403
    # shared pipelines are found by name by everyone
    shared = httpx.get(f"{base}/names/shared-walk-pipeline", headers=h(carl))
    assert shared.json()["pipeline_id"] == alice.shared_pipeline
