"""Static tables the spec validates against: GPU machine types, regions, Kubernetes versions.

Each table is keyed by cloud so that later clouds extend it without touching the spec.
Figures for GPU machine types come from the providers' instance-type pages
(AWS: https://aws.amazon.com/ec2/instance-types/ "Accelerated Computing", read 2026-11; GCP: see
the table's comment).
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
    # GKE Standard GPU machine types. G2/A2/A3 have their GPUs fixed by the machine type
    # (https://cloud.google.com/compute/docs/accelerator-optimized-machines: g2-standard-4..16 and
    # -32 one L4, -24 two, -48 four, -96 eight; a2-highgpu-Ng N x A100 40GB; a2-ultragpu-Ng
    # N x A100 80GB; a3-highgpu-8g 8 x H100 80GB); N1 takes T4s attached through
    # guest_accelerators, and mlinfra's N1 row attaches one. vCPU / memory: GCP machine-type
    # pages, cross-checked with skypilot-org/skypilot-catalog catalogs/v7/gcp/vms.csv @017e250.
    "gcp": _table(
        GpuMachineType("g2-standard-4", "nvidia-l4", 1, 24, 4, 16),
        GpuMachineType("g2-standard-8", "nvidia-l4", 1, 24, 8, 32),
        GpuMachineType("g2-standard-12", "nvidia-l4", 1, 24, 12, 48),
        GpuMachineType("g2-standard-16", "nvidia-l4", 1, 24, 16, 64),
        GpuMachineType("g2-standard-24", "nvidia-l4", 2, 24, 24, 96),
        GpuMachineType("g2-standard-32", "nvidia-l4", 1, 24, 32, 128),
        GpuMachineType("g2-standard-48", "nvidia-l4", 4, 24, 48, 192),
        GpuMachineType("g2-standard-96", "nvidia-l4", 8, 24, 96, 384),
        GpuMachineType("n1-standard-8", "nvidia-t4", 1, 16, 8, 30),
        GpuMachineType("a2-highgpu-1g", "nvidia-a100", 1, 40, 12, 85),
        GpuMachineType("a2-highgpu-2g", "nvidia-a100", 2, 40, 24, 170),
        GpuMachineType("a2-highgpu-4g", "nvidia-a100", 4, 40, 48, 340),
        GpuMachineType("a2-highgpu-8g", "nvidia-a100", 8, 40, 96, 680),
        GpuMachineType("a2-ultragpu-1g", "nvidia-a100-80gb", 1, 80, 12, 170),
        GpuMachineType("a2-ultragpu-8g", "nvidia-a100-80gb", 8, 80, 96, 1360),
        GpuMachineType("a3-highgpu-8g", "nvidia-h100", 8, 80, 208, 1872),
    ),
}

# GKE's accelerator type for each `gpu_model` (the `guest_accelerators[].type` string; GKE labels
# nodes `cloud.google.com/gke-accelerator=<type>`): https://cloud.google.com/compute/docs/gpus
# and the accelerated-platforms node pools (container_node_pool_gpu_*.tf).
GKE_ACCELERATOR_TYPES: dict[str, str] = {
    "nvidia-l4": "nvidia-l4",
    "nvidia-t4": "nvidia-tesla-t4",
    "nvidia-a100": "nvidia-tesla-a100",
    "nvidia-a100-80gb": "nvidia-a100-80gb",
    "nvidia-h100": "nvidia-h100-80gb",
}

# Zones that offer each GKE accelerator, per region (GPU availability is per zone; a node pool
# whose node_locations name a zone without the accelerator fails to create):
# https://cloud.google.com/compute/docs/gpus/gpu-regions-zones, read from the same SkyPilot catalogue
# (accelerator rows L4 / T4 / A100 / A100-80GB / H100 per region and zone). A region that is not
# listed for an accelerator offers none of it.
GCP_ACCELERATOR_ZONES: dict[str, dict[str, tuple[str, ...]]] = {
    "nvidia-l4": {
        "us-central1": ("us-central1-a", "us-central1-b", "us-central1-c"),
        "us-east1": ("us-east1-b", "us-east1-c", "us-east1-d"),
        "us-east4": ("us-east4-a", "us-east4-c"),
        "us-west1": ("us-west1-a", "us-west1-b", "us-west1-c"),
        "europe-west1": ("europe-west1-b", "europe-west1-c"),
        "europe-west4": ("europe-west4-a", "europe-west4-b", "europe-west4-c"),
    },
    "nvidia-tesla-t4": {
        "us-central1": ("us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f"),
        "us-east1": ("us-east1-c", "us-east1-d"),
        "us-east4": ("us-east4-a", "us-east4-b", "us-east4-c"),
        "us-west1": ("us-west1-a", "us-west1-b"),
        "europe-west1": ("europe-west1-b", "europe-west1-c", "europe-west1-d"),
        "europe-west4": ("europe-west4-a", "europe-west4-b", "europe-west4-c"),
    },
    "nvidia-tesla-a100": {
        "us-central1": ("us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f"),
        "us-east1": ("us-east1-b",),
        "us-west1": ("us-west1-b",),
        "europe-west4": ("europe-west4-a", "europe-west4-b"),
    },
    "nvidia-a100-80gb": {
        "us-central1": ("us-central1-a", "us-central1-c"),
        "us-east4": ("us-east4-c",),
        "europe-west4": ("europe-west4-a",),
    },
    "nvidia-h100-80gb": {
        "us-central1": ("us-central1-a", "us-central1-b", "us-central1-c"),
        "us-east4": ("us-east4-a", "us-east4-b", "us-east4-c"),
        "us-west1": ("us-west1-a", "us-west1-b"),
        "europe-west1": ("europe-west1-b", "europe-west1-c"),
        "europe-west4": ("europe-west4-b", "europe-west4-c"),
    },
}

# Regions and their availability zones, per cloud. A spec's region must be listed here, and
# `network.zone_count` may not exceed the region's zones. Each cloud's stream adds its entry.
#
# aws: the commercial regions with EKS, and the zone codes of each, from "AWS Availability
# Zones" (https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-availability-zones.html,
# one AZ ID per zone), read 2026-11. In the oldest regions (us-east-1, us-west-1, us-west-2,
# ap-northeast-1, ap-southeast-1/2, eu-west-1, sa-east-1) the codes map to different physical
# zones per account and an account may see other letters: pass the zones your account has
# (`aws ec2 describe-availability-zones`) through `NetworkArgs.zones`. Letters listed here skip the
# codes no new account gets (ap-northeast-1b, ca-central-1c). GovCloud and China are other
# partitions (other ARNs, endpoints and prices) and are not supported.
#
# gcp: GCP zone letters are not a/b/c everywhere
# (us-east1 is b, c, d; europe-west1 b, c, d): https://cloud.google.com/compute/docs/regions-zones,
# read from skypilot-org/skypilot-catalog catalogs/v7/gcp/vms.csv @017e250 (one row per zone that
# offers a machine type; the e2-standard-4 rows list every zone of these regions).
REGION_ZONES: dict[str, dict[str, tuple[str, ...]]] = {
    "aws": {
        region: tuple(f"{region}{letter}" for letter in letters)
        for region, letters in {
            "us-east-1": "abcdef",
            "us-east-2": "abc",
            "us-west-1": "ab",
            "us-west-2": "abcd",
            "ca-central-1": "abd",
            "ca-west-1": "abc",
            "mx-central-1": "abc",
            "sa-east-1": "abc",
            "eu-west-1": "abc",
            "eu-west-2": "abc",
            "eu-west-3": "abc",
            "eu-central-1": "abc",
            "eu-central-2": "abc",
            "eu-north-1": "abc",
            "eu-south-1": "abc",
            "eu-south-2": "abc",
            "il-central-1": "abc",
            "me-south-1": "abc",
            "me-central-1": "abc",
            "af-south-1": "abc",
            "ap-east-1": "abc",
            "ap-east-2": "abc",
            "ap-south-1": "abc",
            "ap-south-2": "abc",
            "ap-northeast-1": "acd",
            "ap-northeast-2": "abcd",
            "ap-northeast-3": "abc",
            "ap-southeast-1": "abc",
            "ap-southeast-2": "abc",
            "ap-southeast-3": "abc",
            "ap-southeast-4": "abc",
            "ap-southeast-5": "abc",
            "ap-southeast-7": "abc",
        }.items()
    },
    "gcp": {
        "us-central1": ("us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f"),
        "us-east1": ("us-east1-b", "us-east1-c", "us-east1-d"),
        "us-east4": ("us-east4-a", "us-east4-b", "us-east4-c"),
        "us-west1": ("us-west1-a", "us-west1-b", "us-west1-c"),
        "europe-west1": ("europe-west1-b", "europe-west1-c", "europe-west1-d"),
        "europe-west4": ("europe-west4-a", "europe-west4-b", "europe-west4-c"),
    },
}


def region_zones(cloud: str, region: str) -> tuple[str, ...] | None:
    """The zones of a catalogued region; None when the cloud has no region catalogue yet."""
    table = REGION_ZONES.get(cloud)
    if table is None:
        return None
    if region not in table:
        raise ValueError(
            f"{region!r} is not a region of {cloud} that mlinfra knows; allowed: {', '.join(sorted(table))}"
        )
    return table[region]


# Region name shapes per cloud (for clouds without a REGION_ZONES entry); a region outside the
# shape is a typo, not a new region.
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


# --------------------------------------------------------------------------- EKS nodes
# Network interfaces and IPv4 addresses per interface of the EC2 types mlinfra uses, from
# amazon-eks-ami v20260724 nodeadm/internal/kubelet/instance-info.jsonl. With the VPC CNI every
# pod takes a VPC address; each node keeps its primary interface and one warm interface filled
# with addresses (WARM_ENI_TARGET=1, the default), so a node holds at least
# min(2, ENIs) x addresses-per-ENI addresses of its subnet, and at most ENIs x addresses.
AWS_ENI_LIMITS: dict[str, tuple[int, int]] = {
    "g4dn.xlarge": (3, 10),
    "g4dn.2xlarge": (3, 10),
    "g4dn.12xlarge": (8, 30),
    "g5.xlarge": (4, 15),
    "g5.2xlarge": (4, 15),
    "g5.4xlarge": (8, 30),
    "g5.12xlarge": (15, 50),
    "g5.48xlarge": (7, 50),
    "g6.xlarge": (4, 15),
    "g6.2xlarge": (4, 15),
    "g6.12xlarge": (8, 30),
    "g6e.xlarge": (4, 15),
    "g6e.12xlarge": (10, 30),
    "p4d.24xlarge": (15, 50),
    "p4de.24xlarge": (15, 50),
    "p5.48xlarge": (2, 50),
    "p5e.48xlarge": (2, 50),
    "m5.large": (3, 10),
    "m5.xlarge": (4, 15),
    "m5.2xlarge": (4, 15),
    "m6a.large": (3, 10),
    "m6a.xlarge": (4, 15),
    "m6a.2xlarge": (4, 15),
    "m6i.large": (3, 10),
    "m6i.xlarge": (4, 15),
    "m6i.2xlarge": (4, 15),
    "m6i.4xlarge": (8, 30),
    "m7i.large": (3, 10),
    "m7i.xlarge": (4, 15),
    "m7i.2xlarge": (4, 15),
    "m7i.4xlarge": (8, 30),
    "t3.medium": (3, 6),
    "t3.large": (3, 12),
    "t3.xlarge": (4, 15),
}


def eks_max_pods(instance_type: str) -> int | None:
    """The kubelet maxPods nodeadm sets: ENIs x (addresses per ENI - 1) + 2 (CalcMaxPods)."""
    limits = AWS_ENI_LIMITS.get(instance_type)
    return None if limits is None else limits[0] * (limits[1] - 1) + 2


def eks_node_min_addresses(instance_type: str) -> int:
    """Subnet addresses one node holds at least (primary + warm interface); 1 when the type is unknown."""
    limits = AWS_ENI_LIMITS.get(instance_type)
    return 1 if limits is None else min(2, limits[0]) * limits[1]


def eks_allocatable(machine: GpuMachineType) -> tuple[int, int]:
    """(CPU millicores, memory MiB) a node of this type can ever give pods on EKS (AL2023).

    nodeadm (amazon-eks-ami v20260724, nodeadm/internal/kubelet/config.go) reserves for the
    kubelet 6% of the first core, 1% of the second, 0.5% of the third and fourth and 0.25% of
    the rest, and 11 MiB x maxPods + 255 MiB of memory, and evicts below 100 MiB free. The
    instance's nominal memory is an upper bound of what the kubelet sees, so a request above
    this never fits; DaemonSets take a little more on every node.
    """
    total = machine.vcpu * 1000
    reserved_cpu = 0
    for start, end, basis_points in ((0, 1000, 600), (1000, 2000, 100), (2000, 4000, 50), (4000, total, 25)):
        if total > start:
            reserved_cpu += (min(total, end) - start) * basis_points // 10000
    max_pods = eks_max_pods(machine.name) or 110  # nodeadm's default when the type is unknown
    memory = machine.memory_gib * 1024 - (11 * max_pods + 255) - 100
    return total - reserved_cpu, memory


def gke_accelerator(machine: GpuMachineType) -> str:
    """The GKE accelerator type of a GCP GPU machine type (its `guest_accelerators[].type`)."""
    return GKE_ACCELERATOR_TYPES[machine.gpu_model]


def accelerator_zones(accelerator: str, region: str) -> tuple[str, ...]:
    """Zones of `region` that offer the GKE accelerator (empty when the region offers none)."""
    return GCP_ACCELERATOR_ZONES.get(accelerator, {}).get(region, ())
