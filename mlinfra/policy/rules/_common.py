"""Helpers shared by rules: joining v7 S3 side resources to their bucket, reading IAM documents."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mlinfra.catalog import GPU_MACHINE_TYPES
from mlinfra.policy.model import Res
from mlinfra.policy.props import UNKNOWN, as_bool, elements, get, is_map, json_doc

S3_BUCKET = "aws:s3/bucket:Bucket"
S3_SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
S3_PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
S3_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
S3_LOGGING = "aws:s3/bucketLogging:BucketLogging"
GCS_BUCKET = "gcp:storage/bucket:Bucket"
AZ_STORAGE = "azure-native:storage:StorageAccount"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EC2_INSTANCE = "aws:ec2/instance:Instance"
ECR_REPO = "aws:ecr/repository:Repository"
KMS_KEY = "aws:kms/key:Key"
GKE_CLUSTER = "gcp:container/cluster:Cluster"
GKE_NODE_POOL = "gcp:container/nodePool:NodePool"
GCP_KMS_KEY = "gcp:kms/cryptoKey:CryptoKey"
GAR_REPO = "gcp:artifactregistry/repository:Repository"
AKS_CLUSTER = "azure-native:containerservice:ManagedCluster"
AKS_POOL = "azure-native:containerservice:AgentPool"
ACR = "azure-native:containerregistry:Registry"
AZ_VAULT = "azure-native:keyvault:Vault"
AZ_KEY = "azure-native:keyvault:Key"
# The `mlinfra-role` tag names resources a rule treats by their role (mlinfra.azure.network /
# keyvault set it); the reasons are printed as named exemptions with the verdict.
AZURE_ROLE_TAG = "mlinfra-role"


def of_type(resources: Iterable[Res], type_: str) -> list[Res]:
    return [r for r in resources if r.type == type_]


def attached(bucket: Res, resources: Iterable[Res], type_: str) -> list[Res]:
    """Side resources of `type_` that configure `bucket`.

    A v7 side resource names its bucket in its `bucket` input (the bucket's name, which is
    its id). When either name is not known yet (an auto-named bucket during preview), the
    side resource is matched through its dependency on the bucket's URN instead.
    """
    key = get(bucket.props, "bucket")
    out = []
    for x in of_type(resources, type_):
        xb = get(x.props, "bucket")
        if isinstance(key, str) and key and isinstance(xb, str):
            if xb == key:
                out.append(x)
        elif bucket.urn and bucket.urn in x.dependencies:
            out.append(x)
    return out


def statements(doc: Any) -> list[dict[str, Any]]:
    """The statements of an IAM-style policy document (a lone statement object is allowed)."""
    if not is_map(doc):
        return []
    st = doc.get("Statement")
    return [s for s in elements(st) if is_map(s)]


def str_list(v: Any) -> list[Any]:
    return elements(v)


def principal_is_wildcard(principal: Any) -> bool:
    """`"*"` or `{"AWS": "*"}` (or a list containing "*"): anyone, including anonymous callers."""
    if principal == "*":
        return True
    if is_map(principal):
        return any("*" in str_list(v) for v in principal.values())
    return False


def doc_of(v: Any) -> Any:
    return json_doc(v)


# ------------------------------------------------------------------ GPU node detection

_AWS_GPU_TYPES = frozenset(GPU_MACHINE_TYPES.get("aws", {}))
_GCP_GPU_FAMILIES = ("a2-", "a3-", "a4-", "g2-", "g4-")


def aws_gpu_node_group(props: Any) -> bool:
    """An EKS node group is a GPU pool when its AMI type is an NVIDIA one or an instance type is a GPU type."""
    ami = get(props, "amiType")
    if isinstance(ami, str) and "NVIDIA" in ami.upper():
        return True
    return any(isinstance(t, str) and t in _AWS_GPU_TYPES for t in elements(get(props, "instanceTypes")))


def gke_gpu_node_pool(props: Any) -> bool:
    if elements(get(props, "nodeConfig", "guestAccelerators")):
        return True
    mt = get(props, "nodeConfig", "machineType")
    return isinstance(mt, str) and mt.startswith(_GCP_GPU_FAMILIES)


def azure_gpu_vm(vm_size: Any) -> bool:
    # Azure GPU sizes are the N family: Standard_NC*, Standard_ND*, Standard_NV*.
    return isinstance(vm_size, str) and vm_size.lower().startswith(
        ("standard_nc", "standard_nd", "standard_nv")
    )


def aks_pools(res: Res) -> list[tuple[str, Any]]:
    """(where, pool) for an AKS AgentPool itself, or for each agentPoolProfiles entry of a cluster."""
    if res.type == AKS_POOL:
        return [("", res.props)]
    return [
        (f"agentPoolProfiles[{i}] ({get(pool, 'name')}) ", pool)
        for i, pool in enumerate(elements(get(res.props, "agentPoolProfiles")))
        if pool is not UNKNOWN
    ]


def known(v: Any) -> bool:
    return v is not UNKNOWN


def azure_role(res: Res) -> Any:
    """The `mlinfra-role` tag of an azure-native resource (None when absent or not known)."""
    role = get(res.props, "tags", AZURE_ROLE_TAG)
    return role if isinstance(role, str) else None


FLOW_LOG_SINK_REASON = (
    "VNet flow-log sink: Network Watcher writes flow logs with the account key (learn.microsoft.com "
    "network-watcher/vnet-flow-logs-overview, 'Storage account considerations'), so the account keeps "
    "shared-key access and Microsoft-managed encryption, like an S3 access-log target keeps SSE-S3"
)


def flow_log_sink_exemption(res: Res) -> str | None:
    """The flow-log sink's shared key and platform-managed encryption. Only while blob public access
    is off: a sink that could be made public is flagged like any other account."""
    if res.type != AZ_STORAGE or azure_role(res) != "flow-log-sink":
        return None
    return FLOW_LOG_SINK_REASON if as_bool(get(res.props, "allowBlobPublicAccess")) is False else None
