"""Registry: ECR repositories' security properties on the captured inputs."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pytest

from mlinfra.aws.registry import Registry, RegistryArgs
from mlinfra.spec import RegistrySpec
from tests.aws.support import PROVIDER_URN, refused_before_any_resource
from tests.conftest import make_spec, plan_of

REPO = "aws:ecr/repository:Repository"
LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
REPO_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"
NODE_ROLES = [
    "arn:aws:iam::123456789012:role/acme-dev-gpu-a10g-node",
    "arn:aws:iam::123456789012:role/acme-dev-system-node",
]


def _plan(spec: RegistrySpec | None = None, *, protect=False, principals=None):
    spec = spec or make_spec().registry

    def program():
        provider = aws.Provider("aws", region="us-west-2")
        pulls = principals() if callable(principals) else (NODE_ROLES if principals is None else principals)
        registry = Registry(
            "registry",
            RegistryArgs(
                spec=spec,
                name_prefix="acme-dev",
                pull_principal_arns=pulls,
                key_deletion_window_days=30 if protect else 7,
                protect=protect,
                tags={"owner": "ml-platform"},
            ),
            opts=pulumi.ResourceOptions(provider=provider),
        )
        pulumi.export("urls", registry.repository_urls)
        pulumi.export("arns", registry.repository_arns)
        pulumi.export("key_arn", registry.key_arn)

    return plan_of(program)


def test_repositories_are_immutable_scanned_and_cmk_encrypted():
    plan = _plan()
    key_arn = plan.outputs["key_arn"]
    repos = {r.inputs["name"]: r.inputs for r in plan.of_type(REPO)}
    assert set(repos) == {"acme-dev/models", "acme-dev/serving"}
    for repo in repos.values():
        assert repo["imageTagMutability"] == "IMMUTABLE"
        assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
        assert repo["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": key_arn}]
        assert repo["forceDelete"] is False
        assert repo["tags"] == {"owner": "ml-platform"}
    # One key for the whole registry, with rotation.
    (key,) = plan.of_type("aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True


def test_lifecycle_policy_rules():
    spec = RegistrySpec(repositories=["models"], untagged_expiry_days=3, keep_tagged_images=20)
    plan = _plan(spec)
    (lifecycle,) = plan.of_type(LIFECYCLE)
    assert lifecycle.inputs["repository"] == "acme-dev/models"
    rules = json.loads(lifecycle.inputs["policy"])["rules"]
    assert [r["rulePriority"] for r in rules] == [1, 2]
    assert rules[0]["selection"] == {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": 3,
    }
    assert rules[1]["selection"] == {
        "tagStatus": "tagged",
        "tagPatternList": ["*"],
        "countType": "imageCountMoreThan",
        "countNumber": 20,
    }
    assert all(r["action"] == {"type": "expire"} for r in rules)
    assert all(r["selection"]["tagStatus"] != "any" for r in rules)


def test_repository_policy_allows_pull_only_to_the_given_principals():
    plan = _plan()
    policies = plan.of_type(REPO_POLICY)
    assert sorted(p.inputs["repository"] for p in policies) == ["acme-dev/models", "acme-dev/serving"]
    for p in policies:
        (statement,) = json.loads(p.inputs["policy"])["Statement"]
        assert statement["Effect"] == "Allow"
        assert statement["Principal"] == {"AWS": NODE_ROLES}
        assert sorted(statement["Action"]) == [
            "ecr:BatchCheckLayerAvailability",
            "ecr:BatchGetImage",
            "ecr:GetDownloadUrlForLayer",
        ]
        assert "Condition" not in statement and "Resource" not in statement


def test_principals_may_be_outputs():
    plan = _plan(principals=lambda: [pulumi.Output.from_input(NODE_ROLES[0])])
    (statement,) = json.loads(plan.of_type(REPO_POLICY)[0].inputs["policy"])["Statement"]
    assert statement["Principal"] == {"AWS": [NODE_ROLES[0]]}


def test_outputs_map_repository_to_url_and_arn():
    plan = _plan()
    assert plan.outputs["urls"] == {
        "models": "123456789012.dkr.ecr.us-west-2.amazonaws.com/acme-dev/models",
        "serving": "123456789012.dkr.ecr.us-west-2.amazonaws.com/acme-dev/serving",
    }
    assert plan.outputs["arns"]["models"] == "arn:aws:ecr:us-west-2:123456789012:repository/acme-dev/models"


def test_prod_protects_repositories_and_key_dev_does_not():
    prod = _plan(protect=True)
    assert {r.name for r in prod.resources if r.protect and r.retain_on_delete} == {
        "registry-key",
        "registry-models",
        "registry-serving",
    }
    dev = _plan(protect=False)
    assert not any(r.protect or r.retain_on_delete for r in dev.resources)


def test_explicit_provider_on_every_child_and_no_warning():
    plan = _plan()
    aws_records = [r for r in plan.resources if r.type.startswith("aws:")]
    assert len(aws_records) == 2 + 2 * 3  # key + alias; repository, lifecycle, policy per repo
    assert {r.provider for r in aws_records} == {PROVIDER_URN}
    assert {r.parent for r in aws_records} == {plan.one("mlinfra:aws:Registry").urn}
    assert plan.warnings == []


@pytest.mark.parametrize(
    ("principals", "field"),
    [
        (["*"], "pull_principal_arns.0"),
        ([NODE_ROLES[0], "arn:aws:iam::123456789012:root"], "pull_principal_arns.1"),
        (["arn:aws:iam::123456789012:role/*"], "pull_principal_arns.0"),
        ([], "pull_principal_arns"),
    ],
)
def test_bad_principals_fail_before_any_resource(principals, field):
    _assert_fails_early(RegistrySpec(), principals, field)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (RegistrySpec(repositories=[]), "registry.repositories"),
        (RegistrySpec(repositories=["models", "models"]), "registry.repositories.1"),
        (RegistrySpec(repositories=["Models"]), "registry.repositories.0"),
    ],
)
def test_bad_repositories_fail_before_any_resource(spec, field):
    _assert_fails_early(spec, NODE_ROLES, field)


def _assert_fails_early(spec: RegistrySpec, principals, field: str) -> None:
    err, registered = refused_before_any_resource(
        lambda opts: Registry(
            "registry",
            RegistryArgs(
                spec=spec,
                name_prefix="acme-dev",
                pull_principal_arns=principals,
                key_deletion_window_days=7,
                protect=False,
            ),
            opts=opts,
        )
    )
    assert err.field == field, err
    assert registered == []
