"""Monthly cost of a plan at minimum and maximum scale, from the price table.

The estimate covers what the platform costs to keep running (control plane, nodes at
min/max pool sizes, NAT gateways, interface endpoints, keys, node volumes), not usage
(data processing, egress, storage growth). A machine type missing from the table is
listed as unpriced rather than guessed.
"""

from __future__ import annotations

import json
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


def estimate_plan(plan) -> dict[str, Any]:
    prices = load_prices(plan.cloud)
    if not prices:
        return {}
    region = plan_region(plan)
    prices, price_region = prices_for(prices, region)
    hourly, monthly, inst = prices["hourly"], prices["monthly"], prices["instances_hourly"]
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
