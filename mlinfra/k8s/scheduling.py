"""Labels, taints and tolerations that put GPU workloads on GPU pools, whatever the cloud.

GPU nodes carry the taint `nvidia.com/gpu=true:NoSchedule`, so only pods that tolerate
it land there; the pool labels let a workload pick one pool. The node pools of every
cloud set these. Model pods use `accelerator_scheduling()`: they require the accelerator of
their pool and only prefer the pool itself (and on-demand capacity), so they can land on every
pool with that accelerator (on-demand first, spot for burst).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_VALUE = "true"
GPU_TAINT_EFFECT = "NoSchedule"

POOL_LABEL = "mlinfra.io/pool"
ACCELERATOR_LABEL = "mlinfra.io/accelerator"
CAPACITY_LABEL = "mlinfra.io/capacity-type"
GPU_NODE_LABEL = "mlinfra.io/gpu-node"  # "true" on every GPU node, whatever the pool


@dataclass(frozen=True)
class Scheduling:
    """What a pod spec needs to land on a pool: tolerations and a node selector."""

    tolerations: list[dict[str, Any]] = field(default_factory=list)
    node_selector: dict[str, str] = field(default_factory=dict)
    affinity: dict[str, Any] = field(default_factory=dict)

    def pod_spec_fields(self) -> dict[str, Any]:
        """`{"tolerations": [...], "nodeSelector": {...}, "affinity": {...}}` to merge into a pod spec."""
        out: dict[str, Any] = {}
        if self.tolerations:
            out["tolerations"] = [dict(t) for t in self.tolerations]
        if self.node_selector:
            out["nodeSelector"] = dict(self.node_selector)
        if self.affinity:
            out["affinity"] = dict(self.affinity)
        return out


def gpu_toleration() -> dict[str, str]:
    return {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": GPU_TAINT_EFFECT}


def gpu_taint() -> dict[str, str]:
    """The taint as Kubernetes spells it (key, value, effect)."""
    return {"key": GPU_TAINT_KEY, "value": GPU_TAINT_VALUE, "effect": GPU_TAINT_EFFECT}


def gpu_node_labels(
    pool_name: str, accelerator: str, capacity_type: str, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """Labels every node of a GPU pool carries. capacity_type: on_demand | spot."""
    return {
        **(extra or {}),
        GPU_NODE_LABEL: "true",
        POOL_LABEL: pool_name,
        ACCELERATOR_LABEL: accelerator,
        CAPACITY_LABEL: capacity_type.replace("_", "-"),
    }


def gpu_scheduling(pool_name: str | None = None) -> Scheduling:
    """Tolerate the GPU taint and select one pool (or any GPU node when pool_name is None)."""
    selector = {POOL_LABEL: pool_name} if pool_name else {GPU_NODE_LABEL: "true"}
    return Scheduling(tolerations=[gpu_toleration()], node_selector=selector)


# Preference weights (1-100) of model pods: their own pool first, then on-demand capacity.
POOL_PREFERENCE_WEIGHT = 100
ON_DEMAND_PREFERENCE_WEIGHT = 50


def accelerator_scheduling(
    pool_name: str, accelerator: str, extra_tolerations: list[dict[str, Any]] | None = None
) -> Scheduling:
    """Scheduling of a model pod: REQUIRE `accelerator` (any pool of it), PREFER `pool_name` and
    on-demand capacity, tolerate the GPU taint and `extra_tolerations` (taints of the pools it may
    land on, e.g. AKS spot). The cluster autoscaler may then grow any pool of the accelerator."""

    def term(key: str, value: str) -> dict[str, Any]:
        return {"matchExpressions": [{"key": key, "operator": "In", "values": [value]}]}

    return Scheduling(
        tolerations=[gpu_toleration(), *(extra_tolerations or [])],
        affinity={
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [term(ACCELERATOR_LABEL, accelerator)]
                },
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": POOL_PREFERENCE_WEIGHT, "preference": term(POOL_LABEL, pool_name)},
                    {"weight": ON_DEMAND_PREFERENCE_WEIGHT, "preference": term(CAPACITY_LABEL, "on-demand")},
                ],
            }
        },
    )


def standard_labels(
    component: str, owner: str, cost_center: str, environment: str, **extra: str
) -> dict[str, str]:
    """Labels on every Kubernetes object mlinfra renders (the policy's required labels)."""
    return {
        "app.kubernetes.io/managed-by": "mlinfra",
        "app.kubernetes.io/part-of": "mlinfra",
        "app.kubernetes.io/component": component,
        "owner": owner,
        "cost-center": cost_center,
        "environment": environment,
        **extra,
    }
