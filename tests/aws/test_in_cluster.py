"""AWS's cluster objects (StorageClass, Cluster Autoscaler) on both deployment paths."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from mlinfra.aws.cluster import CLUSTER_AUTOSCALER, STORAGE_CLASS
from mlinfra.aws.in_cluster import (
    PRIORITY_ANY,
    PRIORITY_ON_DEMAND,
    PRIORITY_SPOT,
    expander_priorities,
)
from mlinfra.k8s.charts import CLUSTER_AUTOSCALER as CA_CHARTS
from mlinfra.offline import Plan, plan_stack, run_program
from mlinfra.platform import MlPlatform
from tests.conftest import make_spec, plan_of
from tests.k8s.chart_data import defaults, unread_keys

ROOT = Path(__file__).resolve().parents[2]
RELEASE = "kubernetes:helm.sh/v3:Release"
SC = "kubernetes:storage.k8s.io/v1:StorageClass"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


@cache
def _stack(stack_dir: str, stack: str) -> Plan:
    return plan_stack(ROOT / stack_dir, stack)


def _autoscaler(plan: Plan):
    return next(r for r in plan.of_type(RELEASE) if r.inputs["name"] == "cluster-autoscaler")


@pytest.mark.parametrize(("stack_dir", "stack"), [("stacks/aws", "dev"), ("stacks/aws-in-cluster", "prod")])
def test_default_storage_class_is_encrypted_gp3_under_the_node_volume_key(stack_dir, stack):
    plan = _stack(stack_dir, stack)
    platform = _stack("stacks/aws", stack)
    sc = plan.one(SC)
    assert sc.inputs["metadata"]["name"] == STORAGE_CLASS
    assert sc.inputs["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    assert sc.inputs["provisioner"] == "ebs.csi.aws.com"
    assert sc.inputs["parameters"] == {
        "type": "gp3",
        "encrypted": "true",
        "kmsKeyId": platform.outputs["node_volume_key_arn"],
    }
    assert sc.inputs["volumeBindingMode"] == "WaitForFirstConsumer"
    assert sc.inputs["allowVolumeExpansion"] is True
    assert sc.inputs["reclaimPolicy"] == ("Retain" if stack == "prod" else "Delete")


def test_cluster_autoscaler_release_on_the_private_path():
    plan, platform = _stack("stacks/aws-in-cluster", "prod"), _stack("stacks/aws", "prod")
    rel = _autoscaler(plan)
    pin = CA_CHARTS["1.33"]
    assert (rel.inputs["chart"], rel.inputs["version"]) == (pin.chart, pin.version)
    assert rel.inputs["repositoryOpts"] == {"repo": pin.repo}
    assert rel.inputs["namespace"] == "kube-system"
    assert rel.inputs["atomic"] is True
    values = rel.inputs["values"]
    assert values["autoDiscovery"] == {"clusterName": "acme-ml-prod"}
    assert values["awsRegion"] == "us-east-1"
    assert values["image"]["tag"] == CLUSTER_AUTOSCALER["1.33"][1]
    assert values["nodeSelector"] == {"mlinfra.io/pool": "system"}
    role = next(
        r for r in platform.of_type("aws:iam/role:Role") if r.name.endswith("cluster-cluster-autoscaler-role")
    )
    sa = values["rbac"]["serviceAccount"]
    assert sa["name"] == "cluster-autoscaler"
    assert sa["annotations"] == {"eks.amazonaws.com/role-arn": f"arn:aws:iam::123456789012:role/{role.id}"}
    args = values["extraArgs"]
    assert args["balance-similar-node-groups"] == "true"
    assert args["skip-nodes-with-system-pods"] == "false"


# Upstream: the labels the AWS node-group comparator of cluster-autoscaler ignores when it decides whether
# two node groups are similar (--balance-similar-node-groups), per image tag pinned in
# mlinfra.aws.cluster: processors/nodegroupset/aws_nodegroups.go (awsIgnoredLabels) plus
# compare_nodegroups.go (BasicIgnoredLabels: hostname, the zone and region labels, beta and stable),
# read at kubernetes/autoscaler tags cluster-autoscaler-1.32.5, -1.33.3 and -1.34.2 (the same set in all
# three; topology.k8s.aws/zone-id joined it in 1.32.6 / 1.33.4 / 1.34.3, kubernetes/autoscaler#8910).
_IGNORED_BEFORE_8910 = frozenset(
    {
        "kubernetes.io/hostname",
        "failure-domain.beta.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region",
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "beta.kubernetes.io/fluentd-ds-ready",
        "kops.k8s.io/instancegroup",
        "alpha.eksctl.io/instance-id",
        "alpha.eksctl.io/nodegroup-name",
        "eks.amazonaws.com/nodegroup",
        "k8s.amazonaws.com/eniConfig",
        "lifecycle",
        "topology.ebs.csi.aws.com/zone",
    }
)
CA_IGNORED_LABELS = {
    "v1.32.5": _IGNORED_BEFORE_8910,
    "v1.33.3": _IGNORED_BEFORE_8910,
    "v1.34.2": _IGNORED_BEFORE_8910,
}
# The labels whose values differ between nodes of two per-zone system groups (same launch template, AMI
# type, instance type and mlinfra labels): the node name, its zone (stable, beta and the EBS CSI
# driver's), the zone ID EKS adds from 1.30 (EKS user guide, kubernetes-versions-standard) and EKS's own
# node group label.
ZONE_GROUP_DIFFERENCES = frozenset(
    {
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/zone",
        "topology.ebs.csi.aws.com/zone",
        "topology.k8s.aws/zone-id",
        "eks.amazonaws.com/nodegroup",
    }
)


def test_balance_similar_node_groups_can_balance_the_per_zone_system_groups():
    """Every label that differs between two zone groups is ignored by the pinned autoscaler's comparator
    or named by --balancing-ignore-label; else the groups are never similar and never balanced."""
    args = _autoscaler(_stack("stacks/aws-in-cluster", "prod")).inputs["values"]["extraArgs"]
    assert args["balance-similar-node-groups"] == "true"
    extra = {args["balancing-ignore-label"]} if "balancing-ignore-label" in args else set()
    for minor, (_, image) in sorted(CLUSTER_AUTOSCALER.items()):
        # A KeyError here: the image pin moved; read its aws_nodegroups.go and add its ignored labels.
        not_ignored = ZONE_GROUP_DIFFERENCES - CA_IGNORED_LABELS[image] - extra
        assert not not_ignored, (minor, image, sorted(not_ignored))


def test_autoscaler_prefers_on_demand_gpu_groups_and_falls_back_to_spot():
    """Priority expander (cluster-autoscaler expander/priority/readme.md): the on-demand a10g ASG wins
    over the spot one; the spot group is used when the on-demand one cannot grow; every other group
    stays expandable through the catch-all."""
    plan, platform = _stack("stacks/aws-in-cluster", "prod"), _stack("stacks/aws", "prod")
    values = _autoscaler(plan).inputs["values"]
    assert values["extraArgs"]["expander"] == "priority,least-waste"
    asg = {}
    for ng in platform.of_type(NODE_GROUP):
        pool = ng.inputs["labels"].get("mlinfra.io/pool")
        asg[pool] = f"eks-{ng.inputs.get('nodeGroupName') or ng.id.split(':')[1]}"
    priorities = values["expanderPriorities"]
    assert set(priorities) == {str(PRIORITY_ON_DEMAND), str(PRIORITY_SPOT), str(PRIORITY_ANY)}
    assert int(max(priorities, key=int)) == PRIORITY_ON_DEMAND > PRIORITY_SPOT > PRIORITY_ANY
    tags = {t.inputs["autoscalingGroupName"] for t in platform.of_type("aws:autoscaling/tag:Tag")}
    (on_demand,) = priorities[str(PRIORITY_ON_DEMAND)]
    (spot,) = priorities[str(PRIORITY_SPOT)]
    assert priorities[str(PRIORITY_ANY)] == [".*"]
    # Each regex matches exactly one GPU ASG (the one the node-template tags go to), the right one.
    matched = {regex: [name for name in tags if re.fullmatch(regex, name)] for regex in (on_demand, spot)}
    assert all(len(m) == 1 for m in matched.values()), matched
    assert asg["a10g"].split("-ng-")[0] in matched[on_demand][0]
    assert "a10g-spot" in matched[spot][0] and "a10g-spot" not in matched[on_demand][0]


def test_priorities_without_on_demand_pools_keep_spot_and_catch_all():
    assert expander_priorities([{"pool": "s", "capacity_type": "spot", "autoscaling_group": "eks-s.1"}]) == {
        str(PRIORITY_SPOT): [r"^eks\-s\.1$"],
        str(PRIORITY_ANY): [".*"],
    }


@pytest.mark.parametrize("minor", sorted(CA_CHARTS))
def test_autoscaler_values_are_read_by_every_pinned_chart(minor):
    """Every key we set exists in the pinned chart's values.yaml (../shared/charts), incl. expanderPriorities."""
    values = _autoscaler(_stack("stacks/aws", "dev")).inputs["values"]
    pin = CA_CHARTS[minor]
    # extraArgs (any cluster-autoscaler flag: templates/deployment.yaml renders each key as
    # --<key>=<value>) is a free-form map in mlinfra.charts.values.FREE_FORM.
    assert unread_keys(values, pin) == []
    assert "expanderPriorities" in defaults(pin) and "additionalLabels" in defaults(pin)


def test_autoscaler_labels_go_through_chart_labels():
    """The chart writes app.kubernetes.io/managed-by itself (templates/_helpers.tpl): a second copy from
    additionalLabels is a duplicate YAML key that Helm refuses (issue 9)."""
    for plan in (_stack("stacks/aws", "dev"), _stack("stacks/aws-in-cluster", "prod")):
        labels = _autoscaler(plan).inputs["values"]["additionalLabels"]
        assert labels and not [k for k in labels if k.startswith("app.kubernetes.io/")]
        assert {"owner", "cost-center", "environment"} <= set(labels)


def test_one_stack_path_keeps_the_moved_objects_by_alias():
    """Provider, StorageClass and autoscaler moved from the Cluster component to the platform: each
    carries an alias to its old URN, so `pulumi up` on an existing dev stack does not replace them."""
    plan = _stack("stacks/aws", "dev")
    old_parent = "urn:pulumi:dev::mlinfra-aws::mlinfra:aws:Platform$mlinfra:aws:Cluster$"
    for type_, name in (
        ("pulumi:providers:kubernetes", "acme-ml-dev-cluster-k8s"),
        (SC, "acme-ml-dev-cluster-gp3-encrypted"),
        (RELEASE, "acme-ml-dev-cluster-cluster-autoscaler"),
    ):
        record = plan.one(type_, name)
        assert f"{old_parent}{type_}::{name}" in record.aliases, record.aliases


def test_private_platform_registers_no_kubernetes_resource_and_the_in_cluster_stack_does():
    for env in ("staging", "prod"):
        platform = _stack("stacks/aws", env)
        assert not [r for r in platform.resources if "kubernetes" in r.type.split(":")[0:2]]
        layer = _stack("stacks/aws-in-cluster", env)
        types = {r.type for r in layer.resources}
        assert {SC, RELEASE, "mlinfra:aws:InClusterPlatform", "mlinfra:k8s:ModelDeployment"} <= types
        assert not [r for r in layer.resources if r.type.startswith("aws:")]


def test_model_weights_and_identities_come_from_the_platform_stack():
    platform, layer = _stack("stacks/aws", "prod"), _stack("stacks/aws-in-cluster", "prod")
    (isvc, *_) = [
        r
        for r in layer.of_type("kubernetes:serving.kserve.io/v1beta1:InferenceService")
        if "canary" not in r.name
    ]
    bucket = platform.outputs["artifact_bucket"]
    (download,) = isvc.inputs["spec"]["predictor"]["initContainers"]
    assert f"s3://{bucket}/models/reranker/2026-10-01/" in download["command"]
    sa = next(
        r
        for r in layer.of_type("kubernetes:core/v1:ServiceAccount")
        if r.inputs["metadata"]["name"] == "reranker"
    )
    role = next(
        r
        for r in platform.of_type("aws:iam/role:Role")
        if r.name == "acme-ml-prod-model-reranker-identity-role"
    )
    assert sa.inputs["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": f"arn:aws:iam::123456789012:role/{role.id}"
    }


def test_same_layer_on_both_paths():
    """The in-cluster stack of a private spec registers exactly what the one-stack path registers for
    the same spec made public: both are mlinfra.platform.install_in_cluster."""
    import pulumi

    from mlinfra.platform import IN_CLUSTER_OUTPUT, KUBECONFIG_OUTPUT, InClusterPlatform

    public = make_spec(cluster={"api_access": "public", "public_access_cidrs": ["203.0.113.0/24"]})
    private = make_spec(cluster={"api_access": "private"})

    def platform_program(spec):
        platform = MlPlatform(spec.prefix, spec)
        pulumi.export(KUBECONFIG_OUTPUT, platform.kubeconfig)
        pulumi.export(IN_CLUSTER_OUTPUT, platform.in_cluster)

    one_stack = plan_of(lambda: platform_program(public), region=public.region)
    private_platform = plan_of(lambda: platform_program(private), region=private.region)
    layer = run_program(
        lambda: InClusterPlatform(private.prefix, private, "organization/p/test"),
        project="mlinfra-test",
        stack="test",
        stack_references={
            "organization/p/test": (private_platform.raw_outputs, private_platform.secret_outputs)
        },
    )

    def k8s(plan):
        return sorted(
            (r.type, r.name) for r in plan.resources if r.type.startswith(("kubernetes:", "mlinfra:k8s:"))
        )

    assert k8s(layer) == k8s(one_stack) and len(k8s(layer)) > 30
    assert not [r for r in private_platform.resources if r.type.startswith("kubernetes:")]
