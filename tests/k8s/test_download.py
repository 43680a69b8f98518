"""How model files get into the pod, per cloud: one sync-tool row each for S3, GCS and Azure Blob,
rendered as the init container of a real model pod, with the pod's workload identity only."""

from __future__ import annotations

import re
from typing import Any

import pytest

from mlinfra.k8s.serving.download import SYNC_TOOLS, sync_tool
from mlinfra.offline import Plan
from mlinfra.policy.rules.kubernetes import image_pinned
from mlinfra.spec import ModelSpec, SpecError
from tests.k8s.k8s_schema import validate
from tests.k8s.models import deployment_args, plan_model

LABELS = {"owner": "ml-platform", "cost-center": "cc-1234", "environment": "prod"}
MODEL = ModelSpec(name="chat", runtime="vllm", gpu_pool="a10g", version="v7/")

# cloud -> (model URI, identity annotations on the ServiceAccount, expected command, env)
CLOUDS: dict[str, dict[str, Any]] = {
    "aws": {
        "uri": "s3://acme-prod-artifacts/models/chat/v7/",
        "identity": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/acme-prod-chat"},
        "command": [
            "aws",
            "s3",
            "sync",
            "s3://acme-prod-artifacts/models/chat/v7/",
            "/mnt/models",
            "--no-progress",
            "--only-show-errors",
        ],
        "env": {"AWS_EC2_METADATA_DISABLED": "true", "HOME": "/tmp"},
    },
    "gcp": {
        "uri": "gs://acme-prod-artifacts/models/chat/v7/",
        "identity": {"iam.gke.io/gcp-service-account": "chat@acme-prod.iam.gserviceaccount.com"},
        "command": [
            "gcloud",
            "storage",
            "rsync",
            "--recursive",
            "gs://acme-prod-artifacts/models/chat/v7/",
            "/mnt/models",
        ],
        "env": {"CLOUDSDK_CONFIG": "/tmp/gcloud", "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"},
    },
    "azure": {
        "uri": "https://acmeprod.blob.core.windows.net/artifacts/models/chat/v7/",
        "identity": {"azure.workload.identity/client-id": "00000000-0000-0000-0000-000000000000"},
        "command": [
            "/storage-initializer/scripts/initializer-entrypoint",
            "https://acmeprod.blob.core.windows.net/artifacts/models/chat/v7/",
            "/mnt/models",
        ],
        "env": {"HOME": "/tmp"},
    },
}


def _plan(cloud: str, **kw: Any) -> Plan:
    case = CLOUDS[cloud]
    defaults = {
        "storage_uri": case["uri"],
        "service_account_annotations": case["identity"],
        "cloud": cloud,
        "cluster_issuer": "mlinfra-private-ca",
    }
    return plan_model(deployment_args(MODEL, **{**defaults, **kw}))


def _init(plan: Plan) -> dict[str, Any]:
    (init,) = plan.one("kubernetes:apps/v1:Deployment").inputs["spec"]["template"]["spec"]["initContainers"]
    return init


def test_one_row_per_cloud():
    assert set(SYNC_TOOLS) == set(CLOUDS) == {"aws", "gcp", "azure"}
    for tool in SYNC_TOOLS.values():
        assert image_pinned(tool.image), tool.image


@pytest.mark.parametrize("cloud", sorted(CLOUDS))
def test_init_container_per_cloud(cloud: str):
    plan = _plan(cloud)
    init = _init(plan)
    assert init["image"] == SYNC_TOOLS[cloud].image
    assert init["command"] == CLOUDS[cloud]["command"]
    assert {e["name"]: e["value"] for e in init["env"]} == CLOUDS[cloud]["env"]
    # nothing but the pod's own identity: no keys in the env, no API token, the model's SA
    assert not any(re.search("KEY|SECRET|TOKEN|PASSWORD", e["name"]) for e in init["env"])
    pod = plan.one("kubernetes:apps/v1:Deployment").inputs["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "chat" and pod["automountServiceAccountToken"] is False
    sa = plan.one("kubernetes:core/v1:ServiceAccount").inputs["metadata"]["annotations"]
    assert sa == CLOUDS[cloud]["identity"]
    sc = init["securityContext"]
    assert sc == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "runAsNonRoot": True,
    }
    writable = {m["mountPath"] for m in init["volumeMounts"]}
    assert writable == {"/mnt/models", "/tmp"}
    validate(plan.one("kubernetes:apps/v1:Deployment").inputs)


def test_aws_cli_reads_both_irsa_and_eks_pod_identity():
    # EKS user guide, "Use pod identity with the AWS SDK": AWS CLI v2 >= 2.15.0 reads Pod Identity
    # credentials; IRSA's web identity works in every 2.x.
    tag = SYNC_TOOLS["aws"].image.rsplit(":", 1)[1]
    major, minor, _ = (int(x) for x in tag.split("."))
    assert (major, minor) >= (2, 15)
    # EKS Pod Identity: no annotation on the ServiceAccount (the association is an EKS resource);
    # the webhook injects AWS_CONTAINER_CREDENTIALS_FULL_URI / _AUTHORIZATION_TOKEN_FILE into the
    # init container, so ours must not set (and shadow) any credential variable of either mode.
    plan = _plan("aws", service_account_annotations={})
    env = {e["name"] for e in _init(plan)["env"]}
    assert not env & {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_PROFILE",
    }
    assert plan.one("kubernetes:core/v1:ServiceAccount").inputs["metadata"].get("annotations") in ({}, None)


def test_the_tool_follows_the_uri_on_an_existing_cluster():
    assert sync_tool("kubernetes", "s3://b/m/").cloud == "aws"
    assert sync_tool("kubernetes", "gs://b/m/").cloud == "gcp"
    assert sync_tool("kubernetes", "https://a.blob.core.windows.net/c/m/").cloud == "azure"
    with pytest.raises(SpecError, match="cannot tell which object store"):
        sync_tool("kubernetes", "ftp://b/m/")


@pytest.mark.parametrize(
    ("cloud", "uri"), [("aws", "gs://b/m/"), ("gcp", "s3://b/m/"), ("azure", "s3://b/m/")]
)
def test_a_uri_of_another_cloud_is_refused(cloud: str, uri: str):
    with pytest.raises(SpecError) as err:
        sync_tool(cloud, uri)
    assert err.value.field == "storage_uri"
