"""Helpers shared by the Azure component tests."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pulumi
from pulumi_azure_native import Provider as AzureProvider

from mlinfra.offline import Plan, ResourceRecord
from mlinfra.spec import PlatformSpec, SpecError
from tests.conftest import plan_of, refused_before_any_registration

SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
TENANT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
LOCATION = "westus3"
# The explicit provider every test program creates (`azure_provider()`).
PROVIDER_URN = "urn:pulumi:test::mlinfra-test::pulumi:providers:azure-native::azure"
RG = "acme-dev"
TAGS = {"owner": "ml-platform", "cost-center": "cc-1234", "environment": "dev", "managed-by": "mlinfra"}

AZURE_SPEC: dict[str, Any] = {
    "name": "acme",
    "cloud": "azure",
    "region": LOCATION,
    "environment": "dev",
    "tags": {"owner": "ml-platform", "cost_center": "cc-1234"},
    "azure": {"subscription_id": SUBSCRIPTION, "tenant_id": TENANT},
    "network": {"cidr": "10.50.0.0/16"},
    "cluster": {"api_access": "public", "public_access_cidrs": ["203.0.113.0/24"]},
    "gpu_pools": [
        {"name": "t4spot", "machine_type": "Standard_NC4as_T4_v3", "capacity_type": "spot", "max_nodes": 2},
        {"name": "t4", "machine_type": "Standard_NC8as_T4_v3", "capacity_type": "on_demand", "max_nodes": 1},
    ],
    "serving": {"internal_load_balancer": True, "tls_issuer": "private-ca"},
}


def azure_spec(environment: str = "dev", **overrides: Any) -> PlatformSpec:
    data = copy.deepcopy(AZURE_SPEC)
    data["environment"] = environment
    if environment != "dev":
        data["cluster"] = {}
    data.update(overrides)
    return PlatformSpec.load(data)


def azure_provider() -> AzureProvider:
    return AzureProvider("azure", location=LOCATION, subscription_id=SUBSCRIPTION, tenant_id=TENANT)


def plan_on_azure(build: Callable[[pulumi.ResourceOptions], Any]) -> Plan:
    """Plan `build(opts)` with opts carrying the explicit azure-native provider."""
    return plan_of(lambda: build(pulumi.ResourceOptions(provider=azure_provider())), region=LOCATION)


def refused_before_any_resource(
    build: Callable[[pulumi.ResourceOptions], Any],
) -> tuple[SpecError, list[ResourceRecord]]:
    """`tests.conftest.refused_before_any_registration` with the explicit azure-native provider."""
    return refused_before_any_registration(azure_provider, build)
