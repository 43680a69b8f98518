"""Static tables the spec validates against: GPU machine types, regions, Kubernetes versions.

Each table is keyed by cloud so that later clouds extend it without touching the spec.
Figures for GPU machine types come from the providers' instance-type pages
(AWS: https://aws.amazon.com/ec2/instance-types/ "Accelerated Computing"), read 2026-11.
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
