"""Encryption pack: customer-managed keys for data at rest, TLS for data in transit."""

from __future__ import annotations

from collections.abc import Iterator

from mlinfra.policy.model import Ctx, Res, rule
from mlinfra.policy.props import UNKNOWN, as_bool, as_number, elements, get, not_true
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
    LAUNCH_TEMPLATE,
    S3_BUCKET,
    S3_LOGGING,
    S3_POLICY,
    S3_SSE,
    aks_pools,
    attached,
    doc_of,
    of_type,
    principal_is_wildcard,
    statements,
    str_list,
)

PACK = "encryption"
_KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")


@rule(
    "storage-cmk-encryption",
    pack=PACK,
    kind="stack",
    severity="critical",
    description="Object storage is encrypted at rest with a customer-managed key.",
    remediation=(
        "S3: add a BucketServerSideEncryptionConfiguration for the bucket with sse_algorithm 'aws:kms' and "
        "kms_master_key_id set to a customer-managed key; GCS: set encryption.default_kms_key_name; "
        "Azure (staging/prod): encryption.key_source 'Microsoft.Keyvault' with key_vault_properties. "
        "An S3 server-access-log target bucket may use AES256 (S3 cannot deliver logs to SSE-KMS buckets)."
    ),
)
def storage_cmk_encryption(resources: list[Res], ctx: Ctx) -> Iterator[tuple[Res, str]]:
    # S3 server access logs can only be delivered to a bucket encrypted with SSE-S3 (AES256):
    # a bucket named as a BucketLogging target may use AES256, and nothing weaker.
    log_targets = {get(r.props, "targetBucket") for r in of_type(resources, S3_LOGGING)}
    for b in of_type(resources, S3_BUCKET):
        configs = attached(b, resources, S3_SSE)
        if not configs:
            yield (
                b,
                "no BucketServerSideEncryptionConfiguration targets this bucket (SSE-S3 default, AWS-owned key)",
            )
            continue
        verdicts = []
        for c in configs:
            for r in elements(get(c.props, "rules")):
                algo = get(r, "applyServerSideEncryptionByDefault", "sseAlgorithm")
                key = get(r, "applyServerSideEncryptionByDefault", "kmsMasterKeyId")
                if algo is UNKNOWN or key is UNKNOWN:
                    verdicts.append(None)
                else:
                    verdicts.append((algo in _KMS_ALGORITHMS and bool(key), algo, key))
        if None in verdicts or any(v[0] for v in verdicts):
            continue
        maybe_log_target = get(b.props, "bucket") in log_targets or UNKNOWN in log_targets
        if maybe_log_target and any(v[1] == "AES256" for v in verdicts):
            continue
        found = (
            ", ".join(f"sseAlgorithm={v[1]!r} kmsMasterKeyId={v[2] or None!r}" for v in verdicts)
            or "no rules"
        )
        yield b, f"encryption configuration does not use a customer-managed KMS key ({found})"
    for b in of_type(resources, GCS_BUCKET):
        key = get(b.props, "encryption", "defaultKmsKeyName")
        if key is not UNKNOWN and not key:
            yield b, "encryption.defaultKmsKeyName is not set (Google-managed key)"
    if ctx.environment in ("staging", "prod"):
        for a in of_type(resources, AZ_STORAGE):
            src = get(a.props, "encryption", "keySource")
            if src is UNKNOWN:
                continue
            if str(src).lower() != "microsoft.keyvault":
                yield a, f"encryption.keySource is {src!r}; a customer-managed key needs 'Microsoft.Keyvault'"
            elif not get(a.props, "encryption", "keyVaultProperties", "keyName"):
                yield a, "encryption.keyVaultProperties.keyName is not set"


def _denies_insecure_transport(st: dict) -> bool:
    if get(st, "Effect") != "Deny":
        return False
    cond = get(st, "Condition", "Bool", "aws:SecureTransport")
    values = [str(v).lower() for v in str_list(cond)]
    if "false" not in values:
        return False
    actions = [str(a) for a in str_list(get(st, "Action"))]
    return principal_is_wildcard(get(st, "Principal")) and any(a in ("*", "s3:*") for a in actions)


@rule(
    "storage-tls-only",
    pack=PACK,
    kind="stack",
    severity="high",
    description="Object storage refuses requests that are not over TLS 1.2 or later.",
    remediation=(
        "S3: attach a BucketPolicy with a Deny statement for Principal '*', Action 's3:*' and condition "
        "Bool aws:SecureTransport 'false'; Azure: enable_https_traffic_only true and minimum_tls_version 'TLS1_2'."
    ),
)
def storage_tls_only(resources: list[Res], ctx: Ctx) -> Iterator[tuple[Res, str]]:
    for b in of_type(resources, S3_BUCKET):
        policies = attached(b, resources, S3_POLICY)
        docs = [doc_of(get(p.props, "policy")) for p in policies]
        if any(d is UNKNOWN for d in docs):
            continue
        if not any(_denies_insecure_transport(s) for d in docs for s in statements(d)):
            yield b, "no bucket policy denies requests with aws:SecureTransport 'false'"
    for a in of_type(resources, AZ_STORAGE):
        https = as_bool(get(a.props, "enableHttpsTrafficOnly"))
        if https is not UNKNOWN and https is not True:
            yield a, f"enableHttpsTrafficOnly is {https!r}; it must be true"
        tls = get(a.props, "minimumTlsVersion")
        if tls is not UNKNOWN and tls not in ("TLS1_2", "TLS1_3"):
            yield a, f"minimumTlsVersion is {tls!r}; it must be 'TLS1_2' or later"


@rule(
    "registry-cmk-encryption",
    pack=PACK,
    types=[ECR_REPO, GAR_REPO, ACR],
    severity="high",
    description="Container registries in prod are encrypted with a customer-managed key.",
    remediation=(
        "ECR: encryption_configurations=[{encryption_type: 'KMS', kms_key: <CMK ARN>}] (set at creation); "
        "Artifact Registry: kms_key_name; ACR (Premium): encryption.status 'enabled' with a Key Vault key."
    ),
)
def registry_cmk_encryption(res: Res, ctx: Ctx) -> Iterator[str]:
    if not ctx.prod:
        return
    p = res.props
    if res.type == ECR_REPO:
        cfgs = elements(get(p, "encryptionConfigurations"))
        if UNKNOWN in cfgs:
            return
        ok = [c for c in cfgs if get(c, "encryptionType") == "KMS" and get(c, "kmsKey")]
        if not ok and not any(UNKNOWN in (get(c, "kmsKey"), get(c, "encryptionType")) for c in cfgs):
            types = [get(c, "encryptionType") for c in cfgs] or ["AES256 (default)"]
            yield f"encryptionConfigurations has no KMS entry with a kmsKey (found {types})"
    elif res.type == GAR_REPO:
        key = get(p, "kmsKeyName")
        if key is not UNKNOWN and not key:
            yield "kmsKeyName is not set (Google-managed key)"
    else:
        status = get(p, "encryption", "status")
        if status is not UNKNOWN and str(status).lower() != "enabled":
            yield f"encryption.status is {status!r}; customer-managed key encryption must be 'enabled'"


@rule(
    "cluster-secrets-encryption",
    pack=PACK,
    types=[EKS_CLUSTER, GKE_CLUSTER, AKS_CLUSTER],
    severity="critical",
    description="Kubernetes secrets are envelope-encrypted with a customer-managed key.",
    remediation=(
        "EKS: encryption_config={resources: ['secrets'], provider: {key_arn: <CMK>}}; GKE: database_encryption "
        "{state: 'ENCRYPTED', key_name}; AKS: security_profile.azure_key_vault_kms {enabled, key_id} or disk_encryption_set_id."
    ),
)
def cluster_secrets_encryption(res: Res, ctx: Ctx) -> Iterator[str]:
    p = res.props
    if res.type == EKS_CLUSTER:
        resources = str_list(get(p, "encryptionConfig", "resources"))
        key = get(p, "encryptionConfig", "provider", "keyArn")
        if UNKNOWN in resources or key is UNKNOWN:
            return
        if "secrets" not in resources:
            yield f"encryptionConfig.resources is {resources!r}; it must include 'secrets'"
        if not key:
            yield "encryptionConfig.provider.keyArn is not set"
    elif res.type == GKE_CLUSTER:
        state = get(p, "databaseEncryption", "state")
        key = get(p, "databaseEncryption", "keyName")
        if state is not UNKNOWN and state != "ENCRYPTED":
            yield f"databaseEncryption.state is {state!r}; it must be 'ENCRYPTED'"
        elif state == "ENCRYPTED" and key is not UNKNOWN and not key:
            yield "databaseEncryption.keyName is not set"
    else:
        kms = as_bool(get(p, "securityProfile", "azureKeyVaultKms", "enabled"))
        des = get(p, "diskEncryptionSetID")
        if kms is UNKNOWN or des is UNKNOWN:
            return
        if kms is not True and not des:
            yield "neither securityProfile.azureKeyVaultKms.enabled nor diskEncryptionSetID is set"


# Cloud KMS keys rotate at least every 90 days (checkov CKV_GCP_43, CIS GCP 1.10).
GCP_MAX_ROTATION_DAYS = 90


@rule(
    "kms-key-rotation",
    pack=PACK,
    types=[KMS_KEY, GCP_KMS_KEY],
    severity="high",
    description="Customer-managed keys rotate automatically and wait at least 7 days (30 in prod) before deletion.",
    remediation=(
        "AWS: enable_key_rotation=True and deletion_window_in_days >= 7 (30 in prod); GCP: rotation_period set "
        "and at most 90 days ('7776000s') and destroy_scheduled_duration >= 7 days (30 in prod)."
    ),
)
def kms_key_rotation(res: Res, ctx: Ctx) -> Iterator[str]:
    minimum = 30 if ctx.prod else 7
    p = res.props
    if res.type == KMS_KEY:
        rot = as_bool(get(p, "enableKeyRotation"))
        if rot is not UNKNOWN and rot is not True:
            yield f"enableKeyRotation is {rot!r}; automatic rotation must be on"
        # AWS applies 30 days when the window is not set.
        window = as_number(get(p, "deletionWindowInDays", default=30))
        if window is not UNKNOWN and (window is None or window < minimum):
            yield f"deletionWindowInDays is {get(p, 'deletionWindowInDays')!r}; at least {minimum} in {ctx.environment}"
    else:
        period = get(p, "rotationPeriod")
        if period is not UNKNOWN and not period:
            yield "rotationPeriod is not set; automatic rotation must be on"
        seconds = as_number(period) if period else None
        if seconds not in (None, UNKNOWN) and seconds > GCP_MAX_ROTATION_DAYS * 86400:
            yield f"rotationPeriod is {period!r}; at most {GCP_MAX_ROTATION_DAYS} days (CKV_GCP_43)"
        # Google applies 30 days (2592000s) when the duration is not set.
        dur = as_number(get(p, "destroyScheduledDuration", default="2592000s"))
        if dur is not UNKNOWN and (dur is None or dur < minimum * 86400):
            yield f"destroyScheduledDuration is {get(p, 'destroyScheduledDuration')!r}; at least {minimum} days in {ctx.environment}"


@rule(
    "node-disk-encryption",
    pack=PACK,
    types=[LAUNCH_TEMPLATE, EKS_NODE_GROUP, GKE_NODE_POOL, AKS_POOL, AKS_CLUSTER],
    severity="high",
    description="Node root and data disks are encrypted.",
    remediation=(
        "EKS: give every node group a launch template whose block_device_mappings set ebs.encrypted 'true' "
        "(with kms_key_id); GKE: node_config.boot_disk_kms_key; AKS: enable_encryption_at_host on every pool."
    ),
)
def node_disk_encryption(res: Res, ctx: Ctx) -> Iterator[str]:
    p = res.props
    if res.type == LAUNCH_TEMPLATE:
        mappings = elements(get(p, "blockDeviceMappings"))
        if UNKNOWN in mappings:
            return
        if not mappings:
            yield "no blockDeviceMappings: the root volume's encryption is left to the AMI and account default"
        for i, m in enumerate(mappings):
            ebs = get(m, "ebs")
            if ebs is UNKNOWN or get(m, "virtualName"):
                continue
            # The provider types `encrypted` as a string ("true"/"false").
            enc = as_bool(get(ebs, "encrypted"))
            if enc is not UNKNOWN and enc is not True:
                yield f"blockDeviceMappings[{i}] ({get(m, 'deviceName')}) ebs.encrypted is {get(ebs, 'encrypted')!r}; it must be 'true'"
    elif res.type == EKS_NODE_GROUP:
        lt = get(p, "launchTemplate")
        if lt is not UNKNOWN and not lt:
            yield "no launchTemplate: EKS's default template leaves the root volume unencrypted unless the account default is on"
    elif res.type == GKE_NODE_POOL:
        key = get(p, "nodeConfig", "bootDiskKmsKey")
        if key is not UNKNOWN and not key:
            yield "nodeConfig.bootDiskKmsKey is not set"
    else:
        for where, pool in aks_pools(res):
            if not_true(get(pool, "enableEncryptionAtHost")):
                yield f"{where}enableEncryptionAtHost is not true"
