"""Registry: Premium ACR, admin and anonymous pull off, retention of untagged manifests, a purge
task for keep_tagged_images, CMK (prod) with the identity map shape, AcrPull for the kubelet only."""

from __future__ import annotations

import base64

import pulumi
import pytest
import yaml

from mlinfra.azure.registry import PURGE_SCHEDULE, Registry, RegistryArgs, purge_task_yaml
from mlinfra.spec import RegistrySpec
from tests.azure.support import LOCATION, RG, SUBSCRIPTION, TAGS, plan_on_azure, refused_before_any_resource

ACR = "azure-native:containerregistry:Registry"
RA = "azure-native:authorization:RoleAssignment"
KUBELET = "9a9a9a9a-0000-4000-8000-000000000001"
SPEC = RegistrySpec(repositories=["models", "serving/vllm"], untagged_expiry_days=5, keep_tagged_images=20)


def _args(**kw) -> RegistryArgs:
    values = {
        "spec": SPEC,
        "registry_name": "acmedev",
        "resource_group_name": RG,
        "location": LOCATION,
        "subscription_id": SUBSCRIPTION,
        "pull_principal_ids": [KUBELET],
        "customer_managed_key": False,
        "private": False,
        "allowed_ip_ranges": ["198.51.100.10", "203.0.113.0/24"],
        "tags": TAGS,
    }
    values.update(kw)
    return RegistryArgs(**values)


def _plan(**kw):
    def build(opts):
        registry = Registry("reg", _args(**kw), opts=opts)
        pulumi.export("urls", registry.repository_urls)

    return plan_on_azure(build)


def test_premium_registry_without_admin_or_anonymous_pull():
    r = _plan().one(ACR).inputs
    assert r["sku"] == {"name": "Premium"}
    assert r["adminUserEnabled"] is False and r["anonymousPullEnabled"] is False
    assert r["policies"]["retentionPolicy"] == {"status": "enabled", "days": 5}  # untagged manifests
    assert r["zoneRedundancy"] == "Enabled" and r["dataEndpointEnabled"] is True
    assert r["networkRuleBypassOptions"] == "AzureServices"
    assert r["networkRuleSet"]["defaultAction"] == "Deny"
    assert [i["iPAddressOrRange"] for i in r["networkRuleSet"]["ipRules"]] == [
        "198.51.100.10",
        "203.0.113.0/24",
    ]


def test_only_the_kubelet_identity_pulls():
    pulls = [
        r
        for r in _plan().of_type(RA)
        if r.inputs["roleDefinitionId"].endswith("/7f951dda-4ed3-4680-a7ca-43fe172d538d")
        and "purge" not in r.name
    ]
    assert [(p.inputs["principalId"], p.inputs["principalType"]) for p in pulls] == [
        (KUBELET, "ServicePrincipal")
    ]
    assert pulls[0].inputs["scope"].endswith("/registries/acmedev")


def test_keep_tagged_images_is_a_daily_purge_task():
    """ACR has no "keep the newest N" policy: a scheduled `acr purge --keep N` does it."""
    plan = _plan()
    task = plan.one("azure-native:containerregistry:Task").inputs
    steps = yaml.safe_load(base64.b64decode(task["step"]["encodedTaskContent"]))
    assert steps == yaml.safe_load(purge_task_yaml(SPEC))
    assert (
        steps["steps"][0]["cmd"]
        == "acr purge --filter 'models:.*' --filter 'serving/vllm:.*' --ago 0d --keep 20"
    )
    assert task["trigger"]["timerTriggers"] == [
        {"name": "daily", "schedule": PURGE_SCHEDULE, "status": "Enabled"}
    ]
    assert task["identity"] == {"type": "SystemAssigned"}
    assert task["credentials"]["customRegistries"] == {"acmedev.azurecr.io": {"identity": "[system]"}}
    roles = {r.inputs["roleDefinitionId"].rsplit("/", 1)[-1] for r in plan.of_type(RA) if "purge" in r.name}
    assert roles == {"7f951dda-4ed3-4680-a7ca-43fe172d538d", "c2f4ef07-c644-48eb-af81-4b1b4947fb11"}


def test_prod_cmk_uses_the_identity_map_shape_and_a_versionless_key():
    plan = _plan(customer_managed_key=True, vault_name="acme-prod-abcde", protect=True)
    registry = plan.one(ACR)
    identity = plan.one("azure-native:managedidentity:UserAssignedIdentity")
    # A map keyed by identity id in API 2023-01-01-preview (a list raises; build sheet pitfall 23).
    assert registry.inputs["identity"] == {
        "type": "UserAssigned",
        "userAssignedIdentities": {identity.id: {}},
    }
    enc = registry.inputs["encryption"]
    key = plan.one("azure-native:keyvault:Key")
    assert enc["status"] == "enabled"
    assert (
        enc["keyVaultProperties"]["keyIdentifier"]
        == f"https://acme-prod-abcde.vault.azure.net/keys/{key.inputs['keyName']}"
    )
    grant = next(r for r in plan.of_type(RA) if r.name == "reg-key-user")
    assert grant.urn in registry.dependencies
    assert registry.protect and registry.retain_on_delete


def test_private_registry_has_an_endpoint_and_no_export():
    plan = _plan(private=True, endpoints_subnet_id="/subnets/endpoints", dns_zone_id="/zones/acr")
    r = plan.one(ACR).inputs
    assert r["publicNetworkAccess"] == "Disabled" and "networkRuleSet" not in r
    assert r["policies"]["exportPolicy"] == {"status": "disabled"}
    pe = plan.one("azure-native:network:PrivateEndpoint").inputs
    assert pe["privateLinkServiceConnections"][0]["groupIds"] == ["registry"]


def test_repository_urls_are_namespaces_of_the_one_registry():
    assert _plan().outputs["urls"] == {
        "models": "acmedev.azurecr.io/models",
        "serving/vllm": "acmedev.azurecr.io/serving/vllm",
    }


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"registry_name": "acme-dev"}, "registry_name"),
        ({"spec": RegistrySpec(repositories=[])}, "registry.repositories"),
        ({"spec": RegistrySpec(repositories=["a", "a"])}, "registry.repositories.1"),
        ({"spec": RegistrySpec(repositories=["Models"])}, "registry.repositories.0"),
        ({"pull_principal_ids": []}, "pull_principal_ids"),
        ({"customer_managed_key": True}, "customer_managed_key"),
        ({"private": True}, "private"),
    ],
)
def test_bad_input_is_refused_before_any_resource(kw, field):
    error, registered = refused_before_any_resource(lambda opts: Registry("reg", _args(**kw), opts=opts))
    assert error.field == field
    assert registered == []
