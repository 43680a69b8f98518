"""Cluster: a private, encrypted EKS cluster with a small on-demand system node group.

Security posture, and why:
- Kubernetes Secrets are envelope-encrypted with a customer-managed KMS key (rotation on),
  so an etcd snapshot alone discloses nothing.
- The API endpoint is private; a public endpoint exists only in dev, limited to listed CIDRs.
- Authentication uses EKS access entries (`authenticationMode: API`), not the mutable
  aws-auth ConfigMap; admins are explicit IAM principals.
- Control-plane logs (api, audit, authenticator, ...) go to a pre-created log group with
  bounded retention.
- Nodes get only AmazonEKSWorkerNodePolicy + ECR pull (nodes.py); the VPC CNI, the EBS CSI driver and
  the Cluster Autoscaler each get their own IRSA role, so a pod that reaches the node role
  (blocked anyway by IMDSv2 with hop limit 1) gains almost nothing.
- Node root volumes and dynamically provisioned volumes are encrypted with a second CMK.
Every version is pinned: Kubernetes minor, add-on eksbuilds, AMI type, chart and image.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_aws as aws
from pulumi_aws import eks, iam

from mlinfra.aws.identity import (
    WORKLOAD_IDENTITY_MODES,
    WorkloadIdentity,
    WorkloadIdentityArgs,
    aws_managed_policy_arn,
    cluster_admin_access,
    service_trust_policy,
)
from mlinfra.aws.kms import (
    account_administration,
    check_deletion_window,
    check_log_retention,
    customer_managed_key,
    encrypted_log_group,
)
from mlinfra.aws.nodes import (
    autoscaling_group_name,
    node_group_timeouts,
    node_launch_template,
    node_role,
    node_template_label_tags,
    split_evenly,
    tag_autoscaling_group,
)
from mlinfra.catalog import ENVIRONMENTS
from mlinfra.components import child, stateful
from mlinfra.k8s.charts import CLUSTER_AUTOSCALER as CLUSTER_AUTOSCALER_CHARTS
from mlinfra.k8s.scheduling import POOL_LABEL
from mlinfra.kubeconfig import exec_kubeconfig
from mlinfra.spec import ClusterSpec, check_unique, rules

# EKS managed add-on versions per Kubernetes minor. Upgrading a cluster means adding a row
# here; nothing floats to "latest". Sources (checked 2025-11):
# - kube-proxy, coredns: the EKS user guide's version tables,
#   https://docs.aws.amazon.com/eks/latest/userguide/managing-kube-proxy.html
#   (1.34 v1.34.1-eksbuild.2, 1.33 v1.33.5-eksbuild.2, 1.32 v1.32.9-eksbuild.2; same table at
#   https://docs.amazonaws.cn/eks/latest/userguide/managing-kube-proxy.html) and
#   https://docs.aws.amazon.com/eks/latest/userguide/managing-coredns.html
#   (1.34 / 1.33 v1.12.4-eksbuild.1, 1.32 v1.11.4-eksbuild.24).
# - vpc-cni, aws-ebs-csi-driver: cookpad/terraform-aws-eks versions.tf (generated from
#   `aws eks describe-addon-versions`, Kubernetes 1.33): v1.20.4-eksbuild.3, v1.53.0-eksbuild.1.
#   Both add-ons ship one build for every supported minor (the user guide's VPC CNI table
#   lists the same version in every row).
# - eks-pod-identity-agent: v1.3.10-eksbuild.1, pinned for 1.33 and 1.34 in public EKS
#   Terraform configurations (no AWS table lists this add-on's versions); run
#   `aws eks describe-addon-versions --addon-name eks-pod-identity-agent` before relying on it.
ADDON_VERSIONS: dict[str, dict[str, str]] = {
    "1.32": {
        "vpc-cni": "v1.20.4-eksbuild.3",
        "kube-proxy": "v1.32.9-eksbuild.2",
        "coredns": "v1.11.4-eksbuild.24",
        "aws-ebs-csi-driver": "v1.53.0-eksbuild.1",
        "eks-pod-identity-agent": "v1.3.10-eksbuild.1",
    },
    "1.33": {
        "vpc-cni": "v1.20.4-eksbuild.3",
        "kube-proxy": "v1.33.5-eksbuild.2",
        "coredns": "v1.12.4-eksbuild.1",
        "aws-ebs-csi-driver": "v1.53.0-eksbuild.1",
        "eks-pod-identity-agent": "v1.3.10-eksbuild.1",
    },
    "1.34": {
        "vpc-cni": "v1.20.4-eksbuild.3",
        "kube-proxy": "v1.34.1-eksbuild.2",
        "coredns": "v1.12.4-eksbuild.1",
        "aws-ebs-csi-driver": "v1.53.0-eksbuild.1",
        "eks-pod-identity-agent": "v1.3.10-eksbuild.1",
    },
}

# Add-on configuration values (`aws eks describe-addon-configuration` schema of each add-on).
# vpc-cni: the CNI enforces NetworkPolicy objects only when asked to (EKS user guide, "Restrict Pod
# network traffic with Kubernetes network policies", step "Enable the network policy parameter for
# the add-on": `{"enableNetworkPolicy": "true"}`; a string, as the add-on's schema has it). What that
# needs, all met here: VPC CNI >= v1.14.0-eksbuild.3 (pinned v1.20.4), Kubernetes >= 1.25 with the
# network policy controller EKS runs in the control plane (1.32+), nodes with Linux >= 5.10 and the
# BPF file system mounted: Amazon Linux 2023 (both AMI types here) runs kernel 6.1 and EKS AMIs for
# 1.27+ mount /sys/fs/bpf. Standard enforcement mode (a new pod is default-allow until its policies
# are programmed, seconds): strict mode would deny every pod in namespaces without policies
# (kube-system, monitoring, the controllers) until someone writes policies for them all.
ADDON_CONFIGURATION: dict[str, dict[str, Any]] = {"vpc-cni": {"enableNetworkPolicy": "true"}}

# Cluster Autoscaler must match the Kubernetes minor: (chart version, image tag). The chart
# pins (and the upstream tags they were checked against) are in mlinfra/k8s/charts.py; the image
# tag is set explicitly, so the chart only supplies the manifests: v1.32.5 / v1.33.3 / v1.34.2,
# the latest patch of each minor, promoted in kubernetes/k8s.io#8815 (registry.k8s.io/autoscaling).
_CLUSTER_AUTOSCALER_IMAGES = {"1.32": "v1.32.5", "1.33": "v1.33.3", "1.34": "v1.34.2"}
CLUSTER_AUTOSCALER: dict[str, tuple[str, str]] = {
    minor: (CLUSTER_AUTOSCALER_CHARTS[minor].version, image)
    for minor, image in _CLUSTER_AUTOSCALER_IMAGES.items()
}
CLUSTER_AUTOSCALER_SA = "cluster-autoscaler"

SYSTEM_AMI_TYPE = "AL2023_x86_64_STANDARD"
CLUSTER_TIMEOUTS = pulumi.CustomTimeouts(create="30m", update="60m", delete="30m")
# ClusterSpec.version_support -> EKS UpgradePolicy.supportType (EKS API: STANDARD | EXTENDED).
SUPPORT_TYPE = {"standard": "STANDARD", "extended": "EXTENDED"}
SYSTEM_POOL = "system"
STORAGE_CLASS = "gp3-encrypted"
BASE_LOG_TYPES = ("api", "audit", "authenticator")
EXTRA_LOG_TYPES = ("controllerManager", "scheduler")

_CLUSTER_NAME = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")
# Attachment names of the system node role that predate nodes.node_role (see there).
_LEGACY_ATTACHMENT_NAMES = {"AmazonEC2ContainerRegistryPullOnly": "AmazonEC2ContainerRegistryReadOnly"}


@dataclass
class ClusterArgs:
    """Inputs of a Cluster.

    spec: the cluster section of the platform spec (version, endpoint access, admins, pools).
    cluster_name: physical EKS cluster name.
    vpc_id: VPC of the subnets (passed through as `Cluster.vpc_id` for in-cluster controllers).
    subnet_ids: private subnets (>= 2 zones) for the control-plane ENIs and the system nodes.
    service_cidr: Kubernetes service CIDR (must not overlap the VPC; /12 to /24, RFC 1918).
    environment: dev | staging | prod (dev keeps only the three essential log types).
    key_deletion_window_days: waiting period of the two CMKs (7-30).
    protect: protect + retain_on_delete on the cluster and the keys, and EKS deletion protection.
    tags: tags for every taggable child.
    workload_identity: "irsa" or "pod_identity" (the latter also installs the Pod Identity agent).
    system_subnets: zone label -> the private subnet of that zone: one system node group per zone
        (`Network.private_subnets_by_zone`); required when `subnet_ids` is an Output.
    log_kms_key_arn: CMK for the control-plane log group (its key policy must let CloudWatch Logs use
        it for `control_plane_log_group(cluster_name)`, see kms.log_group_key_policy); CloudWatch's
        own encryption when None.
    """

    spec: ClusterSpec
    cluster_name: str
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    service_cidr: str
    environment: str
    key_deletion_window_days: int
    protect: bool
    tags: Mapping[str, str]
    workload_identity: Literal["irsa", "pod_identity"] = "irsa"
    log_kms_key_arn: pulumi.Input[str] | None = None
    system_subnets: Mapping[str, pulumi.Input[str]] | None = None


def _system_subnets(args: ClusterArgs) -> dict[str, pulumi.Input[str]]:
    """Zone label -> private subnet of that zone, one system node group each (`Network.private_subnets_by_zone`);
    without it, each subnet of a static `subnet_ids` list is its own zone."""
    if args.system_subnets is not None:
        return dict(args.system_subnets)
    return {str(s): s for s in args.subnet_ids}  # type: ignore[union-attr]  (checked in _validate)


def control_plane_log_group(cluster_name: str) -> str:
    """The log group EKS writes control-plane logs to (fixed by EKS: /aws/eks/<cluster>/cluster)."""
    return f"/aws/eks/{cluster_name}/cluster"


def _validate(args: ClusterArgs) -> None:
    if not isinstance(args.spec, ClusterSpec):
        raise ValueError(f"spec: expected a mlinfra.spec.ClusterSpec, got {type(args.spec).__name__}")
    if not isinstance(args.cluster_name, str) or not _CLUSTER_NAME.match(args.cluster_name):
        raise ValueError(
            f"cluster_name: {args.cluster_name!r} must be 1-100 letters, digits, '-' or '_', starting with a letter or digit"
        )
    if args.environment not in ENVIRONMENTS:
        raise ValueError(
            f"environment: {args.environment!r} is not allowed; allowed: {', '.join(ENVIRONMENTS)}"
        )
    if args.workload_identity not in WORKLOAD_IDENTITY_MODES:
        raise ValueError(
            f"workload_identity: {args.workload_identity!r} is not allowed; allowed: {', '.join(WORKLOAD_IDENTITY_MODES)}"
        )
    version = args.spec.kubernetes_version
    if version not in ADDON_VERSIONS or version not in CLUSTER_AUTOSCALER:
        raise ValueError(
            f"spec.kubernetes_version: no pinned add-on versions for {version!r}; allowed: {', '.join(ADDON_VERSIONS)}"
        )
    if args.spec.api_access not in ("public", "private"):
        raise ValueError(
            f"spec.api_access: {args.spec.api_access!r} is not an EKS option; allowed: public, private"
        )
    if args.spec.api_access == "public" and args.environment != "dev":
        raise ValueError(
            f"spec.api_access: a public API endpoint is only allowed in dev "
            f"(environment is {args.environment}); allowed: private"
        )
    check_deletion_window(args.key_deletion_window_days)
    check_log_retention(args.spec.log_retention_days, "spec.log_retention_days")
    if isinstance(args.subnet_ids, str):
        raise ValueError("subnet_ids: expected a list of subnet ids, got a single string")
    if isinstance(args.subnet_ids, list | tuple):
        if len(args.subnet_ids) == 0:
            raise ValueError(
                "subnet_ids: must not be empty; pass the private subnets (>= 2, in different zones)"
            )
        if len(args.subnet_ids) < 2:
            raise ValueError("subnet_ids: EKS needs subnets in at least two availability zones; got 1")
    aws_rules = rules("aws")  # the spec's AWS rules: one place for principal and machine-type formats
    aws_rules.service_cidr(args.service_cidr, "service_cidr")
    for i, arn in enumerate(args.spec.admin_principals):
        aws_rules.principal(arn, f"spec.admin_principals.{i}")
    check_unique(list(args.spec.admin_principals), "principal", "spec.admin_principals")
    if args.system_subnets is None and not isinstance(args.subnet_ids, list | tuple):
        raise ValueError(
            "system_subnets: needed when subnet_ids is not a static list (zone label -> subnet id; one "
            "system node group per zone)"
        )
    zones = len(args.system_subnets) if args.system_subnets is not None else len(args.subnet_ids)  # type: ignore[arg-type]
    aws_rules.system_nodes_per_zone(args.spec.system_pool.max_nodes, zones, "spec.system_pool.max_nodes")
    machine_type = args.spec.system_pool.machine_type
    aws_rules.machine_type(
        machine_type if isinstance(machine_type, str) else "", "spec.system_pool.machine_type"
    )


# --------------------------------------------------------------------------- policy documents


def node_volume_key_policy(partition: str, account: str) -> dict[str, Any]:
    """Key policy of the node-volume CMK.

    The account root administers the key (which also lets IAM policies, e.g. the EBS CSI
    role's, grant use). Managed node groups launch instances through the Auto Scaling
    service-linked role, which must be able to use the key and create grants for EC2;
    without these two statements encrypted launch-template volumes fail to launch.
    """
    asg = f"arn:{partition}:iam::{account}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
    return {
        "Version": "2012-10-17",
        "Statement": [
            account_administration(partition, account),
            {
                "Sid": "AutoScalingUseOfTheKey",
                "Effect": "Allow",
                "Principal": {"AWS": asg},
                "Action": [
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:DescribeKey",
                ],
                "Resource": "*",
            },
            {
                "Sid": "AutoScalingAttachmentOfPersistentResources",
                "Effect": "Allow",
                "Principal": {"AWS": asg},
                "Action": "kms:CreateGrant",
                "Resource": "*",
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            },
        ],
    }


def ebs_csi_kms_policy(key_arn: str) -> dict[str, Any]:
    """What the EBS CSI driver needs on the node-volume key to create and attach encrypted volumes."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "UseNodeVolumeKey",
                "Effect": "Allow",
                "Action": [
                    "kms:Decrypt",
                    "kms:GenerateDataKeyWithoutPlaintext",
                    "kms:ReEncrypt*",
                    "kms:DescribeKey",
                ],
                "Resource": key_arn,
            },
            {
                "Sid": "GrantsForAttachedVolumes",
                "Effect": "Allow",
                "Action": "kms:CreateGrant",
                "Resource": key_arn,
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            },
        ],
    }


def cluster_autoscaler_policy(partition: str, region: str, account: str, cluster_name: str) -> dict[str, Any]:
    """Describe broadly (read-only), but scale/terminate only ASGs tagged as owned by this cluster."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Describe",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLaunchConfigurations",
                    "autoscaling:DescribeScalingActivities",
                    "autoscaling:DescribeTags",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplateVersions",
                    "ec2:GetInstanceTypesFromInstanceRequirements",
                ],
                "Resource": "*",
            },
            {
                "Sid": "DescribeOwnNodegroups",
                "Effect": "Allow",
                "Action": "eks:DescribeNodegroup",
                "Resource": f"arn:{partition}:eks:{region}:{account}:nodegroup/{cluster_name}/*/*",
            },
            {
                "Sid": "ScaleOwnedGroupsOnly",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:SetDesiredCapacity",
                    "autoscaling:TerminateInstanceInAutoScalingGroup",
                ],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}
                },
            },
        ],
    }


def build_kubeconfig(cluster_name: str, endpoint: str, ca_data: str, region: str) -> dict[str, Any]:
    """A kubeconfig that authenticates with `aws eks get-token` (no static credential inside)."""
    return exec_kubeconfig(
        cluster_name,
        endpoint,
        ca_data,
        {
            "command": "aws",
            "args": [
                "eks",
                "get-token",
                "--cluster-name",
                cluster_name,
                "--region",
                region,
                "--output",
                "json",
            ],
            "interactiveMode": "Never",
        },
    )


def _issuer(identities: Any) -> str:
    first = identities[0]
    oidcs = first["oidcs"] if isinstance(first, dict) else first.oidcs
    oidc = oidcs[0]
    return oidc["issuer"] if isinstance(oidc, dict) else oidc.issuer


# --------------------------------------------------------------------------- component


class Cluster(pulumi.ComponentResource):
    """Private EKS cluster, encrypted secrets, access entries, pinned add-ons, system nodes and the
    IAM side of the Cluster Autoscaler; its Kubernetes objects (the encrypted default StorageClass, the
    autoscaler release) are `mlinfra.aws.in_cluster.cluster_objects`."""

    cluster_name: pulumi.Output[str]
    cluster_arn: pulumi.Output[str]
    region: pulumi.Output[str]
    vpc_id: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    certificate_authority: pulumi.Output[str]
    oidc_issuer: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    oidc_provider_url: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    autoscaler_service_account_annotations: pulumi.Output[dict[str, str]]
    secrets_key_arn: pulumi.Output[str]
    node_volume_key_arn: pulumi.Output[str]
    cluster_security_group_id: pulumi.Output[str]
    system_node_role_arn: pulumi.Output[str]
    system_node_group_names: pulumi.Output[list[str]]
    storage_class: str
    addon_versions: dict[str, str]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        _validate(args)
        super().__init__("mlinfra:aws:Cluster", name, None, opts)
        spec = args.spec
        tags = dict(args.tags)
        version = spec.kubernetes_version
        self.addon_versions = dict(ADDON_VERSIONS[version])
        if args.workload_identity != "pod_identity":
            self.addon_versions.pop("eks-pod-identity-agent")
        invoke = pulumi.InvokeOutputOptions(parent=self)
        account = aws.get_caller_identity_output(opts=invoke).account_id
        partition = aws.get_partition_output(opts=invoke).partition

        # ---- keys
        key = functools.partial(
            customer_managed_key,
            self,
            deletion_window_days=args.key_deletion_window_days,
            protect=args.protect,
            tags=tags,
        )
        secrets_key = key(
            f"{name}-secrets-key", description=f"EKS secrets envelope encryption for {args.cluster_name}"
        )
        node_key = key(
            f"{name}-node-volume-key",
            description=f"EBS volumes of {args.cluster_name} nodes and persistent volumes",
            policy=pulumi.Output.all(partition, account).apply(
                lambda v: json.dumps(node_volume_key_policy(v[0], v[1]))
            ),
        )

        # ---- control plane
        log_types = list(BASE_LOG_TYPES) + ([] if args.environment == "dev" else list(EXTRA_LOG_TYPES))
        # Pre-created so retention is bounded (EKS would create it with "never expire").
        log_group = encrypted_log_group(
            self,
            f"{name}-control-plane-logs",
            group_name=control_plane_log_group(args.cluster_name),
            retention_days=spec.log_retention_days,
            kms_key_arn=args.log_kms_key_arn,
            tags=tags,
        )
        cluster_role = iam.Role(
            f"{name}-cluster-role",
            assume_role_policy=service_trust_policy("eks.amazonaws.com"),
            description=f"EKS control plane of {args.cluster_name}",
            tags=tags,
            opts=child(self),
        )
        cluster_policy = iam.RolePolicyAttachment(
            f"{name}-cluster-AmazonEKSClusterPolicy",
            role=cluster_role.name,
            policy_arn=aws_managed_policy_arn(partition, "AmazonEKSClusterPolicy"),
            opts=child(self),
        )
        # The control plane encrypts/decrypts Secrets' data keys with the CMK: only that key.
        cluster_kms = iam.RolePolicy(
            f"{name}-cluster-secrets-key",
            role=cluster_role.id,
            policy=secrets_key.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"],
                                "Resource": arn,
                            }
                        ],
                    }
                )
            ),
            opts=child(self),
        )
        vpc_config: dict[str, Any] = {
            "subnet_ids": args.subnet_ids,
            "endpoint_private_access": True,
            "endpoint_public_access": spec.api_access == "public",
        }
        if spec.api_access == "public":
            vpc_config["public_access_cidrs"] = list(spec.public_access_cidrs)
        cluster = eks.Cluster(
            name,
            name=args.cluster_name,
            version=version,
            role_arn=cluster_role.arn,
            vpc_config=vpc_config,
            kubernetes_network_config={"service_ipv4_cidr": args.service_cidr, "ip_family": "ipv4"},
            encryption_config={"provider": {"key_arn": secrets_key.arn}, "resources": ["secrets"]},
            enabled_cluster_log_types=log_types,
            access_config={
                "authentication_mode": "API",
                # The identity running Pulumi must reach the API to create the StorageClass and
                # the autoscaler below; everyone else comes in through an access entry.
                "bootstrap_cluster_creator_admin_permissions": True,
            },
            # Core add-ons are installed below as pinned EKS managed add-ons instead.
            bootstrap_self_managed_addons=False,
            # EKS sets EXTENDED when upgrade_policy is omitted (EKS user guide, "Enable EKS extended
            # support": "EKS Clusters have the upgrade policy set to enable extended support by
            # default"); the spec decides, STANDARD unless it says extended.
            upgrade_policy={"support_type": SUPPORT_TYPE[spec.version_support]},
            deletion_protection=args.protect,
            tags=tags,
            # Provider defaults: create 30m, update 60m, delete 15m (terraform-provider-aws
            # internal/service/eks/cluster.go). Deletion has been seen to take 15-16 minutes
            # (aws/eks-hybrid#611, which raised its own waits for it): 30m.
            opts=stateful(
                self,
                args.protect,
                depends_on=[log_group, cluster_policy, cluster_kms],
                custom_timeouts=CLUSTER_TIMEOUTS,
            ),
        )
        region = cluster.arn.apply(lambda arn: arn.split(":")[3])

        for principal in spec.admin_principals:
            suffix = f"{principal.rsplit('/', 1)[-1]}-{hashlib.sha256(principal.encode()).hexdigest()[:6]}"
            cluster_admin_access(
                self,
                entry_name=f"{name}-admin-{suffix}",
                association_name=f"{name}-admin-{suffix}",
                cluster_name=cluster.name,
                principal_arn=principal,
                partition=partition,
                tags=tags,
            )

        # ---- IRSA: the OIDC provider. No thumbprint: IAM validates EKS issuers against its
        # own trusted CAs and the field is optional in the provider.
        issuer = cluster.identities.apply(_issuer)
        oidc = iam.OpenIdConnectProvider(
            f"{name}-oidc",
            url=issuer,
            client_id_lists=["sts.amazonaws.com"],
            tags=tags,
            opts=child(self),
        )
        oidc_url = issuer.apply(lambda u: u.removeprefix("https://"))

        def irsa(role: str, sa: str, **kw: Any) -> WorkloadIdentity:
            return WorkloadIdentity(
                f"{name}-{role}",
                WorkloadIdentityArgs(
                    namespace="kube-system",
                    service_account=sa,
                    cluster_name=cluster.name,
                    oidc_provider_arn=oidc.arn,
                    oidc_provider_url=oidc_url,
                    mode="irsa",
                    tags=tags,
                    **kw,
                ),
                opts=child(self),
            )

        cni_identity = irsa("vpc-cni", "aws-node", aws_managed_policies=["AmazonEKS_CNI_Policy"])
        ebs_identity = irsa(
            "ebs-csi",
            "ebs-csi-controller-sa",
            aws_managed_policies=["service-role/AmazonEBSCSIDriverPolicy"],
            policy_json=node_key.arn.apply(lambda arn: json.dumps(ebs_csi_kms_policy(arn))),
        )
        autoscaler_identity = irsa(
            "cluster-autoscaler",
            CLUSTER_AUTOSCALER_SA,
            policy_json=pulumi.Output.all(partition, region, account, cluster.name).apply(
                lambda v: json.dumps(cluster_autoscaler_policy(v[0], v[1], v[2], v[3]))
            ),
        )

        def addon(addon_name: str, role_arn: pulumi.Input[str] | None = None, depends_on=None) -> eks.Addon:
            config = ADDON_CONFIGURATION.get(addon_name)
            return eks.Addon(
                f"{name}-{addon_name}",
                cluster_name=cluster.name,
                addon_name=addon_name,
                addon_version=self.addon_versions[addon_name],
                configuration_values=json.dumps(config, sort_keys=True) if config else None,
                service_account_role_arn=role_arn,
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
                tags=tags,
                opts=child(self, depends_on=depends_on or []),
            )

        # Networking add-ons are DaemonSets that must exist before nodes can become Ready.
        before_nodes = [addon("vpc-cni", cni_identity.role_arn), addon("kube-proxy")]
        if args.workload_identity == "pod_identity":
            before_nodes.append(addon("eks-pod-identity-agent"))
        # Every node group of this cluster (the system one below, each GPU pool) waits for these.
        self.node_prerequisites: list[pulumi.Resource] = list(before_nodes)

        # ---- system node group: the same role and launch template as a GPU pool (nodes.py)
        pool = spec.system_pool
        node = node_role(
            self,
            f"{name}-node-role",
            description=f"System nodes of {args.cluster_name} (CNI permissions live in the vpc-cni IRSA role)",
            tags=tags,
            # Resource names kept from before the shared helper (they are in the URNs); the ECR
            # attachment's name still says ReadOnly but it attaches NODE_ROLE_POLICIES' PullOnly.
            attachment_name=lambda policy: f"{name}-node-{_LEGACY_ATTACHMENT_NAMES.get(policy, policy)}",
        )
        node_role_ = node.role
        launch_template = node_launch_template(
            self,
            f"{name}-{SYSTEM_POOL}",
            description=f"System nodes of {args.cluster_name}: IMDSv2 only, encrypted gp3 root",
            disk_size_gb=pool.disk_size_gb,
            volume_kms_key_arn=node_key.arn,
            tags=tags,
            name_tag=f"{args.cluster_name}-{SYSTEM_POOL}",
        )
        # One node group per zone: the system pool holds Prometheus, Grafana and Alertmanager, whose
        # EBS volumes live in one zone. A group spanning zones may scale up in the wrong zone and
        # leave those pods pending; per-zone groups + --balance-similar-node-groups is the documented
        # setup (cluster-autoscaler AWS README, "Common Notes and Gotchas": "an ASG-per-AZ while
        # enabling --balance-similar-node-groups"; FAQ "I'm running cluster with nodes in multiple
        # zones for HA purposes"). The groups differ only in EKS's own nodegroup label and the zone
        # labels, ignored when the AWS autoscaler compares groups (processors/nodegroupset/aws_nodegroups.go)
        # except the zone ID of EKS >= 1.30, which the pinned images need told (in_cluster.ZONE_ID_LABEL).
        zone_subnets = _system_subnets(args)
        sizes = {
            key: split_evenly(getattr(pool, key), len(zone_subnets))
            for key in ("min_nodes", "desired_nodes", "max_nodes")
        }
        system_labels = {POOL_LABEL: SYSTEM_POOL}
        node_groups = []
        for i, (zone, subnet) in enumerate(zone_subnets.items()):
            node_groups.append(
                eks.NodeGroup(
                    f"{name}-{SYSTEM_POOL}-{zone}",
                    cluster_name=cluster.name,
                    version=version,
                    node_role_arn=node_role_.arn,
                    subnet_ids=[subnet],
                    ami_type=SYSTEM_AMI_TYPE,
                    capacity_type="ON_DEMAND",
                    instance_types=[pool.machine_type],
                    scaling_config={
                        "min_size": sizes["min_nodes"][i],
                        "desired_size": sizes["desired_nodes"][i],
                        "max_size": sizes["max_nodes"][i],
                    },
                    launch_template={
                        "id": launch_template.id,
                        "version": launch_template.latest_version.apply(str),
                    },
                    labels=system_labels,
                    update_config={"max_unavailable": 1},
                    tags=tags,
                    # The Cluster Autoscaler owns the desired size once the group exists.
                    opts=child(
                        self,
                        depends_on=[*node.attachments, *before_nodes],
                        ignore_changes=["scalingConfig.desiredSize"],
                        custom_timeouts=node_group_timeouts(sizes["max_nodes"][i]),
                    ),
                )
            )
            # A zone group may stand at 0 nodes (min_nodes split over more zones than it has, or scaled
            # down), and the system pods (monitoring with its zonal volume among them) select the pool
            # label. The autoscaler knows the labels of a group with no node from its ASG's node-template
            # tags; it asks EKS (DescribeNodegroup) only for a group that never had a node
            # (cluster-autoscaler/cloudprovider/aws/README.md: "Once nodes are added, even if the managed
            # nodegroup is scaled back to 0 nodes, this functionality will not be called anymore").
            tag_autoscaling_group(
                self,
                f"{name}-{SYSTEM_POOL}-{zone}",
                autoscaling_group_name(node_groups[-1]),
                node_template_label_tags(system_labels),
            )
        # CoreDNS and the EBS CSI controller are Deployments: they go ACTIVE only with nodes.
        addon("coredns", depends_on=node_groups)
        ebs_addon = addon("aws-ebs-csi-driver", ebs_identity.role_arn, depends_on=node_groups)

        # ---- Kubernetes access: a kubeconfig for whoever installs the in-cluster layer (this
        # component registers no Kubernetes object: mlinfra.platform.install_in_cluster does, from the
        # platform stack or, for a private endpoint, from the in-cluster stack inside the VPC).
        kubeconfig = pulumi.Output.all(
            cluster.name, cluster.endpoint, cluster.certificate_authority, region
        ).apply(
            lambda v: json.dumps(
                build_kubeconfig(v[0], v[1], v[2]["data"] if isinstance(v[2], dict) else v[2].data, v[3])
            )
        )
        self.kubeconfig = pulumi.Output.secret(kubeconfig)
        self.autoscaler_service_account_annotations = autoscaler_identity.service_account_annotations
        self.ebs_csi_addon = ebs_addon

        self.cluster_name = cluster.name
        self.cluster_arn = cluster.arn
        self.region = region
        self.vpc_id = pulumi.Output.from_input(args.vpc_id)
        self.endpoint = cluster.endpoint
        self.certificate_authority = cluster.certificate_authority.apply(
            lambda ca: ca["data"] if isinstance(ca, dict) else ca.data
        )
        self.oidc_issuer = issuer
        self.oidc_provider_arn = oidc.arn
        self.oidc_provider_url = oidc_url
        self.secrets_key_arn = secrets_key.arn
        self.node_volume_key_arn = node_key.arn
        self.cluster_security_group_id = cluster.vpc_config.apply(
            lambda c: c["cluster_security_group_id"] if isinstance(c, dict) else c.cluster_security_group_id
        )
        self.system_node_role_arn = node_role_.arn
        self.system_node_group_names = pulumi.Output.all(*[g.node_group_name for g in node_groups])
        self.storage_class = STORAGE_CLASS
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "endpoint": self.endpoint,
                "oidc_provider_arn": self.oidc_provider_arn,
                "oidc_provider_url": self.oidc_provider_url,
                "kubeconfig": self.kubeconfig,
                "secrets_key_arn": self.secrets_key_arn,
                "node_volume_key_arn": self.node_volume_key_arn,
                "cluster_security_group_id": self.cluster_security_group_id,
                "system_node_role_arn": self.system_node_role_arn,
                "storage_class": self.storage_class,
                "autoscaler_service_account_annotations": self.autoscaler_service_account_annotations,
            }
        )
