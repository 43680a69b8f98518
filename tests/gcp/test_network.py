"""Network: regional subnet with pod/service ranges, PGA, Cloud NAT by environment, flow logs, BYO."""

from __future__ import annotations

import pytest

from mlinfra.gcp.network import Network, NetworkArgs
from mlinfra.spec import NetworkSpec, gcp_zones
from tests.gcp.support import (
    GCP_PROD_SPEC,
    PROJECT,
    REGION,
    TAGS,
    gcp_spec,
    plan_gcp,
    refused_before_any_resource,
)

SUBNET = "gcp:compute/subnetwork:Subnetwork"
NAT = "gcp:compute/routerNat:RouterNat"
ADDRESS = "gcp:compute/address:Address"


def _args(platform, **overrides) -> NetworkArgs:
    spec = platform
    values = dict(
        spec=spec.network,
        project=spec.gcp.project,
        region=spec.region,
        name_prefix=spec.prefix,
        zones=gcp_zones(spec),
        pods_cidr=spec.gcp.pods_cidr,
        labels=TAGS,
    )
    values.update(overrides)
    return NetworkArgs(**values)


def _plan(spec, **overrides):
    return plan_gcp(lambda o: Network("net", _args(spec, **overrides), opts=o), region=spec.region)


@pytest.fixture(scope="module")
def dev_plan():
    return _plan(gcp_spec())


@pytest.fixture(scope="module")
def prod_plan():
    return _plan(gcp_spec(GCP_PROD_SPEC))


def test_one_regional_subnet_with_pod_and_service_ranges_and_private_google_access(dev_plan):
    spec = gcp_spec()
    subnet = dev_plan.one(SUBNET).inputs
    assert subnet["ipCidrRange"] == spec.network.cidr
    assert subnet["region"] == REGION
    assert subnet["privateIpGoogleAccess"] is True
    assert subnet["secondaryIpRanges"] == [
        {"rangeName": "pods", "ipCidrRange": "10.64.0.0/14"},
        {"rangeName": "services", "ipCidrRange": spec.network.service_cidr},
    ]
    network = dev_plan.one("gcp:compute/network:Network").inputs
    assert network["autoCreateSubnetworks"] is False
    assert network["deleteDefaultRoutesOnCreate"] is False  # NAT and Private Google Access need the route


def test_no_ingress_rule_is_opened_by_the_network(dev_plan):
    # A custom-mode VPC denies ingress until a rule allows it; the only rule (control plane ->
    # webhooks) belongs to the cluster.
    assert not dev_plan.of_type("gcp:compute/firewall:Firewall")


def test_dev_nat_has_one_address_and_no_flow_logs(dev_plan):
    assert len(dev_plan.of_type(ADDRESS)) == 1
    nat = dev_plan.one(NAT).inputs
    assert nat["natIpAllocateOption"] == "MANUAL_ONLY"
    assert nat["sourceSubnetworkIpRangesToNat"] == "LIST_OF_SUBNETWORKS"
    assert nat["subnetworks"][0]["sourceIpRangesToNats"] == ["ALL_IP_RANGES"]
    assert nat["enableDynamicPortAllocation"] is True
    assert nat["logConfig"] == {"enable": True, "filter": "ERRORS_ONLY"}
    assert "logConfig" not in dev_plan.one(SUBNET).inputs
    assert not dev_plan.of_type("gcp:logging/projectSink:ProjectSink")


def test_prod_nat_has_one_address_per_zone(prod_plan):
    addresses = prod_plan.of_type(ADDRESS)
    assert len(addresses) == 3
    assert all(a.inputs["labels"] == TAGS and a.inputs["addressType"] == "EXTERNAL" for a in addresses)
    nat_ips = prod_plan.one(NAT).inputs["natIps"]
    assert len(nat_ips) == 3 and all("/addresses/" in ip for ip in nat_ips)


def test_prod_flow_logs_are_kept_as_long_as_the_spec_says(prod_plan):
    spec = gcp_spec(GCP_PROD_SPEC)
    assert spec.network.flow_logs
    log_config = prod_plan.one(SUBNET).inputs["logConfig"]
    assert log_config == {
        "aggregationInterval": "INTERVAL_5_SEC",
        "flowSampling": 0.5,
        "metadata": "INCLUDE_ALL_METADATA",
    }
    bucket = prod_plan.one("gcp:logging/projectBucketConfig:ProjectBucketConfig").inputs
    assert bucket["retentionDays"] == spec.network.flow_log_retention_days
    assert bucket["location"] == spec.region
    sink = prod_plan.one("gcp:logging/projectSink:ProjectSink").inputs
    bucket_id = prod_plan.one("gcp:logging/projectBucketConfig:ProjectBucketConfig").id
    assert sink["destination"] == f"logging.googleapis.com/{bucket_id}"
    assert bucket_id.endswith(f"/locations/{spec.region}/buckets/{bucket['bucketId']}")
    assert 'log_id("compute.googleapis.com/vpc_flows")' in sink["filter"]
    exclusion = prod_plan.one("gcp:logging/projectExclusion:ProjectExclusion").inputs
    assert exclusion["filter"] == sink["filter"]  # not ingested twice (once in _Default)


def test_flow_logs_with_default_bucket_retention_need_no_extra_bucket():
    spec = gcp_spec(network={"flow_logs": True, "flow_log_retention_days": 30})
    plan = _plan(spec)
    assert "logConfig" in plan.one(SUBNET).inputs
    assert not plan.of_type("gcp:logging/projectBucketConfig:ProjectBucketConfig")


def test_existing_network_creates_nothing():
    spec = gcp_spec(
        network={
            "existing": {
                "network_id": f"projects/{PROJECT}/global/networks/shared",
                "private_subnet_ids": [f"projects/{PROJECT}/regions/{REGION}/subnetworks/gke"],
            }
        },
        gcp={"project": PROJECT, "pods_range_name": "gke-pods", "services_range_name": "gke-svc"},
    )
    plan = _plan(spec, pods_range_name="gke-pods", services_range_name="gke-svc")
    assert [r.type for r in plan.resources if r.custom and not r.type.startswith("pulumi:")] == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"zones": []}, "zones"),
        ({"zones": ["us-central1-a", "us-central1-a"]}, "zones"),
        ({"zones": ["us-east1-b", "us-east1-c"]}, "zones"),
        (
            {"spec": NetworkSpec(private_subnet_cidrs=["10.0.0.0/19", "10.0.32.0/19"])},
            "spec.private_subnet_cidrs",
        ),
        ({"spec": "not a spec"}, "spec"),
    ],
)
def test_bad_input_is_refused_before_any_resource(overrides, field):
    platform = gcp_spec()
    error, registered = refused_before_any_resource(
        lambda o: Network("net", _args(platform, **overrides), opts=o)
    )
    assert error.field == field
    assert registered == []


def test_log_bucket_id_carries_a_per_stack_suffix(prod_plan):
    """A deleted log bucket keeps its id for 7 days: a fixed id would make a stack destroyed and
    re-created within the week fail with 'already exists'."""
    bucket = prod_plan.one("gcp:logging/projectBucketConfig:ProjectBucketConfig")
    suffix = next(r for r in prod_plan.of_type("random:index/randomId:RandomId") if "flow-logs" in r.name)
    assert suffix.inputs["byteLength"] == 2
    assert bucket.inputs["bucketId"].startswith("acme-ml-prod-flow-logs-")
    assert len(bucket.inputs["bucketId"]) == len("acme-ml-prod-flow-logs-") + 4
    assert suffix.urn in bucket.dependencies
