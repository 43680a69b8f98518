"""Encryption pack: customer-managed keys for data at rest, TLS for data in transit."""

from __future__ import annotations

from collections.abc import Iterator

from mlinfra.policy.model import Ctx, Res, rule
from mlinfra.policy.props import UNKNOWN, as_bool, as_number, elements, get, not_true
from mlinfra.policy.rules._common import (
    ACR,
    AKS_CLUSTER,
    AKS_POOL,
    AZ_KEY,
    AZ_STORAGE,
    AZ_VAULT,
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
    azure_role,
    doc_of,
    flow_log_sink_exemption,
    of_type,
    principal_is_wildcard,
    statements,
    str_list,
)

PACK = "encryption"
_KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")
# A named exemption carried by the resource itself (its `mlinfra-role` tag), printed with the verdict.
AKS_KMS_KEY_REASON = (
    "AKS KMS key: the cluster pins a key version (securityProfile.azureKeyVaultKms.keyId), so an automatic "
    "rotation or an expiring version would make etcd unreadable; it is rotated by hand "
    "(learn.microsoft.com aks/use-kms-etcd-encryption 'Rotate the existing keys'; README)"
)


def _aks_kms_key_exemption(res: Res) -> str | None:
    return AKS_KMS_KEY_REASON if res.type == AZ_KEY and azure_role(res) == "aks-kms-key" else None


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
    self_exemption=flow_log_sink_exemption,
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
        # TLS1_2 is the highest minimum Azure Storage accepts (storage swagger: "Minimum TLS version
        # 1.3 version is not supported"), and what checkov CKV_AZURE_44 requires.
        if tls is not UNKNOWN and tls != "TLS1_2":
            yield a, f"minimumTlsVersion is {tls!r}; it must be 'TLS1_2'"


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
        "{state: 'ENCRYPTED', key_name}; AKS: security_profile.azure_key_vault_kms {enabled: True, key_id: <versioned "
        "key URI>} (a disk encryption set does not encrypt etcd)."
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
        # etcd is encrypted by the KMS plugin only; a disk encryption set protects node disks, not
        # Secrets (that is node-disk-encryption's concern).
        kms = as_bool(get(p, "securityProfile", "azureKeyVaultKms", "enabled"))
        key = get(p, "securityProfile", "azureKeyVaultKms", "keyId")
        if kms is UNKNOWN:
            return
        if kms is not True:
            yield "securityProfile.azureKeyVaultKms.enabled is not true (Secrets are not envelope-encrypted)"
        elif key is not UNKNOWN and not _versioned_key_uri(key):
            yield (
                f"securityProfile.azureKeyVaultKms.keyId is {key!r}; KMS needs a versioned key identifier "
                "(https://<vault>.vault.azure.net/keys/<name>/<version>)"
            )


def _versioned_key_uri(uri: object) -> bool:
    """`https://<vault>.vault.azure.net/keys/<name>/<version>` (learn.microsoft.com key-vault/general/
    about-keys-secrets-certificates "Object identifiers")."""
    if not isinstance(uri, str) or not uri.startswith("https://"):
        return False
    parts = uri.removeprefix("https://").rstrip("/").split("/")
    return len(parts) == 4 and parts[1] == "keys" and all(parts)


# Cloud KMS keys rotate at least every 90 days (checkov CKV_GCP_43, CIS GCP 1.10).
GCP_MAX_ROTATION_DAYS = 90


@rule(
    "kms-key-rotation",
    pack=PACK,
    types=[KMS_KEY, GCP_KMS_KEY, AZ_KEY, AZ_VAULT],
    severity="high",
    description="Customer-managed keys rotate automatically and wait at least 7 days (30 in prod) before deletion.",
    remediation=(
        "AWS: enable_key_rotation=True and deletion_window_in_days >= 7 (30 in prod); GCP: rotation_period set "
        "and at most 90 days ('7776000s') and destroy_scheduled_duration >= 7 days (30 in prod); Azure: a key "
        "rotation_policy with a 'rotate' lifetime action and an expiry_time, and the vault with "
        "enable_purge_protection and soft_delete_retention_in_days >= 7 (30 in prod)."
    ),
    self_exemption=_aks_kms_key_exemption,
)
def kms_key_rotation(res: Res, ctx: Ctx) -> Iterator[str]:
    minimum = 30 if ctx.prod else 7
    p = res.props
    if res.type == AZ_KEY:
        policy = get(p, "properties", "rotationPolicy")
        if policy is UNKNOWN:
            return
        actions = elements(get(policy, "lifetimeActions"))
        if UNKNOWN in actions:
            return
        fields = [
            (
                get(a, "action", "type"),
                get(a, "trigger", "timeAfterCreate"),
                get(a, "trigger", "timeBeforeExpiry"),
            )
            for a in actions
        ]
        if any(UNKNOWN in f for f in fields):
            return
        if not any(str(kind).lower() == "rotate" and (after or before) for kind, after, before in fields):
            yield "properties.rotationPolicy has no 'rotate' lifetime action with a trigger; automatic rotation must be on"
        expiry = get(policy, "attributes", "expiryTime")
        if expiry is not UNKNOWN and not expiry:
            yield "properties.rotationPolicy.attributes.expiryTime is not set; key versions never expire"
    elif res.type == AZ_VAULT:
        props = get(p, "properties")
        if props is UNKNOWN:
            return
        if not_true(get(props, "enablePurgeProtection")):
            yield "properties.enablePurgeProtection is not true (a deleted key could be purged at once)"
        if as_bool(get(props, "enableSoftDelete")) is False:
            yield "properties.enableSoftDelete is false"
        # Key Vault applies 90 days when the retention is not set.
        days = as_number(get(props, "softDeleteRetentionInDays", default=90))
        if days is not UNKNOWN and (days is None or days < minimum):
            yield (
                f"properties.softDeleteRetentionInDays is {get(props, 'softDeleteRetentionInDays')!r}; "
                f"at least {minimum} in {ctx.environment}"
            )
    elif res.type == KMS_KEY:
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
        "(with kms_key_id); GKE: node_config.boot_disk_kms_key; AKS: enable_encryption_at_host on every pool and "
        "the cluster's disk_encryption_set_id."
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
        # OS and data disks under a customer-managed key: the cluster's disk encryption set
        # (settable only at creation: learn.microsoft.com aks/azure-disk-customer-managed-keys).
        if res.type == AKS_CLUSTER:
            des = get(res.props, "diskEncryptionSetID")
            if des is not UNKNOWN and not des:
                yield "diskEncryptionSetID is not set (node OS and data disks use platform-managed keys)"
