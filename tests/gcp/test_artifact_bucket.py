"""ArtifactBucket on GCS: CMEK granted before use, no public access, versioning, lifecycle, usage logs."""

from __future__ import annotations

import pytest

from mlinfra.gcp.artifact_bucket import USAGE_LOG_WRITER, ArtifactBucket, ArtifactBucketArgs
from mlinfra.offline.mocks import gcp_project_number
from mlinfra.spec import ArtifactsSpec
from tests.gcp.support import KEY_RING, PROJECT, REGION, TAGS, plan_gcp, refused_before_any_resource

BUCKET = "gcp:storage/bucket:Bucket"


def _args(spec: ArtifactsSpec, **overrides) -> ArtifactBucketArgs:
    values = dict(
        spec=spec,
        bucket_name="acme-ml-dev-artifacts",
        project=PROJECT,
        location=REGION,
        key_ring=KEY_RING,
        protect=False,
        key_destroy_days=7,
        labels=TAGS,
    )
    values.update(overrides)
    return ArtifactBucketArgs(**values)


def _plan(spec: ArtifactsSpec, **overrides):
    return plan_gcp(lambda o: ArtifactBucket("artifacts", _args(spec, **overrides), opts=o))


def _bucket(plan, name="acme-ml-dev-artifacts"):
    return next(r for r in plan.of_type(BUCKET) if r.inputs["name"] == name)


def test_bucket_is_private_versioned_and_cmek_encrypted():
    b = _bucket(_plan(ArtifactsSpec())).inputs
    assert b["uniformBucketLevelAccess"] is True
    assert b["publicAccessPrevention"] == "enforced"
    assert b["versioning"] == {"enabled": True}
    assert b["encryption"]["defaultKmsKeyName"].endswith("/cryptoKeys/acme-ml-dev-artifacts")
    assert b["softDeletePolicy"] == {"retentionDurationSeconds": 604800}
    assert b["forceDestroy"] is False
    assert b["location"] == REGION and b["labels"] == TAGS


def test_storage_agent_is_granted_the_key_before_the_bucket_exists():
    """Pitfall: the Cloud Storage service agent must be able to use the key before the bucket is created."""
    plan = _plan(ArtifactsSpec())
    grant = plan.one("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    number = gcp_project_number(PROJECT)
    assert (
        grant.inputs["member"]
        == f"serviceAccount:service-{number}@gs-project-accounts.iam.gserviceaccount.com"
    )
    assert grant.inputs["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    assert grant.urn in _bucket(plan).dependencies
    key = plan.one("gcp:kms/cryptoKey:CryptoKey").inputs
    assert key["destroyScheduledDuration"] == "604800s" and key["rotationPeriod"] == "7776000s"


def test_lifecycle_follows_the_spec():
    spec = ArtifactsSpec(
        noncurrent_version_expiration_days=30,
        abort_incomplete_multipart_days=3,
        infrequent_access_after_days=60,
    )
    rules = _bucket(_plan(spec)).inputs["lifecycleRules"]
    assert {
        "action": {"type": "Delete"},
        "condition": {"daysSinceNoncurrentTime": 30, "withState": "ARCHIVED"},
    } in rules
    assert {"action": {"type": "AbortIncompleteMultipartUpload"}, "condition": {"age": 3}} in rules
    assert {
        "action": {"type": "SetStorageClass", "storageClass": "NEARLINE"},
        "condition": {"age": 60, "matchesStorageClasses": ["STANDARD"], "withState": "LIVE"},
    } in rules
    assert len(_bucket(_plan(ArtifactsSpec())).inputs["lifecycleRules"]) == 2


def test_access_logs_go_to_a_log_bucket_the_usage_log_writer_may_write():
    plan = _plan(ArtifactsSpec(access_logging=True), protect=True)
    main, logs = _bucket(plan), _bucket(plan, "acme-ml-dev-artifacts-logs")
    assert main.inputs["logging"] == {
        "logBucket": "acme-ml-dev-artifacts-logs",
        "logObjectPrefix": "access-logs/",
    }
    assert logs.inputs["publicAccessPrevention"] == "enforced"
    assert logs.inputs["lifecycleRules"] == [{"action": {"type": "Delete"}, "condition": {"age": 365}}]
    writer = plan.one("gcp:storage/bucketIAMMember:BucketIAMMember")
    assert writer.inputs == {
        **writer.inputs,
        "member": USAGE_LOG_WRITER,
        "role": "roles/storage.objectCreator",
    }
    assert writer.urn in main.dependencies
    assert all(b.protect and b.retain_on_delete for b in (main, logs))
    assert "logging" not in _bucket(_plan(ArtifactsSpec())).inputs


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"bucket_name": "Has_Upper"}, "artifacts.bucket_name"),
        ({"bucket_name": "goog-artifacts"}, "artifacts.bucket_name"),
        ({"bucket_name": "my.dotted.bucket"}, "artifacts.bucket_name"),
        ({"bucket_name": "a" * 60, "spec": ArtifactsSpec(access_logging=True)}, "artifacts.bucket_name"),
        ({"key_destroy_days": 0}, "encryption.key_deletion_window_days"),
        ({"key_rotation_days": 365}, "gcp.key_rotation_days"),
        ({"access_log_retention_days": 0}, "access_log_retention_days"),
    ],
)
def test_bad_input_is_refused_before_any_resource(overrides, field):
    spec = overrides.pop("spec", ArtifactsSpec())
    error, registered = refused_before_any_resource(
        lambda o: ArtifactBucket("a", _args(spec, **overrides), opts=o)
    )
    assert error.field == field
    assert registered == []


def _days_until_gone(bucket) -> int | None:
    """When a live object written today is gone for good under the bucket's lifecycle rules (Cloud
    Storage "Object Lifecycle Management": on a versioned bucket Delete on a live object only makes it
    noncurrent; a noncurrent object goes by a `daysSinceNoncurrentTime` Delete). None: never."""
    deletes = [r["condition"] for r in bucket.inputs["lifecycleRules"] if r["action"]["type"] == "Delete"]
    live = [c["age"] for c in deletes if "age" in c and c.get("withState", "LIVE") in ("LIVE", "ANY")]
    if not live:
        return None
    if not bucket.inputs["versioning"]["enabled"]:
        return min(live)
    noncurrent = [c["daysSinceNoncurrentTime"] for c in deletes if "daysSinceNoncurrentTime" in c]
    return min(live) + min(noncurrent) if noncurrent else None


def test_access_logs_are_deleted_after_their_retention():
    """The log bucket's retention must remove data, not only hide it behind a noncurrent version."""
    plan = _plan(ArtifactsSpec(access_logging=True), access_log_retention_days=200)
    logs = _bucket(plan, "acme-ml-dev-artifacts-logs")
    assert _days_until_gone(logs) == 200
    assert logs.inputs["versioning"] == {"enabled": False}
    assert _bucket(plan).inputs["versioning"] == {"enabled": True}  # the artifacts keep their versions
