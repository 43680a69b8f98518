"""ArtifactBucket: encryption, privacy, lifecycle, logging and scoped access on the captured inputs."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pytest

from mlinfra.aws.artifact_bucket import ArtifactBucket, ArtifactBucketArgs
from mlinfra.spec import ArtifactsSpec, SpecError
from tests.aws.support import PROVIDER_URN, refused_before_any_resource
from tests.conftest import PROD_SPEC, make_spec, plan_of

BUCKET = "aws:s3/bucket:Bucket"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
LOGGING = "aws:s3/bucketLogging:BucketLogging"
KEY = "aws:kms/key:Key"


def _plan(spec: ArtifactsSpec, *, bucket_name="acme-dev-artifacts", protect=False, docs=()):
    def program():
        provider = aws.Provider("aws", region="us-west-2")
        bucket = ArtifactBucket(
            "artifacts",
            ArtifactBucketArgs(
                spec=spec,
                bucket_name=bucket_name,
                key_deletion_window_days=30 if protect else 7,
                protect=protect,
                tags={"owner": "ml-platform", "cost-center": "cc-1234"},
            ),
            opts=pulumi.ResourceOptions(provider=provider),
        )
        pulumi.export("bucket_name", bucket.bucket_name)
        pulumi.export("bucket_arn", bucket.bucket_arn)
        pulumi.export("key_arn", bucket.key_arn)
        pulumi.export("log_bucket_name", bucket.log_bucket_name)
        for i, (prefix, access) in enumerate(docs):
            pulumi.export(f"doc{i}", bucket.policy_document(prefix, access))

    return plan_of(program)


@pytest.fixture
def dev() -> ArtifactsSpec:
    return make_spec().artifacts


@pytest.fixture
def prod() -> ArtifactsSpec:
    return make_spec(PROD_SPEC).artifacts  # access_logging on (prod profile)


def _for_bucket(plan, type_: str, bucket: str):
    found = [r for r in plan.of_type(type_) if r.inputs["bucket"] == bucket]
    assert len(found) == 1, (type_, bucket, [r.name for r in plan.of_type(type_)])
    return found[0].inputs


def test_sse_kms_with_the_components_cmk_and_bucket_keys(dev):
    plan = _plan(dev)
    key_arn = plan.outputs["key_arn"]
    assert key_arn.startswith("arn:aws:kms:us-west-2:")
    key = plan.one(KEY).inputs
    assert key["enableKeyRotation"] is True
    (rule,) = _for_bucket(plan, SSE, "acme-dev-artifacts")["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": key_arn,
    }
    assert rule["bucketKeyEnabled"] is True
    assert rule["blockedEncryptionTypes"] == ["SSE-C"]


def test_bucket_is_private_versioned_and_owner_enforced(dev):
    plan = _plan(dev)
    bucket = plan.one(BUCKET).inputs
    assert bucket["bucket"] == "acme-dev-artifacts"
    assert bucket["forceDestroy"] is False
    for legacy in (
        "acl",
        "policy",
        "versioning",
        "serverSideEncryptionConfiguration",
        "lifecycleRules",
        "logging",
    ):
        assert legacy not in bucket
    pab = _for_bucket(plan, PAB, "acme-dev-artifacts")
    for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
        assert pab[flag] is True, flag
    assert _for_bucket(plan, VERSIONING, "acme-dev-artifacts")["versioningConfiguration"] == {
        "status": "Enabled"
    }
    assert _for_bucket(plan, OWNERSHIP, "acme-dev-artifacts")["rule"] == {
        "objectOwnership": "BucketOwnerEnforced"
    }


def test_bucket_policy_denies_plaintext_and_foreign_keys(dev):
    plan = _plan(dev)
    arn, key_arn = plan.outputs["bucket_arn"], plan.outputs["key_arn"]
    doc = json.loads(_for_bucket(plan, POLICY, "acme-dev-artifacts")["policy"])
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    tls = by_sid["DenyInsecureTransport"]
    assert tls["Effect"] == "Deny" and tls["Principal"] == "*" and tls["Action"] == "s3:*"
    assert sorted(tls["Resource"]) == [arn, f"{arn}/*"]
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert by_sid["DenyOutdatedTls"]["Condition"] == {"NumericLessThan": {"s3:TlsVersion": "1.2"}}
    assert by_sid["DenyNonKmsEncryption"]["Condition"] == {
        "StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}
    }
    assert by_sid["DenyOtherKmsKeys"]["Condition"] == {
        "StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption-aws-kms-key-id": key_arn}
    }
    # Every statement is a Deny: the bucket policy grants nothing to anyone.
    assert {s["Effect"] for s in doc["Statement"]} == {"Deny"}
    # The policy is applied after the public access block (no race with S3's policy checks).
    policy = next(r for r in plan.of_type(POLICY) if r.inputs["bucket"] == "acme-dev-artifacts")
    assert any(d.endswith("::artifacts-public-access") for d in policy.dependencies)


def test_lifecycle_rules(dev):
    spec = dev.model_copy(
        update={
            "noncurrent_version_expiration_days": 30,
            "abort_incomplete_multipart_days": 3,
            "infrequent_access_after_days": 60,
        }
    )
    plan = _plan(spec)
    rules = {r["id"]: r for r in _for_bucket(plan, LIFECYCLE, "acme-dev-artifacts")["rules"]}
    assert set(rules) == {
        "abort-incomplete-multipart-uploads",
        "expire-noncurrent-versions",
        "transition-infrequent-access",
    }
    assert all(r["status"] == "Enabled" and r["filter"] == {"prefix": ""} for r in rules.values())
    assert rules["abort-incomplete-multipart-uploads"]["abortIncompleteMultipartUpload"] == {
        "daysAfterInitiation": 3
    }
    assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"] == {"noncurrentDays": 30}
    assert rules["transition-infrequent-access"]["transitions"] == [
        {"days": 60, "storageClass": "STANDARD_IA"}
    ]
    lifecycle = next(r for r in plan.of_type(LIFECYCLE) if r.inputs["bucket"] == "acme-dev-artifacts")
    assert any(d.endswith("::artifacts-versioning") for d in lifecycle.dependencies)


def test_no_transition_rule_unless_asked(dev):
    rules = _for_bucket(_plan(dev), LIFECYCLE, "acme-dev-artifacts")["rules"]
    assert "transition-infrequent-access" not in {r["id"] for r in rules}


def test_dev_has_no_log_bucket_and_nothing_protected(dev):
    plan = _plan(dev, protect=False)
    assert [r.inputs["bucket"] for r in plan.of_type(BUCKET)] == ["acme-dev-artifacts"]
    assert not plan.of_type(LOGGING)
    assert plan.outputs["log_bucket_name"] is None
    assert not any(r.protect or r.retain_on_delete for r in plan.resources)


def test_prod_protects_stateful_children_and_logs_access(prod):
    plan = _plan(prod, bucket_name="acme-prod-artifacts", protect=True)
    stateful = {r.name for r in plan.resources if r.protect and r.retain_on_delete}
    assert stateful == {"artifacts-bucket", "artifacts-logs", "artifacts-key"}
    assert not any(r.protect != r.retain_on_delete for r in plan.resources)
    assert plan.outputs["log_bucket_name"] == "acme-prod-artifacts-logs"

    logging = plan.one(LOGGING).inputs
    assert logging["bucket"] == "acme-prod-artifacts"
    assert logging["targetBucket"] == "acme-prod-artifacts-logs"
    assert logging["targetPrefix"] == "access-logs/"


def test_log_bucket_is_encrypted_private_and_only_writable_by_s3_logging(prod):
    plan = _plan(prod, bucket_name="acme-prod-artifacts", protect=True)
    logs = "acme-prod-artifacts-logs"
    # Server access logs can only be delivered to an SSE-S3 bucket.
    (rule,) = _for_bucket(plan, SSE, logs)["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    assert _for_bucket(plan, VERSIONING, logs)["versioningConfiguration"] == {"status": "Enabled"}
    pab = _for_bucket(plan, PAB, logs)
    assert all(
        pab[f] is True
        for f in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    assert _for_bucket(plan, OWNERSHIP, logs)["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    assert plan.one(BUCKET, "artifacts-logs").inputs["forceDestroy"] is False

    doc = json.loads(_for_bucket(plan, POLICY, logs)["policy"])
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    assert by_sid["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    allow = by_sid["AllowServerAccessLogDelivery"]
    assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert allow["Action"] == "s3:PutObject"
    assert allow["Resource"] == f"arn:aws:s3:::{logs}/access-logs/*"
    assert allow["Condition"] == {
        "ArnLike": {"aws:SourceArn": "arn:aws:s3:::acme-prod-artifacts"},
        "StringEquals": {"aws:SourceAccount": "123456789012"},
    }
    assert [s for s in doc["Statement"] if s["Effect"] == "Allow"] == [allow]

    rules = {r["id"]: r for r in _for_bucket(plan, LIFECYCLE, logs)["rules"]}
    assert rules["expire-access-logs"]["expiration"] == {"days": 365}
    assert rules["expire-access-logs"]["noncurrentVersionExpiration"] == {"noncurrentDays": 180}


def test_policy_document_read_is_scoped_to_the_prefix(dev):
    plan = _plan(dev, docs=[("models/llama/", "read")])
    arn, key_arn = plan.outputs["bucket_arn"], plan.outputs["key_arn"]
    doc = json.loads(plan.outputs["doc0"])
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    assert by_sid["ListPrefix"] == {
        "Sid": "ListPrefix",
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": arn,
        "Condition": {"StringLike": {"s3:prefix": ["models/llama/*"]}},
    }
    assert by_sid["Objects"]["Action"] == ["s3:GetObject"]
    assert by_sid["Objects"]["Resource"] == f"{arn}/models/llama/*"
    assert by_sid["BucketKey"]["Action"] == ["kms:Decrypt"]
    assert by_sid["BucketKey"]["Resource"] == key_arn
    assert by_sid["BucketKey"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.us-west-2.amazonaws.com"}
    }
    _assert_no_wildcards(doc)


def test_policy_document_read_write(dev):
    doc = json.loads(_plan(dev, docs=[("checkpoints/", "read_write")]).outputs["doc0"])
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    assert by_sid["Objects"]["Action"] == [
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
    ]
    assert by_sid["BucketKey"]["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    _assert_no_wildcards(doc)


def _assert_no_wildcards(doc: dict) -> None:
    for statement in doc["Statement"]:
        assert statement["Effect"] == "Allow"
        assert all("*" not in a for a in statement["Action"]), statement
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        for r in resources:
            # The only '*' allowed is the trailing one of the prefix.
            assert r.count("*") == 0 or (
                r.endswith("/*") and r.count("*") == 1 and not r.endswith(":::*/*")
            ), r
            assert r not in ("*", "arn:aws:s3:::*")


@pytest.mark.parametrize("prefix", ["", "/models/", "models", "models/*", "a//b/", "mod?els/"])
def test_policy_document_rejects_bad_prefixes(dev, prefix):
    def program():
        provider = aws.Provider("aws", region="us-west-2")
        bucket = ArtifactBucket(
            "artifacts",
            ArtifactBucketArgs(
                spec=dev, bucket_name="acme-dev-artifacts", key_deletion_window_days=7, protect=False
            ),
            opts=pulumi.ResourceOptions(provider=provider),
        )
        with pytest.raises(SpecError) as e:
            bucket.policy_document(prefix)
        assert e.value.field == "prefix"
        with pytest.raises(SpecError, match="read, read_write"):
            bucket.policy_document("models/", "admin")  # type: ignore[arg-type]

    plan_of(program)


@pytest.mark.parametrize(
    ("name", "days", "field"),
    [
        ("Bad_Name", 30, "artifacts.bucket_name"),
        ("a" * 60, 30, "artifacts.bucket_name"),  # valid, but "<name>-logs" exceeds 63 characters
        ("acme-prod-artifacts", 3, "key_deletion_window_days"),
    ],
)
def test_bad_input_fails_before_any_resource(prod, name, days, field):
    err, registered = refused_before_any_resource(
        lambda opts: ArtifactBucket(
            "artifacts",
            ArtifactBucketArgs(spec=prod, bucket_name=name, key_deletion_window_days=days, protect=True),
            opts=opts,
        )
    )
    assert err.field == field
    assert registered == []


def test_explicit_provider_on_every_child_and_no_warning(prod):
    plan = _plan(prod, bucket_name="acme-prod-artifacts", protect=True)
    aws_records = [r for r in plan.resources if r.type.startswith("aws:")]
    assert len(aws_records) == 2 + 2 * 7 + 1  # key + alias, 7 per bucket, logging
    assert {r.provider for r in aws_records} == {PROVIDER_URN}
    assert {r.parent for r in aws_records} == {plan.one("mlinfra:aws:ArtifactBucket").urn}
    assert plan.warnings == []
