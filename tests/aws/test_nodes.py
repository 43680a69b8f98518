"""nodes.py: the node role and launch template shared by the system node group and GPU pools."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from mlinfra.aws.nodes import NODE_ROLE_POLICIES, node_launch_template, node_role
from tests.conftest import plan_of

PROVIDER_URN = "urn:pulumi:test::mlinfra-test::pulumi:providers:aws::aws"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
ATTACH = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"


class _Holder(pulumi.ComponentResource):
    def __init__(self, build, opts=None):
        super().__init__("mlinfra:test:Holder", "holder", None, opts)
        build(self)
        self.register_outputs({})


def _plan(build):
    def program():
        provider = aws.Provider("aws", region="us-west-2")
        _Holder(build, opts=pulumi.ResourceOptions(provider=provider))

    return plan_of(program)


def test_node_role_trusts_ec2_and_attaches_exactly_worker_and_pull_only():
    plan = _plan(
        lambda p: node_role(
            p, "n-role", description="d", tags={"owner": "o"}, attachment_name=lambda x: f"n-{x}"
        )
    )
    role = plan.one("aws:iam/role:Role")
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    assert NODE_ROLE_POLICIES == ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly")
    attached = {a.name: a.inputs["policyArn"] for a in plan.of_type(ATTACH)}
    assert attached == {
        "n-AmazonEKSWorkerNodePolicy": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
        "n-AmazonEC2ContainerRegistryPullOnly": "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
    }
    assert {a.inputs["role"] for a in plan.of_type(ATTACH)} == {role.id}
    assert {r.provider for r in plan.resources if r.type.startswith("aws:")} == {PROVIDER_URN}


def _lt(**kw):
    args = dict(
        description="d",
        disk_size_gb=80,
        volume_kms_key_arn="arn:aws:kms:us-west-2:123456789012:key/k",
        tags={"owner": "o"},
        name_tag="c-pool",
    )
    args.update(kw)
    return _plan(lambda p: node_launch_template(p, "n-lt", **args)).one(LT).inputs


def test_launch_template_is_imdsv2_only_encrypted_and_tagged():
    lt = _lt()
    assert lt["metadataOptions"] == {
        "httpEndpoint": "enabled",
        "httpTokens": "required",
        "httpPutResponseHopLimit": 1,
        "instanceMetadataTags": "disabled",
    }
    assert lt["blockDeviceMappings"] == [
        {
            "deviceName": "/dev/xvda",
            "ebs": {
                "volumeSize": 80,
                "volumeType": "gp3",
                "encrypted": "true",
                "kmsKeyId": "arn:aws:kms:us-west-2:123456789012:key/k",
                "deleteOnTermination": "true",
            },
        }
    ]
    assert lt["tagSpecifications"] == [
        {"resourceType": "instance", "tags": {"owner": "o", "Name": "c-pool"}},
        {"resourceType": "volume", "tags": {"owner": "o", "Name": "c-pool"}},
    ]
    assert lt["updateDefaultVersion"] is True
    for forbidden in (
        "monitoring",
        "networkInterfaces",
        "keyName",
        "iamInstanceProfile",
        "userData",
        "imageId",
    ):
        assert forbidden not in lt


def test_launch_template_options():
    lt = _lt(volume_kms_key_arn=None, detailed_monitoring=True)
    assert lt["monitoring"] == {"enabled": True}
    ebs = lt["blockDeviceMappings"][0]["ebs"]
    assert ebs["encrypted"] == "true" and "kmsKeyId" not in ebs
