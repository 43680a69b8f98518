"""Every rule that names GCP runs on the real GCP plans: each guarded property is mutated on the
resource mlinfra.gcp planned (not a hand-written fixture) and the rule must flag it. This proves
the rules read the paths pulumi-gcp 10 emits for what the components write."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from mlinfra.offline import Plan
from mlinfra.policy import check_plan
from mlinfra.policy.engine import run_rule
from mlinfra.policy.model import Res
from tests.gcp.plans import planned

BUCKET = "gcp:storage/bucket:Bucket"
CLUSTER = "gcp:container/cluster:Cluster"
POOL = "gcp:container/nodePool:NodePool"
REPO = "gcp:artifactregistry/repository:Repository"
KEY = "gcp:kms/cryptoKey:CryptoKey"


def _gpu_pools(plan: Plan):
    return [r for r in plan.of_type(POOL) if r.inputs["nodeConfig"].get("guestAccelerators")]


def _set(obj: dict, path: tuple, value: Any) -> None:
    for k in path[:-1]:
        obj = obj.setdefault(k, {})
    if value is None:
        obj.pop(path[-1], None)
    else:
        obj[path[-1]] = value


# (id, rule, resource type, selector, property path, value); value None deletes the property.
MUTATIONS: list[tuple[str, str, str, Callable[[Any], bool], tuple, Any]] = [
    (
        "bucket-cmek",
        "storage-cmk-encryption",
        BUCKET,
        lambda r: True,
        ("encryption", "defaultKmsKeyName"),
        None,
    ),
    ("bucket-pap", "no-public-buckets", BUCKET, lambda r: True, ("publicAccessPrevention",), "inherited"),
    ("bucket-ubla", "no-public-buckets", BUCKET, lambda r: True, ("uniformBucketLevelAccess",), False),
    ("gar-cmek", "registry-cmk-encryption", REPO, lambda r: True, ("kmsKeyName",), None),
    (
        "gar-immutable",
        "ecr-immutable-scanned",
        REPO,
        lambda r: True,
        ("dockerConfig", "immutableTags"),
        False,
    ),
    (
        "gar-scanning",
        "ecr-immutable-scanned",
        REPO,
        lambda r: True,
        ("vulnerabilityScanningConfig", "enablementConfig"),
        "DISABLED",
    ),
    (
        "gke-secrets",
        "cluster-secrets-encryption",
        CLUSTER,
        lambda r: True,
        ("databaseEncryption", "state"),
        "DECRYPTED",
    ),
    ("key-rotation", "kms-key-rotation", KEY, lambda r: True, ("rotationPeriod",), None),
    ("key-rotation-90", "kms-key-rotation", KEY, lambda r: True, ("rotationPeriod",), "31536000s"),
    ("key-destroy", "kms-key-rotation", KEY, lambda r: True, ("destroyScheduledDuration",), "86400s"),
    ("pool-boot-disk", "node-disk-encryption", POOL, lambda r: True, ("nodeConfig", "bootDiskKmsKey"), None),
    (
        "gke-endpoint",
        "private-cluster-endpoint",
        CLUSTER,
        lambda r: True,
        ("privateClusterConfig", "enablePrivateEndpoint"),
        False,
    ),
    (
        "gke-nodes",
        "no-node-public-ip",
        CLUSTER,
        lambda r: True,
        ("privateClusterConfig", "enablePrivateNodes"),
        False,
    ),
    ("pool-nodes", "no-node-public-ip", POOL, lambda r: True, ("networkConfig", "enablePrivateNodes"), False),
    ("gke-wi", "workload-identity", CLUSTER, lambda r: True, ("workloadIdentityConfig", "workloadPool"), ""),
    (
        "pool-metadata",
        "workload-identity",
        POOL,
        lambda r: True,
        ("nodeConfig", "workloadMetadataConfig", "mode"),
        "GCE_METADATA",
    ),
    (
        "pool-cap",
        "gpu-pool-max-nodes-cap",
        POOL,
        lambda r: bool(r.inputs["nodeConfig"].get("guestAccelerators")),
        ("autoscaling", "totalMaxNodeCount"),
        64,
    ),
    ("pool-labels", "required-tags", POOL, lambda r: True, ("nodeConfig", "resourceLabels"), None),
    (
        "folder-public",
        "no-public-iam-members",
        "gcp:storage/managedFolderIamMember:ManagedFolderIamMember",
        lambda r: True,
        ("member",),
        "allUsers",
    ),
    (
        "gar-public",
        "no-public-iam-members",
        "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
        lambda r: True,
        ("member",),
        "allAuthenticatedUsers",
    ),
    (
        "key-public",
        "no-public-iam-members",
        "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember",
        lambda r: True,
        ("member",),
        "allUsers",
    ),
]


def _mutated(stack: str, type_: str, select, path: tuple, value: Any) -> tuple[Plan, str]:
    data = copy.deepcopy(planned(stack).to_json())
    target = next(r for r in data["resources"] if r["type"] == type_ and select(_Rec(r)))
    _set(target["inputs"], path, value)
    return Plan.from_json(data), target["urn"]


class _Rec:
    def __init__(self, record: dict):
        self.inputs = record["inputs"]


@pytest.mark.parametrize("stack", ["prod"])
def test_shipped_gcp_plan_is_clean(stack):
    assert check_plan(planned(stack)).violations == []


@pytest.mark.parametrize(
    ("case", "rule", "type_", "select", "path", "value"), MUTATIONS, ids=[m[0] for m in MUTATIONS]
)
def test_rule_flags_the_mutated_real_resource(case, rule, type_, select, path, value):
    plan, urn = _mutated("prod", type_, select, path, value)
    flagged = {v.urn for v in check_plan(plan).violations if v.policy == rule}
    assert urn in flagged, f"{rule} did not flag {urn} after {path}={value!r}"


def test_spot_only_prod_gpu_capacity_is_flagged_on_the_real_plan():
    data = copy.deepcopy(planned("prod").to_json())
    for r in data["resources"]:
        if r["type"] == POOL and r["inputs"]["nodeConfig"].get("guestAccelerators"):
            r["inputs"]["nodeConfig"]["spot"] = True
    assert any(v.policy == "no-spot-only-gpu-in-prod" for v in check_plan(Plan.from_json(data)).violations)


def test_protect_off_on_real_stateful_resources_is_flagged():
    data = copy.deepcopy(planned("prod").to_json())
    for type_ in (BUCKET, REPO, KEY, CLUSTER, "gcp:kms/keyRing:KeyRing"):
        target = next(r for r in data["resources"] if r["type"] == type_)
        target["protect"] = False
        flagged = {
            v.urn
            for v in check_plan(Plan.from_json(data)).violations
            if v.policy == "protect-stateful-resources"
        }
        assert target["urn"] in flagged, type_
        target["protect"] = True


def test_provider_default_labels_count_as_labels_on_the_real_plan():
    """The provider's default_labels are merged into every top-level labels field (pulumi-gcp)."""
    data = copy.deepcopy(planned("prod").to_json())
    bucket = next(r for r in data["resources"] if r["type"] == BUCKET)
    del bucket["inputs"]["labels"]
    assert not [v for v in check_plan(Plan.from_json(data)).violations if v.urn == bucket["urn"]]
    provider = next(r for r in data["resources"] if r["type"] == "pulumi:providers:gcp")
    del provider["inputs"]["defaultLabels"]
    flagged = [v for v in check_plan(Plan.from_json(data)).violations if v.urn == bucket["urn"]]
    assert [v.policy for v in flagged] == ["required-tags"]


def test_dns_endpoint_is_accepted_in_prod_but_a_public_ip_endpoint_is_not():
    cluster = planned("prod").one(CLUSTER)
    props = copy.deepcopy(cluster.inputs)
    assert props["controlPlaneEndpointsConfig"]["dnsEndpointConfig"]["allowExternalTraffic"] is True
    assert run_rule("private-cluster-endpoint", Res(cluster.type, cluster.name, props), "prod") == []
    props["privateClusterConfig"]["enablePrivateEndpoint"] = False
    assert run_rule("private-cluster-endpoint", Res(cluster.type, cluster.name, props), "prod")


def test_gcp_public_cidrs_are_refused_even_in_dev():
    cluster = planned("dev").one(CLUSTER)
    props = copy.deepcopy(cluster.inputs)
    props["privateClusterConfig"]["enablePrivateEndpoint"] = False
    props["masterAuthorizedNetworksConfig"] = {
        "cidrBlocks": [{"cidrBlock": "203.0.113.0/24"}],
        "gcpPublicCidrsAccessEnabled": True,
    }
    (message,) = run_rule("private-cluster-endpoint", Res(cluster.type, cluster.name, props), "dev")
    assert "gcpPublicCidrsAccessEnabled" in message


def test_patches_of_objects_owned_by_others_need_no_labels():
    patch = planned("dev").one("kubernetes:storage.k8s.io/v1:StorageClassPatch")
    assert run_rule("required-tags", Res(patch.type, patch.name, patch.inputs), "prod") == []
    json.dumps(patch.inputs)  # a plain record
