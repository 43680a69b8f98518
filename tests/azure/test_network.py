"""Network: chained subnets, egress only through the NAT gateway, no inbound internet, private DNS,
VNet flow logs, bring-your-own VNet; bad input refused before any registration."""

from __future__ import annotations

import pytest

from mlinfra.azure.network import (
    FLOW_LOG_SINK,
    NETWORK_WATCHER_RESOURCE_GROUP,
    PRIVATE_DNS_ZONES,
    ROLE_TAG,
    Network,
    NetworkArgs,
)
from mlinfra.spec import ExistingNetwork, NetworkSpec
from tests.azure.support import LOCATION, RG, TAGS, plan_on_azure, refused_before_any_resource

SUBNET = "azure-native:network:Subnet"
NSG = "azure-native:network:NetworkSecurityGroup"
LAYOUT = {
    "nodes": "10.50.0.0/18",
    "endpoints": "10.50.128.0/24",
    "apiserver": "10.50.192.0/28",
    "runners": "10.50.192.32/27",
}


def _args(**kw) -> NetworkArgs:
    values = {
        "spec": NetworkSpec(cidr="10.50.0.0/16"),
        "subnets": LAYOUT,
        "name_prefix": "acme-dev",
        "resource_group_name": RG,
        "location": LOCATION,
        "private_endpoints": False,
        "public_ingress": False,
        "runner_subnet": False,
        "flow_log_account_name": "acmedevflowlogs",
        "tags": TAGS,
    }
    values.update(kw)
    return NetworkArgs(**values)


def _plan(**kw):
    return plan_on_azure(lambda opts: Network("net", _args(**kw), opts=opts))


def test_subnets_are_created_one_after_another():
    """Parallel subnet PUTs on one VNet fail (AnotherOperationInProgress): each depends on the last."""
    plan = _plan(private_endpoints=True, runner_subnet=True)
    subnets = {r.name: r for r in plan.of_type(SUBNET)}
    assert set(subnets) == {"net-nodes", "net-apiserver", "net-endpoints", "net-runners"}
    chain = ["net-nodes", "net-apiserver", "net-endpoints", "net-runners"]
    for before, after in zip(chain, chain[1:], strict=False):
        assert subnets[before].urn in subnets[after].dependencies, (before, after)


def test_nodes_leave_only_through_the_nat_gateway():
    plan = _plan()
    nodes = plan.one(SUBNET, "net-nodes").inputs
    nat = plan.one("azure-native:network:NatGateway")
    assert nodes["natGateway"]["id"] == nat.id or nodes["natGateway"]["id"].endswith(
        "/natGateways/acme-dev-nat"
    )
    assert nodes["defaultOutboundAccess"] is False
    assert nodes["addressPrefix"] == LAYOUT["nodes"]
    ip = plan.one("azure-native:network:PublicIPAddress").inputs
    assert (
        ip["sku"] == {"name": "Standard", "tier": "Regional"} and ip["publicIPAllocationMethod"] == "Static"
    )
    # A public (dev) platform reaches storage through its firewall: the service endpoint.
    assert nodes["serviceEndpoints"] == [{"service": "Microsoft.Storage"}]


def test_no_inbound_internet_unless_serving_is_public():
    rules = plan_on_nsg(public_ingress=False)
    assert [(r["name"], r["access"], r["sourceAddressPrefix"]) for r in rules] == [
        (
            "deny-internet-inbound",
            "Deny",
            "Internet",
        )
    ]
    rules = plan_on_nsg(public_ingress=True)
    allow = next(r for r in rules if r["access"] == "Allow")
    assert allow["sourceAddressPrefix"] == "Internet" and allow["destinationPortRanges"] == ["80", "443"]
    assert allow["priority"] < next(r for r in rules if r["access"] == "Deny")["priority"]


def plan_on_nsg(**kw) -> list[dict]:
    return _plan(**kw).one(NSG, "net-nodes-nsg").inputs["securityRules"]


def test_apiserver_subnet_is_delegated_to_aks():
    api = _plan().one(SUBNET, "net-apiserver").inputs
    assert api["delegations"] == [
        {"name": "aks", "serviceName": "Microsoft.ContainerService/managedClusters"}
    ]
    assert api["addressPrefix"] == LAYOUT["apiserver"]


def test_private_endpoints_get_their_subnet_and_dns_zones():
    plan = _plan(private_endpoints=True)
    endpoints = plan.one(SUBNET, "net-endpoints").inputs
    assert endpoints["privateEndpointNetworkPolicies"] == "Enabled"  # NSG rules apply to endpoints
    zones = sorted(r.inputs["privateZoneName"] for r in plan.of_type("azure-native:privatedns:PrivateZone"))
    assert zones == sorted(PRIVATE_DNS_ZONES.values())
    for link in plan.of_type("azure-native:privatedns:VirtualNetworkLink"):
        assert link.inputs["registrationEnabled"] is False and link.inputs["location"] == "global"
        assert link.inputs["virtualNetwork"]["id"].endswith("/virtualNetworks/acme-dev-vnet")
    assert "serviceEndpoints" not in plan.one(SUBNET, "net-nodes").inputs


def test_no_dns_zones_or_endpoint_subnet_for_a_public_platform():
    plan = _plan()
    assert not plan.of_type("azure-native:privatedns:PrivateZone")
    assert {r.name for r in plan.of_type(SUBNET)} == {"net-nodes", "net-apiserver"}


def test_vnet_flow_logs_go_to_a_locked_down_account():
    plan = _plan(spec=NetworkSpec(cidr="10.50.0.0/16", flow_logs=True, flow_log_retention_days=120))
    flow = plan.one("azure-native:network:FlowLog").inputs
    assert flow["resourceGroupName"] == NETWORK_WATCHER_RESOURCE_GROUP
    assert flow["networkWatcherName"] == f"NetworkWatcher_{LOCATION}"
    assert flow["targetResourceId"].endswith("/virtualNetworks/acme-dev-vnet")
    assert flow["retentionPolicy"] == {"enabled": True, "days": 120}
    assert flow["format"] == {"type": "JSON", "version": 2}
    account = plan.one("azure-native:storage:StorageAccount").inputs
    assert flow["storageId"].endswith("/storageAccounts/acmedevflowlogs")
    assert account["tags"][ROLE_TAG] == FLOW_LOG_SINK
    assert account["allowBlobPublicAccess"] is False and account["minimumTlsVersion"] == "TLS1_2"
    assert account["networkRuleSet"] == {"defaultAction": "Deny", "bypass": "AzureServices"}


def test_bring_your_own_vnet_creates_no_network_but_links_dns():
    existing = ExistingNetwork(
        network_id="/subscriptions/s/resourceGroups/hub/providers/Microsoft.Network/virtualNetworks/spoke",
        private_subnet_ids=["/sub/nodes", "/sub/api", "/sub/endpoints"],
    )
    plan = _plan(spec=NetworkSpec(cidr="10.50.0.0/16", existing=existing), private_endpoints=True)
    types = {r.type for r in plan.resources}
    assert not types & {"azure-native:network:VirtualNetwork", SUBNET, NSG, "azure-native:network:NatGateway"}
    links = plan.of_type("azure-native:privatedns:VirtualNetworkLink")
    assert links and all(link.inputs["virtualNetwork"]["id"] == existing.network_id for link in links)


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"subnets": {"nodes": "10.50.0.0/18"}}, "subnets"),
        (
            {
                "spec": NetworkSpec(
                    cidr="10.50.0.0/16",
                    existing=ExistingNetwork(network_id="/vnet", private_subnet_ids=["/n", "/a"]),
                ),
                "private_endpoints": True,
            },
            "network.existing.private_subnet_ids",
        ),
    ],
)
def test_bad_input_is_refused_before_any_resource(kw, field):
    error, registered = refused_before_any_resource(lambda opts: Network("net", _args(**kw), opts=opts))
    assert error.field == field
    assert registered == []
