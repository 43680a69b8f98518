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


def estimate_plan(plan) -> dict[str, Any]:
    prices = load_prices(plan.cloud)
    if not prices:
        return {}
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

    if plan.cloud == "azure":
        region = _estimate_azure(plan, prices, add, unpriced)
    else:
        region = prices["region"]
        _estimate_aws(plan, prices, add, unpriced)
    return {
        "currency": prices["currency"],
        "region": region,
        "prices_date": prices["date"],
        "note": prices["note"],
        "lines": lines,
        "unpriced": unpriced,
        "monthly_min_usd": round(sum(line["monthly_min_usd"] for line in lines), 2),
        "monthly_max_usd": round(sum(line["monthly_max_usd"] for line in lines), 2),
    }


def _estimate_aws(plan, prices: dict[str, Any], add, unpriced: list[str]) -> None:
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


_AKS_CLUSTER = "azure-native:containerservice:ManagedCluster"
_AKS_POOL = "azure-native:containerservice:AgentPool"


def _estimate_azure(plan, prices: dict[str, Any], add, unpriced: list[str]) -> str:
    """AKS tier fee, every agent pool at min/max (spot at the spot price), NAT gateways and their
    IPs, private endpoints, Key Vault keys and registries, in the plan's region."""
    hourly, monthly = prices["hourly"], prices["monthly"]
    providers = plan.of_type("pulumi:providers:azure-native")
    region = str(providers[0].inputs.get("location")) if providers else ""
    table = prices["regions"].get(region)
    if table is None:
        unpriced.append(f"region {region or '(unknown)'} (priced: {', '.join(sorted(prices['regions']))})")
        return region
    hour = HOURS_PER_MONTH

    def pool(name: str, p: dict[str, Any]) -> None:
        size = p.get("vmSize")
        spot = p.get("scaleSetPriority") == "Spot"
        price = (table["spot_hourly"] if spot else table["instances_hourly"]).get(size)
        if price is None and spot:
            price = table["instances_hourly"].get(size)  # no spot price known: on-demand as the bound
        if price is None:
            unpriced.append(f"node pool {name} ({size})")
            return
        low = int(p.get("minCount", p.get("count", 0)) or 0)
        high = int(p.get("maxCount", p.get("count", 0)) or 0)
        add(f"node pool {name}: {size} {'spot' if spot else 'on_demand'}", low, high, price * hour)

    for cluster in plan.of_type(_AKS_CLUSTER):
        tier = str((cluster.inputs.get("sku") or {}).get("tier", "Free")).lower()
        add(f"AKS control plane ({tier} tier)", 1, 1, hourly[f"aks_{tier}"] * hour)
        for p in cluster.inputs.get("agentPoolProfiles") or []:
            pool(f"{cluster.name}/{p.get('name')}", p)
    for agent_pool in plan.of_type(_AKS_POOL):
        pool(agent_pool.name, agent_pool.inputs)
    for type_, item, unit in (
        ("azure-native:network:NatGateway", "NAT gateways", hourly["nat_gateway"] * hour),
        ("azure-native:network:PublicIPAddress", "public IP addresses", hourly["public_ip"] * hour),
        ("azure-native:network:PrivateEndpoint", "private endpoints", hourly["private_endpoint"] * hour),
        ("azure-native:keyvault:Key", "Key Vault HSM keys", monthly["key_vault_hsm_key"]),
    ):
        n = len(plan.of_type(type_))
        if n:
            add(item, n, n, unit)
    for registry in plan.of_type("azure-native:containerregistry:Registry"):
        sku = str((registry.inputs.get("sku") or {}).get("name", "Basic")).lower()
        add(f"container registry {registry.name} ({sku})", 1, 1, monthly[f"acr_{sku}"])
    return region
