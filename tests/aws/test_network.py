"""Network: private-only nodes, NAT per profile, endpoints with private DNS, flow logs, BYO."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pytest

from mlinfra.aws.network import INTERFACE_ENDPOINTS, Network, NetworkArgs
from mlinfra.spec import PlatformSpec
from tests.aws.support import export_outputs
from tests.conftest import PROD_SPEC, make_spec, plan_of

SUBNET = "aws:ec2/subnet:Subnet"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"


def _plan(spec: PlatformSpec, **kw):
    def program():
        provider = aws.Provider("aws", region=spec.region)
        net = Network(
            "net",
            NetworkArgs(
                spec=spec.network, region=spec.region, cluster_name=spec.prefix, tags=spec.required_tags, **kw
            ),
            opts=pulumi.ResourceOptions(provider=provider),
        )
        export_outputs(net, "vpc_id", "private_subnet_ids", "public_subnet_ids", "zones")

    return plan_of(program, region=spec.region)


@pytest.fixture(scope="module")
def dev_plan():
    return _plan(make_spec())


@pytest.fixture(scope="module")
def prod_plan():
    return _plan(make_spec(PROD_SPEC))


def _subnets(plan, kind: str):
    return [r for r in plan.of_type(SUBNET) if r.name.startswith(f"net-{kind}-")]


def test_vpc_has_dns_and_default_sg_is_locked(dev_plan):
    vpc = dev_plan.one("aws:ec2/vpc:Vpc")
    assert vpc.inputs["cidrBlock"] == "10.0.0.0/16"
    assert vpc.inputs["enableDnsSupport"] is True
    assert vpc.inputs["enableDnsHostnames"] is True
    dsg = dev_plan.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert dsg.inputs.get("ingress", []) == []
    assert dsg.inputs.get("egress", []) == []


def test_prod_spans_three_zones_with_private_and_public_subnets(prod_plan):
    private, public = _subnets(prod_plan, "private"), _subnets(prod_plan, "public")
    assert sorted(s.inputs["availabilityZone"] for s in private) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert sorted(s.inputs["availabilityZone"] for s in public) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    by_zone = sorted(private, key=lambda s: s.inputs["availabilityZone"])
    assert [s.inputs["cidrBlock"] for s in by_zone] == ["10.40.0.0/19", "10.40.32.0/19", "10.40.64.0/19"]
    for s in private + public:
        assert s.inputs["mapPublicIpOnLaunch"] is False
        assert s.inputs["tags"]["kubernetes.io/cluster/acme-prod"] == "shared"
        assert s.inputs["tags"]["owner"] == "ml-platform"
    assert all(s.inputs["tags"]["kubernetes.io/role/internal-elb"] == "1" for s in private)
    assert all("kubernetes.io/role/elb" not in s.inputs["tags"] for s in private)
    assert all(s.inputs["tags"]["kubernetes.io/role/elb"] == "1" for s in public)
    assert prod_plan.outputs["zones"] == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert len(prod_plan.outputs["private_subnet_ids"]) == 3


def test_dev_has_one_nat_prod_one_per_zone(dev_plan, prod_plan):
    assert len(dev_plan.of_type("aws:ec2/natGateway:NatGateway")) == 1
    assert len(dev_plan.of_type("aws:ec2/eip:Eip")) == 1
    assert len(_subnets(dev_plan, "private")) == 2
    nats = prod_plan.of_type("aws:ec2/natGateway:NatGateway")
    assert len(nats) == 3
    public_by_urn = {s.urn: s for s in _subnets(prod_plan, "public")}
    assert all(n.inputs["connectivityType"] == "public" for n in nats)
    assert {n.name for n in nats} == {"net-nat-us-east-1a", "net-nat-us-east-1b", "net-nat-us-east-1c"}
    assert len(public_by_urn) == 3


def test_private_routes_go_through_nat_public_through_igw(prod_plan):
    routes = {r.name: r for r in prod_plan.of_type("aws:ec2/route:Route")}
    assert set(routes) == {
        "net-public-default",
        "net-private-us-east-1a-default",
        "net-private-us-east-1b-default",
        "net-private-us-east-1c-default",
    }
    assert "gatewayId" in routes["net-public-default"].inputs
    nat_ids = set()
    for name, r in routes.items():
        assert r.inputs["destinationCidrBlock"] == "0.0.0.0/0"
        if name != "net-public-default":
            assert "gatewayId" not in r.inputs
            nat_ids.add(r.inputs["natGatewayId"])
    assert len(nat_ids) == 3  # each zone uses its own NAT
    assert len(prod_plan.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")) == 6


def test_dev_private_zones_share_the_single_nat(dev_plan):
    routes = [r for r in dev_plan.of_type("aws:ec2/route:Route") if r.name.startswith("net-private-")]
    assert len(routes) == 2
    assert len({r.inputs["natGatewayId"] for r in routes}) == 1


def test_endpoints(prod_plan):
    eps = {r.inputs["serviceName"]: r for r in prod_plan.of_type(ENDPOINT)}
    s3 = eps["com.amazonaws.us-east-1.s3"]
    assert s3.inputs["vpcEndpointType"] == "Gateway"
    assert len(s3.inputs["routeTableIds"]) == 3
    for required in ("ecr.api", "ecr.dkr", "sts"):
        assert required in INTERFACE_ENDPOINTS
    private_ids = sorted(prod_plan.outputs["private_subnet_ids"])
    for svc in INTERFACE_ENDPOINTS:
        ep = eps[f"com.amazonaws.us-east-1.{svc}"]
        assert ep.inputs["vpcEndpointType"] == "Interface"
        assert ep.inputs["privateDnsEnabled"] is True
        assert sorted(ep.inputs["subnetIds"]) == private_ids
        assert len(ep.inputs["securityGroupIds"]) == 1
    sg = prod_plan.one("aws:ec2/securityGroup:SecurityGroup", "net-endpoints")
    assert sg.inputs["ingress"] == [
        {
            "cidrBlocks": ["10.40.0.0/16"],
            "description": "HTTPS from the VPC",
            "fromPort": 443,
            "protocol": "tcp",
            "toPort": 443,
        }
    ]
    assert sg.inputs.get("egress", []) == []


def test_flow_logs_only_in_prod(dev_plan, prod_plan):
    assert dev_plan.of_type("aws:ec2/flowLog:FlowLog") == []
    assert dev_plan.of_type("aws:cloudwatch/logGroup:LogGroup") == []
    fl = prod_plan.one("aws:ec2/flowLog:FlowLog")
    assert fl.inputs["trafficType"] == "ALL"
    assert fl.inputs["logDestinationType"] == "cloud-watch-logs"
    group = prod_plan.one("aws:cloudwatch/logGroup:LogGroup")
    # prod profile: a year (spec.PROD_MIN_FLOW_LOG_RETENTION_DAYS)
    assert group.inputs["retentionInDays"] == 365
    group_arn = f"arn:aws:logs:us-east-1:123456789012:log-group:{group.inputs['name']}"
    assert fl.inputs["logDestination"] == group_arn
    role = prod_plan.one("aws:iam/role:Role", "net-flow-logs")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    # Both confused-deputy keys: this account, and flow logs of this account and region only.
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        "ArnLike": {"aws:SourceArn": "arn:aws:ec2:us-east-1:123456789012:vpc-flow-log/*"},
    }
    policy = json.loads(prod_plan.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    (stmt,) = policy["Statement"]
    assert stmt["Resource"] == [group_arn, f"{group_arn}:*"]
    assert "*" not in json.dumps(stmt["Action"])


def test_flow_log_retention_and_kms_follow_args():
    spec = make_spec(network={"flow_logs": True, "flow_log_retention_days": 14})
    key = "arn:aws:kms:us-west-2:123456789012:key/abc"
    plan = _plan(spec, flow_log_kms_key_arn=key)
    group = plan.one("aws:cloudwatch/logGroup:LogGroup")
    assert group.inputs["retentionInDays"] == 14
    assert group.inputs["kmsKeyId"] == key


def test_no_default_provider_and_no_warnings(dev_plan, prod_plan):
    for plan in (dev_plan, prod_plan):
        aws_records = [r for r in plan.resources if r.type.startswith("aws:")]
        assert len(aws_records) > 20
        assert {r.provider.rsplit("::", 1)[-1] for r in aws_records} == {"aws"}
        assert plan.warnings == []
        comp = plan.one("mlinfra:aws:Network", "net")
        assert all(r.parent == comp.urn for r in aws_records)


def test_bring_your_own_network_creates_nothing():
    spec = make_spec(
        network={
            "existing": {
                "network_id": "vpc-0abc",
                "private_subnet_ids": ["subnet-1", "subnet-2"],
                "public_subnet_ids": ["subnet-9"],
            }
        }
    )
    plan = _plan(spec)
    assert [r.type for r in plan.resources if r.type.startswith("aws:")] == []
    assert plan.of_type("aws:ec2/vpc:Vpc") == []
    assert plan.outputs["vpc_id"] == "vpc-0abc"
    assert plan.outputs["private_subnet_ids"] == ["subnet-1", "subnet-2"]
    assert plan.outputs["public_subnet_ids"] == ["subnet-9"]


def test_explicit_zones_override_letters():
    spec = make_spec()
    plan = _plan(spec, zones=["us-west-2b", "us-west-2d"])
    assert sorted(s.inputs["availabilityZone"] for s in _subnets(plan, "private")) == [
        "us-west-2b",
        "us-west-2d",
    ]


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"zones": ["us-west-2a"]}, "zones"),
        ({"zones": ["eu-west-1a", "eu-west-1b"]}, "zones"),
        ({"region": ""}, "region"),
        ({"cluster_name": ""}, "cluster_name"),
    ],
)
def test_bad_args_fail_before_registration(kw, field):
    spec = make_spec()
    base = dict(spec=spec.network, region="us-west-2", cluster_name="acme-dev", tags={})
    base.update(kw)
    with pytest.raises(ValueError, match=f"^{field}:"):
        Network("net", NetworkArgs(**base))
