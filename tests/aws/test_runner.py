"""InClusterRunner: the private cluster's way in (security group, 443 rule, admin role, CodeBuild)."""

from __future__ import annotations

import json

import pytest
import yaml

from mlinfra.aws.runner import BUILDSPEC, IMAGE, IN_CLUSTER_DIR, PULUMI_VERSION, SOURCE_KEY, runner_policy
from mlinfra.offline.mocks import digest
from mlinfra.platform import MlPlatform
from mlinfra.policy.rules.access import wildcard_findings
from mlinfra.spec import AwsRunnerSpec, SpecError
from tests.conftest import PROD_SPEC, make_spec, plan_of

ACCOUNT = "123456789012"
RUNNER = {
    "state_backend": "s3://acme-pulumi-state/platform",
    "secrets_provider": "awskms://alias/acme-pulumi?region=us-east-1",
    "secret_env": {
        "PULUMI_CONFIG_PASSPHRASE": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:pp-AbCdEf"
    },
    "kms_key_arns": [f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"],
}


# A prod platform stack not named after its environment (a second prod region, say).
STACK = "prod-eu"


@pytest.fixture(scope="module")
def plan():
    spec = make_spec(PROD_SPEC, aws={"runner": RUNNER})
    return plan_of(lambda: MlPlatform(spec.prefix, spec), stack=STACK, region=spec.region)


def _one(plan, type_):
    return plan.one(type_)


def test_cluster_security_group_admits_443_from_the_runner_only(plan):
    sg = plan.one("aws:ec2/securityGroup:SecurityGroup", "acme-prod-runner-sg")
    assert sg.inputs["ingress"] == []
    assert [(e["protocol"], e["fromPort"], e["toPort"]) for e in sg.inputs["egress"]] == [("tcp", 443, 443)]
    rule = _one(plan, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    cluster = _one(plan, "aws:eks/cluster:Cluster")
    # the cluster security group EKS created (its id comes from the cluster's vpcConfig)
    assert rule.inputs["securityGroupId"] == f"sg-{digest('csg', cluster.inputs['name'])}"
    assert rule.inputs["referencedSecurityGroupId"] == sg.id
    assert (rule.inputs["ipProtocol"], rule.inputs["fromPort"], rule.inputs["toPort"]) == ("tcp", 443, 443)
    assert "cidrIpv4" not in rule.inputs


def test_runner_role_is_cluster_admin_through_an_access_entry(plan):
    role = plan.one("aws:iam/role:Role", "acme-prod-runner-role")
    arn = f"arn:aws:iam::{ACCOUNT}:role/{role.id}"
    entries = {e.inputs["principalArn"]: e for e in plan.of_type("aws:eks/accessEntry:AccessEntry")}
    assert entries[arn].inputs["type"] == "STANDARD"
    assoc = next(
        a
        for a in plan.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
        if a.inputs["principalArn"] == arn
    )
    assert assoc.inputs["policyArn"] == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    assert assoc.inputs["accessScope"] == {"type": "cluster"}
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"Service": "codebuild.amazonaws.com"}
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": f"arn:aws:codebuild:us-east-1:{ACCOUNT}:project/acme-prod-in-cluster"},
    }


def test_codebuild_project_runs_in_the_private_subnets_with_the_runner_group(plan):
    project = _one(plan, "aws:codebuild/project:Project")
    sg = plan.one("aws:ec2/securityGroup:SecurityGroup", "acme-prod-runner-sg")
    subnets = sorted(s.id for s in plan.of_type("aws:ec2/subnet:Subnet") if "-private-" in s.name)
    vpc = project.inputs["vpcConfig"]
    assert sorted(vpc["subnets"]) == subnets and len(subnets) == 3
    assert vpc["securityGroupIds"] == [sg.id]
    env = project.inputs["environment"]
    assert env["image"] == IMAGE and env["privilegedMode"] is False
    variables = {v["name"]: (v["value"], v["type"]) for v in env["environmentVariables"]}
    assert variables["PULUMI_BACKEND_URL"] == (RUNNER["state_backend"], "PLAINTEXT")
    assert variables["PULUMI_VERSION"] == (PULUMI_VERSION, "PLAINTEXT")
    # The build runs the in-cluster stack of the platform stack's name, whatever the environment: that
    # stack reads ../aws/Pulumi.<stack>.yaml and references organization/mlinfra-aws/<stack>.
    assert variables["STACK"] == (STACK, "PLAINTEXT")
    assert variables["PULUMI_CONFIG_PASSPHRASE"] == (
        RUNNER["secret_env"]["PULUMI_CONFIG_PASSPHRASE"],
        "SECRETS_MANAGER",
    )
    bucket = plan.one("aws:s3/bucket:Bucket", "acme-prod-artifacts-bucket").inputs["bucket"]
    assert project.inputs["source"]["type"] == "S3"
    assert project.inputs["source"]["location"] == f"{bucket}/{SOURCE_KEY}"
    logs = plan.one("aws:cloudwatch/logGroup:LogGroup", "acme-prod-runner-logs")
    assert project.inputs["logsConfig"]["cloudwatchLogs"]["groupName"] == logs.inputs["name"]
    assert logs.inputs["kmsKeyId"].endswith(plan.one("aws:kms/key:Key", "acme-prod-logs-key").id)
    policy = plan.one("aws:iam/rolePolicy:RolePolicy", "acme-prod-runner-policy")
    assert policy.urn in project.dependencies  # CodeBuild checks the VPC permissions at creation


def test_buildspec_installs_the_pinned_cli_and_runs_the_in_cluster_stack():
    doc = yaml.safe_load(BUILDSPEC)
    assert doc["version"] == 0.2
    install = " ".join(doc["phases"]["install"]["commands"])
    build = " ".join(doc["phases"]["build"]["commands"])
    assert 'get.pulumi.com | sh -s -- --version "$PULUMI_VERSION"' in install
    assert '"pulumi==$PULUMI_VERSION"' in install  # the SDK of the same release as the CLI
    assert 'cd "$IN_CLUSTER_DIR"' in build and IN_CLUSTER_DIR == "stacks/aws-in-cluster"
    assert "pulumi up --yes" in build and "pulumi preview" in build


def test_runner_policy_is_scoped_and_passes_least_privilege():
    spec = AwsRunnerSpec(**RUNNER)
    doc = runner_policy(
        "aws",
        "us-east-1",
        ACCOUNT,
        spec,
        project_name="p",
        source_bucket="b",
        source_key_arn="arn:aws:kms:us-east-1:123456789012:key/k",
        subnet_ids=["subnet-1"],
    )
    assert wildcard_findings(doc) == []
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    assert by_sid["StateBackendObjects"]["Resource"] == "arn:aws:s3:::acme-pulumi-state/platform/*"
    assert by_sid["StateBackendList"]["Condition"] == {"StringLike": {"s3:prefix": ["platform/*"]}}
    assert by_sid["SourceBundle"]["Resource"] == f"arn:aws:s3:::b/{SOURCE_KEY}"
    # CodeBuild's minimum service-role policy (user guide, setting-up-service-role, S3BucketIdentity):
    # the owner and region of the source bucket, that bucket only.
    assert by_sid["SourceBucketIdentity"]["Action"] == ["s3:GetBucketAcl", "s3:GetBucketLocation"]
    assert by_sid["SourceBucketIdentity"]["Resource"] == "arn:aws:s3:::b"
    assert by_sid["VpcNetworkInterfacePermission"]["Condition"]["StringEquals"] == {
        "ec2:Subnet": [f"arn:aws:ec2:us-east-1:{ACCOUNT}:subnet/subnet-1"],
        "ec2:AuthorizedService": "codebuild.amazonaws.com",
    }
    assert by_sid["BuildSecrets"]["Resource"] == list(RUNNER["secret_env"].values())
    assert by_sid["StackKeys"]["Resource"] == RUNNER["kms_key_arns"]


def test_runner_without_a_backend_warns_and_grants_no_backend_access():
    spec = make_spec(PROD_SPEC)
    plan = plan_of(lambda: MlPlatform(spec.prefix, spec), region=spec.region)
    assert any("aws.runner.state_backend is not set" in w for w in plan.warnings)
    policy = json.loads(plan.one("aws:iam/rolePolicy:RolePolicy", "acme-prod-runner-policy").inputs["policy"])
    assert not [s for s in policy["Statement"] if s["Sid"].startswith("StateBackend")]


@pytest.mark.parametrize(
    ("runner", "message"),
    [
        ({"state_backend": "https://api.pulumi.com"}, "PULUMI_ACCESS_TOKEN"),
        ({"state_backend": "gs://bucket"}, "not a Pulumi backend URL"),
        ({"kms_key_arns": ["arn:aws:kms:us-east-1:123456789012:alias/x"]}, "not a KMS key ARN"),
        (
            {"secret_env": {"token": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x"}},
            "environment variable",
        ),
        ({"build_timeout_minutes": 3000}, "build_timeout_minutes"),
    ],
)
def test_bad_runner_settings_are_refused(runner, message):
    with pytest.raises(SpecError, match=message):
        make_spec(PROD_SPEC, aws={"runner": runner})


def test_runner_settings_on_a_public_cluster_are_refused_not_ignored():
    with pytest.raises(SpecError, match=r"aws\.runner.*api_access is 'public'"):
        make_spec(
            cluster={"api_access": "public", "public_access_cidrs": ["203.0.113.0/24"]},
            aws={"runner": {"state_backend": "s3://acme-state"}},
        )
