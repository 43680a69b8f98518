"""How a model gets into the pod: an init container syncs `<bucket>/models/<name>/<version>/` into
the model directory (an emptyDir) before the server starts.

The init container runs as the model's ServiceAccount, so it authenticates with the pod's
workload identity and nothing else: the node's credentials are out of reach (the serving
namespace's NetworkPolicies block the instance-metadata address, and on AWS the CLI is told not
to look there). It passes Pod Security `restricted` with a read-only root filesystem; it
writes only to the model directory and /tmp (emptyDirs).

The per-cloud part is one row of `SYNC_TOOLS`, chosen by the layer's `cloud` (on an existing
cluster, cloud "kubernetes", by the URI's scheme): the pinned tool image, its command and its
environment. How each cloud's identity reaches the tool:
- aws: IRSA (the EKS pod-identity webhook injects AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE and
  a projected token into every container, init containers included) or EKS Pod Identity (the
  webhook injects AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE;
  the agent answers on 169.254.170.23:80). The AWS CLI reads both through its default credential
  chain; Pod Identity needs AWS CLI >= 2.15.0 (EKS user guide, "Use pod identity with the AWS SDK").
- gcp: GKE Workload Identity: gcloud asks the GKE metadata server for the bound Google service
  account's token (GKE docs, "Authenticate to Google Cloud APIs from GKE workloads").
- azure: AKS Workload Identity: for pods labelled `azure.workload.identity/use: "true"` (the
  layer's `pod_labels` hook) the webhook injects AZURE_CLIENT_ID, AZURE_TENANT_ID and
  AZURE_FEDERATED_TOKEN_FILE, which azure-identity's DefaultAzureCredential exchanges for a token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlinfra.k8s.serving.runtimes import MODEL_DIR, TMP_DIR
from mlinfra.spec import SpecError

INIT_CONTAINER_NAME = "model-download"
# A sync tool holds one object in flight per worker; its memory does not grow with the model.
DOWNLOAD_RESOURCES = {
    "requests": {"cpu": "250m", "memory": "512Mi"},
    "limits": {"cpu": "1", "memory": "1Gi"},
}


@dataclass(frozen=True)
class SyncTool:
    """One cloud's object-store sync: image (pinned), command(source URI, target dir), environment."""

    cloud: str
    scheme: str
    image: str
    upstream: str
    command: Callable[[str, str], list[str]]
    env: dict[str, str]


SYNC_TOOLS: dict[str, SyncTool] = {
    # AWS CLI v2 image (AWS CLI user guide, "Run the AWS CLI from the official Amazon ECR Public or
    # Docker images": one tag per release; 2.27.0 per aws/aws-cli .changes/2.27.0.json, >= 2.15.0 for
    # Pod Identity). `aws s3 sync` copies the prefix recursively (AWS CLI reference, s3 sync).
    # AWS_EC2_METADATA_DISABLED (botocore configuration, "Environment variables") stops the
    # credential chain from falling back to the node's instance profile; HOME for ~/.aws/cli/cache.
    "aws": SyncTool(
        cloud="aws",
        scheme="s3://",
        image="public.ecr.aws/aws-cli/aws-cli:2.27.0",
        upstream="aws/aws-cli@2.27.0",
        command=lambda src, dst: ["aws", "s3", "sync", src, dst, "--no-progress", "--only-show-errors"],
        env={"AWS_EC2_METADATA_DISABLED": "true", "HOME": TMP_DIR},
    ),
    # Google Cloud CLI image, `:VERSION-stable` tags (GoogleCloudPlatform/cloud-sdk-docker README;
    # images older than a year are deleted by its retention policy: bump this pin yearly).
    # `gcloud storage rsync --recursive` (gcloud reference). CLOUDSDK_CONFIG moves gcloud's
    # config and logs to a writable directory; prompts off for a non-interactive run.
    "gcp": SyncTool(
        cloud="gcp",
        scheme="gs://",
        image="gcr.io/google.com/cloudsdktool/google-cloud-cli:573.0.0-stable",
        upstream="GoogleCloudPlatform/cloud-sdk-docker (573.0.0-stable)",
        command=lambda src, dst: ["gcloud", "storage", "rsync", "--recursive", src, dst],
        env={"CLOUDSDK_CONFIG": f"{TMP_DIR}/gcloud", "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"},
    ),
    # KServe's storage initializer (kserve@v0.15.2 python/storage-initializer.Dockerfile, USER 1000;
    # scripts/initializer-entrypoint <src_uri> <dest_path>): kserve/storage/storage.py
    # `_download_azure_blob` authenticates with DefaultAzureCredential when AZURE_CLIENT_ID is set
    # (azure-identity 1.21.0 in its poetry.lock: WorkloadIdentityCredential is in that chain).
    # AzCopy has workload identity too (10.25.0), but no public, versioned image to pin.
    "azure": SyncTool(
        cloud="azure",
        scheme="https://",
        image="kserve/storage-initializer:v0.15.2",
        upstream="kserve/kserve@v0.15.2 (python/storage-initializer)",
        command=lambda src, dst: ["/storage-initializer/scripts/initializer-entrypoint", src, dst],
        env={"HOME": TMP_DIR},
    ),
}


def sync_tool(cloud: str, uri: Any = None) -> SyncTool:
    """The row for `cloud`; on cloud "kubernetes" (an existing cluster) the row of the URI's scheme.

    A URI known at plan time must use the row's scheme (an `s3://` path on Azure would never load).
    """
    if cloud in SYNC_TOOLS:
        tool = SYNC_TOOLS[cloud]
        if isinstance(uri, str) and not uri.startswith(tool.scheme):
            raise SpecError(f"{uri!r} is not a {cloud} object-store URI ({tool.scheme}...)", "storage_uri")
        return tool
    if isinstance(uri, str):
        for tool in SYNC_TOOLS.values():
            if uri.startswith(tool.scheme):
                return tool
    schemes = ", ".join(t.scheme for t in SYNC_TOOLS.values())
    raise SpecError(
        f"cannot tell which object store {uri!r} is on cloud {cloud!r}; use one of {schemes}", "storage_uri"
    )


def download_container(tool: SyncTool, source: Any, security_context: dict[str, Any]) -> dict[str, Any]:
    """The init container that syncs `source` (a str or Output) into MODEL_DIR."""
    return {
        "name": INIT_CONTAINER_NAME,
        "image": tool.image,
        "imagePullPolicy": "IfNotPresent",
        "command": tool.command(source, MODEL_DIR),
        "env": [{"name": k, "value": v} for k, v in tool.env.items()],
        "resources": DOWNLOAD_RESOURCES,
        "securityContext": dict(security_context),
        "volumeMounts": [
            {"name": "models", "mountPath": MODEL_DIR},
            {"name": "tmp", "mountPath": TMP_DIR},
        ],
    }
