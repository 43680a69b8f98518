"""Artifact Registry: one Docker repository per `registry.repositories` entry.

Immutable tags (a pushed tag always names the same image: "prevents all tags from being modified,
moved or deleted", RepositoryDockerConfigArgs), vulnerability scanning (INHERITED: on whenever the
project enables containerscanning.googleapis.com), a Cloud KMS key set at creation (immutable after;
the Artifact Registry service agent is granted the key first), cleanup policies, and read access
for the node service account only (the ECR pull-policy equivalent).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_gcp import artifactregistry, projects

from mlinfra.components import child, stateful
from mlinfra.gcp.kms import check_key_days, customer_managed_key, seconds
from mlinfra.spec import (
    RegistrySpec,
    SpecError,
    gcp_repository_id,
    rules,
)

READER_ROLE = "roles/artifactregistry.reader"
AR_SERVICE = "artifactregistry.googleapis.com"
_MEMBER = re.compile(r"^(serviceAccount|user|group):[^@\s]+@[^@\s]+$")


@dataclass
class RegistryArgs:
    """Inputs of the registry.

    spec: repositories and cleanup settings (`PlatformSpec.registry`).
    name_prefix: repository IDs are `<name_prefix>-<repository>`.
    project / location: where (location: the region, the key ring's location).
    key_ring: Cloud KMS key ring in `location`.
    reader_members: IAM members that may pull (the node service account); never allUsers.
    key_rotation_days / key_destroy_days: the key's rotation and destroy-scheduled durations.
    protect: protect + retain the repositories and the key (prod).
    labels: GCP labels.
    """

    spec: RegistrySpec
    name_prefix: str
    project: str
    location: str
    key_ring: pulumi.Input[str]
    reader_members: Sequence[pulumi.Input[str]]
    protect: bool
    key_rotation_days: int = 90
    key_destroy_days: int = 30
    labels: Mapping[str, str] = field(default_factory=dict)


def cleanup_policies(spec: RegistrySpec) -> list[artifactregistry.RepositoryCleanupPolicyArgs]:
    """Untagged images expire after N days; of tagged ones the newest N versions are always kept
    (KEEP wins over DELETE, Artifact Registry "Configure cleanup policies") and older ones expire."""
    age = seconds(spec.untagged_expiry_days)
    return [
        artifactregistry.RepositoryCleanupPolicyArgs(
            id="delete-untagged",
            action="DELETE",
            condition=artifactregistry.RepositoryCleanupPolicyConditionArgs(
                tag_state="UNTAGGED", older_than=age
            ),
        ),
        artifactregistry.RepositoryCleanupPolicyArgs(
            id="delete-old-tagged",
            action="DELETE",
            condition=artifactregistry.RepositoryCleanupPolicyConditionArgs(
                tag_state="TAGGED", older_than=age
            ),
        ),
        artifactregistry.RepositoryCleanupPolicyArgs(
            id="keep-recent",
            action="KEEP",
            most_recent_versions=artifactregistry.RepositoryCleanupPolicyMostRecentVersionsArgs(
                keep_count=spec.keep_tagged_images
            ),
        ),
    ]


class Registry(pulumi.ComponentResource):
    """Artifact Registry Docker repositories (immutable tags, scanning, CMEK, cleanup, node pull)."""

    repository_urls: pulumi.Output[dict[str, str]]
    repository_ids: dict[str, str]
    key_id: pulumi.Output[str]

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None):
        spec = args.spec
        rules("gcp").repositories(args.name_prefix, spec.repositories)
        ids = {repo: gcp_repository_id(args.name_prefix, repo) for repo in spec.repositories}
        check_key_days(args.key_rotation_days, args.key_destroy_days)
        readers = list(args.reader_members)
        if isinstance(args.reader_members, str) or not readers:
            raise SpecError("expected a list with the node service account's member", "reader_members")
        for i, member in enumerate(readers):
            if isinstance(member, str) and not _MEMBER.match(member):
                raise SpecError(
                    f"{member!r} is not a named IAM member (serviceAccount:<email>); allUsers is never allowed",
                    f"reader_members.{i}",
                )

        super().__init__("mlinfra:gcp:Registry", name, None, opts)
        labels = dict(args.labels)
        # The Artifact Registry service agent (created by this resource if the project has none yet)
        # encrypts the repositories' storage with the key.
        agent = projects.ServiceIdentity(
            f"{name}-agent", project=args.project, service=AR_SERVICE, opts=child(self)
        )
        key = customer_managed_key(
            self,
            f"{name}-key",
            key_ring=args.key_ring,
            key_name=f"{args.name_prefix}-registry",
            rotation_days=args.key_rotation_days,
            destroy_days=args.key_destroy_days,
            protect=args.protect,
            labels=labels,
            users={"artifactregistry": agent.member},
        )

        repos: dict[str, artifactregistry.Repository] = {}
        for repo, repo_id in ids.items():
            repository = artifactregistry.Repository(
                f"{name}-{repo}",
                repository_id=repo_id,
                project=args.project,
                location=args.location,
                format="DOCKER",
                mode="STANDARD_REPOSITORY",
                description=f"{repo} images (mlinfra)",
                kms_key_name=key.id,
                docker_config=artifactregistry.RepositoryDockerConfigArgs(immutable_tags=True),
                vulnerability_scanning_config=artifactregistry.RepositoryVulnerabilityScanningConfigArgs(
                    enablement_config="INHERITED"
                ),
                cleanup_policies=cleanup_policies(spec),
                cleanup_policy_dry_run=False,
                labels=labels,
                opts=stateful(self, args.protect, depends_on=key.grants),
            )
            for i, member in enumerate(readers):
                artifactregistry.RepositoryIamMember(
                    f"{name}-{repo}-reader-{i}",
                    project=args.project,
                    location=args.location,
                    repository=repository.name,
                    role=READER_ROLE,
                    member=member,
                    opts=child(self),
                )
            repos[repo] = repository

        self.repository_ids = ids
        # `<location>-docker.pkg.dev/<project>/<repository>` (Artifact Registry "Push and pull images").
        self.repository_urls = pulumi.Output.all(**{k: r.registry_uri for k, r in repos.items()})
        self.key_id = key.id
        self.register_outputs({"repository_urls": self.repository_urls, "key_id": self.key_id})
