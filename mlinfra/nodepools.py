"""What every cloud's GPU node pool checks and spells the same way.

The machine type must be in the cloud's GPU catalogue, a pinned Kubernetes version must be one
mlinfra supports, the pool's extra labels are valid node labels that do not override mlinfra's
(`mlinfra.io/*`, the cloud's own), and EKS and GKE spell the Kubernetes taint effects in upper snake case.
"""

from __future__ import annotations

from mlinfra.catalog import SUPPORTED_KUBERNETES_VERSIONS, GpuMachineType, gpu_machine_type
from mlinfra.spec import GpuPoolSpec, SpecError, check_pool_labels, rules

# The EKS NodeGroup and GKE NodePool APIs' spelling of the Kubernetes taint effects.
API_TAINT_EFFECT = {
    "NoSchedule": "NO_SCHEDULE",
    "PreferNoSchedule": "PREFER_NO_SCHEDULE",
    "NoExecute": "NO_EXECUTE",
}


def check_gpu_pool(
    cloud: str,
    pool: GpuPoolSpec,
    kubernetes_version: str | None = None,
) -> GpuMachineType:
    """The pool's machine type, after refusing what the cloud or mlinfra would not accept.

    Called before a pool component registers anything; `kubernetes_version` None skips the version
    check (GKE nodes follow their control plane); `extra_reserved`: labels the cloud's pool sets
    too (EKS: the autoscaler's accelerator label).
    """
    try:
        machine = gpu_machine_type(cloud, pool.machine_type)
    except ValueError as e:
        raise SpecError(str(e), "pool.machine_type") from None
    if kubernetes_version is not None and kubernetes_version not in SUPPORTED_KUBERNETES_VERSIONS:
        raise SpecError(
            f"{kubernetes_version!r} is not supported; allowed: {', '.join(SUPPORTED_KUBERNETES_VERSIONS)}",
            "kubernetes_version",
        )
    check_pool_labels(pool.labels, "pool.labels")
    rules(cloud).node_labels(pool.labels, "pool.labels")
    return machine
