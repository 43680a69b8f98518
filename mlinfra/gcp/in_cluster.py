"""GCP's part of the in-cluster deployment path (`mlinfra.platform`, IN_CLUSTER_PLUGINS["gcp"]).

- `layer_hooks(spec)`: the static hooks of the in-cluster layer on GKE.
- `cloud_values(...)`: the dynamic values GcpPlatform exports under `in_cluster.cloud`.
- `cluster_objects(name, spec, values, opts)`: the Kubernetes objects GKE itself needs, built from
  those values: the default CMEK StorageClass, GKE's own default class un-defaulted, and the
  cluster-admin bindings of `cluster.admin_principals`.

The same functions run in the one-stack path (api_access dns / public) and in the in-cluster stack
(api_access private), so both register the same objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlinfra.k8s.scheduling import POOL_LABEL, standard_labels
from mlinfra.spec import GCP_SYSTEM_POOL, PlatformSpec

# GKE's own default StorageClass on clusters with the PD CSI driver (GKE "Persistent volumes"
# docs); one default only: the platform's CMEK class takes over.
GKE_DEFAULT_STORAGE_CLASS = "standard-rwo"
STORAGE_CLASS = "pd-balanced-cmek"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"

# GKE's managed driver lives on the COS host at /home/kubernetes/bin/nvidia; the DCGM exporter
# mounts it at /usr/local/nvidia, loads its libraries from there, runs privileged to see the GPU
# devices (GKE has no NVIDIA container runtime to inject them) and names GPUs by device name as
# GKE's device plugin does: ai-on-gke benchmarks/infra/accelerator-cluster/stage-2/modules/gke-setup/
# modules/nvidia-dcgm/manifest-templates/02-ds-exporter.yaml (volumes, env, securityContext).
GKE_NVIDIA_INSTALL_DIR = "/home/kubernetes/bin/nvidia"
# Helm replaces lists: the chart's own default mount of its metrics list (dcgm-exporter 4.8.2
# values.yaml extraVolumeMounts) must be repeated, or `-f /etc/dcgm-exporter/default-counters.csv`
# finds no file.
DCGM_CHART_DEFAULT_MOUNT = {
    "name": "exporter-metrics-volume",
    "mountPath": "/etc/dcgm-exporter/default-counters.csv",
    "subPath": "default-counters.csv",
}
GKE_DCGM_VALUES: dict[str, Any] = {
    "extraHostVolumes": [{"name": "nvidia-install-dir-host", "hostPath": GKE_NVIDIA_INSTALL_DIR}],
    "extraVolumeMounts": [
        DCGM_CHART_DEFAULT_MOUNT,
        {"name": "nvidia-install-dir-host", "mountPath": "/usr/local/nvidia", "readOnly": True},
    ],
    "extraEnv": [
        {"name": "LD_LIBRARY_PATH", "value": "/usr/local/nvidia/lib64"},
        {"name": "DCGM_EXPORTER_KUBERNETES_GPU_ID_TYPE", "value": "device-name"},
    ],
    # privileged cannot go with the chart's allowPrivilegeEscalation: false (Kubernetes validation).
    "securityContext": {"privileged": True, "allowPrivilegeEscalation": True},
}


def layer_hooks(spec: PlatformSpec) -> dict[str, Any]:
    """The layer on GKE (hooks.md contract A), from the spec alone.

    GKE installs the NVIDIA driver and its own device plugin and time-shares GPUs through the node
    pool's gpu_sharing_config: no mlinfra plugin. GKE spot nodes carry no extra taint (only the
    `cloud.google.com/gke-spot` label), so no pool tolerations. GKE runs metrics-server itself
    (kube-system, part of every GKE cluster: GKE docs, "Configuring horizontal Pod autoscaling"),
    so the layer installs none. Controllers go to the system pool; volumes to the CMEK class
    `cluster_objects` creates.
    """
    return {
        "storage_class": STORAGE_CLASS,
        "install_device_plugin": False,
        "install_metrics_server": False,
        "dcgm_values": GKE_DCGM_VALUES if spec.gpu_pools else {},
        "system_node_selector": {POOL_LABEL: GCP_SYSTEM_POOL},
    }


def cloud_values(*, node_disk_key_id: pulumi.Input[str]) -> dict[str, Any]:
    """What `cluster_objects` reads, as the platform exports it: the Cloud KMS key of node disks,
    which the Compute Engine service agent may use (`Cluster`'s grant) and PD volumes use too."""
    return {"node_disk_key_id": node_disk_key_id}


def admin_slug(principal: str) -> str:
    """`user:alice.smith@acme.example` -> `alice-smith`: the resource-name part of an admin."""
    return principal.split(":", 1)[1].split("@", 1)[0].lower().replace(".", "-").replace("_", "-")


def cluster_objects(
    name: str, spec: PlatformSpec, values: pulumi.Output[Mapping[str, Any]], opts: pulumi.ResourceOptions
) -> list[pulumi.Resource]:
    """The default CMEK StorageClass, GKE's `standard-rwo` un-defaulted, and one cluster-admin
    binding per `cluster.admin_principals` entry; `opts` carries parent, provider, dependencies."""
    labels = standard_labels("cluster", spec.tags.owner, spec.tags.cost_center, spec.environment)
    objects: list[pulumi.Resource] = []
    # GKE names a Google user or service account by its e-mail in RBAC; Cluster grants them the IAM
    # role that lets them reach the endpoint (cluster.ADMIN_PERMISSIONS, a custom role), RBAC says what they may do inside.
    for principal in spec.cluster.admin_principals:
        slug = admin_slug(principal)
        objects.append(
            k8s.rbac.v1.ClusterRoleBinding(
                f"{name}-cluster-admin-{slug}",
                metadata={"name": f"mlinfra-admin-{slug}"[:63], "labels": labels},
                role_ref={
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "cluster-admin",
                },
                subjects=[
                    {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "User",
                        "name": principal.split(":", 1)[1],
                    }
                ],
                opts=opts,
            )
        )
    # Default StorageClass: PD balanced under the node-disk key, bound in the pod's zone, retained in
    # protected clusters. GKE's own default `standard-rwo` (Google-managed key) is un-defaulted, or a
    # PVC without a class would get a disk outside the CMEK policy (Kubernetes picks the newest of two
    # defaults). patchForce: the annotation belongs to GKE's addon manager (Pulumi "Server-side apply"
    # patch resources).
    objects.append(
        k8s.storage.v1.StorageClass(
            f"{name}-cluster-{STORAGE_CLASS}",
            metadata={
                "name": STORAGE_CLASS,
                "labels": labels,
                "annotations": {DEFAULT_CLASS_ANNOTATION: "true"},
            },
            provisioner="pd.csi.storage.gke.io",
            parameters={
                "type": "pd-balanced",
                "disk-encryption-kms-key": values.apply(lambda v: v["node_disk_key_id"]),
            },
            reclaim_policy="Retain" if spec.protect_stateful else "Delete",
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            opts=opts,
        )
    )
    objects.append(
        k8s.storage.v1.StorageClassPatch(
            f"{name}-cluster-{GKE_DEFAULT_STORAGE_CLASS}-not-default",
            metadata={
                "name": GKE_DEFAULT_STORAGE_CLASS,
                "annotations": {DEFAULT_CLASS_ANNOTATION: "false", "pulumi.com/patchForce": "true"},
            },
            opts=opts,
        )
    )
    return objects
