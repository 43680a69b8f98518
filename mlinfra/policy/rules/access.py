"""Access pack: nothing public by accident, least privilege, hardened nodes and identities."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from mlinfra.policy.model import Ctx, Res, rule
from mlinfra.policy.props import UNKNOWN, as_bool, elements, get, not_true
from mlinfra.policy.rules._common import (
    ACR,
    AKS_CLUSTER,
    AKS_POOL,
    AZ_STORAGE,
    EC2_INSTANCE,
    ECR_REPO,
    EKS_CLUSTER,
    GAR_REPO,
    GCS_BUCKET,
    GKE_CLUSTER,
    GKE_NODE_POOL,
    LAUNCH_TEMPLATE,
    S3_BUCKET,
    S3_PAB,
    aks_pools,
    attached,
    doc_of,
    of_type,
    principal_is_wildcard,
    statements,
    str_list,
)

PACK = "access"
_PAB_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


@rule(
    "no-public-buckets",
    pack=PACK,
    kind="stack",
    severity="critical",
    description="Buckets and storage accounts cannot be made public.",
    remediation=(
        "S3: a BucketPublicAccessBlock for the bucket with all four flags true; GCS: public_access_prevention "
        "'enforced' and uniform_bucket_level_access true; Azure: allow_blob_public_access and allow_shared_key_access false."
    ),
)
def no_public_buckets(resources: list[Res], ctx: Ctx) -> Iterator[tuple[Res, str]]:
    for b in of_type(resources, S3_BUCKET):
        blocks = attached(b, resources, S3_PAB)
        if not blocks:
            yield b, "no BucketPublicAccessBlock targets this bucket"
            continue
        for blk in blocks:
            off = [f for f in _PAB_FLAGS if as_bool(get(blk.props, f)) not in (True, UNKNOWN)]
            if off:
                yield b, f"BucketPublicAccessBlock {blk.name!r} leaves {', '.join(off)} off"
    for g in of_type(resources, GCS_BUCKET):
        pap = get(g.props, "publicAccessPrevention")
        if pap is not UNKNOWN and pap != "enforced":
            yield g, f"publicAccessPrevention is {pap!r}; it must be 'enforced'"
        if not_true(get(g.props, "uniformBucketLevelAccess")):
            yield g, "uniformBucketLevelAccess is not true (object ACLs can grant public access)"
    for a in of_type(resources, AZ_STORAGE):
        for f in ("allowBlobPublicAccess", "allowSharedKeyAccess"):
            v = as_bool(get(a.props, f))
            # Both default to true on older API versions: they must be set to false explicitly.
            if v is not UNKNOWN and v is not False:
                yield a, f"{f} is {v!r}; it must be false"


_PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")


def _gcp_iam_grant(type_: str) -> bool:
    """Every pulumi-gcp member/binding type: the SDK spells them `...IAMMember` and `...IamMember`
    (artifactregistry RepositoryIamMember, storage ManagedFolderIamMember)."""
    return type_.startswith("gcp:") and type_.lower().endswith(("iammember", "iambinding"))


@rule(
    "no-public-iam-members",
    pack=PACK,
    applies=_gcp_iam_grant,
    severity="critical",
    description="No IAM binding grants access to allUsers or allAuthenticatedUsers.",
    remediation="Bind named service accounts or groups instead of allUsers / allAuthenticatedUsers.",
)
def no_public_iam_members(res: Res, ctx: Ctx) -> Iterator[str]:
    members = [get(res.props, "member")] + elements(get(res.props, "members"))
    for m in members:
        if isinstance(m, str) and m in _PUBLIC_MEMBERS:
            yield f"member {m!r} makes the resource public"


def _cidr_open(cidrs: list[Any]) -> list[str]:
    out = []
    for c in cidrs:
        try:
            if isinstance(c, str) and ipaddress.ip_network(c, strict=False).prefixlen == 0:
                out.append(c)
        except ValueError:
            continue
    return out


@rule(
    "private-cluster-endpoint",
    pack=PACK,
    types=[EKS_CLUSTER, GKE_CLUSTER, AKS_CLUSTER],
    severity="critical",
    description="The Kubernetes API endpoint is private; dev alone may expose it to listed CIDRs.",
    remediation=(
        "EKS: vpc_config endpoint_public_access=False, endpoint_private_access=True (dev: public_access_cidrs "
        "without 0.0.0.0/0); GKE: private_cluster_config.enable_private_endpoint (the IAM-gated DNS endpoint "
        "may stay open; dev: master_authorized_networks_config without gcp_public_cidrs_access_enabled); "
        "AKS: api_server_access_profile.enable_private_cluster (dev: authorized_ip_ranges)."
    ),
)
def private_cluster_endpoint(res: Res, ctx: Ctx) -> Iterator[str]:
    p = res.props
    dev = ctx.environment == "dev"
    if res.type == EKS_CLUSTER:
        # EKS defaults: public access on, open to 0.0.0.0/0, private access off.
        public = as_bool(get(p, "vpcConfig", "endpointPublicAccess", default=True))
        if not_true(get(p, "vpcConfig", "endpointPrivateAccess", default=False)):
            yield "vpcConfig.endpointPrivateAccess is not true (nodes would reach the API over the internet)"
        if public is UNKNOWN or public is False:
            return
        if not dev:
            yield f"vpcConfig.endpointPublicAccess is on in {ctx.environment}; it must be false"
            return
        cidrs = elements(get(p, "vpcConfig", "publicAccessCidrs"))
        if UNKNOWN in cidrs:
            return
        if not cidrs:
            yield "public endpoint without vpcConfig.publicAccessCidrs (EKS opens it to 0.0.0.0/0)"
        elif _cidr_open(cidrs):
            yield f"vpcConfig.publicAccessCidrs contains {_cidr_open(cidrs)}"
    elif res.type == GKE_CLUSTER:
        # GKE's IAM-gated DNS endpoint (controlPlaneEndpointsConfig.dnsEndpointConfig.allowExternalTraffic)
        # is accepted in every environment: no request reaches the API server without a Google
        # identity allowed container.clusters.* (GKE "About network isolation": "Use only the
        # DNS-based endpoint to access your control plane"), it exposes no IP to scan, and it is how
        # `cluster.api_access: dns` installs a private cluster from anywhere. What this rule guards is
        # the IP endpoint: private, or (dev) public to listed CIDRs.
        public_ip = not_true(get(p, "privateClusterConfig", "enablePrivateEndpoint"))
        if (
            public_ip
            and as_bool(get(p, "masterAuthorizedNetworksConfig", "gcpPublicCidrsAccessEnabled")) is True
        ):
            yield (
                "masterAuthorizedNetworksConfig.gcpPublicCidrsAccessEnabled is true: every Google Cloud "
                "public IP may reach the public endpoint"
            )
        blocks = elements(get(p, "masterAuthorizedNetworksConfig", "cidrBlocks"))
        yield from _private_or_listed(
            ctx,
            ("privateClusterConfig", "enablePrivateEndpoint"),
            p,
            "masterAuthorizedNetworksConfig",
            [get(b, "cidrBlock") for b in blocks],
        )
    else:
        yield from _private_or_listed(
            ctx,
            ("apiServerAccessProfile", "enablePrivateCluster"),
            p,
            "apiServerAccessProfile.authorizedIPRanges",
            elements(get(p, "apiServerAccessProfile", "authorizedIPRanges")),
        )


def _private_or_listed(
    ctx: Ctx, flag: tuple[str, ...], props: Any, allowlist: str, cidrs: list[Any]
) -> Iterator[str]:
    """GKE/AKS: the endpoint is private, or (dev only) public to a listed, non-open set of CIDRs."""
    private = as_bool(get(props, *flag))
    if private is UNKNOWN or private is True:
        return
    if ctx.environment != "dev":
        yield f"{'.'.join(flag)} is not true in {ctx.environment}"
        return
    if UNKNOWN in cidrs:
        return
    if not cidrs or _cidr_open(cidrs):
        yield f"public endpoint without {allowlist} limited to listed CIDRs"


@rule(
    "ecr-immutable-scanned",
    pack=PACK,
    types=[ECR_REPO, GAR_REPO],
    severity="high",
    description="Image tags are immutable and images are scanned on push (ECR, Artifact Registry Docker repositories).",
    remediation=(
        "image_tag_mutability='IMMUTABLE' and image_scanning_configuration={scan_on_push: True} (ECR); "
        "docker_config.immutable_tags=True and vulnerability_scanning_config.enablement_config 'INHERITED' with "
        "containerscanning.googleapis.com enabled (Artifact Registry). ACR expresses neither (Defender, tag locks)."
    ),
)
def ecr_immutable_scanned(res: Res, ctx: Ctx) -> Iterator[str]:
    if res.type == GAR_REPO:
        if get(res.props, "format", default="DOCKER") not in ("DOCKER", UNKNOWN):
            return
        if not_true(get(res.props, "dockerConfig", "immutableTags")):
            yield "dockerConfig.immutableTags is not true; a pushed tag could be moved to another image"
        scanning = get(res.props, "vulnerabilityScanningConfig", "enablementConfig")
        if scanning == "DISABLED":
            yield "vulnerabilityScanningConfig.enablementConfig is 'DISABLED'"
        return
    mut = get(res.props, "imageTagMutability", default="MUTABLE")
    if mut is not UNKNOWN and mut != "IMMUTABLE":
        yield f"imageTagMutability is {mut!r}; a pushed tag could be replaced by another image"
    if not_true(get(res.props, "imageScanningConfiguration", "scanOnPush")):
        yield "imageScanningConfiguration.scanOnPush is not true"


@rule(
    "acr-no-admin-or-anonymous",
    pack=PACK,
    types=[ACR],
    severity="high",
    description="Azure container registries have the admin user and anonymous pull turned off.",
    remediation="admin_user_enabled=False and anonymous_pull_enabled=False; pull with managed identities.",
)
def acr_no_admin_or_anonymous(res: Res, ctx: Ctx) -> Iterator[str]:
    for f in ("adminUserEnabled", "anonymousPullEnabled"):
        v = as_bool(get(res.props, f))  # both default to false
        if v is True:
            yield f"{f} is true"


# Policy-document inputs, per resource type, that may carry a resource-based or identity policy.
_POLICY_PROPS: dict[str, tuple[str, ...]] = {
    "aws:s3/bucketPolicy:BucketPolicy": ("policy",),
    "aws:kms/key:Key": ("policy",),
    "aws:kms/keyPolicy:KeyPolicy": ("policy",),
    "aws:ecr/repositoryPolicy:RepositoryPolicy": ("policy",),
    "aws:ecr/repository:Repository": (),
    "aws:secretsmanager/secretPolicy:SecretPolicy": ("policy",),
    "aws:sqs/queuePolicy:QueuePolicy": ("policy",),
    "aws:sns/topicPolicy:TopicPolicy": ("policy",),
    "aws:iam/role:Role": ("assumeRolePolicy",),
    "aws:iam/policy:Policy": ("policy",),
    "aws:iam/rolePolicy:RolePolicy": ("policy",),
    "aws:iam/userPolicy:UserPolicy": ("policy",),
    "aws:iam/groupPolicy:GroupPolicy": ("policy",),
}


def _documents(res: Res) -> list[tuple[str, Any]]:
    docs = [(prop, doc_of(get(res.props, prop))) for prop in _POLICY_PROPS.get(res.type, ())]
    if res.type == "aws:iam/role:Role":
        for i, ip in enumerate(elements(get(res.props, "inlinePolicies"))):
            docs.append((f"inlinePolicies[{i}].policy", doc_of(get(ip, "policy"))))
    return [(n, d) for n, d in docs if d is not UNKNOWN and d is not None]


@rule(
    "no-wildcard-principal",
    pack=PACK,
    types=list(_POLICY_PROPS),
    severity="critical",
    description="No Allow statement in a resource or trust policy names the '*' principal.",
    remediation=(
        "Name the account, role or service principal that needs access. A '*' principal is accepted only "
        "in Deny statements (e.g. the deny-insecure-transport statement)."
    ),
)
def no_wildcard_principal(res: Res, ctx: Ctx) -> Iterator[str]:
    for prop, doc in _documents(res):
        for i, st in enumerate(statements(doc)):
            if get(st, "Effect") == "Deny":
                continue
            if principal_is_wildcard(get(st, "Principal")):
                yield f"{prop} Statement[{i}] ({get(st, 'Sid') or 'no Sid'}) allows Principal '*'"
            if get(st, "NotPrincipal") is not None:
                yield f"{prop} Statement[{i}] allows NotPrincipal (everyone else)"


# Services that hold data: a wildcard on them is a data-access grant, not an operational one.
DATA_SERVICES = frozenset(
    {
        "s3",
        "kms",
        "ecr",
        "secretsmanager",
        "dynamodb",
        "ssm",
        "rds",
        "rds-data",
        "sqs",
        "sns",
        "glue",
        "athena",
        "elasticfilesystem",
        "fsx",
        "redshift",
        "sagemaker",
        "kinesis",
        "firehose",
        "backup",
        "logs",
    }
)
# Identity services: a wildcard on them lets a workload grant itself anything (privilege escalation).
ESCALATION_SERVICES = frozenset({"iam", "sts", "organizations"})
# Handing any role to any service is the classic escalation path; PassRole must name its roles.
ESCALATION_ON_STAR = frozenset({"iam:passrole"})
# Data-service actions that have no resource-level permissions: AWS only accepts Resource "*" for them.
RESOURCE_STAR_ONLY = frozenset(
    {
        "ecr:getauthorizationtoken",
        "s3:listallmybuckets",
        "kms:listkeys",
        "kms:listaliases",
        "secretsmanager:listsecrets",
        "secretsmanager:getrandompassword",
        "dynamodb:listtables",
        "sqs:listqueues",
        "sns:listtopics",
        "ssm:describeparameters",
        "logs:describeloggroups",
    }
)
_FULL_ACCESS_MANAGED = frozenset(
    {
        "AdministratorAccess",
        "PowerUserAccess",
        "AmazonS3FullAccess",
        "AWSKeyManagementServicePowerUser",
        "AmazonEC2ContainerRegistryFullAccess",
        "SecretsManagerReadWrite",
        "AmazonDynamoDBFullAccess",
        "AmazonSSMFullAccess",
        "AmazonRDSFullAccess",
        "AmazonSageMakerFullAccess",
        "IAMFullAccess",
    }
)
_IAM_DOC_TYPES = [t for t in _POLICY_PROPS if t.startswith("aws:iam/") and t != "aws:iam/role:Role"]
_ATTACHMENTS = [
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
]


def wildcard_findings(doc: Any) -> list[str]:
    """Exact semantics of `iam-least-privilege` for one identity-policy document (Allow statements only):

    - Action "*" (or "*:*"), or any NotAction: flagged (everything, or everything but a few).
    - An action on a data service (DATA_SERVICES) or an identity service (ESCALATION_SERVICES: iam, sts,
      organizations) whose verb is "*" ("s3:*", "iam:*"): flagged.
    - iam:PassRole on Resource "*": flagged (it must name the roles it may pass).
    - Resource "*" (or NotResource) together with any data-service action, unless every such action is
      one AWS only grants on "*" (RESOURCE_STAR_ONLY, e.g. ecr:GetAuthorizationToken): flagged.
    - Operational wildcards stay allowed: "ec2:Describe*" on Resource "*" passes, and so does "s3:Get*" on
      a named bucket ARN.
    """
    out = []
    for i, st in enumerate(statements(doc)):
        if get(st, "Effect", default="Allow") != "Allow":
            continue
        sid = get(st, "Sid") or "no Sid"
        actions = [a for a in str_list(get(st, "Action")) if isinstance(a, str)]
        if get(st, "NotAction") is not None:
            out.append(f"Statement[{i}] ({sid}) uses NotAction with Allow")
        if any(a in ("*", "*:*") for a in actions):
            out.append(f"Statement[{i}] ({sid}) allows Action '*'")
            continue
        data = [a for a in actions if a.split(":", 1)[0].lower() in DATA_SERVICES]
        for a in actions:
            service, _, verb = a.partition(":")
            if verb == "*" and service.lower() in DATA_SERVICES | ESCALATION_SERVICES:
                out.append(f"Statement[{i}] ({sid}) allows {a!r} (every action of the service)")
        resources = str_list(get(st, "Resource"))
        star = "*" in resources or get(st, "NotResource") is not None
        passes = sorted(a for a in actions if a.lower() in ESCALATION_ON_STAR)
        if star and passes:
            out.append(f"Statement[{i}] ({sid}) allows {passes} on Resource '*' (any role to any service)")
        scoped = [a for a in data if a.lower() not in RESOURCE_STAR_ONLY]
        if star and scoped:
            out.append(f"Statement[{i}] ({sid}) allows data actions {sorted(scoped)} on Resource '*'")
    return out


@rule(
    "iam-least-privilege",
    pack=PACK,
    types=_IAM_DOC_TYPES + ["aws:iam/role:Role"] + _ATTACHMENTS,
    severity="high",
    description="IAM policies grant no '*' actions, and no '*' actions or resources on data services.",
    remediation=(
        "List the actions the workload calls (s3:GetObject, kms:Decrypt, ...) and scope Resource to the bucket, "
        "key or repository ARNs; attach no AWS-managed full-access policy."
    ),
)
def iam_least_privilege(res: Res, ctx: Ctx) -> Iterator[str]:
    if res.type in _ATTACHMENTS:
        arn = get(res.props, "policyArn")
        if isinstance(arn, str) and arn.startswith("arn:aws:iam::aws:policy/"):
            name = arn.rsplit("/", 1)[-1]
            if name in _FULL_ACCESS_MANAGED:
                yield f"attaches the AWS-managed {name} policy"
        return
    for prop, doc in _documents(res):
        if prop == "assumeRolePolicy":
            continue
        for finding in wildcard_findings(doc):
            yield f"{prop} {finding}"


@rule(
    "imdsv2-required",
    pack=PACK,
    types=[LAUNCH_TEMPLATE, EC2_INSTANCE],
    severity="high",
    description="Nodes require IMDSv2 session tokens for the instance metadata service.",
    remediation="metadata_options={http_tokens: 'required', http_put_response_hop_limit: 1 or 2, http_endpoint: 'enabled'}.",
)
def imdsv2_required(res: Res, ctx: Ctx) -> Iterator[str]:
    tokens = get(res.props, "metadataOptions", "httpTokens")
    if tokens is not UNKNOWN and tokens != "required":
        yield f"metadataOptions.httpTokens is {tokens!r}; IMDSv1 lets SSRF reach node credentials"


@rule(
    "no-node-public-ip",
    pack=PACK,
    types=[LAUNCH_TEMPLATE, EC2_INSTANCE, GKE_CLUSTER, GKE_NODE_POOL, AKS_POOL, AKS_CLUSTER],
    severity="high",
    description="Nodes get no public IP address.",
    remediation=(
        "EC2: network_interfaces associate_public_ip_address 'false' and private subnets; GKE: "
        "private_cluster_config.enable_private_nodes, and no node pool network_config.enable_private_nodes "
        "false; AKS: enable_node_public_ip false."
    ),
)
def no_node_public_ip(res: Res, ctx: Ctx) -> Iterator[str]:
    p = res.props
    if res.type == LAUNCH_TEMPLATE:
        for i, ni in enumerate(elements(get(p, "networkInterfaces"))):
            if as_bool(get(ni, "associatePublicIpAddress")) is True:
                yield f"networkInterfaces[{i}].associatePublicIpAddress is 'true'"
    elif res.type == EC2_INSTANCE:
        if as_bool(get(p, "associatePublicIpAddress")) is True:
            yield "associatePublicIpAddress is true"
    elif res.type == GKE_CLUSTER:
        if not_true(get(p, "privateClusterConfig", "enablePrivateNodes")):
            yield "privateClusterConfig.enablePrivateNodes is not true"
    elif res.type == GKE_NODE_POOL:
        # A pool's own setting overrides the cluster's (pulumi-gcp NodePoolNetworkConfigArgs.enable_private_nodes).
        if as_bool(get(p, "networkConfig", "enablePrivateNodes")) is False:
            yield "networkConfig.enablePrivateNodes is false: this pool's nodes get public IPs"
    else:
        for where, pool in aks_pools(res):
            if as_bool(get(pool, "enableNodePublicIP")) is True:
                yield f"{where}enableNodePublicIP is true"


@rule(
    "aks-local-accounts-disabled",
    pack=PACK,
    types=[AKS_CLUSTER],
    severity="high",
    description="AKS clusters accept Entra ID identities only (no static local admin credentials).",
    remediation="disable_local_accounts=True with aad_profile.managed and Azure RBAC.",
)
def aks_local_accounts_disabled(res: Res, ctx: Ctx) -> Iterator[str]:
    if not_true(get(res.props, "disableLocalAccounts")):
        yield "disableLocalAccounts is not true"


@rule(
    "workload-identity",
    pack=PACK,
    kind="stack",
    severity="high",
    description="Pods get cloud credentials through workload identity, never node credentials.",
    remediation=(
        "EKS: an IAM OIDC provider for the cluster (IRSA) or the eks-pod-identity-agent add-on; GKE: "
        "workload_identity_config.workload_pool and node_config.workload_metadata_config.mode 'GKE_METADATA'; "
        "AKS: oidc_issuer_profile.enabled and security_profile.workload_identity.enabled."
    ),
)
def workload_identity(resources: list[Res], ctx: Ctx) -> Iterator[tuple[Res, str]]:
    eks = of_type(resources, EKS_CLUSTER)
    if eks:
        has_oidc = bool(of_type(resources, "aws:iam/openIdConnectProvider:OpenIdConnectProvider"))
        has_agent = any(
            get(a.props, "addonName") == "eks-pod-identity-agent"
            for a in of_type(resources, "aws:eks/addon:Addon")
        )
        if not (has_oidc or has_agent):
            for c in eks:
                yield c, "no IAM OIDC provider (IRSA) and no eks-pod-identity-agent add-on in the stack"
    for c in of_type(resources, GKE_CLUSTER):
        pool = get(c.props, "workloadIdentityConfig", "workloadPool")
        if pool is not UNKNOWN and not pool:
            yield c, "workloadIdentityConfig.workloadPool is not set"
    for n in of_type(resources, GKE_NODE_POOL):
        mode = get(n.props, "nodeConfig", "workloadMetadataConfig", "mode")
        if mode is not UNKNOWN and mode != "GKE_METADATA":
            yield n, f"nodeConfig.workloadMetadataConfig.mode is {mode!r}; it must be 'GKE_METADATA'"
    for c in of_type(resources, AKS_CLUSTER):
        for path in (("securityProfile", "workloadIdentity", "enabled"), ("oidcIssuerProfile", "enabled")):
            if not_true(get(c.props, *path)):
                yield c, f"{'.'.join(path)} is not true"
