"""A GPU node pool on AKS: a user agent pool that scales to zero and only runs GPU work.

- `gpu_profile.driver = Install`: AKS installs the NVIDIA driver but no device plugin, so the
  in-cluster layer's plugin stays on (learn.microsoft.com aks/use-nvidia-gpu; KAITO ships its own
  plugin DaemonSet for the same reason: charts/kaito/workspace/templates/nvidia-device-plugin-ds.yaml).
- Taints: AKS sets none for GPU pools, so the pool carries `nvidia.com/gpu` (the shared GPU taint,
  mlinfra.k8s.scheduling) explicitly. A spot pool is also tainted by AKS itself with
  `kubernetes.azure.com/scalesetpriority=spot:NoSchedule` (learn.microsoft.com aks/spot-node-pool);
  it is listed in `node_taints` too so Pulumi's state matches the nodes, and the in-cluster layer
  gets the matching toleration for the pool's GPU daemons and model pods (`pool_tolerations`).
- Spot: eviction policy Delete (a deallocated spot VM keeps billing its disk and its quota), max
  price -1 (pay up to the on-demand price, never evicted for price), no max surge (spot pools cannot
  set it: Azure/AKS-Construction bicep/aksagentpool.bicep).
- The managed cluster autoscaler owns the node count (scale from zero needs no node-template tags
  on AKS); the OS disk is ephemeral where the size's cache holds it (AKS's default when the disk
  type is left unset: SDK `os_disk_type`), managed and encrypted with the cluster's disk
  encryption set otherwise; no node public IPs; encryption at host where the subscription has it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_azure_native import containerservice

from mlinfra.catalog import GpuMachineType
from mlinfra.components import child
from mlinfra.k8s.gpu import device_plugin_node_labels
from mlinfra.k8s.scheduling import (
    Scheduling,
    gpu_node_labels,
    gpu_scheduling,
    gpu_taint,
)
from mlinfra.nodepools import check_gpu_pool
from mlinfra.spec import GpuPoolSpec, SpecError, check_aks_pool_name

# AKS's own spot taint and label (learn.microsoft.com aks/spot-node-pool, "Spot node pool").
SPOT_TAINT: dict[str, str] = {
    "key": "kubernetes.azure.com/scalesetpriority",
    "value": "spot",
    "effect": "NoSchedule",
}
SPOT_MAX_PRICE = -1.0  # "-1 ... willingness to pay any on-demand price" (SDK spot_max_price)
OS_SKU = "Ubuntu"
MAX_SURGE = "1"  # one extra GPU node at a time during upgrades (on-demand pools only)


def taint_string(taint: Mapping[str, str]) -> str:
    """`key=value:Effect`, the form AgentPool.node_taints takes."""
    return f"{taint['key']}={taint['value']}:{taint['effect']}"


def spot_toleration() -> dict[str, str]:
    """The toleration GPU daemons and model pods on an AKS spot pool need."""
    return {
        "key": SPOT_TAINT["key"],
        "operator": "Equal",
        "value": SPOT_TAINT["value"],
        "effect": SPOT_TAINT["effect"],
    }


def pool_tolerations(pool: GpuPoolSpec) -> list[dict[str, str]]:
    """Tolerations a pool needs besides the GPU taint (the layer's `pool_tolerations` hook)."""
    return [spot_toleration()] if pool.capacity_type == "spot" else []


@dataclass
class GpuNodePoolArgs:
    """Inputs of a GPU node pool.

    pool: the pool's static settings (machine type, capacity type, sizes, disk, labels).
    cluster_name / resource_group_name: the AKS cluster to join.
    kubernetes_version: pinned minor of the nodes (the cluster's version).
    subnet_id: the node subnet (nodes never get public IPs).
    zones: availability zones the pool spreads over (the size must be offered there).
    encryption_at_host: encrypt temp disks and caches (subscription feature EncryptionAtHost).
    tags: tags for the agent pool (AKS copies them to the scale set).
    """

    pool: GpuPoolSpec
    cluster_name: pulumi.Input[str]
    resource_group_name: pulumi.Input[str]
    kubernetes_version: str
    subnet_id: pulumi.Input[str]
    zones: Sequence[str]
    encryption_at_host: bool = True
    tags: Mapping[str, str] = field(default_factory=dict)


class GpuNodePool(pulumi.ComponentResource):
    """An AKS user agent pool of one GPU VM size, tainted for GPU work only."""

    pool_name: pulumi.Output[str]
    machine_type: GpuMachineType
    labels: dict[str, str]
    taints: list[str]

    def __init__(self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None):
        # Validate everything static before the first registration.
        pool = args.pool
        check_aks_pool_name(pool.name, "pool.name")
        machine = check_gpu_pool("azure", pool, args.kubernetes_version)
        if not args.zones:
            raise SpecError("at least one availability zone", "zones")

        super().__init__("mlinfra:azure:GpuNodePool", name, None, opts)
        self.machine_type = machine
        self.pool = pool
        spot = pool.capacity_type == "spot"
        # The device-plugin config label selects the pool's time-slicing config (none when unshared).
        self.labels = {
            **gpu_node_labels(pool.name, machine.gpu_model, pool.capacity_type, dict(pool.labels)),
            **device_plugin_node_labels(pool),
        }
        self.taints = [taint_string(gpu_taint()), *([taint_string(SPOT_TAINT)] if spot else [])]

        agent_pool = containerservice.AgentPool(
            f"{name}-pool",
            agent_pool_name=pool.name,
            resource_name_=args.cluster_name,
            resource_group_name=args.resource_group_name,
            mode="User",
            vm_size=pool.machine_type,
            os_type="Linux",
            os_sku=OS_SKU,
            type="VirtualMachineScaleSets",
            orchestrator_version=args.kubernetes_version,
            enable_auto_scaling=True,
            count=pool.desired_nodes,
            min_count=pool.min_nodes,
            max_count=pool.max_nodes,
            availability_zones=list(args.zones),
            vnet_subnet_id=args.subnet_id,
            enable_node_public_ip=False,
            enable_encryption_at_host=args.encryption_at_host,
            os_disk_size_gb=pool.disk_size_gb,
            gpu_profile=containerservice.GPUProfileArgs(driver="Install"),
            node_taints=self.taints,
            node_labels=self.labels,
            scale_set_priority="Spot" if spot else "Regular",
            scale_set_eviction_policy="Delete" if spot else None,  # SDK: only with Spot
            spot_max_price=SPOT_MAX_PRICE if spot else None,
            upgrade_settings=None
            if spot
            else containerservice.AgentPoolUpgradeSettingsArgs(max_surge=MAX_SURGE),
            tags=dict(args.tags),
            # The autoscaler owns the count after creation; a later `pulumi up` must not reset it.
            # A fixed pool name means a replacement (new VM size, new zones) must delete first.
            opts=child(
                self,
                ignore_changes=["count"],
                delete_before_replace=True,
                custom_timeouts=pulumi.CustomTimeouts(create="30m", update="30m", delete="30m"),
            ),
        )
        self.agent_pool = agent_pool
        self.pool_name = agent_pool.name
        self.register_outputs({"pool_name": self.pool_name, "labels": self.labels, "taints": self.taints})

    def scheduling(self) -> Scheduling:
        """Tolerations and node selector that put a pod on this pool (spot pools add the AKS spot taint)."""
        base = gpu_scheduling(self.pool.name)
        return Scheduling(
            tolerations=[*base.tolerations, *pool_tolerations(self.pool)], node_selector=base.node_selector
        )
