"""Network: the VPC the platform runs in (or an existing one, bring-your-own).

Nodes and endpoints live only in private subnets; public subnets hold nothing but NAT
gateways and internet-facing load balancers and never auto-assign public IPs. AWS APIs the
nodes need at boot and at run time (ECR, STS, EC2, CloudWatch Logs, S3) are reached through
VPC endpoints, so image pulls and credential exchange stay on the AWS network. The VPC's
default security group is emptied (CIS AWS Foundations 5.4) and flow logs go to a log
group with bounded retention when the spec asks for them.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
from pulumi_aws import ec2, iam

from mlinfra.aws.identity import confused_deputy_trust_policy
from mlinfra.aws.kms import check_log_retention, encrypted_log_group
from mlinfra.catalog import REGION_ZONES
from mlinfra.components import child
from mlinfra.spec import NetworkSpec

# Interface endpoints created in the private subnets (private DNS on, 443 from the VPC only):
#   ecr.api, ecr.dkr  image manifests/auth and layers (layers themselves come via the S3 gateway);
#   sts               IRSA / Pod Identity credential exchange (AssumeRoleWithWebIdentity);
#   ec2               the VPC CNI (ENI/IP management) and the EBS CSI driver call EC2 constantly:
#                     without it every call goes through the NAT gateway and stops when it fails;
#   logs              flow/container logs and CloudWatch agents ship without NAT egress.
INTERFACE_ENDPOINTS: tuple[str, ...] = ("ecr.api", "ecr.dkr", "sts", "ec2", "logs")


@dataclass
class NetworkArgs:
    """Inputs of a Network.

    spec: the network section of the platform spec.
    region: AWS region (zone names are `<region>a`, `<region>b`, ... unless `zones` is given).
    cluster_name: physical EKS cluster name, for the `kubernetes.io/cluster/<name>` subnet tag.
    tags: tags for every taggable child.
    zones: explicit availability zone names (one per `spec.zone_count`), for accounts where
        the first letters are not the zones to use (e.g. a constrained us-east-1e).
    flow_log_kms_key_arn: a CMK for the flow-log group (its key policy must let CloudWatch Logs use it
        for `flow_log_group(cluster_name)`, see kms.log_group_key_policy); CloudWatch's own
        encryption when None.
    """

    spec: NetworkSpec
    region: str
    cluster_name: str
    tags: Mapping[str, str]
    zones: Sequence[str] | None = None
    flow_log_kms_key_arn: pulumi.Input[str] | None = None


def flow_log_group(cluster_name: str) -> str:
    """The flow-log group of the platform's VPC."""
    return f"/aws/vpc/{cluster_name}/flow-logs"


def zone_names(region: str, count: int) -> list[str]:
    """The first `count` zones of the region from the catalogue (mlinfra.catalog.REGION_ZONES; no
    describe-zones invoke: plans stay offline and stable); `<region>a`, `<region>b`, ... for a
    region the catalogue does not list."""
    known = REGION_ZONES["aws"].get(region)
    if known is not None:
        if count > len(known):
            raise ValueError(f"zones: {region} has {len(known)} zones ({', '.join(known)}); {count} asked")
        return list(known[:count])
    return [f"{region}{letter}" for letter in string.ascii_lowercase[:count]]


def _validate(args: NetworkArgs) -> None:
    if not isinstance(args.spec, NetworkSpec):
        raise ValueError(f"spec: expected a mlinfra.spec.NetworkSpec, got {type(args.spec).__name__}")
    if not args.region:
        raise ValueError("region: must not be empty (e.g. us-west-2)")
    if not args.cluster_name:
        raise ValueError("cluster_name: must not be empty (it tags the subnets for load balancers)")
    if args.spec.flow_logs and args.spec.existing is None:
        check_log_retention(args.spec.flow_log_retention_days, "spec.flow_log_retention_days")
    if args.zones is not None:
        zones = list(args.zones)
        if len(zones) != args.spec.zone_count:
            raise ValueError(f"zones: {len(zones)} zones given but spec.zone_count is {args.spec.zone_count}")
        if len(set(zones)) != len(zones):
            raise ValueError(f"zones: duplicate zone names {zones}")
        bad = [z for z in zones if not z.startswith(args.region)]
        if bad:
            raise ValueError(f"zones: {bad} are not zones of region {args.region}")


class Network(pulumi.ComponentResource):
    """VPC, private/public subnets, NAT, VPC endpoints and flow logs; or an existing VPC."""

    vpc_id: pulumi.Output[str]
    private_subnet_ids: pulumi.Output[list[str]]
    private_subnets_by_zone: dict[str, pulumi.Output[str]]
    public_subnet_ids: pulumi.Output[list[str]]
    zones: list[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        _validate(args)
        super().__init__("mlinfra:aws:Network", name, None, opts)
        spec = args.spec

        if spec.existing is not None:
            # Bring your own: the VPC and its subnets belong to someone else; create nothing.
            self.vpc_id = pulumi.Output.from_input(spec.existing.network_id)
            self.private_subnet_ids = pulumi.Output.from_input(list(spec.existing.private_subnet_ids))
            # Zones of existing subnets are unknown offline: each subnet is its own zone label.
            self.private_subnets_by_zone = {
                s: pulumi.Output.from_input(s) for s in spec.existing.private_subnet_ids
            }
            self.public_subnet_ids = pulumi.Output.from_input(list(spec.existing.public_subnet_ids))
            self.zones = list(args.zones or [])
            self._register()
            return

        self.zones = list(args.zones) if args.zones is not None else zone_names(args.region, spec.zone_count)
        private_cidrs, public_cidrs = spec.subnet_layout()
        tags = dict(args.tags)
        cluster_tag = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"}

        def tagged(role: str, **extra: str) -> dict[str, str]:
            return {**tags, "Name": f"{args.cluster_name}-{role}", **extra}

        vpc = ec2.Vpc(
            f"{name}-vpc",
            cidr_block=spec.cidr,
            enable_dns_support=True,  # required for private DNS of interface endpoints
            enable_dns_hostnames=True,
            tags=tagged("vpc"),
            opts=child(self),
        )
        # CIS 5.4: the default security group allows all traffic between its members; take
        # every rule away so nothing that lands in it by accident can talk.
        ec2.DefaultSecurityGroup(
            f"{name}-default-sg",
            vpc_id=vpc.id,
            ingress=[],
            egress=[],
            tags=tagged("default-sg-locked"),
            opts=child(self),
        )

        igw = ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tagged("igw"), opts=child(self))

        # Neither tier auto-assigns public IPs: public subnets hold only NAT gateways and
        # internet-facing LBs; the role tags tell the load balancer controller which is which.
        tiers = {
            "public": (public_cidrs, "kubernetes.io/role/elb"),
            "private": (private_cidrs, "kubernetes.io/role/internal-elb"),
        }
        subnets: dict[str, list[ec2.Subnet]] = {tier: [] for tier in tiers}
        for i, zone in enumerate(self.zones):
            for tier, (cidrs, lb_role) in tiers.items():
                subnets[tier].append(
                    ec2.Subnet(
                        f"{name}-{tier}-{zone}",
                        vpc_id=vpc.id,
                        cidr_block=cidrs[i],
                        availability_zone=zone,
                        map_public_ip_on_launch=False,
                        tags=tagged(f"{tier}-{zone}", **{lb_role: "1"}, **cluster_tag),
                        opts=child(self),
                    )
                )
        public_subnets, private_subnets = subnets["public"], subnets["private"]

        public_rt = ec2.RouteTable(
            f"{name}-public-rt", vpc_id=vpc.id, tags=tagged("public"), opts=child(self)
        )
        ec2.Route(
            f"{name}-public-default",
            route_table_id=public_rt.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=igw.id,
            opts=child(self),
        )
        for zone, subnet in zip(self.zones, public_subnets, strict=True):
            ec2.RouteTableAssociation(
                f"{name}-public-{zone}", subnet_id=subnet.id, route_table_id=public_rt.id, opts=child(self)
            )

        # NAT: one shared gateway (dev: cheaper) or one per zone (prod: a zone outage does
        # not cut the other zones' egress, and no cross-zone data charges).
        nat_zones = self.zones if spec.nat_gateways == "per_zone" else self.zones[:1]
        nats: list[ec2.NatGateway] = []
        for zone in nat_zones:
            eip = ec2.Eip(f"{name}-nat-{zone}", domain="vpc", tags=tagged(f"nat-{zone}"), opts=child(self))
            nats.append(
                ec2.NatGateway(
                    f"{name}-nat-{zone}",
                    allocation_id=eip.allocation_id,
                    subnet_id=public_subnets[self.zones.index(zone)].id,
                    connectivity_type="public",
                    tags=tagged(f"nat-{zone}"),
                    opts=child(self, depends_on=[igw]),
                )
            )

        private_rts: list[ec2.RouteTable] = []
        for i, (zone, subnet) in enumerate(zip(self.zones, private_subnets, strict=True)):
            rt = ec2.RouteTable(
                f"{name}-private-{zone}", vpc_id=vpc.id, tags=tagged(f"private-{zone}"), opts=child(self)
            )
            nat = nats[i] if spec.nat_gateways == "per_zone" else nats[0]
            ec2.Route(
                f"{name}-private-{zone}-default",
                route_table_id=rt.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nat.id,
                opts=child(self),
            )
            ec2.RouteTableAssociation(
                f"{name}-private-{zone}", subnet_id=subnet.id, route_table_id=rt.id, opts=child(self)
            )
            private_rts.append(rt)

        # S3 gateway endpoint: free, and ECR image layers are served from S3.
        ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for rt in private_rts],
            tags=tagged("s3"),
            opts=child(self),
        )
        # Endpoint ENIs only accept HTTPS from inside the VPC; they initiate nothing, so the
        # group has no egress rule.
        endpoint_sg = ec2.SecurityGroup(
            f"{name}-endpoints",
            vpc_id=vpc.id,
            description="VPC interface endpoints: HTTPS from the VPC only",
            ingress=[
                ec2.SecurityGroupIngressArgs(
                    description="HTTPS from the VPC",
                    protocol="tcp",
                    from_port=443,
                    to_port=443,
                    cidr_blocks=[spec.cidr],
                )
            ],
            egress=[],
            tags=tagged("endpoints"),
            opts=child(self),
        )
        private_ids = [s.id for s in private_subnets]
        for service in INTERFACE_ENDPOINTS:
            ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}",
                vpc_id=vpc.id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=private_ids,
                security_group_ids=[endpoint_sg.id],
                tags=tagged(service.replace(".", "-")),
                opts=child(self),
            )

        if spec.flow_logs:
            self._flow_logs(name, args, vpc, tagged("flow-logs"))

        self.vpc_id = vpc.id
        self.private_subnet_ids = pulumi.Output.all(*private_ids).apply(list)
        self.private_subnets_by_zone = {
            zone: subnet.id for zone, subnet in zip(self.zones, private_subnets, strict=True)
        }
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in public_subnets]).apply(list)
        self._register()

    def _flow_logs(self, name: str, args: NetworkArgs, vpc: ec2.Vpc, tags: dict[str, str]) -> None:
        group = encrypted_log_group(
            self,
            f"{name}-flow-logs",
            group_name=flow_log_group(args.cluster_name),
            retention_days=args.spec.flow_log_retention_days,
            kms_key_arn=args.flow_log_kms_key_arn,
            tags=tags,
        )
        caller = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        trust = pulumi.Output.all(caller.arn, caller.account_id).apply(
            lambda v: json.dumps(flow_log_trust_policy(v[0].split(":")[1], args.region, v[1]))
        )
        role = iam.Role(f"{name}-flow-logs", assume_role_policy=trust, tags=tags, opts=child(self))
        iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            policy=group.arn.apply(lambda arn: json.dumps(flow_log_policy(arn))),
            opts=child(self),
        )
        ec2.FlowLog(
            f"{name}-flow-logs",
            vpc_id=vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags=tags,
            opts=child(self),
        )

    def _register(self) -> None:
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "private_subnet_ids": self.private_subnet_ids,
                "public_subnet_ids": self.public_subnet_ids,
                "zones": self.zones,
            }
        )


def flow_log_trust_policy(partition: str, region: str, account: str) -> dict[str, Any]:
    """Confused-deputy guard (VPC user guide, flow-logs-iam-role): the service may assume the
    role only for flow logs of this account in this region, not on behalf of anyone else's."""
    return confused_deputy_trust_policy(
        "vpc-flow-logs.amazonaws.com", account, f"arn:{partition}:ec2:{region}:{account}:vpc-flow-log/*"
    )


def flow_log_policy(log_group_arn: str) -> dict[str, Any]:
    """Write access to one log group's streams, nothing else (the group is pre-created)."""
    group = log_group_arn.removesuffix(":*")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                "Resource": [group, f"{group}:*"],
            }
        ],
    }
