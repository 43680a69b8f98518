"""What every GKE node pool is built from: the node service account, the node config, the pool.

The system pool (cluster.py) and each GPU pool (gpu_node_pool.py) use these helpers, so every node
runs as the same least-privilege service account (never the Compute Engine default one, CKV2_GCP_1),
hides the node's credentials from pods (GKE metadata server, the IMDSv2 equivalent), boots shielded
from a CMEK-encrypted disk, and is sized in whole-pool totals.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
from pulumi_gcp import container, projects, serviceaccount

from mlinfra.components import child

# The one role a node needs: write logs/metrics/metadata (GKE "Harden your cluster": use a
# least-privilege service account with roles/container.defaultNodeServiceAccount,
# https://cloud.google.com/kubernetes-engine/docs/how-to/hardening-your-cluster). Image pulls are
# granted per repository (registry.py), not project-wide.
NODE_ROLES: tuple[str, ...] = ("roles/container.defaultNodeServiceAccount",)
# Access is decided by IAM, not by scopes: GKE recommends the cloud-platform scope with a custom
# service account (GKE "Service accounts" docs; the node SA holds only NODE_ROLES).
OAUTH_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
# Container-Optimized OS with containerd: the image GKE's managed GPU driver installs onto
# (/home/kubernetes/bin/nvidia) and the one gVNIC and image streaming need.
IMAGE_TYPE = "COS_CONTAINERD"
DISK_TYPE = "pd-balanced"
# Node upgrades (GKE "Configure node upgrade strategies", surge upgrades): CPU pools surge one node
# at a time (maxSurge 1, maxUnavailable 0: no capacity lost). A GPU pool would need one spare GPU
# of quota per pool for the surge node, and A100/H100 quotas are often exactly the pool's size:
# GPU pools replace in place instead (maxSurge 0, maxUnavailable 1: one node down at a time, no
# extra quota), which the models ride out on their other replicas/pools.
CPU_SURGE = {"max_surge": 1, "max_unavailable": 0}
GPU_SURGE = {"max_surge": 0, "max_unavailable": 1}


@dataclass
class NodeServiceAccount:
    account: serviceaccount.Account
    grants: list[projects.IAMMember]

    @property
    def email(self) -> pulumi.Output[str]:
        return self.account.email

    @property
    def member(self) -> pulumi.Output[str]:
        return self.account.member


def node_service_account(
    parent: pulumi.Resource, name: str, *, project: str, account_id: str, description: str
) -> NodeServiceAccount:
    """A dedicated node service account with exactly NODE_ROLES on the project."""
    account = serviceaccount.Account(
        name,
        account_id=account_id,
        display_name=description[:100],
        description=description,
        project=project,
        opts=child(parent),
    )
    grants = [
        projects.IAMMember(
            f"{name}-{role.rsplit('/', 1)[-1].replace('.', '-').lower()}",
            project=project,
            role=role,
            member=account.member,
            opts=child(parent),
        )
        for role in NODE_ROLES
    ]
    return NodeServiceAccount(account, grants)


def node_config(
    *,
    machine_type: str,
    disk_size_gb: int,
    service_account: pulumi.Input[str],
    boot_disk_kms_key: pulumi.Input[str],
    labels: Mapping[str, str],
    resource_labels: Mapping[str, str],
    taints: Sequence[container.NodePoolNodeConfigTaintArgs] = (),
    guest_accelerators: Sequence[container.NodePoolNodeConfigGuestAcceleratorArgs] = (),
    spot: bool = False,
) -> container.NodePoolNodeConfigArgs:
    """The node config every pool shares; GPU pools add accelerators, taints and spot."""
    return container.NodePoolNodeConfigArgs(
        machine_type=machine_type,
        disk_size_gb=disk_size_gb,
        disk_type=DISK_TYPE,
        image_type=IMAGE_TYPE,
        service_account=service_account,
        oauth_scopes=OAUTH_SCOPES,
        boot_disk_kms_key=boot_disk_kms_key,
        # Pods see the GKE metadata server (Workload Identity), never the node's credentials
        # (CKV_GCP_69; the rule `workload-identity` reads this mode).
        workload_metadata_config=container.NodePoolNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA"),
        shielded_instance_config=container.NodePoolNodeConfigShieldedInstanceConfigArgs(
            enable_secure_boot=True, enable_integrity_monitoring=True
        ),
        gvnic=container.NodePoolNodeConfigGvnicArgs(enabled=True),
        # Set by the GKE API since 1.12; stating it keeps the provider from unsetting it (SDK doc).
        metadata={"disable-legacy-endpoints": "true"},
        labels=dict(labels),
        resource_labels=dict(resource_labels),
        taints=list(taints) or None,
        guest_accelerators=list(guest_accelerators) or None,
        spot=spot or None,
    )


def node_pool(
    parent: pulumi.Resource,
    name: str,
    *,
    pool_name: str,
    cluster: pulumi.Input[str],
    location: pulumi.Input[str],
    project: str,
    node_locations: Sequence[str],
    min_nodes: int,
    max_nodes: int,
    nodes_per_zone: int,
    location_policy: str,
    config: container.NodePoolNodeConfigArgs,
    depends_on: Sequence[pulumi.Resource] = (),
    surge: Mapping[str, int] = CPU_SURGE,
    create_before_delete: bool = False,
) -> container.NodePool:
    """A GKE node pool sized in whole-pool totals, repaired and upgraded by GKE.

    `total_min/max_node_count` bound the whole pool; `min/max_node_count` would be per zone (a
    regional pool with max 4 in 3 zones is 12 nodes) and cannot be combined with totals
    (pulumi-gcp NodePoolAutoscalingArgs). `initial_node_count` is per zone and forces a new pool
    when changed, and the autoscaler owns the size afterwards: ignored after creation. No `version`:
    with auto-upgrade on, GKE keeps the nodes at the control plane's version ("setting both is highly
    discouraged", NodePool.version docstring). A pool name cannot exist twice in a cluster, so a
    replacement deletes the old pool first, unless `create_before_delete` (the caller then gives a
    name that changes with what forces the replacement: `versioned_pool_name`).
    """
    return container.NodePool(
        name,
        name=pool_name,
        cluster=cluster,
        location=location,
        project=project,
        node_locations=list(node_locations),
        initial_node_count=nodes_per_zone,
        autoscaling=container.NodePoolAutoscalingArgs(
            total_min_node_count=min_nodes, total_max_node_count=max_nodes, location_policy=location_policy
        ),
        management=container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
        upgrade_settings=container.NodePoolUpgradeSettingsArgs(strategy="SURGE", **surge),
        node_config=config,
        opts=child(
            parent,
            depends_on=list(depends_on),
            ignore_changes=["initialNodeCount"],
            delete_before_replace=not create_before_delete,
        ),
    )


def versioned_pool_name(base: str, **replacing: object) -> str:
    """`<base>-<6 hex>` of the settings whose change replaces a node pool (machine type, disk, ...):
    the replacement gets a new name, so it is created before the old pool is deleted and the
    workloads move over instead of going down (the pool's `mlinfra.io/pool` label stays `base`)."""
    digest = hashlib.sha256(json.dumps(replacing, sort_keys=True).encode()).hexdigest()[:6]
    return f"{base}-{digest}"
