"""WorkloadIdentity: the trust policy admits exactly one service account; permissions as given."""

from __future__ import annotations

import json
import re

import pulumi
import pulumi_aws as aws
import pytest

from mlinfra.aws.identity import IRSA_ANNOTATION, WorkloadIdentity, WorkloadIdentityArgs
from tests.conftest import plan_of

OIDC_URL = "oidc.eks.us-west-2.amazonaws.com/id/ABCDEF0123456789"
OIDC_ARN = f"arn:aws:iam::123456789012:oidc-provider/{OIDC_URL}"
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"


def _args(**kw) -> WorkloadIdentityArgs:
    base = dict(
        namespace="serving",
        service_account="model-server",
        cluster_name="acme-dev",
        oidc_provider_arn=OIDC_ARN,
        oidc_provider_url=OIDC_URL,
        tags={"owner": "ml-platform"},
    )
    base.update(kw)
    return WorkloadIdentityArgs(**base)


def _program(args: WorkloadIdentityArgs, sink: dict | None = None):
    def program():
        provider = aws.Provider("aws", region="us-west-2")
        wi = WorkloadIdentity("model", args, opts=pulumi.ResourceOptions(provider=provider))
        pulumi.export("annotations", wi.service_account_annotations)
        pulumi.export("role_arn", wi.role_arn)

    return program


def _assert_explicit_provider(plan) -> None:
    aws_records = [r for r in plan.resources if r.type.startswith("aws:")]
    assert aws_records
    for r in aws_records:
        assert r.provider is not None and r.provider.endswith("::aws"), (r.name, r.provider)


def test_irsa_trust_is_one_service_account_and_sts_audience():
    plan = plan_of(_program(_args(policy_json=json.dumps({"Version": "2012-10-17", "Statement": []}))))
    role = plan.one("aws:iam/role:Role", "model-role")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert len(trust["Statement"]) == 1
    st = trust["Statement"][0]
    assert st["Effect"] == "Allow"
    assert st["Principal"] == {"Federated": OIDC_ARN}
    assert st["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert st["Condition"] == {
        "StringEquals": {
            f"{OIDC_URL}:sub": "system:serviceaccount:serving:model-server",
            f"{OIDC_URL}:aud": "sts.amazonaws.com",
        }
    }
    assert plan.outputs["annotations"] == {IRSA_ANNOTATION: plan.outputs["role_arn"]}
    assert plan.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation") == []
    _assert_explicit_provider(plan)
    assert plan.warnings == []


def test_https_prefix_in_url_is_stripped_from_condition_keys():
    plan = plan_of(_program(_args(oidc_provider_url="https://" + OIDC_URL)))
    trust = json.loads(plan.one("aws:iam/role:Role").inputs["assumeRolePolicy"])
    keys = set(trust["Statement"][0]["Condition"]["StringEquals"])
    assert keys == {f"{OIDC_URL}:sub", f"{OIDC_URL}:aud"}


def test_inline_and_managed_policies():
    doc = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}],
    }
    plan = plan_of(
        _program(_args(policy_json=pulumi.Output.from_input(json.dumps(doc)), managed_policy_arns=[S3_READ]))
    )
    inline = plan.one("aws:iam/rolePolicy:RolePolicy")
    assert json.loads(inline.inputs["policy"]) == doc
    attachments = plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert [a.inputs["policyArn"] for a in attachments] == [S3_READ]


def test_aws_managed_policies_use_the_partition():
    plan = plan_of(_program(_args(aws_managed_policies=["service-role/AmazonEBSCSIDriverPolicy"])))
    (att,) = plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert att.name == "model-AmazonEBSCSIDriverPolicy"
    assert att.inputs["policyArn"] == "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"


def test_no_policy_means_no_permissions():
    plan = plan_of(_program(_args()))
    assert plan.of_type("aws:iam/rolePolicy:RolePolicy") == []
    assert plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") == []


def test_pod_identity_trusts_eks_pods_and_associates_one_service_account():
    plan = plan_of(_program(_args(mode="pod_identity", managed_policy_arns=[S3_READ])))
    trust = json.loads(plan.one("aws:iam/role:Role").inputs["assumeRolePolicy"])
    assert trust["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "pods.eks.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
        }
    ]
    assoc = plan.one("aws:eks/podIdentityAssociation:PodIdentityAssociation", "model-association")
    assert assoc.inputs["clusterName"] == "acme-dev"
    assert assoc.inputs["namespace"] == "serving"
    assert assoc.inputs["serviceAccount"] == "model-server"
    assert plan.outputs["annotations"] == {}
    _assert_explicit_provider(plan)


def test_children_are_parented_to_the_component():
    plan = plan_of(_program(_args(mode="pod_identity", policy_json="{}")))
    comp = plan.one("mlinfra:aws:WorkloadIdentity", "model")
    for r in plan.resources:
        if r.type.startswith("aws:"):
            assert r.parent == comp.urn


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"mode": "oidc"}, "mode"),
        ({"namespace": "Serving"}, "namespace"),
        ({"service_account": ""}, "service_account"),
        ({"managed_policy_arns": ["AmazonS3ReadOnlyAccess"]}, "managed_policy_arns[0]"),
        ({"managed_policy_arns": [S3_READ, S3_READ]}, "managed_policy_arns"),
        ({"aws_managed_policies": ["arn:aws:iam::aws:policy/X"]}, "aws_managed_policies[0]"),
    ],
)
def test_bad_input_fails_before_registration(kw, field):
    with pytest.raises(ValueError, match="^" + re.escape(field) + ":"):
        WorkloadIdentity("x", _args(**kw))
