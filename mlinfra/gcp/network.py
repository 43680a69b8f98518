"""Network: the VPC the GKE cluster runs in (or an existing one, bring-your-own).

GCP subnets are regional: one node subnet spans every zone, with secondary ranges for pods and
services (VPC-native GKE). Nodes have no external IP, so they reach Google APIs (GCS, Artifact
Registry, KMS, STS) through Private Google Access and the internet (public images and charts)
through Cloud NAT. A custom-mode VPC admits no ingress until a firewall rule allows it; the only
rule mlinfra adds lets the private control plane reach admission webhooks (cluster.py, it belongs to
the cluster's control-plane range and node service account).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_gcp import compute

from mlinfra.components import child
from mlinfra.gcp.logs import retained_logs
from mlinfra.spec import NetworkSpec, SpecError

# Subnet flow logs (VPC "Use VPC Flow Logs": aggregation 5 s, half of the flows sampled, with
# metadata); their retention is that of the log bucket they are routed to (logs.py).
FLOW_LOG_AGGREGATION = "INTERVAL_5_SEC"
FLOW_LOG_SAMPLING = 0.5
# Cloud NAT: ports per VM grow on demand from this floor (dynamic port allocation, Cloud NAT
# "Ports and addresses"); only translation errors are logged.
NAT_MIN_PORTS_PER_VM = 64


@dataclass
class NetworkArgs:
    """Inputs of a Network.

    spec: the network section of the platform spec (`cidr` is the node subnet's primary range).
    project / region: where the network and its regional subnet live.
    name_prefix: physical name prefix (`<prefix>-vpc`, `<prefix>-nodes`, ...).
    zones: the cluster's zones (one NAT IP per zone when `spec.nat_gateways` is per_zone).
    pods_cidr: secondary range for pods.
    pods_range_name / services_range_name: names of the two secondary ranges (those of the
        existing subnet when `spec.existing` is set).
    labels: labels for the NAT addresses.
    """

    spec: NetworkSpec
    project: str
    region: str
    name_prefix: str
    zones: Sequence[str]
    pods_cidr: str
    pods_range_name: str = "pods"
    services_range_name: str = "services"
    labels: Mapping[str, str] = field(default_factory=dict)


def _validate(args: NetworkArgs) -> None:
    if not isinstance(args.spec, NetworkSpec):
        raise SpecError(f"expected a mlinfra.spec.NetworkSpec, got {type(args.spec).__name__}", "spec")
    zones = list(args.zones)
    if not zones or len(set(zones)) != len(zones):
        raise SpecError(f"expected distinct zones, got {zones}", "zones")
    bad = [z for z in zones if not z.startswith(f"{args.region}-")]
    if bad:
        raise SpecError(f"zones {bad} are not in region {args.region}", "zones")
    if args.spec.existing is not None and len(args.spec.existing.private_subnet_ids) != 1:
        raise SpecError("give the one regional node subnet", "spec.existing.private_subnet_ids")
    for f in ("private_subnet_cidrs", "public_subnet_cidrs"):
        if getattr(args.spec, f) is not None:
            raise SpecError("GCP subnets are regional: one node subnet (spec.cidr)", f"spec.{f}")


class Network(pulumi.ComponentResource):
    """Custom-mode VPC, regional node subnet with pod/service ranges, Cloud Router + NAT; or an existing one."""

    network_id: pulumi.Output[str]
    subnetwork_id: pulumi.Output[str]
    pods_range_name: str
    services_range_name: str
    nat_ips: pulumi.Output[list[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        _validate(args)
        super().__init__("mlinfra:gcp:Network", name, None, opts)
        spec = args.spec
        self.pods_range_name = args.pods_range_name
        self.services_range_name = args.services_range_name

        if spec.existing is not None:
            # Bring your own: the VPC, subnet (with both secondary ranges), NAT and flow logs belong to
            # the network's owner; nothing is created.
            self.network_id = pulumi.Output.from_input(spec.existing.network_id)
            self.subnetwork_id = pulumi.Output.from_input(spec.existing.private_subnet_ids[0])
            self.nat_ips = pulumi.Output.from_input([])
            self._register()
            return

        network = compute.Network(
            f"{name}-vpc",
            name=f"{args.name_prefix}-vpc",
            project=args.project,
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            # Keep the default internet route: Cloud NAT and Private Google Access use it.
            delete_default_routes_on_create=False,
            opts=child(self),
        )
        subnet = compute.Subnetwork(
            f"{name}-nodes",
            name=f"{args.name_prefix}-nodes",
            project=args.project,
            region=args.region,
            network=network.id,
            ip_cidr_range=spec.cidr,
            secondary_ip_ranges=[
                compute.SubnetworkSecondaryIpRangeArgs(
                    range_name=args.pods_range_name, ip_cidr_range=args.pods_cidr
                ),
                compute.SubnetworkSecondaryIpRangeArgs(
                    range_name=args.services_range_name, ip_cidr_range=spec.service_cidr
                ),
            ],
            # Nodes without external IPs reach Google APIs (GCS, Artifact Registry, KMS, STS): CKV_GCP_74.
            private_ip_google_access=True,
            log_config=(
                compute.SubnetworkLogConfigArgs(
                    aggregation_interval=FLOW_LOG_AGGREGATION,
                    flow_sampling=FLOW_LOG_SAMPLING,
                    metadata="INCLUDE_ALL_METADATA",
                )
                if spec.flow_logs
                else None
            ),
            opts=child(self),
        )
        if spec.flow_logs:
            retained_logs(
                self,
                f"{name}-flow-logs",
                project=args.project,
                location=args.region,
                bucket_id=f"{args.name_prefix}-flow-logs",
                retention_days=spec.flow_log_retention_days,
                log_filter=subnet.name.apply(
                    lambda s: (
                        'resource.type="gce_subnetwork" AND log_id("compute.googleapis.com/vpc_flows") '
                        f'AND resource.labels.subnetwork_name="{s}"'
                    )
                ),
                description=f"VPC flow logs of {args.name_prefix}",
            )

        router = compute.Router(
            f"{name}-router",
            name=f"{args.name_prefix}-router",
            project=args.project,
            region=args.region,
            network=network.id,
            opts=child(self),
        )
        # Static NAT addresses (allow-listable egress). Cloud NAT is one regional, distributed
        # gateway, so `nat_gateways: per_zone` means one address per zone, not a gateway per zone.
        count = len(args.zones) if spec.nat_gateways == "per_zone" else 1
        addresses = [
            compute.Address(
                f"{name}-nat-{i}",
                name=f"{args.name_prefix}-nat-{i}",
                project=args.project,
                region=args.region,
                address_type="EXTERNAL",
                network_tier="PREMIUM",
                labels=dict(args.labels),
                opts=child(self),
            )
            for i in range(count)
        ]
        compute.RouterNat(
            f"{name}-nat",
            name=f"{args.name_prefix}-nat",
            project=args.project,
            region=args.region,
            router=router.name,
            nat_ip_allocate_option="MANUAL_ONLY",
            nat_ips=[a.self_link for a in addresses],
            source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
            subnetworks=[
                compute.RouterNatSubnetworkArgs(name=subnet.id, source_ip_ranges_to_nats=["ALL_IP_RANGES"])
            ],
            enable_dynamic_port_allocation=True,
            min_ports_per_vm=NAT_MIN_PORTS_PER_VM,
            log_config=compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
            opts=child(self),
        )

        self.network_id = network.id
        self.subnetwork_id = subnet.id
        self.nat_ips = pulumi.Output.all(*[a.address for a in addresses]).apply(list)
        self._register()

    def _register(self) -> None:
        self.register_outputs(
            {
                "network_id": self.network_id,
                "subnetwork_id": self.subnetwork_id,
                "pods_range_name": self.pods_range_name,
                "services_range_name": self.services_range_name,
                "nat_ips": self.nat_ips,
            }
        )
