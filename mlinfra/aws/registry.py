"""The image registry: ECR repositories for model and serving images.

Tags are immutable (a tag always names the same image, so a rollback or an audit means
what it says), images are scanned on push, layers are encrypted with one customer-managed
key, old images expire by lifecycle policy, and only the given principals (the node roles)
may pull. Pushing is granted to CI through IAM, not here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_aws import ecr

from mlinfra.aws.kms import check_deletion_window, customer_managed_key
from mlinfra.components import child, stateful
from mlinfra.spec import RegistrySpec, SpecError, rules

PULL_ACTIONS: tuple[str, ...] = (
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchCheckLayerAvailability",
)


@dataclass
class RegistryArgs:
    """Inputs of the registry.

    spec: repositories and lifecycle settings (`PlatformSpec.registry`).
    name_prefix: repositories are named `<name_prefix>/<repo>` (e.g. `acme-prod/models`).
    pull_principal_arns: IAM role (or user) ARNs allowed to pull, e.g. the GPU node roles.
    key_deletion_window_days: waiting period before the CMK can be deleted (7-30).
    protect: protect + retain the repositories and the key (prod).
    tags: tags for every taggable child.
    """

    spec: RegistrySpec
    name_prefix: str
    pull_principal_arns: pulumi.Input[Sequence[pulumi.Input[str]]]
    key_deletion_window_days: int
    protect: bool
    tags: Mapping[str, str] = field(default_factory=dict)


def lifecycle_policy(spec: RegistrySpec) -> str:
    """Expire untagged images after N days; keep the newest N tagged images.

    Rules are evaluated by ascending priority and an image is expired by at most one rule;
    neither rule uses tagStatus "any", which would have to come last.
    """
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"Expire untagged images after {spec.untagged_expiry_days} days",
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": spec.untagged_expiry_days,
                    },
                    "action": {"type": "expire"},
                },
                {
                    "rulePriority": 2,
                    "description": f"Keep the last {spec.keep_tagged_images} tagged images",
                    "selection": {
                        "tagStatus": "tagged",
                        "tagPatternList": ["*"],
                        "countType": "imageCountMoreThan",
                        "countNumber": spec.keep_tagged_images,
                    },
                    "action": {"type": "expire"},
                },
            ]
        }
    )


def pull_policy(principal_arns: Sequence[str]) -> str:
    """Repository policy: the listed principals may pull, nobody else is granted anything."""
    arns = [_check_principal(a, i) for i, a in enumerate(principal_arns)]
    if not arns:
        raise SpecError(
            "at least one principal ARN is required (the node roles that pull)", "pull_principal_arns"
        )
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowPull",
                    "Effect": "Allow",
                    "Principal": {"AWS": arns},
                    "Action": list(PULL_ACTIONS),
                }
            ],
        }
    )


def _check_principal(arn: object, i: int) -> str:
    rules("aws").principal(arn, f"pull_principal_arns.{i}")  # type: ignore[arg-type]
    return arn  # type: ignore[return-value]


class Registry(pulumi.ComponentResource):
    """ECR repositories (immutable tags, scan on push, CMK encryption, lifecycle, pull policy)."""

    repository_urls: pulumi.Output[dict[str, str]]
    repository_arns: pulumi.Output[dict[str, str]]
    repository_names: dict[str, str]
    key_arn: pulumi.Output[str]

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None):
        spec = args.spec
        aws_rules = rules("aws")  # the spec's AWS rules: the same checks PlatformSpec makes
        aws_rules.repository_name(args.name_prefix, "name_prefix")
        aws_rules.repositories(args.name_prefix, spec.repositories)
        names = {repo: f"{args.name_prefix}/{repo}" for repo in spec.repositories}
        check_deletion_window(args.key_deletion_window_days)
        principals = args.pull_principal_arns
        if not isinstance(principals, pulumi.Output):
            if isinstance(principals, str):
                raise SpecError("expected a list of ARNs, got one string", "pull_principal_arns")
            if all(not isinstance(p, pulumi.Output) for p in principals):
                pull_policy(list(principals))  # validate plain values now; Outputs are checked when known

        super().__init__("mlinfra:aws:Registry", name, None, opts)
        tags = dict(args.tags)
        key = customer_managed_key(
            self,
            f"{name}-key",
            description=f"Encrypts the image layers of the {args.name_prefix}/* repositories",
            deletion_window_days=args.key_deletion_window_days,
            protect=args.protect,
            tags=tags,
        )
        policy = pulumi.Output.from_input(principals).apply(lambda arns: pull_policy(list(arns)))
        lifecycle = lifecycle_policy(spec)

        repos: dict[str, ecr.Repository] = {}
        for repo, full in names.items():
            slug = re.sub(r"[^a-z0-9]+", "-", repo)
            repository = ecr.Repository(
                f"{name}-{slug}",
                name=full,
                image_tag_mutability="IMMUTABLE",
                image_scanning_configuration=ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
                encryption_configurations=[
                    ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS", kms_key=key.arn)
                ],
                force_delete=False,  # never delete images along with the stack
                tags=tags,
                opts=stateful(self, args.protect),
            )
            ecr.LifecyclePolicy(
                f"{name}-{slug}-lifecycle", repository=repository.name, policy=lifecycle, opts=child(self)
            )
            ecr.RepositoryPolicy(
                f"{name}-{slug}-policy", repository=repository.name, policy=policy, opts=child(self)
            )
            repos[repo] = repository

        self.repository_names = names
        self.repository_urls = pulumi.Output.all(**{k: r.repository_url for k, r in repos.items()})
        self.repository_arns = pulumi.Output.all(**{k: r.arn for k, r in repos.items()})
        self.key_arn = key.arn
        self.register_outputs(
            {
                "repository_urls": self.repository_urls,
                "repository_arns": self.repository_arns,
                "key_arn": self.key_arn,
            }
        )
