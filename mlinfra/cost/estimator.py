"""Monthly cost of a plan at minimum and maximum scale, from the price table.

The estimate covers what the platform costs to keep running (control plane, nodes at
min/max pool sizes, NAT, interface endpoints, keys), not usage
(data processing, egress, storage growth). A machine type missing from the table is
listed as unpriced rather than guessed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

HOURS_PER_MONTH = 730


@cache
def load_prices(cloud: str) -> dict[str, Any]:
    path = resources.files("mlinfra.cost") / f"prices_{cloud}.json"
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


# The provider package of each cloud and the input naming its region.
_PROVIDER_REGION = {"aws": ("aws", "region"), "gcp": ("gcp", "region"), "azure": ("azure-native", "location")}


def plan_region(plan) -> str | None:
    """The region the plan's cloud provider is configured for (None if the plan has no provider)."""
    package, key = _PROVIDER_REGION.get(plan.cloud, ("", ""))
    for r in plan.resources:
        if r.type == f"pulumi:providers:{package}" and isinstance(r.inputs.get(key), str):
            return r.inputs[key]
    return None


def prices_for(prices: dict[str, Any], region: str | None) -> tuple[dict[str, Any], str]:
    """The price tables for `region` and the region they are of.

    A table lists its own `region`, and may carry `regions: {<region>: {<table>: {...}}}` that
    override its figures for other regions; any other region falls back to the table's own.
    """
    overlays = prices.get("regions") or {}
    if region in overlays:
        merged = {k: dict(v) if isinstance(v, dict) else v for k, v in prices.items()}
        for table, figures in overlays[region].items():
            merged[table] = {**merged.get(table, {}), **figures}
        return merged, region
    return prices, prices["region"]


Add = Callable[[str, float, float, float], None]


def estimate_plan(plan) -> dict[str, Any]:
    prices = load_prices(plan.cloud)
    if not prices:
        return {}
    region = plan_region(plan)
    lines: list[dict[str, Any]] = []
    unpriced: list[str] = []

    def add(item: str, count_min: float, count_max: float, unit_month: float) -> None:
        lines.append(
            {
                "item": item,
                "monthly_min_usd": round(count_min * unit_month, 2),
                "monthly_max_usd": round(count_max * unit_month, 2),
            }
        )

    price_region = _LINES[plan.cloud](plan, prices, region, add, unpriced)
    return {
        "currency": prices["currency"],
        "region": price_region,  # the region whose prices were used
        "plan_region": region,  # the region the plan deploys to (None: unknown)
        "prices_date": prices["date"],
        "note": prices["note"],
        "lines": lines,
        "unpriced": unpriced,
        "monthly_min_usd": round(sum(line["monthly_min_usd"] for line in lines), 2),
        "monthly_max_usd": round(sum(line["monthly_max_usd"] for line in lines), 2),
    }


def _aws_lines(plan, prices: dict[str, Any], region: str | None, add: Add, unpriced: list[str]) -> str:
    prices, price_region = prices_for(prices, region)
    hourly, monthly, inst = prices["hourly"], prices["monthly"], prices["instances_hourly"]
    clusters = plan.of_type("aws:eks/cluster:Cluster")
    if clusters:
        add("EKS control plane", len(clusters), len(clusters), hourly["eks_cluster"] * HOURS_PER_MONTH)
    for ng in plan.of_type("aws:eks/nodeGroup:NodeGroup"):
        types = ng.inputs.get("instanceTypes") or []
        scaling = ng.inputs.get("scalingConfig") or {}
        itype = types[0] if types else None
        if itype not in inst:
            unpriced.append(f"node group {ng.name} ({itype})")
            continue
        cap = (ng.inputs.get("capacityType") or "ON_DEMAND").lower()
        add(
            f"node group {ng.name}: {itype} {cap}",
            int(scaling.get("minSize", 0)),
            int(scaling.get("maxSize", 0)),
            inst[itype] * HOURS_PER_MONTH,
        )
    nats = len(plan.of_type("aws:ec2/natGateway:NatGateway"))
    if nats:
        add("NAT gateways", nats, nats, hourly["nat_gateway"] * HOURS_PER_MONTH)
    az_hours = sum(
        len(e.inputs.get("subnetIds") or [])
        for e in plan.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
        if e.inputs.get("vpcEndpointType") == "Interface"
    )
    if az_hours:
        add(
            "interface VPC endpoints (per AZ)",
            az_hours,
            az_hours,
            hourly["interface_endpoint_per_az"] * HOURS_PER_MONTH,
        )
    keys = len(plan.of_type("aws:kms/key:Key"))
    if keys:
        add("KMS customer-managed keys", keys, keys, monthly["kms_key"])
    return price_region


def _gcp_node_price(pool, table: dict[str, Any]) -> tuple[float, str] | str:
    """(hourly price of one node, what it is) or the reason it is unpriced: host + its GPUs."""
    config = pool.inputs.get("nodeConfig") or {}
    machine = config.get("machineType")
    spot = 1 if (config.get("spot") or config.get("preemptible")) else 0
    if machine not in table["machines_hourly"]:
        return f"{machine}"
    price = table["machines_hourly"][machine][spot]
    for accelerator in config.get("guestAccelerators") or []:
        gpu = accelerator.get("type")
        if gpu not in table["gpus_hourly"]:
            return f"{machine}: {gpu}"
        price += int(accelerator.get("count") or 0) * table["gpus_hourly"][gpu][spot]
    return price, f"{machine} {'spot' if spot else 'on_demand'}"


def _gcp_lines(plan, prices: dict[str, Any], region: str | None, add: Add, unpriced: list[str]) -> str:
    """GCP prices are per region (`regions.<region>`: machines and GPUs); a region without a table
    leaves its node pools unpriced."""
    hourly, monthly = prices["hourly"], prices["monthly"]
    region = region or "unknown"
    table = prices["regions"].get(region)
    clusters = plan.of_type("gcp:container/cluster:Cluster")
    if clusters:
        add("GKE cluster management", len(clusters), len(clusters), hourly["gke_cluster"] * HOURS_PER_MONTH)
    nodes_min = nodes_max = 0
    for pool in plan.of_type("gcp:container/nodePool:NodePool"):
        scaling = pool.inputs.get("autoscaling") or {}
        low, high = int(scaling.get("totalMinNodeCount") or 0), int(scaling.get("totalMaxNodeCount") or 0)
        nodes_min, nodes_max = nodes_min + low, nodes_max + high
        if table is None:
            unpriced.append(f"node pool {pool.name} (no prices for {region})")
            continue
        priced = _gcp_node_price(pool, table)
        if isinstance(priced, str):
            unpriced.append(f"node pool {pool.name} ({priced} in {region})")
            continue
        price, what = priced
        add(f"node pool {pool.name}: {what}", low, high, price * HOURS_PER_MONTH)
    for _ in plan.of_type("gcp:compute/routerNat:RouterNat"):
        gateway = [min(n * hourly["nat_per_vm"], hourly["nat_gateway_cap"]) for n in (nodes_min, nodes_max)]
        add("Cloud NAT gateway (per VM, capped)", gateway[0], gateway[1], HOURS_PER_MONTH)
    addresses = len(plan.of_type("gcp:compute/address:Address"))
    if addresses:
        add("Cloud NAT IP addresses", addresses, addresses, hourly["nat_ip"] * HOURS_PER_MONTH)
    keys = len(plan.of_type("gcp:kms/cryptoKey:CryptoKey"))
    if keys:
        add("Cloud KMS keys (one version each)", keys, keys, monthly["kms_key_version"])
    return region


_LINES: dict[str, Callable[..., str]] = {"aws": _aws_lines, "gcp": _gcp_lines}
