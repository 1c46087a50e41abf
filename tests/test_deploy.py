"""The Kubernetes manifests of deploy/ validate offline against the Kubernetes schemas.

`kubernetes-validate --strict` checks every core resource (unknown fields are errors). It has
no schema for KubeRay's RayCluster, so its head and worker pod templates are checked as
Kubernetes PodTemplates, and its own fields against the ones KubeRay's ray.io/v1 defines.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

DEPLOY = Path(__file__).parents[1] / "deploy"
KUBERNETES = "1.30.0"  # EKS's oldest standard-support version when this was written

validate = pytest.importorskip("kubernetes_validate.utils")


def documents() -> list[dict[str, Any]]:
    found = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        found += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return found


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in documents() if d["kind"] == kind]


def test_the_cli_validates_every_manifest_strictly() -> None:
    cli = shutil.which("kubernetes-validate", path=str(Path(sys.executable).parent))
    assert cli, "kubernetes-validate is in the test extra"
    files = sorted(str(p) for p in DEPLOY.glob("*.yaml"))
    result = subprocess.run(
        [cli, "--strict", "-k", KUBERNETES, *files], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    passed = result.stdout.count(" passed for resource ")
    assert passed == len(documents()) - len(by_kind("RayCluster"))


def test_a_broken_manifest_is_caught() -> None:
    (deployment,) = by_kind("Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(validate.ValidationError):
        validate.validate(deployment, KUBERNETES, strict=True)


RAY_CLUSTER_FIELDS = {"rayVersion", "headGroupSpec", "workerGroupSpecs", "enableInTreeAutoscaling"}
HEAD_FIELDS = {"serviceType", "rayStartParams", "template"}
WORKER_FIELDS = {
    "groupName",
    "replicas",
    "minReplicas",
    "maxReplicas",
    "rayStartParams",
    "template",
}


def test_the_ray_cluster_pod_templates_are_valid_kubernetes() -> None:
    (cluster,) = by_kind("RayCluster")
    assert cluster["apiVersion"] == "ray.io/v1"
    spec = cluster["spec"]
    assert set(spec) <= RAY_CLUSTER_FIELDS
    assert set(spec["headGroupSpec"]) <= HEAD_FIELDS
    groups = spec["workerGroupSpecs"]
    assert {g["groupName"] for g in groups} == {"cpu", "gpu"}
    templates = [spec["headGroupSpec"]["template"]]
    for group in groups:
        assert set(group) <= WORKER_FIELDS
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        templates.append(group["template"])
    for template in templates:
        pod_template = {
            "apiVersion": "v1",
            "kind": "PodTemplate",
            "metadata": {"name": "check", "namespace": "pinnace"},
            "template": template,
        }
        validate.validate(pod_template, KUBERNETES, strict=True)
        for params in [spec["headGroupSpec"]["rayStartParams"]] + [
            g["rayStartParams"] for g in groups
        ]:
            assert all(isinstance(v, str) for v in params.values())  # KubeRay wants strings


def test_the_server_and_the_ray_cluster_fit_together() -> None:
    (cluster,) = by_kind("RayCluster")
    (deployment,) = by_kind("Deployment")
    server = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in server["env"]}
    assert env["PINNACE_EXECUTOR"] == "ray"
    # KubeRay names the head's service <cluster>-head-svc; 6379 is the GCS port
    assert env["PINNACE_RAY_ADDRESS"].startswith(f"{cluster['metadata']['name']}-head-svc.")
    assert env["PINNACE_RAY_ADDRESS"].endswith(":6379")
    assert env["PINNACE_ARTIFACT_ROOT"].startswith("s3://")
    # Pinnace and Ray must be the same versions on the driver and the nodes: one image
    images = {server["image"]}
    spec = cluster["spec"]
    for template in [spec["headGroupSpec"]["template"]] + [
        g["template"] for g in spec["workerGroupSpecs"]
    ]:
        images |= {c["image"] for c in template["spec"]["containers"]}
    assert len(images) == 1
    # the GPU group advertises the accelerator type tasks ask for
    (gpu,) = [g for g in spec["workerGroupSpecs"] if g["groupName"] == "gpu"]
    assert "NVIDIA_TESLA_T4" in gpu["rayStartParams"]["resources"]
