"""The artifact bucket: models, datasets and checkpoints, encrypted with a customer-managed key.

A Cloud Storage bucket with a Cloud KMS default key (the Cloud Storage service agent is granted the
key before the bucket exists: "the service account must have access to the key before use",
pulumi-gcp Bucket.encryption), uniform bucket-level access (no object ACLs; required for managed
folders) and public access prevention enforced, versioning, soft delete, lifecycle rules and, in
prod, usage logs to a separate, unversioned log bucket whose age rule really deletes them. GCS serves HTTPS only, so no TLS policy is needed.
Workloads are granted one prefix each (identity.py: a managed folder per model prefix).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
from pulumi_gcp import storage

from mlinfra.components import child, stateful
from mlinfra.gcp.kms import check_key_days, customer_managed_key
from mlinfra.spec import GCP_LOG_BUCKET_SUFFIX, ArtifactsSpec, SpecError, rules

ACCESS_LOG_PREFIX = "access-logs/"
# GCS writes usage logs as this group, which needs objectCreator on the log bucket (Cloud Storage
# "Usage logs & storage logs": gsutil acl ch -g cloud-storage-analytics@google.com:W).
USAGE_LOG_WRITER = "group:cloud-storage-analytics@google.com"
# Soft-deleted objects stay recoverable for 7 days: the GCS default and the shortest non-zero
# retention (pulumi-gcp BucketSoftDeletePolicyArgs: 604800-7776000 s).
SOFT_DELETE_SECONDS = 604800
# Infrequently read objects move here (Cloud Storage classes: Nearline, 30-day minimum storage).
INFREQUENT_CLASS = "NEARLINE"


@dataclass
class ArtifactBucketArgs:
    """Inputs of the artifact bucket.

    spec: lifecycle and logging settings (`PlatformSpec.artifacts`).
    bucket_name: the bucket's name (`PlatformSpec.bucket_name`); the log bucket is `<name>-logs`.
    project / location: where (location: the region, the key ring's location).
    key_ring: Cloud KMS key ring in `location` for the bucket's key.
    key_rotation_days / key_destroy_days: the key's rotation and destroy-scheduled durations.
    protect: protect + retain the buckets and the key (prod).
    access_log_retention_days: how long usage logs are kept (365: a year of audit trail).
    labels: GCP labels.
    """

    spec: ArtifactsSpec
    bucket_name: str
    project: str
    location: str
    key_ring: pulumi.Input[str]
    protect: bool
    key_rotation_days: int = 90
    key_destroy_days: int = 30
    access_log_retention_days: int = 365
    labels: Mapping[str, str] = field(default_factory=dict)


def lifecycle_rules(spec: ArtifactsSpec) -> list[storage.BucketLifecycleRuleArgs]:
    """Noncurrent versions expire, stale multipart uploads are aborted, cold objects move to Nearline."""
    rules = [
        storage.BucketLifecycleRuleArgs(
            action=storage.BucketLifecycleRuleActionArgs(type="Delete"),
            condition=storage.BucketLifecycleRuleConditionArgs(
                days_since_noncurrent_time=spec.noncurrent_version_expiration_days, with_state="ARCHIVED"
            ),
        ),
        storage.BucketLifecycleRuleArgs(
            action=storage.BucketLifecycleRuleActionArgs(type="AbortIncompleteMultipartUpload"),
            condition=storage.BucketLifecycleRuleConditionArgs(age=spec.abort_incomplete_multipart_days),
        ),
    ]
    if spec.infrequent_access_after_days is not None:
        rules.append(
            storage.BucketLifecycleRuleArgs(
                action=storage.BucketLifecycleRuleActionArgs(
                    type="SetStorageClass", storage_class=INFREQUENT_CLASS
                ),
                condition=storage.BucketLifecycleRuleConditionArgs(
                    age=spec.infrequent_access_after_days,
                    matches_storage_classes=["STANDARD"],
                    with_state="LIVE",
                ),
            )
        )
    return rules


class ArtifactBucket(pulumi.ComponentResource):
    """A CMEK-encrypted, versioned, private GCS bucket for ML artifacts (+ usage logs in prod)."""

    bucket_name: pulumi.Output[str]
    bucket_url: pulumi.Output[str]
    key_id: pulumi.Output[str]
    log_bucket_name: pulumi.Output[str] | None

    def __init__(self, name: str, args: ArtifactBucketArgs, opts: pulumi.ResourceOptions | None = None):
        spec = args.spec
        rules("gcp").bucket_name(args.bucket_name, access_logging=spec.access_logging)  # and its log bucket's
        log_name = f"{args.bucket_name}{GCP_LOG_BUCKET_SUFFIX}"
        check_key_days(args.key_rotation_days, args.key_destroy_days)
        if not 1 <= args.access_log_retention_days <= 3653:
            raise SpecError(
                f"{args.access_log_retention_days} is out of range; allowed: 1-3653 days",
                "access_log_retention_days",
            )

        super().__init__("mlinfra:gcp:ArtifactBucket", name, None, opts)
        labels = dict(args.labels)
        # The Cloud Storage service agent (created on demand by this call) encrypts and decrypts.
        agent = storage.get_project_service_account_output(
            project=args.project, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        key = customer_managed_key(
            self,
            f"{name}-key",
            key_ring=args.key_ring,
            key_name=f"{args.bucket_name}",
            rotation_days=args.key_rotation_days,
            destroy_days=args.key_destroy_days,
            protect=args.protect,
            labels=labels,
            users={"gcs": pulumi.Output.concat("serviceAccount:", agent.email_address)},
        )

        self.log_bucket_name = None
        logging = None
        if spec.access_logging:
            logs = self._bucket(
                f"{name}-logs",
                args,
                bucket_name=log_name,
                key_id=key.id,
                lifecycle=[
                    storage.BucketLifecycleRuleArgs(
                        action=storage.BucketLifecycleRuleActionArgs(type="Delete"),
                        condition=storage.BucketLifecycleRuleConditionArgs(
                            age=args.access_log_retention_days
                        ),
                    )
                ],
                logging=None,
                depends_on=key.grants,
                # Unversioned: on a versioned bucket the age rule's Delete only makes a live object
                # noncurrent and nothing would ever remove it (Cloud Storage "Object Lifecycle
                # Management", Delete action, https://cloud.google.com/storage/docs/lifecycle#delete).
                # GCS writes each usage log as a new object and never overwrites one, so versions
                # would protect nothing; soft delete still keeps a deleted log 7 days.
                versioned=False,
            )
            writer = storage.BucketIAMMember(
                f"{name}-logs-writer",
                bucket=logs.name,
                role="roles/storage.objectCreator",
                member=USAGE_LOG_WRITER,
                opts=child(self),
            )
            logging = storage.BucketLoggingArgs(log_bucket=logs.name, log_object_prefix=ACCESS_LOG_PREFIX)
            self.log_bucket_name = logs.name
            log_deps = [writer]
        else:
            log_deps = []

        bucket = self._bucket(
            f"{name}-bucket",
            args,
            bucket_name=args.bucket_name,
            key_id=key.id,
            lifecycle=lifecycle_rules(spec),
            logging=logging,
            depends_on=[*key.grants, *log_deps],
        )

        self.bucket_name = bucket.name
        self.bucket_url = bucket.url
        self.key_id = key.id
        outputs = {"bucket_name": self.bucket_name, "bucket_url": self.bucket_url, "key_id": self.key_id}
        if self.log_bucket_name is not None:
            outputs["log_bucket_name"] = self.log_bucket_name
        self.register_outputs(outputs)

    def _bucket(
        self,
        resource_name: str,
        args: ArtifactBucketArgs,
        *,
        bucket_name: str,
        key_id: pulumi.Input[str],
        lifecycle: list[storage.BucketLifecycleRuleArgs],
        logging: storage.BucketLoggingArgs | None,
        depends_on: list[pulumi.Resource],
        versioned: bool = True,
    ) -> storage.Bucket:
        """One bucket with every setting both buckets share."""
        return storage.Bucket(
            resource_name,
            name=bucket_name,
            project=args.project,
            location=args.location,
            storage_class="STANDARD",
            # No object ACLs (they can grant allUsers); managed folders need it (CKV_GCP_29).
            uniform_bucket_level_access=True,
            # Nothing in the bucket can be made public, whatever the org policy (CKV_GCP_114).
            public_access_prevention="enforced",
            versioning=storage.BucketVersioningArgs(enabled=versioned),
            encryption=storage.BucketEncryptionArgs(default_kms_key_name=key_id),
            soft_delete_policy=storage.BucketSoftDeletePolicyArgs(
                retention_duration_seconds=SOFT_DELETE_SECONDS
            ),
            lifecycle_rules=lifecycle,
            logging=logging,
            force_destroy=False,  # never delete objects along with the stack
            labels=dict(args.labels),
            opts=stateful(self, args.protect, depends_on=depends_on),
        )
