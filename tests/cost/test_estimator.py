"""The cost estimate: priced from the dated table, min/max scale, unpriced types listed not guessed."""

from __future__ import annotations

from mlinfra.cost import estimate_plan, load_prices
from mlinfra.offline.engine import Plan, ResourceRecord

HOURS = 730


def _record(type_: str, name: str, **inputs) -> ResourceRecord:
    return ResourceRecord(
        urn=f"urn:x::{name}", type=type_, name=name, parent=None, provider=None, inputs=inputs
    )


def _plan(*records: ResourceRecord, cloud: str = "aws") -> Plan:
    return Plan(stack="dev", project="p", cloud=cloud, resources=list(records))


def test_price_table_is_dated_and_sourced():
    prices = load_prices("aws")
    assert prices["date"] and prices["sources"]
    assert prices["instances_hourly"]["g5.xlarge"] > prices["instances_hourly"]["m6i.large"]


def test_node_groups_priced_at_min_and_max_scale():
    prices = load_prices("aws")["instances_hourly"]
    plan = _plan(
        _record("aws:eks/cluster:Cluster", "c"),
        _record(
            "aws:eks/nodeGroup:NodeGroup",
            "gpu",
            instanceTypes=["g5.xlarge"],
            capacityType="SPOT",
            scalingConfig={"minSize": 0, "desiredSize": 0, "maxSize": 3},
        ),
        _record(
            "aws:eks/nodeGroup:NodeGroup",
            "sys",
            instanceTypes=["m6i.large"],
            scalingConfig={"minSize": 2, "desiredSize": 2, "maxSize": 4},
        ),
        _record("aws:ec2/natGateway:NatGateway", "nat"),
        _record("aws:ec2/vpcEndpoint:VpcEndpoint", "ecr", vpcEndpointType="Interface", subnetIds=["a", "b"]),
        _record("aws:ec2/vpcEndpoint:VpcEndpoint", "s3", vpcEndpointType="Gateway"),
        _record("aws:kms/key:Key", "k"),
    )
    cost = estimate_plan(plan)
    lines = {line["item"]: line for line in cost["lines"]}
    gpu = lines["node group gpu: g5.xlarge spot"]
    assert gpu["monthly_min_usd"] == 0
    assert gpu["monthly_max_usd"] == round(3 * prices["g5.xlarge"] * HOURS, 2)
    sys_line = lines["node group sys: m6i.large on_demand"]
    assert sys_line["monthly_min_usd"] == round(2 * prices["m6i.large"] * HOURS, 2)
    assert lines["interface VPC endpoints (per AZ)"]["monthly_min_usd"] == round(2 * 0.01 * HOURS, 2)
    assert lines["EKS control plane"]["monthly_min_usd"] == round(0.10 * HOURS, 2)
    assert cost["monthly_min_usd"] < cost["monthly_max_usd"]
    assert cost["monthly_min_usd"] == round(sum(line["monthly_min_usd"] for line in cost["lines"]), 2)
    assert cost["unpriced"] == []


def test_unknown_machine_type_is_listed_not_guessed():
    plan = _plan(
        _record(
            "aws:eks/nodeGroup:NodeGroup",
            "x",
            instanceTypes=["z9.huge"],
            scalingConfig={"minSize": 1, "maxSize": 1},
        )
    )
    cost = estimate_plan(plan)
    assert cost["unpriced"] == ["node group x (z9.huge)"]
    assert cost["monthly_max_usd"] == 0


def test_clouds_without_a_price_table_get_no_estimate():
    assert estimate_plan(_plan(cloud="kubernetes")) == {}
