"""The artifact bucket: models, datasets and checkpoints, encrypted with a customer-managed key.

S3 with the pulumi-aws v7 resources (one resource per bucket setting): SSE-KMS with the
component's CMK and S3 Bucket Keys, versioning, all public access blocked, ACLs disabled
(BucketOwnerEnforced), a bucket policy that refuses plaintext transport and uploads that
ask for another key or algorithm, lifecycle rules, and (prod) server access logs to a
separate log bucket. Access is granted to workloads through `policy_document(prefix)`,
scoped to one prefix, never the whole bucket.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import pulumi
from pulumi_aws import s3

from mlinfra.aws.kms import check_deletion_window, customer_managed_key
from mlinfra.components import child, stateful
from mlinfra.spec import S3_LOG_BUCKET_SUFFIX as LOG_BUCKET_SUFFIX
from mlinfra.spec import ArtifactsSpec, SpecError
from mlinfra.spec import rules as cloud_rules

ACCESS_LOG_PREFIX = "access-logs/"
_PREFIX = re.compile(r"^[A-Za-z0-9!\-_.()'/]+/$")


@dataclass
class ArtifactBucketArgs:
    """Inputs of the artifact bucket.

    spec: lifecycle and logging settings (`PlatformSpec.artifacts`).
    bucket_name: the physical bucket name (`PlatformSpec.bucket_name`); the log bucket is
        `<bucket_name>-logs`.
    key_deletion_window_days: waiting period before the CMK can be deleted (7-30).
    protect: protect + retain the bucket, log bucket and key (prod).
    access_log_retention_days: how long server access logs are kept (365: a year of audit trail).
    tags: tags for every taggable child.
    """

    spec: ArtifactsSpec
    bucket_name: str
    key_deletion_window_days: int
    protect: bool
    tags: Mapping[str, str] = field(default_factory=dict)
    access_log_retention_days: int = 365


def _deny_insecure_transport(bucket_arn: str) -> list[dict]:
    """Refuse any request not over TLS 1.2+; a Deny for every principal is the one place `*` belongs."""
    resources = [bucket_arn, f"{bucket_arn}/*"]
    return [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": resources,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Sid": "DenyOutdatedTls",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": resources,
            "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
        },
    ]


def artifact_bucket_policy(bucket_arn: str, key_arn: str) -> str:
    """TLS only, and uploads that name an encryption must name SSE-KMS with this bucket's key.

    Uploads without encryption headers get the bucket default (the CMK), hence `...IfExists`.
    """
    objects = f"{bucket_arn}/*"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                *_deny_insecure_transport(bucket_arn),
                {
                    "Sid": "DenyNonKmsEncryption",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:PutObject",
                    "Resource": objects,
                    "Condition": {"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}},
                },
                {
                    "Sid": "DenyOtherKmsKeys",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:PutObject",
                    "Resource": objects,
                    "Condition": {
                        "StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption-aws-kms-key-id": key_arn}
                    },
                },
            ],
        }
    )


def log_bucket_policy(log_bucket_arn: str, source_bucket_arn: str, account_id: str) -> str:
    """TLS only, and the S3 logging service may write logs of the artifact bucket (and only it)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                *_deny_insecure_transport(log_bucket_arn),
                {
                    "Sid": "AllowServerAccessLogDelivery",
                    "Effect": "Allow",
                    "Principal": {"Service": "logging.s3.amazonaws.com"},
                    "Action": "s3:PutObject",
                    "Resource": f"{log_bucket_arn}/{ACCESS_LOG_PREFIX}*",
                    "Condition": {
                        "ArnLike": {"aws:SourceArn": source_bucket_arn},
                        "StringEquals": {"aws:SourceAccount": account_id},
                    },
                },
            ],
        }
    )


def validate_prefix(prefix: str) -> str:
    """A key prefix a policy may be scoped to: `models/`, `datasets/team-a/`."""
    if prefix.startswith("/") or not _PREFIX.match(prefix) or "//" in prefix:
        raise SpecError(
            f"{prefix!r} must be a non-empty S3 key prefix without a leading '/', ending with '/', "
            "of letters, digits and !-_.()'/ (no wildcards)",
            "prefix",
        )
    return prefix


class ArtifactBucket(pulumi.ComponentResource):
    """A CMK-encrypted, versioned, private S3 bucket for ML artifacts (+ access logs in prod)."""

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]
    log_bucket_name: pulumi.Output[str] | None

    def __init__(self, name: str, args: ArtifactBucketArgs, opts: pulumi.ResourceOptions | None = None):
        spec = args.spec
        cloud_rules("aws").bucket_name(args.bucket_name, access_logging=spec.access_logging)
        log_name = f"{args.bucket_name}{LOG_BUCKET_SUFFIX}"
        check_deletion_window(args.key_deletion_window_days)
        if not 1 <= args.access_log_retention_days <= 3653:
            raise SpecError(
                f"{args.access_log_retention_days} is out of range; allowed: 1-3653 days",
                "access_log_retention_days",
            )

        super().__init__("mlinfra:aws:ArtifactBucket", name, None, opts)
        tags = dict(args.tags)
        protect = args.protect
        self._abort_multipart_days = spec.abort_incomplete_multipart_days

        key = customer_managed_key(
            self,
            f"{name}-key",
            description=f"Encrypts the artifact bucket {args.bucket_name}",
            deletion_window_days=args.key_deletion_window_days,
            protect=protect,
            tags=tags,
        )
        rules = [
            s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-noncurrent-versions",
                status="Enabled",
                filter=s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                noncurrent_version_expiration=s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=spec.noncurrent_version_expiration_days
                ),
                # Delete markers whose versions have all expired are clutter.
                expiration=s3.BucketLifecycleConfigurationRuleExpirationArgs(
                    expired_object_delete_marker=True
                ),
            ),
        ]
        if spec.infrequent_access_after_days is not None:
            rules.append(
                s3.BucketLifecycleConfigurationRuleArgs(
                    id="transition-infrequent-access",
                    status="Enabled",
                    filter=s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    transitions=[
                        s3.BucketLifecycleConfigurationRuleTransitionArgs(
                            days=spec.infrequent_access_after_days, storage_class="STANDARD_IA"
                        )
                    ],
                )
            )
        bucket, _ = self._hardened_bucket(
            name,
            f"{name}-bucket",
            bucket_name=args.bucket_name,
            kms_key_arn=key.arn,
            policy=lambda arn: pulumi.Output.all(arn, key.arn).apply(
                lambda a: artifact_bucket_policy(a[0], a[1])
            ),
            lifecycle_rules=rules,
            protect=protect,
            tags=tags,
        )

        self.log_bucket_name = None
        if spec.access_logging:
            self.log_bucket_name = self._access_logs(name, args, bucket, key, log_name, tags)

        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.key_arn = key.arn
        outputs = {"bucket_name": self.bucket_name, "bucket_arn": self.bucket_arn, "key_arn": self.key_arn}
        if self.log_bucket_name is not None:
            outputs["log_bucket_name"] = self.log_bucket_name
        self.register_outputs(outputs)

    def _hardened_bucket(
        self,
        prefix: str,
        bucket_resource: str,
        *,
        bucket_name: str,
        kms_key_arn: pulumi.Input[str] | None,
        policy: Callable[[pulumi.Output[str]], pulumi.Input[str]],
        lifecycle_rules: list[s3.BucketLifecycleConfigurationRuleArgs],
        protect: bool,
        tags: dict[str, str],
    ) -> tuple[s3.Bucket, s3.BucketPolicy]:
        """One bucket with every setting both buckets share: no force-destroy, default
        encryption (SSE-KMS under `kms_key_arn` with Bucket Keys, or SSE-S3 when None), SSE-C
        blocked, versioning, all public access blocked, ACLs disabled, `policy(bucket_arn)`
        attached once the public access block is in place, and lifecycle rules that always
        include aborting stale multipart uploads. Children are named `<prefix>-<setting>`.
        """
        bucket = s3.Bucket(
            bucket_resource,
            bucket=bucket_name,
            force_destroy=False,  # never delete objects along with the stack
            tags=tags,
            opts=stateful(self, protect),
        )
        if kms_key_arn is not None:
            default = s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="aws:kms", kms_master_key_id=kms_key_arn
            )
        else:
            default = s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="AES256"
            )
        s3.BucketServerSideEncryptionConfiguration(
            f"{prefix}-sse",
            bucket=bucket.id,
            rules=[
                s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=default,
                    # Bucket Keys cut KMS requests (cost, throttling) for many small objects.
                    bucket_key_enabled=True if kms_key_arn is not None else None,
                    # Customer-provided keys would bypass the bucket's key (and its audit trail).
                    blocked_encryption_types=["SSE-C"],
                )
            ],
            opts=child(self),
        )
        versioning = s3.BucketVersioning(
            f"{prefix}-versioning",
            bucket=bucket.id,
            versioning_configuration=s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child(self),
        )
        public_block = s3.BucketPublicAccessBlock(
            f"{prefix}-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child(self),
        )
        s3.BucketOwnershipControls(
            f"{prefix}-ownership",
            bucket=bucket.id,
            rule=s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child(self),
        )
        bucket_policy = s3.BucketPolicy(
            f"{prefix}-policy",
            bucket=bucket.id,
            policy=policy(bucket.arn),
            opts=child(self, depends_on=[public_block]),
        )
        s3.BucketLifecycleConfiguration(
            f"{prefix}-lifecycle",
            bucket=bucket.id,
            rules=[_abort_multipart_rule(self._abort_multipart_days), *lifecycle_rules],
            opts=child(self, depends_on=[versioning]),
        )
        return bucket, bucket_policy

    def _access_logs(
        self, name: str, args: ArtifactBucketArgs, bucket: s3.Bucket, key, log_name: str, tags: dict[str, str]
    ) -> pulumi.Output[str]:
        """A separate log bucket: S3 server access logs can only be delivered to a bucket whose
        default encryption is SSE-S3 (AES256), not SSE-KMS (S3 user guide, "Troubleshoot server
        access logging"), so the log bucket uses SSE-S3; everything else is as strict."""
        # The log bucket is in the key's account; the key ARN carries it (no extra lookup).
        account_id = key.arn.apply(lambda arn: arn.split(":")[4])
        logs, policy = self._hardened_bucket(
            f"{name}-logs",
            f"{name}-logs",
            bucket_name=log_name,
            kms_key_arn=None,
            policy=lambda arn: pulumi.Output.all(arn, bucket.arn, account_id).apply(
                lambda a: log_bucket_policy(a[0], a[1], a[2])
            ),
            lifecycle_rules=[
                s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-access-logs",
                    status="Enabled",
                    filter=s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    expiration=s3.BucketLifecycleConfigurationRuleExpirationArgs(
                        days=args.access_log_retention_days
                    ),
                    noncurrent_version_expiration=s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=args.spec.noncurrent_version_expiration_days
                    ),
                ),
            ],
            protect=args.protect,
            tags=tags,
        )
        s3.BucketLogging(
            f"{name}-logging",
            bucket=bucket.id,
            target_bucket=logs.id,
            target_prefix=ACCESS_LOG_PREFIX,
            # Date-partitioned keys (by event time) keep Athena queries over the logs cheap.
            target_object_key_format=s3.BucketLoggingTargetObjectKeyFormatArgs(
                partitioned_prefix=s3.BucketLoggingTargetObjectKeyFormatPartitionedPrefixArgs(
                    partition_date_source="EventTime"
                )
            ),
            opts=child(self, depends_on=[policy]),
        )
        return logs.bucket

    def policy_document(
        self, prefix: str, access: Literal["read", "read_write"] = "read"
    ) -> pulumi.Output[str]:
        """An IAM policy (JSON) granting access to `<prefix>*` only, and the key for those objects only via S3.

        read: list the prefix, get objects. read_write: also put/delete objects and abort
        multipart uploads. No wildcard actions, no wildcard resources beyond the prefix.
        """
        validate_prefix(prefix)
        if access not in ("read", "read_write"):
            raise SpecError(f"{access!r} is not an access level; allowed: read, read_write", "access")
        object_actions = ["s3:GetObject"]
        kms_actions = ["kms:Decrypt"]
        if access == "read_write":
            object_actions += ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
            kms_actions += ["kms:GenerateDataKey"]

        def document(bucket_arn: str, key_arn: str) -> str:
            region = key_arn.split(":")[3]
            return json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "ListPrefix",
                            "Effect": "Allow",
                            "Action": ["s3:ListBucket"],
                            "Resource": bucket_arn,
                            "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}},
                        },
                        {
                            "Sid": "Objects",
                            "Effect": "Allow",
                            "Action": object_actions,
                            "Resource": f"{bucket_arn}/{prefix}*",
                        },
                        {
                            "Sid": "BucketKey",
                            "Effect": "Allow",
                            "Action": kms_actions,
                            "Resource": key_arn,
                            "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
                        },
                    ],
                }
            )

        return pulumi.Output.all(self.bucket_arn, self.key_arn).apply(lambda a: document(a[0], a[1]))


def _abort_multipart_rule(days: int) -> s3.BucketLifecycleConfigurationRuleArgs:
    # Parts of abandoned multipart uploads are billed but invisible in listings.
    return s3.BucketLifecycleConfigurationRuleArgs(
        id="abort-incomplete-multipart-uploads",
        status="Enabled",
        filter=s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
        abort_incomplete_multipart_upload=s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
            days_after_initiation=days
        ),
    )
