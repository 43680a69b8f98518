"""GpuNodePool on GKE: accelerator from the catalogue, managed driver, explicit taint, labels,
spot, whole-pool totals, zones that offer the GPU, created after the system pool."""

from __future__ import annotations

import pulumi
import pytest

from mlinfra.catalog import GCP_ACCELERATOR_ZONES, REGION_ZONES
from mlinfra.gcp.gpu_node_pool import GKE_GPU_TAINT_VALUE, GpuNodePool, GpuNodePoolArgs
from mlinfra.k8s.scheduling import GPU_TAINT_KEY, gpu_taint, gpu_toleration
from mlinfra.spec import GpuPoolSpec
from tests.gcp.support import PROJECT, REGION, TAGS, options_of, plan_gcp, refused_before_any_resource

POOL = "gcp:container/nodePool:NodePool"
CLUSTER = f"projects/{PROJECT}/locations/{REGION}/clusters/acme-ml-dev"
ZONES = ["us-central1-a", "us-central1-b", "us-central1-c"]


class _System(pulumi.CustomResource):
    def __init__(self, name, opts=None):
        super().__init__("gcp:container/nodePool:NodePool", name, {"name": "system"}, opts)


def _args(pool: GpuPoolSpec, **overrides) -> GpuNodePoolArgs:
    values = dict(
        pool=pool,
        cluster=CLUSTER,
        location=REGION,
        project=PROJECT,
        region=REGION,
        zones=ZONES,
        service_account=f"acme-ml-dev-nodes@{PROJECT}.iam.gserviceaccount.com",
        boot_disk_kms_key="projects/p/locations/us-central1/keyRings/r/cryptoKeys/node-disks",
        labels=TAGS,
    )
    values.update(overrides)
    return GpuNodePoolArgs(**values)


def _plan(pool: GpuPoolSpec, with_system: bool = False, **overrides):
    def build(opts):
        after = [_System("system", opts=opts)] if with_system else []
        GpuNodePool("gpu", _args(pool, after=after, **overrides), opts=opts)

    return plan_gcp(build)


def _gpu_pool(plan):
    return next(r for r in plan.of_type(POOL) if r.name == "gpu-pool")


SPOT_L4 = GpuPoolSpec(name="l4-spot", machine_type="g2-standard-8", capacity_type="spot", max_nodes=4)
ON_DEMAND_A100 = GpuPoolSpec(
    name="a100",
    machine_type="a2-highgpu-2g",
    capacity_type="on_demand",
    min_nodes=1,
    desired_nodes=3,
    max_nodes=3,
)


def test_spot_l4_pool_scales_to_zero_with_the_managed_driver():
    pool = _gpu_pool(_plan(SPOT_L4)).inputs
    config = pool["nodeConfig"]
    assert config["machineType"] == "g2-standard-8"
    assert config["spot"] is True
    assert config["guestAccelerators"] == [
        {"type": "nvidia-l4", "count": 1, "gpuDriverInstallationConfig": {"gpuDriverVersion": "LATEST"}}
    ]
    assert pool["autoscaling"]["locationPolicy"] == "ANY"
    assert pool["initialNodeCount"] == 0


def test_gpu_pool_carries_the_gpu_taint_explicitly():
    """Pitfall: GKE taints GPU pools itself only when a non-GPU pool exists; pools created in parallel
    with the default pool's removal came up untainted."""
    taints = _gpu_pool(_plan(SPOT_L4)).inputs["nodeConfig"]["taints"]
    assert taints == [{"key": GPU_TAINT_KEY, "value": GKE_GPU_TAINT_VALUE, "effect": "NO_SCHEDULE"}]
    # The layer's toleration (operator Exists) matches GKE's value as well as the taint helper's key/effect.
    assert gpu_toleration() == {
        "key": gpu_taint()["key"],
        "operator": "Exists",
        "effect": gpu_taint()["effect"],
    }


def test_pool_labels_are_the_shared_ones_without_a_device_plugin_config():
    pool = SPOT_L4.model_copy(update={"labels": {"team": "search"}, "time_slicing_replicas": 4})
    labels = _gpu_pool(_plan(pool)).inputs["nodeConfig"]["labels"]
    assert labels == {
        "team": "search",
        "mlinfra.io/gpu-node": "true",
        "mlinfra.io/pool": "l4-spot",
        "mlinfra.io/accelerator": "nvidia-l4",
        "mlinfra.io/capacity-type": "spot",
    }


def test_time_slicing_is_gke_gpu_sharing():
    pool = SPOT_L4.model_copy(update={"time_slicing_replicas": 4})
    accelerator = _gpu_pool(_plan(pool)).inputs["nodeConfig"]["guestAccelerators"][0]
    assert accelerator["gpuSharingConfig"] == {
        "gpuSharingStrategy": "TIME_SHARING",
        "maxSharedClientsPerGpu": 4,
    }
    assert "gpuSharingConfig" not in _gpu_pool(_plan(SPOT_L4)).inputs["nodeConfig"]["guestAccelerators"][0]


def test_autoscaling_bounds_are_whole_pool_totals_not_per_zone():
    """Pitfall: min/max_node_count are per zone (max 3 in 3 zones = 9 A100 nodes)."""
    pool = _gpu_pool(_plan(ON_DEMAND_A100)).inputs
    assert pool["autoscaling"] == {
        "totalMinNodeCount": 1,
        "totalMaxNodeCount": 3,
        "locationPolicy": "BALANCED",
    }
    assert pool["nodeConfig"]["guestAccelerators"][0]["count"] == 2  # a2-highgpu-2g
    assert pool["initialNodeCount"] == 1  # desired 3 over 3 zones: 1 per zone


def test_node_locations_are_the_zones_that_offer_the_accelerator():
    """Pitfall: a zone without the GPU fails the pool's creation."""
    h100 = GpuPoolSpec(name="h100", machine_type="a3-highgpu-8g", max_nodes=2)
    a100_80 = GpuPoolSpec(name="a100-80", machine_type="a2-ultragpu-1g", max_nodes=2)
    zones = ["us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f"]
    assert _gpu_pool(_plan(h100, zones=zones)).inputs["nodeLocations"] == [
        "us-central1-a",
        "us-central1-b",
        "us-central1-c",
    ]
    assert _gpu_pool(_plan(a100_80, zones=zones)).inputs["nodeLocations"] == [
        "us-central1-a",
        "us-central1-c",
    ]


def test_accelerator_zone_catalogue_lists_zones_of_their_region():
    for accelerator, regions in GCP_ACCELERATOR_ZONES.items():
        for region, zones in regions.items():
            assert zones and all(z.rsplit("-", 1)[0] == region for z in zones), (accelerator, region)
            assert set(zones) <= set(REGION_ZONES["gcp"][region]), (accelerator, region)


def test_gpu_pool_is_created_after_the_system_pool():
    plan = _plan(SPOT_L4, with_system=True)
    system = next(r for r in plan.of_type(POOL) if r.name == "system")
    assert system.urn in _gpu_pool(plan).dependencies


def test_pool_name_replacement_deletes_first_and_initial_count_is_left_to_the_autoscaler():
    [opts] = options_of(POOL, lambda o: GpuNodePool("gpu", _args(SPOT_L4), opts=o))
    assert (opts.ignore_changes, opts.delete_before_replace) == (["initialNodeCount"], True)


def test_node_security_settings():
    config = _gpu_pool(_plan(SPOT_L4)).inputs["nodeConfig"]
    assert config["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    assert config["bootDiskKmsKey"].endswith("/cryptoKeys/node-disks")
    assert config["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
    assert config["serviceAccount"].startswith("acme-ml-dev-nodes@")
    assert config["resourceLabels"] == TAGS
    assert config["diskSizeGb"] == SPOT_L4.disk_size_gb


@pytest.mark.parametrize(
    ("pool", "overrides", "field"),
    [
        (GpuPoolSpec(name="x", machine_type="g5.xlarge", max_nodes=1), {}, "pool.machine_type"),
        (
            SPOT_L4.model_copy(update={"labels": {"mlinfra.io/pool": "other"}}),
            {},
            "pool.labels.mlinfra.io/pool",
        ),
        (SPOT_L4.model_copy(update={"labels": {"cloud.google.com/gke-spot": "true"}}), {}, "pool.labels"),
        (SPOT_L4.model_copy(update={"name": "system"}), {}, "pool.name"),
        (
            GpuPoolSpec(name="a80", machine_type="a2-ultragpu-1g", max_nodes=1),
            {"zones": ["us-central1-b", "us-central1-f"]},
            "zones",
        ),
        (
            GpuPoolSpec(name="l4", machine_type="g2-standard-8", desired_nodes=2, max_nodes=2),
            {},
            "pool.desired_nodes",
        ),
    ],
)
def test_bad_input_is_refused_before_any_resource(pool, overrides, field):
    error, registered = refused_before_any_resource(
        lambda o: GpuNodePool("gpu", _args(pool, **overrides), opts=o)
    )
    assert error.field == field
    assert registered == []


def test_gpu_pool_upgrades_need_no_spare_gpu_quota():
    """A surge node would need one more GPU of quota than the pool's size (A100/H100 quotas are often
    exactly that): GPU pools upgrade one node down at a time instead."""
    assert _gpu_pool(_plan(SPOT_L4)).inputs["upgradeSettings"] == {
        "strategy": "SURGE",
        "maxSurge": 0,
        "maxUnavailable": 1,
    }
