"""AwsPlatform: the spec's fields reach the resources that implement them."""

from __future__ import annotations

import re

import pytest

from mlinfra.platform import MlPlatform
from mlinfra.spec import PlatformSpec, SpecError
from tests.conftest import PROD_SPEC, make_spec, plan_of

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


def _plan(spec: PlatformSpec):
    return plan_of(lambda: MlPlatform(spec.prefix, spec), region=spec.region)


def _system_groups(plan):
    return [n for n in plan.of_type(NODE_GROUP) if n.inputs["labels"].get("mlinfra.io/pool") == "system"]


def test_system_pool_machine_type_reaches_the_system_node_groups():
    spec = make_spec(PROD_SPEC, cluster={"system_pool": {"machine_type": "m6i.2xlarge"}})
    groups = _system_groups(_plan(spec))
    assert groups and {tuple(g.inputs["instanceTypes"]) for g in groups} == {("m6i.2xlarge",)}


def test_system_pool_machine_type_defaults_per_cloud():
    spec = make_spec(PROD_SPEC)
    assert spec.cluster.system_pool.machine_type == "m6i.large"


def test_aws_system_machine_type_is_refused_pointing_at_the_one_field():
    with pytest.raises(SpecError, match=r"aws.*cluster\.system_pool\.machine_type"):
        make_spec(PROD_SPEC, aws={"system_machine_type": "m6i.2xlarge"})


@pytest.mark.parametrize("workload_identity", ["irsa", "pod_identity"])
def test_gpu_node_groups_wait_for_the_networking_addons(workload_identity):
    """With bootstrap_self_managed_addons=False a node is NotReady until vpc-cni and kube-proxy run."""
    spec = make_spec(PROD_SPEC, aws={"workload_identity": workload_identity})
    plan = _plan(spec)
    addons = {a.inputs["addonName"]: a.urn for a in plan.of_type("aws:eks/addon:Addon")}
    before = {addons["vpc-cni"], addons["kube-proxy"]}
    if workload_identity == "pod_identity":
        before.add(addons["eks-pod-identity-agent"])
    gpu_groups = [n for n in plan.of_type(NODE_GROUP) if n.inputs.get("taints")]
    assert len(gpu_groups) == 2
    for group in [*gpu_groups, *_system_groups(plan)]:
        assert before <= set(group.dependencies), group.name


def test_log_groups_are_encrypted_with_a_cmk_scoped_to_them():
    """CloudWatch Logs user guide, encrypt-log-data-kms: the service principal uses the key only with
    an `aws:logs:arn` encryption context naming one of the platform's groups."""
    import json

    spec = make_spec(PROD_SPEC)
    plan = _plan(spec)
    groups = {g.inputs["name"]: g for g in plan.of_type("aws:cloudwatch/logGroup:LogGroup")}
    names = [
        "/aws/eks/acme-prod/cluster",
        "/aws/vpc/acme-prod/flow-logs",
        "/aws/codebuild/acme-prod-in-cluster",
    ]
    assert set(groups) == set(names)
    key = plan.one("aws:kms/key:Key", "acme-prod-logs-key")
    key_arn = f"arn:aws:kms:us-east-1:123456789012:key/{key.id}"
    assert {g.inputs["kmsKeyId"] for g in groups.values()} == {key_arn}
    assert key.protect and key.retain_on_delete and key.inputs["enableKeyRotation"] is True
    statements = {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}
    logs = statements["CloudWatchLogsForTheseGroups"]
    assert logs["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    assert logs["Condition"] == {
        "ArnEquals": {
            "kms:EncryptionContext:aws:logs:arn": [
                f"arn:aws:logs:us-east-1:123456789012:log-group:{name}" for name in names
            ]
        }
    }
    assert groups["/aws/vpc/acme-prod/flow-logs"].inputs["retentionInDays"] >= 365


def test_prod_flow_logs_are_kept_at_least_a_year():
    assert make_spec(PROD_SPEC).network.flow_log_retention_days == 365
    with pytest.raises(SpecError, match=r"network\.flow_log_retention_days.*365"):
        make_spec(PROD_SPEC, network={"flow_log_retention_days": 90})
    # dev/staging may keep less
    assert (
        make_spec(network={"flow_logs": True, "flow_log_retention_days": 30}).network.flow_log_retention_days
        == 30
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"cluster": {"log_retention_days": 100}}, "cluster.log_retention_days"),
        ({"network": {"flow_logs": True, "flow_log_retention_days": 100}}, "network.flow_log_retention_days"),
    ],
)
def test_a_log_retention_cloudwatch_rejects_is_refused_before_registration(overrides, field):
    """CloudWatch Logs keeps logs 1, 3, 5, ... 365, 400, ... 3653 days and nothing in between (pulumi-aws
    cloudwatch.LogGroup retention_in_days): 100 passes the spec's 1-3653 range but fails at preview."""
    match = "^" + field.replace(".", r"\.") + r": 100 days .*allowed: .*\b90, 120\b"
    with pytest.raises(SpecError) as refused:
        make_spec(**overrides)  # the spec refuses it (mlinfra.spec AwsRules.log_retention)
    assert refused.value.errors[0][0] == field and re.match(match, f"{field}: {refused.value.reason}")
    # the platform refuses it too, for a spec changed after validation (the same rule)
    spec = make_spec(network={"flow_logs": True, "flow_log_retention_days": 90})
    section, key = field.split(".")
    setattr(getattr(spec, section), key, 100)
    with pytest.raises(SpecError, match=match):
        MlPlatform(spec.prefix, spec)  # outside any Pulumi run: raised before a registration is tried


def test_model_workloads_wait_for_the_gpu_pools_they_land_on():
    """pool_dependencies (hooks contract A): a model's Deployment/InferenceService depends on the node
    group of its GPU pool, so the first `pulumi up` creates the nodes before waiting for the pods."""
    spec = make_spec(
        cluster={"api_access": "public", "public_access_cidrs": ["203.0.113.0/24"]},
        serving={"models": [{"name": "m", "runtime": "kserve", "gpu_pool": "a10g", "version": "v1/"}]},
    )
    plan = _plan(spec)
    (group,) = [n for n in plan.of_type(NODE_GROUP) if n.inputs.get("taints")]
    workloads = [
        r
        for r in plan.resources
        if r.type
        in ("kubernetes:apps/v1:Deployment", "kubernetes:serving.kserve.io/v1beta1:InferenceService")
        and "ModelDeployment" in r.urn
    ]
    assert workloads
    for workload in workloads:
        assert group.urn in workload.dependencies, workload.name


def test_system_node_groups_one_per_zone_in_that_zone():
    plan = _plan(make_spec(PROD_SPEC))
    subnets = {
        s.id: s.inputs["availabilityZone"]
        for s in plan.of_type("aws:ec2/subnet:Subnet")
        if "-private-" in s.name
    }
    groups = _system_groups(plan)
    zones = [subnets[g.inputs["subnetIds"][0]] for g in groups if len(g.inputs["subnetIds"]) == 1]
    assert sorted(zones) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert sum(g.inputs["scalingConfig"]["maxSize"] for g in groups) == 6


def test_the_plan_records_the_custom_timeouts_of_slow_eks_operations():
    """The plan JSON carries each resource's custom timeouts: EKS cluster delete 30m (provider default
    15m), node group updates 20 minutes per node the group may hold (default 60m)."""
    plan = _plan(make_spec(PROD_SPEC))
    doc = {r["urn"]: r for r in plan.to_json()["resources"]}
    eks_cluster = plan.one("aws:eks/cluster:Cluster")
    assert doc[eks_cluster.urn]["custom_timeouts"] == {"create": "30m", "update": "60m", "delete": "30m"}
    gpu = [r for r in plan.of_type(NODE_GROUP) if r.inputs.get("taints")]
    for group in gpu:
        max_nodes = int(group.inputs["scalingConfig"]["maxSize"])
        assert doc[group.urn]["custom_timeouts"]["update"] == f"{max(60, 20 * max_nodes)}m"
    for group in _system_groups(plan):
        assert doc[group.urn]["custom_timeouts"] == {"create": "60m", "update": "60m", "delete": "60m"}
