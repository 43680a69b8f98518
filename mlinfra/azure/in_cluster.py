"""Azure's part of the in-cluster layer, in the shape of the cloud-agnostic deployment path
(hooks.md contract C: one module per cloud with `layer_hooks` and `cluster_objects`).

- `layer_hooks(spec)`: the static hooks of the in-cluster layer on AKS.
- `cloud_values(...)`: the dynamic values `cluster_objects` reads (what the platform exports for
  an in-cluster stack).
- `cluster_objects(name, spec, values, opts)`: the Kubernetes objects AKS itself needs: the default
  StorageClass under the cluster's disk encryption set, and the priority expander's ConfigMap (AKS
  runs the Cluster Autoscaler itself, configured by the cluster's autoscaler profile with
  `expander: priority`, and provides metrics-server).

`AzurePlatform._in_cluster_layer` calls these in the one-stack path; the same functions serve an
in-cluster stack, so both register the same objects under the same names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import yaml
from pulumi_kubernetes.core.v1 import ConfigMap
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from mlinfra.azure.cluster import PLATFORM_POOL
from mlinfra.azure.gpu_node_pool import pool_tolerations
from mlinfra.azure.identity import WORKLOAD_IDENTITY_USE_LABEL
from mlinfra.k8s.objects import default_storage_class
from mlinfra.k8s.scheduling import POOL_LABEL, standard_labels
from mlinfra.spec import PlatformSpec

STORAGE_CLASS = "managed-premium-cmk"
# Azure Disk CSI driver parameters (kubernetes-sigs/azuredisk-csi-driver docs/driver-parameters.md):
# Premium SSD, managed disks, encrypted with the disk encryption set's customer-managed key
# (learn.microsoft.com aks/azure-disk-customer-managed-keys "Encrypt your AKS cluster data disk").
DISK_CSI_PROVISIONER = "disk.csi.azure.com"
DISK_SKU = "Premium_LRS"
# The priority expander (kubernetes/autoscaler cluster-autoscaler/expander/priority/readme.md): a
# ConfigMap `cluster-autoscaler-priority-expander` in the autoscaler's namespace whose `priorities`
# map a number to regexes over node-group ids; the highest matching number wins, and groups no
# regex matches are never chosen -- so every group matches the lowest tier. On AKS a node group is
# the pool's scale set, `aks-<pool>-<digits>-vmss`.
PRIORITY_EXPANDER_CONFIGMAP = "cluster-autoscaler-priority-expander"
AUTOSCALER_NAMESPACE = "kube-system"
ON_DEMAND_PRIORITY, FALLBACK_PRIORITY = 20, 10


def expander_priorities(spec: PlatformSpec) -> dict[int, list[str]]:
    """On-demand GPU pools before spot (hooks.md A: "on-demand first, spot for burst"); everything
    else (spot pools, the platform and system pools) at the fallback tier."""
    on_demand = [rf"^aks-{p.name}-[0-9]+-vmss$" for p in spec.gpu_pools if p.capacity_type == "on_demand"]
    return {**({ON_DEMAND_PRIORITY: on_demand} if on_demand else {}), FALLBACK_PRIORITY: [".*"]}


def layer_hooks(spec: PlatformSpec) -> dict[str, Any]:
    """The static in-cluster layer hooks of an Azure platform (hooks.md contract A), from the spec.

    - AKS installs the NVIDIA driver but no device plugin: the layer's plugin stays on.
    - Spot pools carry AKS's `kubernetes.azure.com/scalesetpriority=spot:NoSchedule` taint: their
      GPU daemons and model pods get the toleration.
    - Workload Identity injects tokens only into pods labelled `azure.workload.identity/use`.
    - mlinfra's controllers and monitoring run on the `platform` pool (the AKS system pool is
      tainted CriticalAddonsOnly); AKS provides metrics-server itself.
    """
    return {
        "storage_class": STORAGE_CLASS,
        "install_device_plugin": True,
        # AKS runs metrics-server itself in kube-system (learn.microsoft.com
        # aks/tutorial-kubernetes-scale: "Metrics Server is automatically deployed in AKS clusters
        # with versions 1.10 and higher"); a second copy would contend for the
        # v1beta1.metrics.k8s.io APIService.
        "install_metrics_server": False,
        "system_node_selector": {POOL_LABEL: PLATFORM_POOL},
        "pod_labels": {WORKLOAD_IDENTITY_USE_LABEL: "true"},
        "pool_tolerations": {p.name: pool_tolerations(p) for p in spec.gpu_pools if pool_tolerations(p)},
    }


def cloud_values(*, disk_encryption_set_id: pulumi.Input[str]) -> dict[str, Any]:
    """What `cluster_objects` reads, as the platform passes (or exports) it."""
    return {"disk_encryption_set_id": disk_encryption_set_id}


def cluster_objects(
    name: str, spec: PlatformSpec, values: pulumi.Output[Mapping[str, Any]], opts: pulumi.ResourceOptions
) -> list[pulumi.Resource]:
    """The default StorageClass (Premium SSD under the disk encryption set) and the autoscaler's
    priority-expander ConfigMap; `opts` carries parent, provider and dependencies."""
    labels = standard_labels("cluster", spec.tags.owner, spec.tags.cost_center, spec.environment)
    storage_class = default_storage_class(
        f"{name}-cluster-{STORAGE_CLASS}",
        class_name=STORAGE_CLASS,
        provisioner=DISK_CSI_PROVISIONER,
        parameters={
            "skuName": DISK_SKU,
            "kind": "managed",
            "diskEncryptionSetID": values.apply(lambda v: v["disk_encryption_set_id"]),
        },
        labels=labels,
        retain=spec.protect_stateful,
        opts=opts,
    )
    priorities = ConfigMap(
        f"{name}-cluster-autoscaler-priorities",
        metadata=ObjectMetaArgs(
            name=PRIORITY_EXPANDER_CONFIGMAP, namespace=AUTOSCALER_NAMESPACE, labels=labels
        ),
        data={"priorities": yaml.safe_dump(expander_priorities(spec), sort_keys=True)},
        opts=opts,
    )
    return [storage_class, priorities]
