"""What every cloud's GPU node pool checks and labels the same way, before it registers anything.

`gpu_pool_machine` refuses an unknown machine type, an unsupported Kubernetes version and user
labels that would override the labels mlinfra schedules by (or that the cloud reserves), then
returns the machine type and the node labels every GPU pool carries.
"""

from __future__ import annotations

from collections.abc import Sequence

from mlinfra.catalog import SUPPORTED_KUBERNETES_VERSIONS, GpuMachineType, gpu_machine_type
from mlinfra.k8s.gpu import device_plugin_node_labels
from mlinfra.k8s.scheduling import (
    ACCELERATOR_LABEL,
    CAPACITY_LABEL,
    GPU_NODE_LABEL,
    POOL_LABEL,
    gpu_node_labels,
)
from mlinfra.spec import GpuPoolSpec, SpecError

RESERVED_LABELS = (GPU_NODE_LABEL, POOL_LABEL, ACCELERATOR_LABEL, CAPACITY_LABEL)


def gpu_pool_machine(
    cloud: str,
    pool: GpuPoolSpec,
    kubernetes_version: str,
    reserved_labels: Sequence[str] = RESERVED_LABELS,
    reserved_prefixes: Sequence[str] = (),
) -> tuple[GpuMachineType, dict[str, str]]:
    """(machine type, node labels) of a GPU pool; SpecError naming the field on bad input.

    The labels are mlinfra's scheduling labels (pool, accelerator, capacity type, GPU node) over
    the pool's own, plus the device plugin's config label when the pool time-slices.
    """
    try:
        machine = gpu_machine_type(cloud, pool.machine_type)
    except ValueError as e:
        raise SpecError(str(e), "pool.machine_type") from None
    if kubernetes_version not in SUPPORTED_KUBERNETES_VERSIONS:
        raise SpecError(
            f"{kubernetes_version!r} is not supported; allowed: {', '.join(SUPPORTED_KUBERNETES_VERSIONS)}",
            "kubernetes_version",
        )
    clash = sorted(k for k in pool.labels if k in reserved_labels or k.startswith(tuple(reserved_prefixes)))
    if clash:
        reserved = ", ".join([*reserved_labels, *(f"{p}*" for p in reserved_prefixes)])
        raise SpecError(
            f"labels {clash} are set by mlinfra or the cloud and may not be overridden; reserved: {reserved}",
            "pool.labels",
        )
    labels = {
        **gpu_node_labels(pool.name, machine.gpu_model, pool.capacity_type, dict(pool.labels)),
        **device_plugin_node_labels(pool),
    }
    return machine, labels
