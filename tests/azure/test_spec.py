"""The spec for cloud azure: the azure section, the profiles' Azure knobs, and every name or layout
Azure refuses, refused in the spec (before any registration) naming the field."""

from __future__ import annotations

import copy

import pytest

from mlinfra.catalog import GPU_MACHINE_TYPES, REGION_ZONES
from mlinfra.spec import PlatformSpec, SpecError, azure_names, azure_platform_vm_size, azure_private_endpoints
from tests.azure.support import AZURE_SPEC, SUBSCRIPTION, azure_spec


def _load(mutate) -> PlatformSpec:
    data = copy.deepcopy(AZURE_SPEC)
    mutate(data)
    return PlatformSpec.load(data)


def _refused(mutate) -> str:
    with pytest.raises(SpecError) as e:
        _load(mutate)
    return str(e.value)


def test_profiles_fill_the_azure_knobs():
    dev, prod = azure_spec("dev"), azure_spec("prod")
    assert dev.azure.sku_tier == "Free" and prod.azure.sku_tier == "Standard"
    # A subnet takes one zonal NAT gateway: the Azure profiles keep one, also in prod.
    assert prod.network.nat_gateways == "single" and prod.network.zone_count == 3
    assert prod.network.flow_logs is True
    assert not azure_private_endpoints(dev) and azure_private_endpoints(prod)
    assert prod.cluster.api_access == "private"


def test_names_are_derived_within_azures_rules():
    names = azure_names(azure_spec("prod"))
    assert names.resource_group == names.cluster == "acme-prod"
    assert names.node_resource_group == "acme-prod-nodes"
    assert names.storage_account == "acmeprodartifacts"  # 3-24 lowercase letters and digits
    assert names.registry == "acmeprod"
    assert names.vault_base == "acme-prod" and len(names.vault_base) <= 18
    assert names.flow_log_account == "acmeprodflowlogs"
    assert azure_platform_vm_size(azure_spec()) == "Standard_D4ds_v5"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.pop("azure"), "azure"),
        (lambda d: d["azure"].update(subscription_id="not-a-guid"), "azure.subscription_id"),
        (lambda d: d["azure"].update(tenant_id="x"), "azure.tenant_id"),
        (lambda d: d.update(aws={}), "aws"),
        (lambda d: d.update(region="westus"), "region"),  # no availability zones
        (lambda d: d["network"].update(zone_count=4), "network.zone_count"),
        (lambda d: d["network"].update(nat_gateways="per_zone"), "network.nat_gateways"),
        (
            lambda d: d["network"].update(private_subnet_cidrs=["10.50.0.0/20", "10.50.16.0/20"]),
            "network.private_subnet_cidrs",
        ),
        (
            lambda d: d["network"].update(flow_logs=True, flow_log_retention_days=400),
            "network.flow_log_retention_days",
        ),
        (lambda d: d["cluster"].update(log_retention_days=14), "cluster.log_retention_days"),
        (lambda d: d["cluster"].update(admin_principals=[SUBSCRIPTION]), "cluster.admin_principals.0"),
        (lambda d: d["gpu_pools"][0].update(name="t4-spot"), "gpu_pools.0.name"),
        (lambda d: d["gpu_pools"][0].update(name="gpupoolnumber1"), "gpu_pools.0.name"),
        (lambda d: d["gpu_pools"][0].update(name="platform"), "gpu_pools.0.name"),
        (lambda d: d["gpu_pools"][0].update(machine_type="g5.xlarge"), "gpu_pools.0.machine_type"),
        (
            lambda d: d.update(artifacts={"bucket_name": "acme-machine-learning-artifacts"}),
            "artifacts.bucket_name",
        ),
        (
            lambda d: d.update(artifacts={"abort_incomplete_multipart_days": 3}),
            "artifacts.abort_incomplete_multipart_days",
        ),
        (lambda d: d["azure"].update(registry_name="acme-ml"), "azure.registry_name"),
        (lambda d: d.update(name="acme--ml"), "name"),
        (lambda d: d["azure"].update(pod_cidr="10.50.0.0/16"), "azure.pod_cidr"),
        (lambda d: d["azure"].update(apiserver_subnet_cidr="10.50.0.0/28"), "azure.apiserver_subnet_cidr"),
        (lambda d: d["azure"].update(nodes_subnet_cidr="10.60.0.0/18"), "azure.nodes_subnet_cidr"),
        (lambda d: d["azure"].update(apiserver_subnet_cidr="10.50.192.0/29"), "azure.apiserver_subnet_cidr"),
        (
            lambda d: d.update(
                budget={"alert_emails": ["a@b.c"], "thresholds_percent": [25, 50, 75, 90, 100]}
            ),
            "budget.thresholds_percent",
        ),
        (
            lambda d: d["cluster"].update(system_pool={"machine_type": "m6i.large"}),
            "cluster.system_pool.machine_type",
        ),
        (lambda d: d["azure"].update(existing_resource_group=True), "azure"),
        (lambda d: d["azure"].update(deployer_principal=SUBSCRIPTION), "azure.deployer_principal"),
        (lambda d: d["azure"].update(deployer_principal="user:alice"), "azure.deployer_principal"),
        (
            # A private cluster's layer is installed by the runner identity: no deployer to grant.
            lambda d: d.update(
                environment="staging",
                cluster={"api_access": "private"},
                azure={**d["azure"], "deployer_principal": "user:" + SUBSCRIPTION},
            ),
            "azure.deployer_principal",
        ),
        (
            lambda d: d.update(
                network={
                    "existing": {
                        "network_id": "/vnet",
                        "private_subnet_ids": ["/n1", "/n2"],
                        "public_subnet_ids": ["/p"],
                    }
                }
            ),
            "network.existing.public_subnet_ids",
        ),
    ],
)
def test_what_azure_refuses_is_refused_naming_the_field(mutate, field):
    message = _refused(mutate)
    assert field in message, message


def test_a_private_byo_network_needs_the_endpoint_subnet():
    def mutate(d):
        d["environment"] = "staging"
        d["cluster"] = {}
        d["network"] = {"existing": {"network_id": "/vnet", "private_subnet_ids": ["/nodes", "/api"]}}

    assert "network.existing.private_subnet_ids" in _refused(mutate)


def test_azure_section_on_another_cloud_is_refused():
    data = {
        "name": "acme",
        "cloud": "aws",
        "region": "us-west-2",
        "environment": "dev",
        "tags": {"owner": "o", "cost_center": "c"},
        "azure": copy.deepcopy(AZURE_SPEC["azure"]),
    }
    with pytest.raises(SpecError, match="azure: section 'azure' is set but cloud is 'aws'"):
        PlatformSpec.load(data)


def test_subnet_layout_is_derived_inside_the_vnet():
    spec = azure_spec()
    assert spec.azure.subnet_layout(spec.network) == {
        "nodes": "10.50.0.0/18",
        "endpoints": "10.50.128.0/24",
        "apiserver": "10.50.192.0/28",
        "runners": "10.50.192.32/27",
    }


def test_every_catalogued_region_has_zones_and_every_gpu_size_is_nvidia():
    assert all(zones == ("1", "2", "3") for zones in REGION_ZONES["azure"].values())
    assert {"eastus", "eastus2", "westus3"} <= set(REGION_ZONES["azure"])
    for name, machine in GPU_MACHINE_TYPES["azure"].items():
        assert name.startswith(
            ("Standard_NC", "Standard_ND", "Standard_NV")
        ) and machine.gpu_model.startswith("nvidia-")
