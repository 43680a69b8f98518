"""A GPU node pool on GKE: scales to zero, runs GPU work only, in the zones that have its GPU.

GKE installs the NVIDIA driver (`gpu_driver_installation_config`) and its own device plugin, so
the in-cluster layer installs none here; GPU time-sharing is the pool's `gpu_sharing_config`
(GKE advertises `max_shared_clients_per_gpu` x GPUs as `nvidia.com/gpu`). The pool carries the
`nvidia.com/gpu=present:NoSchedule` taint explicitly: GKE adds it on its own only when a non-GPU
pool already exists, and pools created right after the default pool's removal came up untainted
(build sheet pitfall 1), which lets any pod land on (and keep alive) an expensive GPU node. The
pool is created after the system pool for the same reason. Sizes are whole-pool totals (nodes.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_gcp import container

from mlinfra.catalog import GpuMachineType, accelerator_zones, gke_accelerator
from mlinfra.gcp.nodes import GPU_SURGE, node_config, node_pool
from mlinfra.k8s.scheduling import (
    GPU_TAINT_EFFECT,
    GPU_TAINT_KEY,
    Scheduling,
    gpu_node_labels,
    gpu_scheduling,
)
from mlinfra.nodepools import API_TAINT_EFFECT, check_gpu_pool
from mlinfra.spec import GCP_SYSTEM_POOL, GpuPoolSpec, SpecError, gcp_nodes_per_zone

# GKE's own value of the GPU taint (GKE "Run GPUs in Standard node pools"); tolerations use
# `Exists`, so the value only has to match what GKE itself would set.
GKE_GPU_TAINT_VALUE = "present"
# The driver GKE installs: LATEST of the node version (accelerated-platforms
# _shared_config/cluster_variables.tf `cluster_gpu_driver_version` default); current serving images
# (CUDA 12.x) need recent drivers.
GPU_DRIVER_VERSION = "LATEST"
# Spot capacity is taken wherever it exists ("ANY reduces preemption risk for Spot VMs",
# NodePoolAutoscalingArgs.location_policy); on-demand nodes are balanced across zones.
LOCATION_POLICY = {"spot": "ANY", "on_demand": "BALANCED"}
# Kubernetes and GKE reserve these label prefixes on nodes (NodeConfig.labels docstring).
_RESERVED_PREFIXES = ("kubernetes.io/", "k8s.io/", "cloud.google.com/")


@dataclass
class GpuNodePoolArgs:
    """Inputs of a GPU node pool.

    pool: the pool's static settings (machine type, capacity type, sizes, disk, labels, sharing).
    cluster: the GKE cluster's id; location: its location (region, or zone of a zonal cluster).
    project / region: where; zones: the cluster's zones (the pool uses those offering its GPU).
    service_account: the node service account's e-mail (nodes.py).
    boot_disk_kms_key: Cloud KMS key of the boot disks (the Compute Engine agent may use it).
    after: resources the pool is created after (the system pool, the key grants).
    labels: GCP labels for the nodes.
    """

    pool: GpuPoolSpec
    cluster: pulumi.Input[str]
    location: pulumi.Input[str]
    project: str
    region: str
    zones: Sequence[str]
    service_account: pulumi.Input[str]
    boot_disk_kms_key: pulumi.Input[str]
    after: Sequence[pulumi.Resource] = ()
    labels: Mapping[str, str] = field(default_factory=dict)


def pool_zones(machine: GpuMachineType, region: str, zones: Sequence[str]) -> list[str]:
    """The zones of `zones` that offer the machine type's GPU (mlinfra.catalog.GCP_ACCELERATOR_ZONES)."""
    accelerator = gke_accelerator(machine)
    offered = accelerator_zones(accelerator, region)
    usable = [z for z in zones if z in offered]
    if not usable:
        raise SpecError(
            f"none of the zones {list(zones)} offers {accelerator} ({machine.name}); "
            f"zones of {region} with it: {', '.join(offered) or 'none'}",
            "zones",
        )
    return usable


class GpuNodePool(pulumi.ComponentResource):
    """A GKE node pool of one GPU machine type, tainted for GPU work only."""

    node_pool_name: pulumi.Output[str]
    node_pool_id: pulumi.Output[str]
    machine_type: GpuMachineType
    accelerator: str
    node_locations: list[str]
    labels: dict[str, str]

    def __init__(self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None):
        # Validate everything static before the first registration.
        pool = args.pool
        machine = check_gpu_pool("gcp", pool)
        if pool.name == GCP_SYSTEM_POOL:
            raise SpecError(f"{pool.name!r} is the system node pool's name", "pool.name")
        reserved = sorted(k for k in pool.labels if k.startswith(_RESERVED_PREFIXES))
        if reserved:
            raise SpecError(
                f"labels {reserved} use prefixes GKE reserves ({', '.join(_RESERVED_PREFIXES)})",
                "pool.labels",
            )
        zones = pool_zones(machine, args.region, args.zones)
        per_zone = gcp_nodes_per_zone(pool.desired_nodes, len(zones), "pool.desired_nodes")

        super().__init__("mlinfra:gcp:GpuNodePool", name, None, opts)
        self.pool = pool
        self.machine_type = machine
        self.accelerator = gke_accelerator(machine)
        self.node_locations = zones
        self.labels = gpu_node_labels(pool.name, machine.gpu_model, pool.capacity_type, dict(pool.labels))

        sharing = (
            container.NodePoolNodeConfigGuestAcceleratorGpuSharingConfigArgs(
                gpu_sharing_strategy="TIME_SHARING", max_shared_clients_per_gpu=pool.time_slicing_replicas
            )
            if pool.time_slicing_replicas > 1
            else None
        )
        accelerator = container.NodePoolNodeConfigGuestAcceleratorArgs(
            type=self.accelerator,
            count=machine.gpus,
            gpu_driver_installation_config=container.NodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfigArgs(
                gpu_driver_version=GPU_DRIVER_VERSION
            ),
            gpu_sharing_config=sharing,
        )
        gke_pool = node_pool(
            self,
            f"{name}-pool",
            pool_name=pool.name,
            cluster=args.cluster,
            location=args.location,
            project=args.project,
            node_locations=zones,
            min_nodes=pool.min_nodes,
            max_nodes=pool.max_nodes,
            nodes_per_zone=per_zone,
            location_policy=LOCATION_POLICY[pool.capacity_type],
            config=node_config(
                machine_type=pool.machine_type,
                disk_size_gb=pool.disk_size_gb,
                service_account=args.service_account,
                boot_disk_kms_key=args.boot_disk_kms_key,
                labels=self.labels,
                resource_labels=args.labels,
                taints=[
                    container.NodePoolNodeConfigTaintArgs(
                        key=GPU_TAINT_KEY,
                        value=GKE_GPU_TAINT_VALUE,
                        effect=API_TAINT_EFFECT[GPU_TAINT_EFFECT],
                    )
                ],
                guest_accelerators=[accelerator],
                spot=pool.capacity_type == "spot",
            ),
            depends_on=args.after,
            surge=GPU_SURGE,
        )

        self.node_pool_name = gke_pool.name
        self.node_pool_id = gke_pool.id
        self.register_outputs(
            {
                "node_pool_name": self.node_pool_name,
                "node_pool_id": self.node_pool_id,
                "node_locations": self.node_locations,
                "accelerator": self.accelerator,
            }
        )

    def scheduling(self) -> Scheduling:
        """Tolerations and node selector that put a pod on this pool."""
        return gpu_scheduling(self.pool.name)
