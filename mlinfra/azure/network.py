"""Network: the VNet the platform runs in (or an existing one, bring-your-own).

Azure subnets span every zone of a region, so the AWS "one private and one public subnet per
zone" becomes three regional subnets:

- nodes: every node pool; egress through a NAT gateway (no default outbound access, no node
  public IPs), an NSG that refuses inbound internet traffic. With Azure CNI Overlay pods take
  addresses from the cluster's pod CIDR, not from this subnet.
- apiserver: delegated to AKS for API server VNet integration (the API server's internal load
  balancer lives here; a private Key Vault for KMS requires it).
- endpoints (private endpoints only): private endpoints of Key Vault, storage and registry, with
  NSG enforcement on, and the private DNS zones that make their names resolve to them.
- runners (private clusters only): where the runner that installs the in-cluster layer sits (a
  CI agent VM or container): it resolves the private API server through the private DNS zone AKS
  links to this VNet and reaches it over the VNet; no inbound internet, egress through the NAT.

Subnets are created one after another: parallel PUTs of subnets on one VNet conflict
(AnotherOperationInProgress). VNet flow logs (staging/prod) go to a storage account of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
from pulumi_azure_native import network, privatedns, storage

from mlinfra.components import child, stateful
from mlinfra.spec import NetworkSpec, SpecError

# Private DNS zones per private-link group (learn.microsoft.com private-link/private-endpoint-dns,
# "Azure services DNS zone configuration": Storage blob, Key Vault, Container Registry).
PRIVATE_DNS_ZONES: dict[str, str] = {
    "blob": "privatelink.blob.core.windows.net",
    "vault": "privatelink.vaultcore.azure.net",
    "registry": "privatelink.azurecr.io",
}
# Network Watcher is a regional singleton Azure creates in NetworkWatcherRG as
# NetworkWatcher_<region> (learn.microsoft.com network-watcher/network-watcher-create); flow logs
# are its children, as in Azure/AKS-Construction bicep/nsg.bicep:262-264.
NETWORK_WATCHER_RESOURCE_GROUP = "NetworkWatcherRG"
# Tag naming the flow-log sink account; the no-public-buckets policy reads it (Network Watcher
# writes flow logs with the account key: vnet-flow-logs-overview "Storage account considerations").
ROLE_TAG = "mlinfra-role"
FLOW_LOG_SINK = "flow-log-sink"
NAT_IDLE_TIMEOUT_MINUTES = 4  # the NAT gateway default (nat-gateway-resource "TCP idle timeout")
HTTPS_PORTS = ["80", "443"]


@dataclass
class NetworkArgs:
    """Inputs of a Network.

    spec: the network section of the platform spec (cidr, flow logs, existing VNet).
    subnets: node / endpoints / apiserver CIDRs (`AzureOptions.subnet_layout`).
    name_prefix: prefix of physical names (`<name>-<environment>`).
    resource_group_name / location: where everything goes.
    private_endpoints: create the endpoint subnet and the private DNS zones (private clusters).
    runner_subnet: create the runners subnet (private clusters: the in-cluster layer's way in).
    public_ingress: allow 80/443 from the internet to the nodes (serving behind a public load balancer).
    flow_log_account_name: storage account for VNet flow logs (3-24 lowercase letters and digits).
    protect: protect + retain the flow-log account (prod).
    tags: tags for every taggable child.
    """

    spec: NetworkSpec
    subnets: Mapping[str, str]
    name_prefix: str
    resource_group_name: pulumi.Input[str]
    location: str
    private_endpoints: bool
    public_ingress: bool
    runner_subnet: bool
    flow_log_account_name: str
    protect: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)


def _validate(args: NetworkArgs) -> None:
    if not isinstance(args.spec, NetworkSpec):
        raise SpecError(f"expected a mlinfra.spec.NetworkSpec, got {type(args.spec).__name__}", "spec")
    missing = {"nodes", "apiserver", "endpoints", "runners"} - set(args.subnets)
    if missing:
        raise SpecError(f"missing subnet CIDRs {sorted(missing)}", "subnets")
    existing = args.spec.existing
    if existing is not None and args.private_endpoints and len(existing.private_subnet_ids) < 3:
        raise SpecError(
            "private endpoints need the endpoint subnet as the third id",
            "network.existing.private_subnet_ids",
        )


class Network(pulumi.ComponentResource):
    """VNet, NSGs, NAT gateway, chained subnets, private DNS zones and VNet flow logs; or a given VNet."""

    vnet_id: pulumi.Output[str]
    nodes_subnet_id: pulumi.Output[str]
    apiserver_subnet_id: pulumi.Output[str]
    endpoints_subnet_id: pulumi.Output[str] | None
    runners_subnet_id: pulumi.Output[str] | None
    dns_zone_ids: dict[str, pulumi.Output[str]]
    egress_ip: pulumi.Output[str] | None

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        _validate(args)
        super().__init__("mlinfra:azure:Network", name, None, opts)
        spec = args.spec
        tags = dict(args.tags)
        rg = args.resource_group_name
        self.endpoints_subnet_id = None
        self.runners_subnet_id = None
        self.egress_ip = None

        if spec.existing is not None:
            # Bring your own: the VNet, its subnets, NSGs and egress belong to someone else.
            ids = list(spec.existing.private_subnet_ids)
            self.vnet_id = pulumi.Output.from_input(spec.existing.network_id)
            self.nodes_subnet_id = pulumi.Output.from_input(ids[0])
            self.apiserver_subnet_id = pulumi.Output.from_input(ids[1])
            if len(ids) > 2:
                self.endpoints_subnet_id = pulumi.Output.from_input(ids[2])
        else:
            self._build(name, args, tags)

        self.dns_zone_ids = {}
        if args.private_endpoints:
            for group, zone_name in PRIVATE_DNS_ZONES.items():
                zone = privatedns.PrivateZone(
                    f"{name}-dns-{group}",
                    private_zone_name=zone_name,
                    resource_group_name=rg,
                    location="global",
                    tags=tags,
                    opts=child(self),
                )
                privatedns.VirtualNetworkLink(
                    f"{name}-dns-{group}-link",
                    private_zone_name=zone.name,
                    resource_group_name=rg,
                    virtual_network_link_name=f"{args.name_prefix}-vnet",
                    virtual_network=privatedns.SubResourceArgs(id=self.vnet_id),
                    registration_enabled=False,
                    location="global",
                    tags=tags,
                    opts=child(self),
                )
                self.dns_zone_ids[group] = zone.id

        if spec.flow_logs:
            self._flow_logs(name, args, tags)

        outputs: dict[str, pulumi.Input[str]] = {
            "vnet_id": self.vnet_id,
            "nodes_subnet_id": self.nodes_subnet_id,
            "apiserver_subnet_id": self.apiserver_subnet_id,
        }
        if self.endpoints_subnet_id is not None:
            outputs["endpoints_subnet_id"] = self.endpoints_subnet_id
        if self.runners_subnet_id is not None:
            outputs["runners_subnet_id"] = self.runners_subnet_id
        if self.egress_ip is not None:
            outputs["egress_ip"] = self.egress_ip
        self.register_outputs(outputs)

    def _build(self, name: str, args: NetworkArgs, tags: dict[str, str]) -> None:
        rg, location, prefix = args.resource_group_name, args.location, args.name_prefix
        vnet = network.VirtualNetwork(
            f"{name}-vnet",
            virtual_network_name=f"{prefix}-vnet",
            resource_group_name=rg,
            location=location,
            address_space=network.AddressSpaceArgs(address_prefixes=[args.spec.cidr]),
            # No inline `subnets`: they are separate resources below (SDK: mixing both deletes them).
            tags=tags,
            opts=child(self),
        )
        nodes_nsg = network.NetworkSecurityGroup(
            f"{name}-nodes-nsg",
            network_security_group_name=f"{prefix}-nodes",
            resource_group_name=rg,
            location=location,
            security_rules=self._node_rules(args),
            tags=tags,
            opts=child(self),
        )
        # Egress: a Standard NAT gateway with one static IP (allow-listable by third parties).
        egress_ip = network.PublicIPAddress(
            f"{name}-nat-ip",
            public_ip_address_name=f"{prefix}-nat",
            resource_group_name=rg,
            location=location,
            sku=network.PublicIPAddressSkuArgs(name="Standard", tier="Regional"),
            public_ip_allocation_method="Static",
            public_ip_address_version="IPv4",
            tags=tags,
            opts=child(self),
        )
        nat = network.NatGateway(
            f"{name}-nat",
            nat_gateway_name=f"{prefix}-nat",
            resource_group_name=rg,
            location=location,
            sku=network.NatGatewaySkuArgs(name="Standard"),
            idle_timeout_in_minutes=NAT_IDLE_TIMEOUT_MINUTES,
            public_ip_addresses=[network.SubResourceArgs(id=egress_ip.id)],
            tags=tags,
            opts=child(self),
        )
        # Without private endpoints (a public dev cluster), storage is reached through its
        # firewall: the service endpoint lets the account's VNet rule admit the node subnet.
        service_endpoints = (
            None
            if args.private_endpoints
            else [network.ServiceEndpointPropertiesFormatArgs(service="Microsoft.Storage")]
        )
        nodes = network.Subnet(
            f"{name}-nodes",
            subnet_name="nodes",
            virtual_network_name=vnet.name,
            resource_group_name=rg,
            address_prefix=args.subnets["nodes"],
            nat_gateway=network.SubResourceArgs(id=nat.id),
            network_security_group=network.NetworkSecurityGroupArgs(id=nodes_nsg.id),
            service_endpoints=service_endpoints,
            default_outbound_access=False,  # create-only (SDK); egress only through the NAT gateway
            opts=child(self),
        )
        # Delegated to AKS for API server VNet integration (learn.microsoft.com
        # aks/api-server-vnet-integration: a /28 or larger subnet delegated to
        # Microsoft.ContainerService/managedClusters); AKS manages what runs in it.
        apiserver = network.Subnet(
            f"{name}-apiserver",
            subnet_name="apiserver",
            virtual_network_name=vnet.name,
            resource_group_name=rg,
            address_prefix=args.subnets["apiserver"],
            delegations=[
                network.DelegationArgs(name="aks", service_name="Microsoft.ContainerService/managedClusters")
            ],
            default_outbound_access=False,
            opts=child(self, depends_on=[nodes]),
        )
        self.vnet_id = vnet.id
        self.nodes_subnet_id = nodes.id
        self.apiserver_subnet_id = apiserver.id
        self.egress_ip = egress_ip.ip_address.apply(lambda ip: ip or "")
        if args.private_endpoints:
            endpoints_nsg = network.NetworkSecurityGroup(
                f"{name}-endpoints-nsg",
                network_security_group_name=f"{prefix}-endpoints",
                resource_group_name=rg,
                location=location,
                security_rules=[
                    _rule("allow-https-from-vnet", 100, "Allow", "VirtualNetwork", ["443"]),
                    _rule("deny-internet-inbound", 4096, "Deny", "Internet", ["*"]),
                ],
                tags=tags,
                opts=child(self),
            )
            endpoints = network.Subnet(
                f"{name}-endpoints",
                subnet_name="endpoints",
                virtual_network_name=vnet.name,
                resource_group_name=rg,
                address_prefix=args.subnets["endpoints"],
                network_security_group=network.NetworkSecurityGroupArgs(id=endpoints_nsg.id),
                # NSG rules apply to private endpoints only with network policies enabled
                # (learn.microsoft.com private-link/disable-private-endpoint-network-policy).
                private_endpoint_network_policies="Enabled",
                default_outbound_access=False,
                opts=child(self, depends_on=[apiserver]),
            )
            self.endpoints_subnet_id = endpoints.id
            last = endpoints
        else:
            last = apiserver
        if args.runner_subnet:
            runners_nsg = network.NetworkSecurityGroup(
                f"{name}-runners-nsg",
                network_security_group_name=f"{prefix}-runners",
                resource_group_name=rg,
                location=location,
                security_rules=[_rule("deny-internet-inbound", 4096, "Deny", "Internet", ["*"])],
                tags=tags,
                opts=child(self),
            )
            runners = network.Subnet(
                f"{name}-runners",
                subnet_name="runners",
                virtual_network_name=vnet.name,
                resource_group_name=rg,
                address_prefix=args.subnets["runners"],
                nat_gateway=network.SubResourceArgs(id=nat.id),
                network_security_group=network.NetworkSecurityGroupArgs(id=runners_nsg.id),
                default_outbound_access=False,
                opts=child(self, depends_on=[last]),
            )
            self.runners_subnet_id = runners.id

    @staticmethod
    def _node_rules(args: NetworkArgs) -> list[network.SecurityRuleArgs]:
        """No inbound internet traffic, except HTTP(S) to the ingress when serving is public.

        The default rules keep VNet-internal traffic and the load balancer's health probes
        (AllowVnetInBound, AllowAzureLoadBalancerInBound); the explicit deny makes the intent
        visible and outranks nothing else mlinfra adds.
        """
        rules = [_rule("deny-internet-inbound", 4096, "Deny", "Internet", ["*"])]
        if args.public_ingress:
            rules.insert(0, _rule("allow-ingress-http-from-internet", 200, "Allow", "Internet", HTTPS_PORTS))
        return rules

    def _flow_logs(self, name: str, args: NetworkArgs, tags: dict[str, str]) -> None:
        """VNet flow logs (NSG flow logs cannot be created after 2025-06-30: learn.microsoft.com
        network-watcher/nsg-flow-logs-overview) into a dedicated, locked-down storage account.

        Network Watcher writes them with the account's access key (vnet-flow-logs-overview,
        "Storage account considerations": rotating the keys stops the logs), so this account keeps
        shared-key access; the policy pack names that as an exemption for this account only.
        """
        account = storage.StorageAccount(
            f"{name}-flow-logs",
            account_name=args.flow_log_account_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            kind="StorageV2",
            sku=storage.SkuArgs(name="Standard_LRS"),  # flow logs need a standard account
            enable_https_traffic_only=True,
            minimum_tls_version="TLS1_2",
            allow_blob_public_access=False,
            allow_shared_key_access=True,
            allow_cross_tenant_replication=False,
            network_rule_set=storage.NetworkRuleSetArgs(default_action="Deny", bypass="AzureServices"),
            tags={**tags, ROLE_TAG: FLOW_LOG_SINK},
            opts=stateful(self, args.protect),
        )
        network.FlowLog(
            f"{name}-flow-log",
            flow_log_name=f"{args.name_prefix}-vnet",
            network_watcher_name=f"NetworkWatcher_{args.location}",
            resource_group_name=NETWORK_WATCHER_RESOURCE_GROUP,
            location=args.location,
            target_resource_id=self.vnet_id,
            storage_id=account.id,
            enabled=True,
            format=network.FlowLogFormatParametersArgs(type="JSON", version=2),
            retention_policy=network.RetentionPolicyParametersArgs(
                enabled=True, days=args.spec.flow_log_retention_days
            ),
            tags=tags,
            opts=child(self),
        )


def _rule(name: str, priority: int, access: str, source: str, ports: list[str]) -> network.SecurityRuleArgs:
    return network.SecurityRuleArgs(
        name=name,
        priority=priority,
        direction="Inbound",
        access=access,
        protocol="Tcp" if ports != ["*"] else "*",
        source_address_prefix=source,
        source_port_range="*",
        destination_address_prefix="*",
        destination_port_ranges=ports if ports != ["*"] else None,
        destination_port_range="*" if ports == ["*"] else None,
    )


def private_endpoint(
    parent: pulumi.Resource,
    name: str,
    *,
    endpoint_name: str,
    target_id: pulumi.Input[str],
    group: str,
    subnet_id: pulumi.Input[str],
    dns_zone_id: pulumi.Input[str],
    resource_group_name: pulumi.Input[str],
    location: str,
    tags: Mapping[str, str],
) -> network.PrivateEndpoint:
    """A private endpoint for one private-link group of `target_id`, registered in its DNS zone
    (the zone group writes the A records, including ACR's data endpoints)."""
    if group not in PRIVATE_DNS_ZONES:
        raise SpecError(
            f"{group!r} is not a private-link group; allowed: {', '.join(PRIVATE_DNS_ZONES)}", "group"
        )
    endpoint = network.PrivateEndpoint(
        name,
        private_endpoint_name=endpoint_name,
        resource_group_name=resource_group_name,
        location=location,
        # A reference by id; `SubnetArgs` would also send its default network policies, which
        # belong to the subnet resource (and could disagree with it).
        subnet={"id": subnet_id},
        private_link_service_connections=[
            network.PrivateLinkServiceConnectionArgs(
                name=endpoint_name, private_link_service_id=target_id, group_ids=[group]
            )
        ],
        tags=dict(tags),
        opts=child(parent),
    )
    network.PrivateDnsZoneGroup(
        f"{name}-dns",
        private_endpoint_name=endpoint.name,
        private_dns_zone_group_name="default",
        resource_group_name=resource_group_name,
        private_dns_zone_configs=[
            network.PrivateDnsZoneConfigArgs(name=group, private_dns_zone_id=dns_zone_id)
        ],
        opts=child(parent),
    )
    return endpoint
