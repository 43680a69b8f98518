"""Registry on Artifact Registry: immutable tags, scanning, CMEK granted first, cleanup, node pull only."""

from __future__ import annotations

import pytest

from mlinfra.gcp.registry import Registry, RegistryArgs, cleanup_policies
from mlinfra.offline.mocks import gcp_project_number
from mlinfra.spec import RegistrySpec
from tests.gcp.support import KEY_RING, PROJECT, REGION, TAGS, plan_gcp, refused_before_any_resource

REPO = "gcp:artifactregistry/repository:Repository"
NODES = f"serviceAccount:acme-ml-dev-nodes@{PROJECT}.iam.gserviceaccount.com"


def _args(spec: RegistrySpec, **overrides) -> RegistryArgs:
    values = dict(
        spec=spec,
        name_prefix="acme-ml-dev",
        project=PROJECT,
        location=REGION,
        key_ring=KEY_RING,
        reader_members=[NODES],
        protect=False,
        labels=TAGS,
    )
    values.update(overrides)
    return RegistryArgs(**values)


def _plan(spec: RegistrySpec, **overrides):
    return plan_gcp(lambda o: Registry("registry", _args(spec, **overrides), opts=o))


def test_repositories_are_immutable_scanned_and_cmek_encrypted():
    plan = _plan(RegistrySpec(repositories=["models", "serving"]))
    repos = {r.inputs["repositoryId"]: r for r in plan.of_type(REPO)}
    assert set(repos) == {"acme-ml-dev-models", "acme-ml-dev-serving"}
    for r in repos.values():
        assert r.inputs["format"] == "DOCKER" and r.inputs["mode"] == "STANDARD_REPOSITORY"
        assert r.inputs["dockerConfig"] == {"immutableTags": True}
        assert r.inputs["vulnerabilityScanningConfig"] == {"enablementConfig": "INHERITED"}
        assert r.inputs["kmsKeyName"].endswith("/cryptoKeys/acme-ml-dev-registry")
        assert r.inputs["labels"] == TAGS and r.inputs["location"] == REGION


def test_artifact_registry_agent_is_granted_the_key_before_any_repository():
    plan = _plan(RegistrySpec(repositories=["models"]))
    agent = plan.one("gcp:projects/serviceIdentity:ServiceIdentity").inputs
    assert agent["service"] == "artifactregistry.googleapis.com"
    grant = plan.one("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    number = gcp_project_number(PROJECT)
    assert (
        grant.inputs["member"]
        == f"serviceAccount:service-{number}@gcp-sa-artifactregistry.iam.gserviceaccount.com"
    )
    assert grant.urn in plan.one(REPO).dependencies


def test_only_the_node_service_account_may_pull():
    plan = _plan(RegistrySpec(repositories=["models"]))
    readers = plan.of_type("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")
    assert [(r.inputs["member"], r.inputs["role"]) for r in readers] == [
        (NODES, "roles/artifactregistry.reader")
    ]


def test_cleanup_keeps_the_newest_tagged_and_expires_untagged():
    policies = {
        p.id: p for p in cleanup_policies(RegistrySpec(untagged_expiry_days=7, keep_tagged_images=20))
    }
    assert policies["delete-untagged"].condition.tag_state == "UNTAGGED"
    assert policies["delete-untagged"].condition.older_than == "604800s"
    assert policies["keep-recent"].action == "KEEP"
    assert policies["keep-recent"].most_recent_versions.keep_count == 20
    repo = _plan(RegistrySpec(repositories=["models"])).one(REPO).inputs
    assert repo["cleanupPolicyDryRun"] is False
    assert [p["id"] for p in repo["cleanupPolicies"]] == [
        "delete-untagged",
        "delete-old-tagged",
        "keep-recent",
    ]


@pytest.mark.parametrize(
    ("spec", "overrides", "field"),
    [
        (RegistrySpec(repositories=[]), {}, "registry.repositories"),
        (RegistrySpec(repositories=["models", "models"]), {}, "registry.repositories.1"),
        (RegistrySpec(repositories=["serving/vllm"]), {}, "registry.repositories.0"),
        (RegistrySpec(repositories=["models"]), {"reader_members": ["allUsers"]}, "reader_members.0"),
        (RegistrySpec(repositories=["models"]), {"reader_members": []}, "reader_members"),
        (RegistrySpec(repositories=["models"]), {"key_rotation_days": 100}, "gcp.key_rotation_days"),
    ],
)
def test_bad_input_is_refused_before_any_resource(spec, overrides, field):
    error, registered = refused_before_any_resource(lambda o: Registry("r", _args(spec, **overrides), opts=o))
    assert error.field == field
    assert registered == []
