"""The Azure price table and estimate: dated, sourced, per region; AKS tier fee, every pool at its
bounds (spot at the spot price), NAT, endpoints, Key Vault keys, registry."""

from __future__ import annotations

from mlinfra.catalog import GPU_MACHINE_TYPES
from mlinfra.cost import estimate_plan, load_prices
from mlinfra.offline.engine import Plan, ResourceRecord

HOURS = 730
SHIPPED_REGIONS = ("westus3", "eastus2", "eastus")  # stacks/azure dev, staging, prod


def _record(type_: str, name: str, **inputs) -> ResourceRecord:
    return ResourceRecord(
        urn=f"urn:x::{name}", type=type_, name=name, parent=None, provider=None, inputs=inputs
    )


def _plan(location: str, *records: ResourceRecord) -> Plan:
    provider = _record("pulumi:providers:azure-native", "azure", location=location)
    return Plan(stack="dev", project="p", cloud="azure", resources=[provider, *records])


def test_price_table_is_dated_sourced_and_covers_the_shipped_regions():
    prices = load_prices("azure")
    assert prices["date"] and prices["sources"] and prices["note"]
    for region in SHIPPED_REGIONS:
        table = prices["regions"][region]
        assert table["instances_hourly"]["Standard_D4ds_v5"] > 0
        assert (
            table["spot_hourly"]["Standard_NC4as_T4_v3"] < table["instances_hourly"]["Standard_NC4as_T4_v3"]
        )
    priced = set().union(*(set(t["instances_hourly"]) for t in prices["regions"].values()))
    assert set(GPU_MACHINE_TYPES["azure"]) <= priced


def test_pools_fee_and_network_are_priced_in_the_plans_region():
    prices = load_prices("azure")
    table = prices["regions"]["eastus"]
    plan = _plan(
        "eastus",
        _record(
            "azure-native:containerservice:ManagedCluster",
            "c",
            sku={"name": "Base", "tier": "Standard"},
            agentPoolProfiles=[
                {"name": "system", "vmSize": "Standard_D4ds_v5", "minCount": 3, "maxCount": 6}
            ],
        ),
        _record(
            "azure-native:containerservice:AgentPool",
            "spot",
            vmSize="Standard_NC24ads_A100_v4",
            scaleSetPriority="Spot",
            minCount=0,
            maxCount=2,
        ),
        _record("azure-native:network:NatGateway", "nat"),
        _record("azure-native:network:PrivateEndpoint", "pe"),
        _record("azure-native:keyvault:Key", "k"),
        _record("azure-native:containerregistry:Registry", "acr", sku={"name": "Premium"}),
    )
    cost = estimate_plan(plan)
    lines = {line["item"]: line for line in cost["lines"]}
    assert cost["region"] == "eastus" and cost["unpriced"] == []
    assert lines["AKS control plane (standard tier)"]["monthly_min_usd"] == round(0.10 * HOURS, 2)
    system = lines["node pool c/system: Standard_D4ds_v5 on_demand"]
    assert system["monthly_min_usd"] == round(3 * table["instances_hourly"]["Standard_D4ds_v5"] * HOURS, 2)
    spot = lines["node pool spot: Standard_NC24ads_A100_v4 spot"]
    assert spot["monthly_min_usd"] == 0
    assert spot["monthly_max_usd"] == round(2 * table["spot_hourly"]["Standard_NC24ads_A100_v4"] * HOURS, 2)
    assert lines["NAT gateways"]["monthly_min_usd"] == round(0.045 * HOURS, 2)
    assert lines["container registry acr (premium)"]["monthly_min_usd"] == 50.0


def test_unpriced_regions_and_sizes_are_listed_not_guessed():
    pool = _record(
        "azure-native:containerservice:AgentPool", "p", vmSize="Standard_X9", minCount=1, maxCount=1
    )
    assert estimate_plan(_plan("eastus", pool))["unpriced"] == ["node pool p (Standard_X9)"]
    assert estimate_plan(_plan("antarctica", pool))["unpriced"][0].startswith("region antarctica")
