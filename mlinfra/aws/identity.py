"""WorkloadIdentity: one IAM role for exactly one Kubernetes service account.

Pods get AWS credentials from a role bound to their service account, never from the node
role: with IRSA the role trusts the cluster's OIDC provider for one `namespace:sa` subject
and the `sts.amazonaws.com` audience; with EKS Pod Identity it trusts the
`pods.eks.amazonaws.com` service and an `eks.PodIdentityAssociation` binds it to one
service account. Either way a compromised pod elsewhere in the cluster cannot assume it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_aws as aws
from pulumi_aws import eks, iam

from mlinfra.components import child
from mlinfra.spec import PRINCIPAL_ARN

IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
WORKLOAD_IDENTITY_MODES = ("irsa", "pod_identity")
# PRINCIPAL_ARN (mlinfra.spec): an IAM role or user ARN (no wildcards, no assumed-role session
# ARNs), what EKS access entries and ECR repository policies accept as a principal.
__all__ = ["PRINCIPAL_ARN"]

_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_POLICY_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(aws|\d{12}):policy/[\w+=,.@/-]+$")
_POLICY_PATH = re.compile(r"^([\w+=,.@-]+/)*[\w+=,.@-]+$")


@dataclass
class WorkloadIdentityArgs:
    """Inputs of a WorkloadIdentity.

    namespace / service_account: the one service account allowed to use the role.
    cluster_name: EKS cluster (needed for the pod identity association).
    oidc_provider_arn / oidc_provider_url: the cluster's IAM OIDC provider; the URL is the
        issuer without `https://` (used for IRSA only, may be empty strings in pod_identity mode).
    policy_json: an inline policy document (JSON string or Output of one).
    managed_policy_arns: managed policies to attach, by full ARN.
    aws_managed_policies: AWS managed policies by path and name (`AmazonEKS_CNI_Policy`,
        `service-role/AmazonEBSCSIDriverPolicy`); the ARN is built with the provider's partition,
        so the same code works in aws, aws-cn and aws-us-gov.
    mode: "irsa" (OIDC web identity) or "pod_identity" (EKS Pod Identity agent).
    tags: tags for the role.
    """

    namespace: str
    service_account: str
    cluster_name: pulumi.Input[str]
    oidc_provider_arn: pulumi.Input[str]
    oidc_provider_url: pulumi.Input[str]
    policy_json: pulumi.Input[str] | None = None
    managed_policy_arns: Sequence[str] = ()
    aws_managed_policies: Sequence[str] = ()
    mode: Literal["irsa", "pod_identity"] = "irsa"
    tags: Mapping[str, str] = field(default_factory=dict)


def service_trust_policy(service: str) -> str:
    """Trust policy (JSON) letting one AWS service principal assume a role (EC2 for nodes, EKS)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


def confused_deputy_trust_policy(service: str, account: str, source_arn: str) -> dict[str, Any]:
    """Trust for one AWS service principal acting for this account and the resources matching
    `source_arn` only: the cross-service confused-deputy guard (IAM user guide, "The confused deputy
    problem": aws:SourceAccount + aws:SourceArn)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account},
                    "ArnLike": {"aws:SourceArn": source_arn},
                },
            }
        ],
    }


def cluster_admin_access(
    parent: pulumi.Resource,
    *,
    entry_name: str,
    association_name: str,
    cluster_name: pulumi.Input[str],
    principal_arn: pulumi.Input[str],
    partition: pulumi.Input[str],
    tags: Mapping[str, str],
) -> tuple[eks.AccessEntry, eks.AccessPolicyAssociation]:
    """An EKS access entry making an IAM principal cluster admin (authenticationMode API):
    AmazonEKSClusterAdminPolicy on the whole cluster."""
    entry = eks.AccessEntry(
        entry_name,
        cluster_name=cluster_name,
        principal_arn=principal_arn,
        type="STANDARD",
        tags=dict(tags),
        opts=child(parent),
    )
    association = eks.AccessPolicyAssociation(
        association_name,
        cluster_name=cluster_name,
        principal_arn=principal_arn,
        policy_arn=pulumi.Output.from_input(partition).apply(
            lambda p: f"arn:{p}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
        ),
        access_scope={"type": "cluster"},
        opts=child(parent, depends_on=[entry]),
    )
    return entry, association


def aws_managed_policy_arn(partition: pulumi.Input[str], path: str) -> pulumi.Output[str]:
    """`arn:<partition>:iam::aws:policy/<path>`: the same code serves aws, aws-cn and aws-us-gov."""
    return pulumi.Output.from_input(partition).apply(lambda p: f"arn:{p}:iam::aws:policy/{path}")


def irsa_trust_policy(
    oidc_provider_arn: str, oidc_provider_url: str, namespace: str, service_account: str
) -> dict[str, Any]:
    """Trust for exactly one service account (sub) and the STS audience (aud)."""
    url = oidc_provider_url.removeprefix("https://")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": oidc_provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{url}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                        f"{url}:aud": "sts.amazonaws.com",
                    }
                },
            }
        ],
    }


def pod_identity_trust_policy() -> dict[str, Any]:
    """Trust for the EKS Pod Identity service; the association narrows it to one service account."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "pods.eks.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
            }
        ],
    }


def _validate(args: WorkloadIdentityArgs) -> None:
    if args.mode not in WORKLOAD_IDENTITY_MODES:
        raise ValueError(
            f"mode: {args.mode!r} is not supported; allowed: {', '.join(WORKLOAD_IDENTITY_MODES)}"
        )
    for fname in ("namespace", "service_account"):
        value = getattr(args, fname)
        if not isinstance(value, str) or not (1 <= len(value) <= 253) or not _K8S_NAME.match(value):
            raise ValueError(
                f"{fname}: {value!r} is not a Kubernetes object name "
                "(lowercase letters, digits, '-' and '.', starting and ending with a letter or digit)"
            )
    for i, arn in enumerate(args.managed_policy_arns):
        if not isinstance(arn, str) or not _POLICY_ARN.match(arn):
            raise ValueError(
                f"managed_policy_arns[{i}]: {arn!r} is not an IAM policy ARN (arn:aws:iam::<account|aws>:policy/...)"
            )
    for i, path in enumerate(args.aws_managed_policies):
        if not isinstance(path, str) or not _POLICY_PATH.match(path):
            raise ValueError(
                f"aws_managed_policies[{i}]: {path!r} is not an AWS managed policy name "
                "(e.g. AmazonEKS_CNI_Policy or service-role/AmazonEBSCSIDriverPolicy)"
            )
    shorts = [_short(a) for a in [*args.managed_policy_arns, *args.aws_managed_policies]]
    if len(set(shorts)) != len(shorts):
        raise ValueError(f"managed_policy_arns: policy names must be unique (got {sorted(shorts)})")


def _short(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


class WorkloadIdentity(pulumi.ComponentResource):
    """An IAM role assumable by one Kubernetes service account (IRSA or EKS Pod Identity)."""

    role_arn: pulumi.Output[str]
    role_name: pulumi.Output[str]
    service_account_annotations: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: WorkloadIdentityArgs, opts: pulumi.ResourceOptions | None = None):
        _validate(args)
        super().__init__("mlinfra:aws:WorkloadIdentity", name, None, opts)

        if args.mode == "irsa":
            trust = pulumi.Output.all(args.oidc_provider_arn, args.oidc_provider_url).apply(
                lambda v: json.dumps(irsa_trust_policy(v[0], v[1], args.namespace, args.service_account))
            )
        else:
            trust = pulumi.Output.from_input(json.dumps(pod_identity_trust_policy()))

        role = iam.Role(
            f"{name}-role",
            assume_role_policy=trust,
            description=f"Workload identity for {args.namespace}/{args.service_account} ({args.mode})",
            max_session_duration=3600,
            tags=dict(args.tags),
            opts=child(self),
        )

        if args.policy_json is not None:
            iam.RolePolicy(f"{name}-policy", role=role.id, policy=args.policy_json, opts=child(self))
        for arn in args.managed_policy_arns:
            iam.RolePolicyAttachment(
                f"{name}-{_short(arn)}", role=role.name, policy_arn=arn, opts=child(self)
            )
        if args.aws_managed_policies:
            partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
            for path in args.aws_managed_policies:
                iam.RolePolicyAttachment(
                    f"{name}-{_short(path)}",
                    role=role.name,
                    policy_arn=aws_managed_policy_arn(partition, path),
                    opts=child(self),
                )

        if args.mode == "pod_identity":
            eks.PodIdentityAssociation(
                f"{name}-association",
                cluster_name=args.cluster_name,
                namespace=args.namespace,
                service_account=args.service_account,
                role_arn=role.arn,
                tags=dict(args.tags),
                opts=child(self),
            )
            annotations: pulumi.Output[dict[str, str]] = pulumi.Output.from_input({})
        else:
            annotations = role.arn.apply(lambda arn: {IRSA_ANNOTATION: arn})

        self.role_arn = role.arn
        self.role_name = role.name
        self.service_account_annotations = annotations
        self.register_outputs(
            {
                "role_arn": self.role_arn,
                "role_name": self.role_name,
                "service_account_annotations": annotations,
            }
        )
