"""GpuNodePool: security and scheduling properties of the captured inputs."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pytest

from mlinfra.aws.gpu_node_pool import AMI_TYPE, GpuNodePool, GpuNodePoolArgs
from mlinfra.offline.mocks import digest
from mlinfra.spec import GpuPoolSpec, SpecError
from tests.aws.support import PROVIDER_URN, refused_before_any_resource
from tests.conftest import PROD_SPEC, make_spec, plan_of

KEY_ARN = "arn:aws:kms:us-west-2:123456789012:key/11111111-2222-3333-4444-555555555555"
NG = "aws:eks/nodeGroup:NodeGroup"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
ASG_TAG = "aws:autoscaling/tag:Tag"
TEMPLATE = "k8s.io/cluster-autoscaler/node-template"


def _plan(
    pool: GpuPoolSpec,
    *,
    cluster_name="acme-dev",
    key_arn: str | None = KEY_ARN,
    transformations=None,
    out: dict | None = None,
):
    def program():
        provider = aws.Provider("aws", region="us-west-2")
        component = GpuNodePool(
            "gpu",
            GpuNodePoolArgs(
                pool=pool,
                cluster_name=cluster_name() if callable(cluster_name) else cluster_name,
                kubernetes_version="1.33",
                subnet_ids=["subnet-a", "subnet-b"],
                volume_kms_key_arn=key_arn,
                tags={"owner": "ml-platform", "environment": "dev"},
            ),
            opts=pulumi.ResourceOptions(provider=provider, transformations=transformations or []),
        )
        if out is not None:
            out["component"] = component

    return plan_of(program)


@pytest.fixture
def dev_pool() -> GpuPoolSpec:
    return make_spec().gpu_pools[0]  # g5.xlarge, spot, min 0, max 2


@pytest.fixture
def prod_pool() -> GpuPoolSpec:
    return make_spec(PROD_SPEC).gpu_pools[0]  # g5.2xlarge, on demand, min 1, max 4


def test_dev_spot_pool_scales_to_zero_on_the_nvidia_ami(dev_pool):
    ng = _plan(dev_pool).one(NG).inputs
    assert ng["amiType"] == AMI_TYPE == "AL2023_x86_64_NVIDIA"
    assert ng["capacityType"] == "SPOT"
    assert ng["instanceTypes"] == ["g5.xlarge"]
    assert ng["scalingConfig"] == {"minSize": 0, "desiredSize": 0, "maxSize": 2}
    assert ng["version"] == "1.33"
    assert ng["updateConfig"] == {"maxUnavailable": 1}
    assert ng["subnetIds"] == ["subnet-a", "subnet-b"]
    assert "remoteAccess" not in ng and "diskSize" not in ng


def test_prod_pool_is_on_demand_with_a_floor(prod_pool):
    ng = _plan(prod_pool).one(NG).inputs
    assert ng["capacityType"] == "ON_DEMAND"
    assert ng["scalingConfig"] == {"minSize": 1, "desiredSize": 1, "maxSize": 4}


def test_gpu_taint_and_pool_labels(dev_pool):
    pool = dev_pool.model_copy(update={"labels": {"team": "search"}})
    ng = _plan(pool).one(NG).inputs
    assert ng["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
    assert ng["labels"] == {
        "team": "search",
        "mlinfra.io/gpu-node": "true",
        "mlinfra.io/pool": "a10g",
        "mlinfra.io/accelerator": "nvidia-a10g",
        "mlinfra.io/capacity-type": "spot",
        "k8s.amazonaws.com/accelerator": "nvidia-a10g",
    }


def test_desired_size_is_left_to_the_autoscaler(dev_pool):
    seen: dict[str, list[str] | None] = {}

    def capture(args: pulumi.ResourceTransformationArgs):
        seen[args.type_] = args.opts.ignore_changes
        return None

    _plan(dev_pool, transformations=[capture])
    assert seen[NG] == ["scalingConfig.desiredSize"]
    assert seen[LT] is None


def test_asg_carries_node_template_tags_for_scale_from_zero():
    pool = GpuPoolSpec(
        name="big", machine_type="g5.12xlarge", capacity_type="on_demand", max_nodes=2, disk_size_gb=300
    )
    plan = _plan(pool)
    ng = plan.one(NG)
    expected = {
        f"{TEMPLATE}/label/mlinfra.io/gpu-node": "true",
        f"{TEMPLATE}/label/mlinfra.io/pool": "big",
        f"{TEMPLATE}/label/mlinfra.io/accelerator": "nvidia-a10g",
        f"{TEMPLATE}/label/mlinfra.io/capacity-type": "on-demand",
        # cluster-autoscaler AWS README, "Special note on GPU instances"
        f"{TEMPLATE}/label/k8s.amazonaws.com/accelerator": "nvidia-a10g",
        f"{TEMPLATE}/taint/nvidia.com/gpu": "true:NoSchedule",
        f"{TEMPLATE}/resources/nvidia.com/gpu": "4",  # g5.12xlarge has 4 A10G
        f"{TEMPLATE}/resources/ephemeral-storage": "300Gi",
    }
    tags = plan.of_type(ASG_TAG)
    assert {t.inputs["tag"]["key"]: t.inputs["tag"]["value"] for t in tags} == expected
    assert all(t.inputs["tag"]["propagateAtLaunch"] is False for t in tags)
    # The ASG is the one EKS created for this node group (the mock names it eks-<nodegroup>-<hash>).
    ng_name = f"gpu-ng-{digest('gpu-ng', n=7)}"
    assert {t.inputs["autoscalingGroupName"] for t in tags} == {f"eks-{ng_name}-{digest(ng_name, n=8)}"}
    # Node group tags: discovery + the same template (documentation for humans and for EKS' own copy).
    assert ng.inputs["tags"]["k8s.io/cluster-autoscaler/enabled"] == "true"
    assert ng.inputs["tags"]["k8s.io/cluster-autoscaler/acme-dev"] == "owned"
    assert expected.items() <= ng.inputs["tags"].items()
    assert ng.inputs["tags"]["owner"] == "ml-platform"


def test_time_sliced_pool_advertises_shared_gpus(dev_pool):
    pool = dev_pool.model_copy(update={"time_slicing_replicas": 4})
    tags = {t.inputs["tag"]["key"]: t.inputs["tag"]["value"] for t in _plan(pool).of_type(ASG_TAG)}
    assert tags[f"{TEMPLATE}/resources/nvidia.com/gpu"] == "4"  # 1 GPU x 4 replicas


def test_time_sliced_pool_selects_its_device_plugin_config(dev_pool):
    shared = dev_pool.model_copy(update={"time_slicing_replicas": 4})
    labels = _plan(shared).one("aws:eks/nodeGroup:NodeGroup").inputs["labels"]
    assert labels["nvidia.com/device-plugin.config"] == f"pool-{dev_pool.name}"
    unshared = _plan(dev_pool).one("aws:eks/nodeGroup:NodeGroup").inputs["labels"]
    assert "nvidia.com/device-plugin.config" not in unshared  # falls back to the default config


def test_owned_tag_with_a_cluster_name_output(dev_pool):
    plan = _plan(dev_pool, cluster_name=lambda: pulumi.Output.from_input("from-stack-ref"))
    assert plan.one(NG).inputs["tags"]["k8s.io/cluster-autoscaler/from-stack-ref"] == "owned"
    assert plan.one(NG).inputs["clusterName"] == "from-stack-ref"


def test_launch_template_requires_imdsv2_and_encrypts_the_root_volume(dev_pool):
    plan = _plan(dev_pool)
    lt = plan.one(LT)
    inputs = lt.inputs
    assert inputs["metadataOptions"]["httpTokens"] == "required"
    assert inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1
    assert inputs["metadataOptions"]["httpEndpoint"] == "enabled"
    assert inputs["blockDeviceMappings"] == [
        {
            "deviceName": "/dev/xvda",
            "ebs": {
                "volumeSize": 200,
                "volumeType": "gp3",
                "encrypted": "true",
                "kmsKeyId": KEY_ARN,
                "deleteOnTermination": "true",
            },
        }
    ]
    assert inputs["monitoring"] == {"enabled": True}
    for forbidden in ("networkInterfaces", "keyName", "iamInstanceProfile", "userData", "imageId"):
        assert forbidden not in inputs
    assert sorted(s["resourceType"] for s in inputs["tagSpecifications"]) == ["instance", "volume"]
    assert all(s["tags"]["owner"] == "ml-platform" for s in inputs["tagSpecifications"])
    assert all(s["tags"]["Name"] == "acme-dev-a10g" for s in inputs["tagSpecifications"])
    # The node group launches from this template, at its latest version.
    assert plan.one(NG).inputs["launchTemplate"] == {"id": lt.id, "version": "1"}


def test_root_volume_is_encrypted_without_a_cmk(dev_pool):
    ebs = _plan(dev_pool, key_arn=None).one(LT).inputs["blockDeviceMappings"][0]["ebs"]
    assert ebs["encrypted"] == "true"
    assert "kmsKeyId" not in ebs


def test_node_role_is_least_privilege(dev_pool):
    plan = _plan(dev_pool)
    role = plan.one("aws:iam/role:Role")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    attachments = plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert sorted(a.inputs["policyArn"] for a in attachments) == [
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    ]
    assert {a.inputs["role"] for a in attachments} == {role.id}
    assert not plan.of_type("aws:iam/rolePolicy:RolePolicy")
    ng = plan.one(NG)
    assert ng.inputs["nodeRoleArn"].endswith(f":role/{role.id}")
    # The node group waits for its permissions (else nodes fail to join).
    assert {a.urn for a in attachments} <= set(ng.dependencies)


def test_scheduling_targets_this_pool(dev_pool):
    out: dict = {}
    _plan(dev_pool, out=out)
    sched = out["component"].scheduling()
    assert sched.tolerations == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert sched.node_selector == {"mlinfra.io/pool": "a10g"}
    assert out["component"].machine_type.gpus == 1


def test_every_child_uses_the_explicit_provider_and_no_warning(dev_pool):
    plan = _plan(dev_pool)
    aws_records = [r for r in plan.resources if r.type.startswith("aws:")]
    assert len(aws_records) == 1 + 2 + 1 + 1 + 8  # role, 2 attachments, lt, node group, 8 ASG tags
    assert {r.provider for r in aws_records} == {PROVIDER_URN}
    component = plan.one("mlinfra:aws:GpuNodePool")
    assert {r.parent for r in aws_records} == {component.urn}
    assert plan.warnings == []


def _registered_under_error(pool: GpuPoolSpec, **kw) -> tuple[SpecError, list]:
    return refused_before_any_resource(
        lambda opts: GpuNodePool(
            "gpu", GpuNodePoolArgs(pool=pool, cluster_name="c", subnet_ids=["s"], **kw), opts=opts
        )
    )


def test_unknown_gpu_type_fails_before_any_resource():
    pool = GpuPoolSpec(name="cpu", machine_type="m5.large")
    err, registered = _registered_under_error(pool, kubernetes_version="1.33")
    assert err.field == "pool.machine_type"
    assert "m5.large" in str(err) and "g5.xlarge" in str(err) and "p5.48xlarge" in str(err)
    assert registered == []


def test_unsupported_kubernetes_version_fails_before_any_resource(dev_pool):
    err, registered = _registered_under_error(dev_pool, kubernetes_version="1.29")
    assert err.field == "kubernetes_version"
    assert "1.33" in str(err)
    assert registered == []


def test_reserved_labels_cannot_be_overridden(dev_pool):
    pool = dev_pool.model_copy(update={"labels": {"mlinfra.io/pool": "other"}})
    err, registered = _registered_under_error(pool, kubernetes_version="1.33")
    assert err.field == "pool.labels.mlinfra.io/pool"
    assert registered == []


def test_aws_accelerator_label_is_reserved(dev_pool):
    pool = dev_pool.model_copy(update={"labels": {"k8s.amazonaws.com/accelerator": "x"}})
    err, registered = _registered_under_error(pool, kubernetes_version="1.33")
    assert (
        err.field == "pool.labels.k8s.amazonaws.com/accelerator"
        and "k8s.amazonaws.com/accelerator" in str(err)
    )
    assert registered == []


def test_node_group_update_timeout_covers_a_rolling_replacement(dev_pool):
    """An AMI/version update replaces the nodes one at a time, each drained for up to 15 minutes
    (EKS managed-node-update-behavior): 20 minutes per node, above the provider's 60m default."""
    seen: dict[str, pulumi.CustomTimeouts] = {}

    def capture(args: pulumi.ResourceTransformationArgs):
        seen[args.type_] = args.opts.custom_timeouts
        return None

    _plan(dev_pool.model_copy(update={"max_nodes": 8}), transformations=[capture])
    assert (seen[NG].create, seen[NG].update, seen[NG].delete) == ("60m", "160m", "60m")
    _plan(dev_pool, transformations=[capture])  # max 2 nodes: the 60m default still covers it
    assert seen[NG].update == "60m"
