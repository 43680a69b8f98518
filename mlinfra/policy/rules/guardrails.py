"""Guardrails pack: ownership tags, GPU cost caps, capacity resilience, protected state."""

from __future__ import annotations

import functools
import importlib
import inspect
import warnings
from collections.abc import Iterator
from typing import Any

from mlinfra.catalog import GPU_POOL_MAX_NODES_CAP
from mlinfra.policy.model import Ctx, Res, rule
from mlinfra.policy.props import UNKNOWN, as_bool, as_number, get, items
from mlinfra.policy.props import json_doc as doc_of
from mlinfra.policy.rules._common import (
    ACR,
    AKS_CLUSTER,
    AKS_POOL,
    AZ_STORAGE,
    ECR_REPO,
    EKS_CLUSTER,
    EKS_NODE_GROUP,
    GAR_REPO,
    GCP_KMS_KEY,
    GCS_BUCKET,
    GKE_CLUSTER,
    GKE_NODE_POOL,
    KMS_KEY,
    S3_BUCKET,
    aws_gpu_node_group,
    azure_gpu_vm,
    gke_gpu_node_pool,
)

PACK = "guardrails"
REQUIRED_TAGS = ("owner", "cost-center", "environment")

# GCP and Azure taggable types (their SDKs are optional extras; AWS is introspected, see below).
# GCP spells tags `labels` (GKE clusters: `resourceLabels`).
GCP_LABEL_FIELDS: dict[str, tuple[str, ...]] = {
    GCS_BUCKET: ("labels",),
    GKE_CLUSTER: ("resourceLabels",),
    GKE_NODE_POOL: ("nodeConfig", "resourceLabels"),
    GCP_KMS_KEY: ("labels",),
    GAR_REPO: ("labels",),
    "gcp:compute/address:Address": ("labels",),
    "gcp:monitoring/notificationChannel:NotificationChannel": ("userLabels",),
    "gcp:sql/databaseInstance:DatabaseInstance": ("settings", "userLabels"),
    "gcp:compute/instance:Instance": ("labels",),
}
AZURE_TAGGABLE = frozenset(
    {
        AZ_STORAGE,
        AKS_CLUSTER,
        ACR,
        "azure-native:keyvault:Vault",
        "azure-native:resources:ResourceGroup",
        "azure-native:network:VirtualNetwork",
        "azure-native:managedidentity:UserAssignedIdentity",
        "azure-native:operationalinsights:Workspace",
        "azure-native:compute:DiskEncryptionSet",
    }
)
# AWS types known to take `tags`, used when pulumi_aws is not importable (the packs' venv always has it).
AWS_TAGGABLE_FALLBACK = frozenset(
    {
        S3_BUCKET,
        KMS_KEY,
        ECR_REPO,
        EKS_CLUSTER,
        EKS_NODE_GROUP,
        "aws:eks/addon:Addon",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "aws:ec2/vpc:Vpc",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/natGateway:NatGateway",
        "aws:ec2/eip:Eip",
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/routeTable:RouteTable",
        "aws:ec2/flowLog:FlowLog",
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        "aws:iam/role:Role",
        "aws:iam/policy:Policy",
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:budgets/budget:Budget",
        "aws:sns/topic:Topic",
        "aws:sqs/queue:Queue",
    }
)


@functools.cache
def aws_taggable(type_: str) -> bool:
    """Whether an AWS resource type's inputs accept `tags`, read from the installed pulumi_aws SDK."""
    try:
        module_part, cls_name = type_.split(":")[1:3]
        # Importing an SDK package also imports its deprecated aliases, which warn at import time;
        # only signatures are read here, so those warnings are not about this code.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            module = importlib.import_module(f"pulumi_aws.{module_part.split('/')[0]}")
            cls = getattr(module, cls_name)
        return "tags" in inspect.signature(cls._internal_init).parameters
    except (ImportError, AttributeError, ValueError, TypeError):
        return type_ in AWS_TAGGABLE_FALLBACK


def _taggable(type_: str) -> bool:
    if type_.startswith("aws:"):
        return aws_taggable(type_)
    if type_.startswith("kubernetes:"):
        # A `*Patch` resource sets a few fields of an object someone else owns (e.g. a label on an
        # existing node); the owner's labels stay theirs.
        return not type_.startswith(
            ("kubernetes:helm.sh/", "kubernetes:yaml/", "kubernetes:kustomize/")
        ) and not type_.endswith("Patch")
    return type_ in GCP_LABEL_FIELDS or type_ in AZURE_TAGGABLE


def _provider_default_tags(provider_props: Any) -> dict[str, Any]:
    # Provider inputs arrive JSON-encoded ("defaultTags": "{\"tags\": {...}}") or as objects.
    dt = doc_of(get(provider_props, "defaultTags"))
    tags = get(dt, "tags") if dt not in (None, UNKNOWN) else None
    return dict(items(tags)) if tags else {}


def _provider_default_labels(provider_props: Any) -> dict[str, Any]:
    # pulumi-gcp Provider(default_labels=...): merged into every resource's top-level labels field
    # (effective_labels), not into nested ones such as a node pool's nodeConfig.resourceLabels.
    labels = doc_of(get(provider_props, "defaultLabels"))
    return dict(items(labels)) if labels not in (None, UNKNOWN) else {}


@rule(
    "required-tags",
    pack=PACK,
    applies=_taggable,
    severity="medium",
    description="Every taggable resource carries owner, cost-center and environment tags (labels on Kubernetes objects).",
    remediation=(
        "Pass PlatformSpec.required_tags as `tags` (AWS, Azure), `labels` (GCP) or metadata.labels "
        "(mlinfra.k8s.scheduling.standard_labels); AWS provider default_tags and GCP provider default_labels also count."
    ),
)
def required_tags(res: Res, ctx: Ctx) -> Iterator[str]:
    p = res.props
    if res.type.startswith("kubernetes:"):
        if get(p, "metadata") is None and get(p, "apiVersion") is None:
            return  # not an object with metadata (e.g. a provider-side component)
        tags, where = get(p, "metadata", "labels"), "metadata.labels"
    elif res.type.startswith("gcp:"):
        tags, where = get(p, *GCP_LABEL_FIELDS[res.type]), ".".join(GCP_LABEL_FIELDS[res.type])
    else:
        tags, where = get(p, "tags"), "tags"
    if tags is UNKNOWN:
        return
    have = dict(items(tags)) if tags else {}
    if res.type.startswith("aws:"):
        have = {**_provider_default_tags(res.provider_props), **have}
    elif res.type.startswith("gcp:") and len(GCP_LABEL_FIELDS[res.type]) == 1:
        have = {**_provider_default_labels(res.provider_props), **have}
    if UNKNOWN in have.values():
        return
    missing = [t for t in REQUIRED_TAGS if not have.get(t)]
    if missing:
        yield f"{where} missing {', '.join(missing)}"


def _gpu_pool_size(res: Res) -> tuple[bool, Any, Any]:
    """(is a GPU pool, max nodes, spot?) for EKS node groups, GKE node pools and AKS agent pools."""
    p = res.props
    if res.type == EKS_NODE_GROUP:
        return (
            aws_gpu_node_group(p),
            get(p, "scalingConfig", "maxSize"),
            get(p, "capacityType", default="ON_DEMAND") == "SPOT"
            if get(p, "capacityType") is not UNKNOWN
            else UNKNOWN,
        )
    if res.type == GKE_NODE_POOL:
        mx = get(p, "autoscaling", "totalMaxNodeCount")
        if mx is None:
            mx = get(p, "autoscaling", "maxNodeCount")
        spot = [as_bool(get(p, "nodeConfig", f)) for f in ("spot", "preemptible")]
        return gke_gpu_node_pool(p), mx, UNKNOWN if UNKNOWN in spot else True in spot
    if res.type == AKS_POOL:
        prio = get(p, "scaleSetPriority")
        return (
            azure_gpu_vm(get(p, "vmSize")),
            get(p, "maxCount"),
            UNKNOWN if prio is UNKNOWN else prio == "Spot",
        )
    return False, None, None


@rule(
    "gpu-pool-max-nodes-cap",
    pack=PACK,
    types=[EKS_NODE_GROUP, GKE_NODE_POOL, AKS_POOL],
    severity="high",
    description="A GPU pool's maximum size stays within the environment's cap (mlinfra.catalog.GPU_POOL_MAX_NODES_CAP).",
    remediation="Lower the pool's max_nodes, or split the demand across environments; raise the cap only through a reviewed catalog change.",
)
def gpu_pool_max_nodes_cap(res: Res, ctx: Ctx) -> Iterator[str]:
    gpu, mx, _ = _gpu_pool_size(res)
    cap = GPU_POOL_MAX_NODES_CAP[ctx.environment]
    n = as_number(mx)
    if gpu and n not in (None, UNKNOWN) and n > cap:
        yield f"GPU pool max size {int(n)} exceeds the {ctx.environment} cap of {cap}"


@rule(
    "no-spot-only-gpu-in-prod",
    pack=PACK,
    kind="stack",
    severity="high",
    description="Prod GPU capacity is not spot-only: at least one GPU pool is on-demand.",
    remediation="Add an on-demand GPU pool (min_nodes >= 1) beside the spot pools; disable this rule with a reason only for batch-only stacks.",
)
def no_spot_only_gpu_in_prod(resources: list[Res], ctx: Ctx) -> Iterator[tuple[Res, str]]:
    if not ctx.prod:
        return
    pools = [
        (r, *_gpu_pool_size(r)) for r in resources if r.type in (EKS_NODE_GROUP, GKE_NODE_POOL, AKS_POOL)
    ]
    gpu_pools = [(r, spot) for r, gpu, _, spot in pools if gpu]
    if not gpu_pools or any(spot is UNKNOWN or spot is False for _, spot in gpu_pools):
        return
    for r, _ in gpu_pools:
        yield r, "every GPU pool in prod is spot capacity (a reclaim takes all serving capacity)"


STATEFUL_TYPES = frozenset(
    {
        S3_BUCKET,
        KMS_KEY,
        ECR_REPO,
        EKS_CLUSTER,
        "aws:dynamodb/table:Table",
        "aws:rds/instance:Instance",
        "aws:rds/cluster:Cluster",
        "aws:efs/fileSystem:FileSystem",
        "aws:secretsmanager/secret:Secret",
        GCS_BUCKET,
        GCP_KMS_KEY,
        "gcp:kms/keyRing:KeyRing",
        GKE_CLUSTER,
        GAR_REPO,
        "gcp:sql/databaseInstance:DatabaseInstance",
        AZ_STORAGE,
        "azure-native:keyvault:Vault",
        "azure-native:keyvault:Key",
        ACR,
        AKS_CLUSTER,
    }
)


@rule(
    "protect-stateful-resources",
    pack=PACK,
    kind="stack",
    severity="critical",
    description="In prod, stateful resources (buckets, keys, registries, clusters, databases) are protected from deletion.",
    remediation="Create them with mlinfra.components.stateful(parent, protect=True) (protect + retain_on_delete).",
)
def protect_stateful_resources(resources: list[Res], ctx: Ctx) -> Iterator[tuple[Res, str]]:
    if not ctx.prod:
        return
    for r in resources:
        if r.type in STATEFUL_TYPES and not r.protect:
            yield r, "protect is off: a replace or a stray `pulumi destroy` deletes its data"
