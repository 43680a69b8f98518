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


def _gcp_pool(name: str, machine: str, low: int, high: int, gpus=(), spot: bool = False) -> ResourceRecord:
    return _record(
        "gcp:container/nodePool:NodePool",
        name,
        autoscaling={"totalMinNodeCount": low, "totalMaxNodeCount": high},
        nodeConfig={"machineType": machine, "spot": spot, "guestAccelerators": list(gpus)},
    )


def _gcp_plan(region: str, *records: ResourceRecord) -> Plan:
    provider = _record("pulumi:providers:gcp", "gcp", region=region, project="p")
    return _plan(provider, *records, cloud="gcp")


def test_gcp_prices_are_regional_dated_and_sourced():
    prices = load_prices("gcp")
    assert prices["date"] and prices["sources"]
    assert {"us-central1", "europe-west4"} <= set(prices["regions"])
    central, west = (
        prices["regions"][r]["gpus_hourly"]["nvidia-l4"] for r in ("us-central1", "europe-west4")
    )
    assert central != west


def test_gcp_node_is_host_plus_gpus_at_the_capacity_types_price():
    table = load_prices("gcp")["regions"]["us-central1"]
    plan = _gcp_plan(
        "us-central1",
        _record("gcp:container/cluster:Cluster", "c"),
        _gcp_pool("sys", "e2-standard-4", 1, 3),
        _gcp_pool("l4", "g2-standard-8", 0, 2, [{"type": "nvidia-l4", "count": 1}], spot=True),
        _gcp_pool("a100", "a2-highgpu-2g", 1, 1, [{"type": "nvidia-tesla-a100", "count": 2}]),
        _record("gcp:compute/routerNat:RouterNat", "nat"),
        _record("gcp:compute/address:Address", "ip"),
        _record("gcp:kms/cryptoKey:CryptoKey", "k"),
    )
    cost = estimate_plan(plan)
    assert cost["region"] == "us-central1" and cost["unpriced"] == []
    lines = {line["item"]: line for line in cost["lines"]}
    spot = table["machines_hourly"]["g2-standard-8"][1] + table["gpus_hourly"]["nvidia-l4"][1]
    assert lines["node pool l4: g2-standard-8 spot"]["monthly_max_usd"] == round(2 * spot * HOURS, 2)
    a100 = table["machines_hourly"]["a2-highgpu-2g"][0] + 2 * table["gpus_hourly"]["nvidia-tesla-a100"][0]
    assert lines["node pool a100: a2-highgpu-2g on_demand"]["monthly_min_usd"] == round(a100 * HOURS, 2)
    assert round(a100, 4) == round(1.47895 + 2 * 2.93391, 4)  # host row + 2 GPU rows of the catalogue
    assert lines["GKE cluster management"]["monthly_min_usd"] == round(0.10 * HOURS, 2)
    # NAT: $0.0014 per VM-hour (2 .. 6 nodes here) plus $0.005 per address-hour.
    assert lines["Cloud NAT gateway (per VM, capped)"]["monthly_min_usd"] == round(2 * 0.0014 * HOURS, 2)
    assert lines["Cloud NAT gateway (per VM, capped)"]["monthly_max_usd"] == round(6 * 0.0014 * HOURS, 2)
    assert lines["Cloud NAT IP addresses"]["monthly_min_usd"] == round(0.005 * HOURS, 2)
    assert lines["Cloud KMS keys (one version each)"]["monthly_min_usd"] == 0.06


def test_gcp_accelerator_without_a_regional_price_is_listed_not_guessed():
    plan = _gcp_plan(
        "europe-west4",
        _gcp_pool("a100", "a2-highgpu-1g", 0, 2, [{"type": "nvidia-tesla-a100", "count": 1}]),
        _gcp_pool("x", "z9-huge", 0, 1),
    )
    cost = estimate_plan(plan)
    assert cost["unpriced"] == [
        "node pool a100 (a2-highgpu-1g: nvidia-tesla-a100 in europe-west4)",
        "node pool x (z9-huge in europe-west4)",
    ]
    assert estimate_plan(_gcp_plan("asia-south2", _gcp_pool("s", "e2-standard-4", 1, 1)))["unpriced"] == [
        "node pool s (no prices for asia-south2)"
    ]
