"""GpuNodePool on AKS: managed driver + the layer's plugin, explicit GPU taint, AKS's spot taint and
the toleration the layer needs for it, scale to zero, pool names AKS accepts."""

from __future__ import annotations

import pulumi
import pytest

from mlinfra.azure.gpu_node_pool import (
    SPOT_TAINT,
    GpuNodePool,
    GpuNodePoolArgs,
    pool_tolerations,
    spot_toleration,
)
from mlinfra.k8s.gpu import DEVICE_PLUGIN_CONFIG_LABEL
from mlinfra.k8s.scheduling import gpu_toleration
from mlinfra.spec import GpuPoolSpec
from tests.azure.support import RG, TAGS, plan_on_azure, refused_before_any_resource

POOL = "azure-native:containerservice:AgentPool"
SPOT = GpuPoolSpec(
    name="t4spot",
    machine_type="Standard_NC4as_T4_v3",
    capacity_type="spot",
    max_nodes=2,
    time_slicing_replicas=2,
)
ON_DEMAND = GpuPoolSpec(
    name="a100",
    machine_type="Standard_NC24ads_A100_v4",
    capacity_type="on_demand",
    min_nodes=1,
    desired_nodes=1,
    max_nodes=4,
)


def _args(pool: GpuPoolSpec, **kw) -> GpuNodePoolArgs:
    values = {
        "pool": pool,
        "cluster_name": "acme-dev",
        "resource_group_name": RG,
        "kubernetes_version": "1.33",
        "subnet_id": "/subnets/nodes",
        "zones": ["1", "2"],
        "tags": TAGS,
    }
    values.update(kw)
    return GpuNodePoolArgs(**values)


def _plan(pool: GpuPoolSpec, out: dict | None = None, transformations=None):
    def build(opts):
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(transformations=transformations or [])
        )
        component = GpuNodePool(f"gpu-{pool.name}", _args(pool), opts=opts)
        if out is not None:
            out["pool"] = component

    return plan_on_azure(build)


def test_on_demand_pool_installs_the_driver_and_carries_the_gpu_taint():
    p = _plan(ON_DEMAND).one(POOL).inputs
    assert p["agentPoolName"] == "a100" and p["mode"] == "User" and p["resourceName"] == "acme-dev"
    assert p["gpuProfile"] == {"driver": "Install"}  # AKS installs no device plugin: the layer's stays on
    assert p["nodeTaints"] == ["nvidia.com/gpu=true:NoSchedule"]  # AKS sets none itself
    assert (
        p["scaleSetPriority"] == "Regular" and "scaleSetEvictionPolicy" not in p and "spotMaxPrice" not in p
    )
    assert (p["minCount"], p["count"], p["maxCount"]) == (1, 1, 4) and p["enableAutoScaling"] is True
    assert p["upgradeSettings"] == {"maxSurge": "1"}
    assert p["enableNodePublicIP"] is False and p["enableEncryptionAtHost"] is True
    assert p["vmSize"] == "Standard_NC24ads_A100_v4" and p["availabilityZones"] == ["1", "2"]
    assert p["nodeLabels"] == {
        "mlinfra.io/gpu-node": "true",
        "mlinfra.io/pool": "a100",
        "mlinfra.io/accelerator": "nvidia-a100-80gb",
        "mlinfra.io/capacity-type": "on-demand",
    }
    assert p["tags"] == TAGS
    assert "osDiskType" not in p  # ephemeral where the size's cache holds the disk (AKS default)


def test_spot_pool_scales_to_zero_and_lists_aks_spot_taint():
    p = _plan(SPOT).one(POOL).inputs
    assert (
        p["scaleSetPriority"] == "Spot"
        and p["scaleSetEvictionPolicy"] == "Delete"
        and p["spotMaxPrice"] == -1
    )
    assert "upgradeSettings" not in p  # spot pools cannot set max surge
    assert p["minCount"] == 0 and p["count"] == 0
    assert p["nodeTaints"] == [
        "nvidia.com/gpu=true:NoSchedule",
        "kubernetes.azure.com/scalesetpriority=spot:NoSchedule",
    ]
    assert p["nodeLabels"][DEVICE_PLUGIN_CONFIG_LABEL] == "pool-t4spot"  # time-slicing config selector


def test_spot_pool_workloads_tolerate_the_aks_spot_taint():
    """Without it nothing schedules on spot GPU nodes (build sheet pitfall 17)."""
    assert pool_tolerations(SPOT) == [spot_toleration()]
    assert pool_tolerations(ON_DEMAND) == []
    toleration = spot_toleration()
    assert (toleration["key"], toleration["value"], toleration["effect"]) == (
        SPOT_TAINT["key"],
        SPOT_TAINT["value"],
        SPOT_TAINT["effect"],
    )
    out: dict = {}
    _plan(SPOT, out)
    assert out["pool"].scheduling().tolerations == [gpu_toleration(), toleration]


def test_count_is_left_to_the_autoscaler_and_a_replacement_deletes_first():
    seen = {}

    def capture(args: pulumi.ResourceTransformationArgs):
        seen[args.type_] = (args.opts.ignore_changes, args.opts.delete_before_replace)

    _plan(ON_DEMAND, transformations=[capture])
    assert seen[POOL] == (["count"], True)


@pytest.mark.parametrize(
    ("pool", "field"),
    [
        (SPOT.model_copy(update={"name": "t4-spot"}), "pool.name"),
        (SPOT.model_copy(update={"name": "averylongpoolname"}), "pool.name"),
        (SPOT.model_copy(update={"name": "system"}), "pool.name"),
        (SPOT.model_copy(update={"name": "platform"}), "pool.name"),
        (SPOT.model_copy(update={"machine_type": "g5.xlarge"}), "pool.machine_type"),
        (SPOT.model_copy(update={"labels": {"mlinfra.io/pool": "x"}}), "pool.labels.mlinfra.io/pool"),
        (
            SPOT.model_copy(update={"labels": {"kubernetes.azure.com/mode": "x"}}),
            "pool.labels.kubernetes.azure.com/mode",
        ),
    ],
)
def test_bad_pools_are_refused_before_any_resource(pool, field):
    error, registered = refused_before_any_resource(lambda opts: GpuNodePool("gpu", _args(pool), opts=opts))
    assert error.field == field
    assert registered == []


def test_unsupported_version_and_no_zones_are_refused():
    for kw, field in (({"kubernetes_version": "1.29"}, "kubernetes_version"), ({"zones": []}, "zones")):
        error, registered = refused_before_any_resource(
            lambda opts, kw=kw: GpuNodePool("gpu", _args(SPOT, **kw), opts=opts)
        )
        assert error.field == field and registered == []
