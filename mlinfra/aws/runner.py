"""InClusterRunner: the way into a private EKS cluster for the in-cluster stack.

With `cluster.api_access: private` the API server answers only inside the VPC (EKS user guide,
"Cluster API server endpoint": "All traffic to your cluster API server must come from within your
cluster's VPC or a connected network", and the cluster security group must allow 443 from the
client). This component provisions the runner of the in-cluster stack inside the VPC:

- a security group for the runner (egress HTTPS only: AWS APIs through the VPC endpoints, the
  Pulumi backend, PyPI, the Helm chart repositories through the NAT gateway) and an ingress rule on
  the cluster security group: 443 from that group, nothing else;
- an IAM role for the runner, trusted by CodeBuild for this project only (aws:SourceArn /
  aws:SourceAccount, the confused-deputy guard of the CodeBuild user guide), made cluster admin
  through an EKS access entry + AmazonEKSClusterAdminPolicy (the in-cluster stack installs CRDs,
  ClusterRoles and webhooks);
- a CodeBuild project in the private subnets with that group and role, whose build runs
  `pulumi preview|up` of the in-cluster stack from a source bundle in the artifact bucket
  (`deploy/in-cluster.zip`), logging to a KMS-encrypted log group.

Why CodeBuild and not a self-hosted runner: a VPC-enabled CodeBuild build runs in the private
subnets we name with the security groups we name (CodeBuild user guide, "Use AWS CodeBuild with
Amazon Virtual Private Cloud": "VPC-enabled builds can then access resources inside your VPC"),
takes the role's temporary credentials (no static key anywhere), needs no host to patch or keep
running, costs per build minute, and is started with one API call from a laptop or any CI system
(`aws codebuild start-build`), so the pull-request pipeline keeps its shape. A self-hosted CI
runner works too: launch it in a private subnet with `security_group_id` and an instance profile for
`role_arn` (both exported), and run the same commands the buildspec runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
from pulumi_aws import codebuild, ec2, iam, vpc

from mlinfra.aws.identity import cluster_admin_access, confused_deputy_trust_policy
from mlinfra.aws.kms import check_log_retention, encrypted_log_group
from mlinfra.components import child
from mlinfra.policy.model import PACKS
from mlinfra.spec import AwsRunnerSpec, SpecError

# The source bundle the build runs: a zip of the repository (`git archive`), uploaded by whoever
# starts a build; the artifact bucket is versioned, so `--source-version <versionId>` pins it.
SOURCE_KEY = "deploy/in-cluster.zip"
IN_CLUSTER_DIR = "stacks/aws-in-cluster"
# CodeBuild's curated Amazon Linux 2023 image (aws/aws-codebuild-docker-images, al/x86_64/standard/5.0;
# its runtimes.yml offers python 3.9-3.14): pinned by major version, CodeBuild patches it.
IMAGE = "aws/codebuild/amazonlinux-x86_64-standard:5.0"
PYTHON = "3.12"
# The Pulumi CLI the build installs (get.pulumi.com, `--version`), and the Python SDK pinned to the
# same release: 3.270.0, the newest release of the Pulumi release train on npm (@pulumi/pulumi
# dist-tag latest, 2026-10-16); CLI and SDKs are released together.
PULUMI_VERSION = "3.270.0"

# Runs the in-cluster stack; PULUMI_COMMAND=preview (default: pull requests), up (merges) or drift
# (scheduled checks, both run: the cloud vs the state, the commit vs the state; fails on any change;
# `pulumi refresh`/`pulumi preview` docs: --preview-only, --expect-no-changes).
# Anything else fails the build rather than running something the caller did not ask for.
# preview and up run the four policy packs of the checkout (policies/<pack>, installed by Pulumi from
# the bundle: `-e ../..`) with the environment's enforcement (`mlinfra policy export-config`), as the
# platform stack's pipeline does (`pulumi preview --policy-pack`; refresh takes no policy packs).
BUILDSPEC = f"""version: 0.2
env:
  shell: bash
phases:
  install:
    runtime-versions:
      python: "{PYTHON}"
    commands:
      - curl -fsSL https://get.pulumi.com | sh -s -- --version "$PULUMI_VERSION"
      - python -m venv .venv
      - .venv/bin/pip install --quiet -e ".[aws]" "pulumi==$PULUMI_VERSION"
  build:
    commands:
      - export PATH="$HOME/.pulumi/bin:$PATH"
      - pulumi login "$PULUMI_BACKEND_URL"
      - cd "$IN_CLUSTER_DIR"
      - pulumi stack select "$STACK" --create ${{SECRETS_PROVIDER:+--secrets-provider "$SECRETS_PROVIDER"}}
      - |
        policy=()
        for pack in {" ".join(PACKS)}; do
          "$CODEBUILD_SRC_DIR/.venv/bin/mlinfra" policy export-config --pack "$pack" \\
            --environment "$MLINFRA_ENVIRONMENT" > "/tmp/policy-$pack.json" || exit 1
          policy+=(--policy-pack "$CODEBUILD_SRC_DIR/policies/$pack" --policy-pack-config "/tmp/policy-$pack.json")
        done
        case "$PULUMI_COMMAND" in
          up) pulumi up --yes --non-interactive "${{policy[@]}}" ;;
          preview) pulumi preview --non-interactive --diff "${{policy[@]}}" ;;
          drift)
            drift=0
            pulumi refresh --preview-only --expect-no-changes --non-interactive || drift=1
            pulumi preview --expect-no-changes --non-interactive "${{policy[@]}}" || drift=1
            [ "$drift" = 0 ] ;;
          *) echo "PULUMI_COMMAND must be preview, up or drift, not '$PULUMI_COMMAND'" >&2; false ;;
        esac
"""

_PROJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,254}$")


@dataclass
class InClusterRunnerArgs:
    """Inputs of the runner.

    spec: the runner's settings (`aws.runner`): Pulumi backend, secrets, compute, timeout.
    project_name: the CodeBuild project's name (`<prefix>-in-cluster`).
    stack: the in-cluster stack the build runs by default: the platform stack's name (the in-cluster
        stack reads `Pulumi.<stack>.yaml` of the platform project and references the same stack name).
    region: the platform's region (ARNs in the role's policies).
    cluster_name / cluster_security_group_id: the cluster to reach; 443 into its security group.
    vpc_id / subnet_ids: where the build runs (the private subnets, egress through NAT).
    source_bucket / source_key_arn: the (versioned, KMS-encrypted) bucket holding `SOURCE_KEY`, and its key.
    log_group_kms_key_arn: CMK of the build log group (its policy must cover `log_group(project_name)`).
    log_retention_days: build log retention.
    environment: the platform's environment: which policies are mandatory in the build's previews/ups.
    tags: tags for every taggable child.
    """

    spec: AwsRunnerSpec
    project_name: str
    stack: str
    region: str
    cluster_name: pulumi.Input[str]
    cluster_security_group_id: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    source_bucket: pulumi.Input[str]
    source_key_arn: pulumi.Input[str]
    log_group_kms_key_arn: pulumi.Input[str] | None = None
    log_retention_days: int = 90
    environment: str = "prod"
    tags: Mapping[str, str] = field(default_factory=dict)


def log_group(project_name: str) -> str:
    """CodeBuild's log group of a project (the name CodeBuild writes to unless told otherwise)."""
    return f"/aws/codebuild/{project_name}"


def codebuild_trust_policy(partition: str, region: str, account: str, project_name: str) -> dict[str, Any]:
    """CodeBuild may assume the role for this project only (CodeBuild user guide, "Cross-service
    confused deputy prevention": aws:SourceAccount + aws:SourceArn)."""
    return confused_deputy_trust_policy(
        "codebuild.amazonaws.com",
        account,
        f"arn:{partition}:codebuild:{region}:{account}:project/{project_name}",
    )


def _s3_backend(url: str) -> tuple[str, str] | None:
    """(bucket, prefix) of an s3:// Pulumi backend URL."""
    if not url.startswith("s3://"):
        return None
    rest = url.removeprefix("s3://").split("?", 1)[0]
    bucket, _, prefix = rest.partition("/")
    return bucket, prefix.strip("/")


def runner_policy(
    partition: str,
    region: str,
    account: str,
    spec: AwsRunnerSpec,
    *,
    project_name: str,
    source_bucket: str,
    source_key_arn: str,
    subnet_ids: Sequence[str],
) -> dict[str, Any]:
    """What the build does, and nothing else: write its logs, read its source bundle, put its ENIs in
    the named subnets, use the Pulumi backend and the secrets the spec names."""
    group = f"arn:{partition}:logs:{region}:{account}:log-group:{log_group(project_name)}"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "BuildLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [group, f"{group}:*"],
        },
        {
            "Sid": "SourceBundle",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": f"arn:{partition}:s3:::{source_bucket}/{SOURCE_KEY}",
        },
        # CodeBuild user guide, "Allow CodeBuild to interact with other AWS services"
        # (setting-up-service-role): the minimum service-role policy has, besides GetObject/GetObjectVersion
        # on the source, the statement S3BucketIdentity (s3:GetBucketAcl, s3:GetBucketLocation), with which
        # CodeBuild checks the owner and region of an S3 source bucket; here on the source bucket only.
        {
            "Sid": "SourceBucketIdentity",
            "Effect": "Allow",
            "Action": ["s3:GetBucketAcl", "s3:GetBucketLocation"],
            "Resource": f"arn:{partition}:s3:::{source_bucket}",
        },
        {
            "Sid": "SourceBundleKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt"],
            "Resource": source_key_arn,
            "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
        },
        # CodeBuild user guide, "Allow CodeBuild access to AWS services required to create a VPC
        # network interface": describe/create/delete on "*", the ENI permission only in our subnets.
        {
            "Sid": "VpcNetworkInterfaces",
            "Effect": "Allow",
            "Action": [
                "ec2:CreateNetworkInterface",
                "ec2:DescribeDhcpOptions",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DeleteNetworkInterface",
                "ec2:DescribeSubnets",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeVpcs",
            ],
            "Resource": "*",
        },
        {
            "Sid": "VpcNetworkInterfacePermission",
            "Effect": "Allow",
            "Action": ["ec2:CreateNetworkInterfacePermission"],
            "Resource": f"arn:{partition}:ec2:{region}:{account}:network-interface/*",
            "Condition": {
                "StringEquals": {
                    "ec2:Subnet": [f"arn:{partition}:ec2:{region}:{account}:subnet/{s}" for s in subnet_ids],
                    "ec2:AuthorizedService": "codebuild.amazonaws.com",
                }
            },
        },
    ]
    backend = _s3_backend(spec.state_backend or "")
    if backend is not None:
        bucket, prefix = backend
        objects = f"arn:{partition}:s3:::{bucket}/{prefix + '/' if prefix else ''}*"
        listing: dict[str, Any] = {
            "Sid": "StateBackendList",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": f"arn:{partition}:s3:::{bucket}",
        }
        if prefix:
            listing["Condition"] = {"StringLike": {"s3:prefix": [f"{prefix}/*"]}}
        statements += [
            listing,
            {
                "Sid": "StateBackendObjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": objects,
            },
        ]
    if spec.secret_env:
        statements.append(
            {
                "Sid": "BuildSecrets",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": sorted(set(spec.secret_env.values())),
            }
        )
    if spec.kms_key_arns:
        statements.append(
            {
                "Sid": "StackKeys",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                "Resource": sorted(spec.kms_key_arns),
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def environment_variables(args: InClusterRunnerArgs) -> list[dict[str, str]]:
    """The build's environment: what the buildspec reads (overridable per build with
    `aws codebuild start-build --environment-variables-override`)."""
    plain = {
        "PULUMI_VERSION": PULUMI_VERSION,
        "IN_CLUSTER_DIR": IN_CLUSTER_DIR,
        "STACK": args.stack,
        "MLINFRA_ENVIRONMENT": args.environment,
        "PULUMI_COMMAND": "preview",
    }
    if args.spec.state_backend:
        plain["PULUMI_BACKEND_URL"] = args.spec.state_backend
    if args.spec.secrets_provider:
        plain["SECRETS_PROVIDER"] = args.spec.secrets_provider
    out = [{"name": k, "value": v, "type": "PLAINTEXT"} for k, v in plain.items()]
    out += [
        {"name": k, "value": arn, "type": "SECRETS_MANAGER"}
        for k, arn in sorted(args.spec.secret_env.items())
    ]
    return out


def _validate(args: InClusterRunnerArgs) -> None:
    if not isinstance(args.spec, AwsRunnerSpec):
        raise SpecError(f"expected a mlinfra.spec.AwsRunnerSpec, got {type(args.spec).__name__}", "spec")
    if not _PROJECT_NAME.match(args.project_name):
        raise SpecError(
            f"{args.project_name!r} is not a CodeBuild project name (2-255 letters, digits, '-' or '_')",
            "project_name",
        )
    check_log_retention(args.log_retention_days, "log_retention_days")
    if isinstance(args.subnet_ids, str):
        raise SpecError("expected a list of subnet ids, got a single string", "subnet_ids")


class InClusterRunner(pulumi.ComponentResource):
    """Security group + 443 rule into the cluster, an admin IAM role with an EKS access entry, and a
    CodeBuild project in the private subnets that runs the in-cluster stack."""

    project_name: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    log_group_name: str

    def __init__(self, name: str, args: InClusterRunnerArgs, opts: pulumi.ResourceOptions | None = None):
        _validate(args)
        super().__init__("mlinfra:aws:InClusterRunner", name, None, opts)
        tags = dict(args.tags)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        account = aws.get_caller_identity_output(opts=invoke).account_id
        partition = aws.get_partition_output(opts=invoke).partition

        sg = ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description=f"Runner of the in-cluster stack ({args.project_name}): HTTPS out only",
            ingress=[],
            egress=[
                ec2.SecurityGroupEgressArgs(
                    description="HTTPS: the cluster API, AWS APIs, Pulumi backend, PyPI, chart repositories",
                    protocol="tcp",
                    from_port=443,
                    to_port=443,
                    cidr_blocks=["0.0.0.0/0"],
                )
            ],
            tags={**tags, "Name": f"{args.project_name}-runner"},
            opts=child(self),
        )
        # EKS user guide, cluster-endpoint ("Accessing a private only API server"): the cluster
        # security group must allow 443 from the client; from the runner's group only.
        api_rule = vpc.SecurityGroupIngressRule(
            f"{name}-api",
            security_group_id=args.cluster_security_group_id,
            referenced_security_group_id=sg.id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            description=f"Kubernetes API from the runner {args.project_name}",
            tags=tags,
            opts=child(self),
        )

        role = iam.Role(
            f"{name}-role",
            description=f"CodeBuild runner {args.project_name}: installs the in-cluster stack",
            assume_role_policy=pulumi.Output.all(partition, account).apply(
                lambda v: json.dumps(codebuild_trust_policy(v[0], args.region, v[1], args.project_name))
            ),
            max_session_duration=3600,
            tags=tags,
            opts=child(self),
        )
        policy = iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            policy=pulumi.Output.all(
                partition,
                account,
                args.source_bucket,
                args.source_key_arn,
                pulumi.Output.from_input(args.subnet_ids),
            ).apply(
                lambda v: json.dumps(
                    runner_policy(
                        v[0],
                        args.region,
                        v[1],
                        args.spec,
                        project_name=args.project_name,
                        source_bucket=v[2],
                        source_key_arn=v[3],
                        subnet_ids=list(v[4]),
                    )
                )
            ),
            opts=child(self),
        )
        # Cluster admin through an access entry (authenticationMode API), like the admin principals.
        _, admin = cluster_admin_access(
            self,
            entry_name=f"{name}-access",
            association_name=f"{name}-admin",
            cluster_name=args.cluster_name,
            principal_arn=role.arn,
            partition=partition,
            tags=tags,
        )

        self.log_group_name = log_group(args.project_name)
        logs = encrypted_log_group(
            self,
            f"{name}-logs",
            group_name=self.log_group_name,
            retention_days=args.log_retention_days,
            kms_key_arn=args.log_group_kms_key_arn,
            tags=tags,
        )
        project = codebuild.Project(
            f"{name}-project",
            name=args.project_name,
            description="pulumi preview/up of the in-cluster stack, from inside the VPC",
            service_role=role.arn,
            build_timeout=args.spec.build_timeout_minutes,
            queued_timeout=60,
            # One build at a time: two `pulumi up` of one stack would fight over its lock.
            concurrent_build_limit=1,
            source=codebuild.ProjectSourceArgs(
                type="S3",
                location=pulumi.Output.concat(args.source_bucket, "/", SOURCE_KEY),
                buildspec=BUILDSPEC,
            ),
            artifacts=codebuild.ProjectArtifactsArgs(type="NO_ARTIFACTS"),
            environment=codebuild.ProjectEnvironmentArgs(
                compute_type=args.spec.compute_type,
                image=IMAGE,
                type="LINUX_CONTAINER",
                image_pull_credentials_type="CODEBUILD",
                privileged_mode=False,
                environment_variables=[
                    codebuild.ProjectEnvironmentEnvironmentVariableArgs(**v)
                    for v in environment_variables(args)
                ],
            ),
            vpc_config=codebuild.ProjectVpcConfigArgs(
                vpc_id=args.vpc_id, subnets=args.subnet_ids, security_group_ids=[sg.id]
            ),
            logs_config=codebuild.ProjectLogsConfigArgs(
                cloudwatch_logs=codebuild.ProjectLogsConfigCloudwatchLogsArgs(
                    status="ENABLED", group_name=logs.name
                ),
                s3_logs=codebuild.ProjectLogsConfigS3LogsArgs(status="DISABLED"),
            ),
            tags=tags,
            # CodeBuild checks the role's VPC permissions when the project is created (aws-cdk commit
            # 390baf1, "correctly handle permissions for Projects inside VPC"): policy first.
            opts=child(self, depends_on=[policy, api_rule, admin]),
        )

        self.project_name = project.name
        self.role_arn = role.arn
        self.security_group_id = sg.id
        self.register_outputs(
            {
                "project_name": self.project_name,
                "role_arn": self.role_arn,
                "security_group_id": self.security_group_id,
                "log_group_name": self.log_group_name,
            }
        )
