"""Static tables the spec validates against: GPU machine types, regions, Kubernetes versions.

Each table is keyed by cloud so that later clouds extend it without touching the spec.
Figures for GPU machine types come from the providers' instance-type pages
(AWS: https://aws.amazon.com/ec2/instance-types/ "Accelerated Computing"), read 2026-11.
Azure: GPU count / memory per size as in KAITO's SKU table (kaito-project/kaito
pkg/sku/azure_sku_handler.go) and the learn.microsoft.com size pages (virtual-machines/sizes/
gpu-accelerated/*); vCPU / RAM as in skypilot-org/skypilot-catalog catalogs/v6/azure/vms.csv
@098741e7 (Azure Retail Prices API rows).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CLOUDS = ("aws", "gcp", "azure")
ENVIRONMENTS = ("dev", "staging", "prod")


@dataclass(frozen=True)
class GpuMachineType:
    """One GPU machine type: what a pool built from it offers per node."""

    name: str
    gpu_model: str  # label value used for `mlinfra.io/accelerator`, e.g. "nvidia-a10g"
    gpus: int  # GPUs per node
    gpu_memory_gib: int  # memory per GPU
    vcpu: int
    memory_gib: int

    @property
    def total_gpu_memory_gib(self) -> int:
        return self.gpus * self.gpu_memory_gib


def _table(*rows: GpuMachineType) -> dict[str, GpuMachineType]:
    return {r.name: r for r in rows}


GPU_MACHINE_TYPES: dict[str, dict[str, GpuMachineType]] = {
    "aws": _table(
        GpuMachineType("g4dn.xlarge", "nvidia-t4", 1, 16, 4, 16),
        GpuMachineType("g4dn.2xlarge", "nvidia-t4", 1, 16, 8, 32),
        GpuMachineType("g4dn.12xlarge", "nvidia-t4", 4, 16, 48, 192),
        GpuMachineType("g5.xlarge", "nvidia-a10g", 1, 24, 4, 16),
        GpuMachineType("g5.2xlarge", "nvidia-a10g", 1, 24, 8, 32),
        GpuMachineType("g5.4xlarge", "nvidia-a10g", 1, 24, 16, 64),
        GpuMachineType("g5.12xlarge", "nvidia-a10g", 4, 24, 48, 192),
        GpuMachineType("g5.48xlarge", "nvidia-a10g", 8, 24, 192, 768),
        GpuMachineType("g6.xlarge", "nvidia-l4", 1, 24, 4, 16),
        GpuMachineType("g6.2xlarge", "nvidia-l4", 1, 24, 8, 32),
        GpuMachineType("g6.12xlarge", "nvidia-l4", 4, 24, 48, 192),
        GpuMachineType("g6e.xlarge", "nvidia-l40s", 1, 48, 4, 32),
        GpuMachineType("g6e.12xlarge", "nvidia-l40s", 4, 48, 48, 384),
        GpuMachineType("p4d.24xlarge", "nvidia-a100", 8, 40, 96, 1152),
        GpuMachineType("p4de.24xlarge", "nvidia-a100-80gb", 8, 80, 96, 1152),
        GpuMachineType("p5.48xlarge", "nvidia-h100", 8, 80, 192, 2048),
        GpuMachineType("p5e.48xlarge", "nvidia-h200", 8, 141, 192, 2048),
    ),
    # AKS GPU node pools: NVIDIA sizes AKS installs the driver on (gpu_profile.driver=Install).
    # Not listed: partial-GPU sizes (NV*ads_A10_v5 below 36 vCPU; KAITO comments them out),
    # AMD NV*as_v4 / NG*, and the retiring NCv3 (V100) series.
    "azure": _table(
        GpuMachineType("Standard_NC4as_T4_v3", "nvidia-t4", 1, 16, 4, 28),
        GpuMachineType("Standard_NC8as_T4_v3", "nvidia-t4", 1, 16, 8, 56),
        GpuMachineType("Standard_NC16as_T4_v3", "nvidia-t4", 1, 16, 16, 110),
        GpuMachineType("Standard_NC64as_T4_v3", "nvidia-t4", 4, 16, 64, 440),
        GpuMachineType("Standard_NV36ads_A10_v5", "nvidia-a10", 1, 24, 36, 440),
        GpuMachineType("Standard_NV72ads_A10_v5", "nvidia-a10", 2, 24, 72, 880),
        GpuMachineType("Standard_NC24ads_A100_v4", "nvidia-a100-80gb", 1, 80, 24, 220),
        GpuMachineType("Standard_NC48ads_A100_v4", "nvidia-a100-80gb", 2, 80, 48, 440),
        GpuMachineType("Standard_NC96ads_A100_v4", "nvidia-a100-80gb", 4, 80, 96, 880),
        GpuMachineType("Standard_ND96asr_v4", "nvidia-a100", 8, 40, 96, 900),
        GpuMachineType("Standard_ND96amsr_A100_v4", "nvidia-a100-80gb", 8, 80, 96, 1800),
        GpuMachineType("Standard_NC40ads_H100_v5", "nvidia-h100-nvl", 1, 94, 40, 320),
        GpuMachineType("Standard_NC80adis_H100_v5", "nvidia-h100-nvl", 2, 94, 80, 640),
        GpuMachineType("Standard_ND96isr_H100_v5", "nvidia-h100", 8, 80, 96, 1900),
    ),
}

# Region -> availability zones, per cloud (hooks.md D). Azure zones are the logical zone
# numbers "1".."3" that every zone-redundant region exposes; regions from learn.microsoft.com
# reliability/availability-zones-region-support (MicrosoftDocs/azure-docs
# articles/reliability/availability-zones-region-support.md, 2024-11-20; Japan West, US Gov
# and China clouds left out). A size is not offered in every zone of a region: GPU pools
# still fail to scale where the size is missing (`az vm list-skus -l <region> --size <size>`).
_AZURE_ZONES = ("1", "2", "3")
REGION_ZONES: dict[str, dict[str, tuple[str, ...]]] = {
    "azure": {
        region: _AZURE_ZONES
        for region in (
            "brazilsouth",
            "canadacentral",
            "centralus",
            "eastus",
            "eastus2",
            "mexicocentral",
            "southcentralus",
            "westus2",
            "westus3",
            "francecentral",
            "germanywestcentral",
            "italynorth",
            "northeurope",
            "norwayeast",
            "polandcentral",
            "spaincentral",
            "swedencentral",
            "switzerlandnorth",
            "uksouth",
            "westeurope",
            "israelcentral",
            "qatarcentral",
            "uaenorth",
            "southafricanorth",
            "australiaeast",
            "centralindia",
            "eastasia",
            "japaneast",
            "koreacentral",
            "newzealandnorth",
            "southeastasia",
        )
    },
}

# Region name shapes per cloud; a region outside the shape is a typo, not a new region.
REGION_PATTERNS: dict[str, re.Pattern[str]] = {
    "aws": re.compile(
        r"^(us|eu|ap|sa|ca|me|af|il|mx)-(gov-)?"
        r"(north|south|east|west|central|northeast|southeast|northwest|southwest)-\d$"
    ),
    "gcp": re.compile(r"^[a-z]+-[a-z]+\d+$"),
    "azure": re.compile(r"^[a-z]+[a-z0-9]*$"),
}
REGION_EXAMPLES = {"aws": "us-west-2", "gcp": "us-central1", "azure": "westeurope"}

# Kubernetes minor versions the platform is tested against (pinned; never "latest").
SUPPORTED_KUBERNETES_VERSIONS: tuple[str, ...] = ("1.32", "1.33", "1.34")
DEFAULT_KUBERNETES_VERSION = "1.33"

# Largest GPU pool (max nodes) allowed per environment: a cost guardrail shared by the
# spec and the policy packs.
GPU_POOL_MAX_NODES_CAP: dict[str, int] = {"dev": 4, "staging": 8, "prod": 32}


def gpu_machine_type(cloud: str, name: str) -> GpuMachineType:
    """Look a GPU machine type up, with an error that lists the allowed names."""
    table = GPU_MACHINE_TYPES.get(cloud, {})
    if name not in table:
        allowed = ", ".join(sorted(table)) or "(none yet for this cloud)"
        raise ValueError(f"unknown GPU machine type {name!r} for cloud {cloud!r}; allowed: {allowed}")
    return table[name]


# Cluster Autoscaler behaviour every cloud's cluster asks for (flag names of
# kubernetes/autoscaler cluster-autoscaler/FAQ.md "What are the parameters to CA?"): GPU pools come
# in similar groups (per zone / capacity type) and are kept even; a kube-system pod or an emptyDir
# model cache must not pin an idle, expensive GPU node (the pool would never scale back to zero);
# the cheapest fitting pool wins; idle nodes go after 10 minutes. EKS passes them to the chart as
# extraArgs (with `expander: priority,least-waste`: on-demand GPU groups before spot, mlinfra.aws.in_cluster),
# AKS through the managed autoscaler profile (same names in snake_case).
CLUSTER_AUTOSCALER_FLAGS: dict[str, str] = {
    "balance-similar-node-groups": "true",
    "skip-nodes-with-system-pods": "false",
    "skip-nodes-with-local-storage": "false",
    "expander": "least-waste",
    "scale-down-unneeded-time": "10m",
    "scale-down-delay-after-add": "10m",
}
