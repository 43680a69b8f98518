"""KeyVault and customer_managed_key: purge protection, RBAC, random-suffixed names, private access
for private clusters, yearly rotation except the versioned AKS KMS key."""

from __future__ import annotations

import pulumi
import pytest

from mlinfra.azure.keyvault import (
    AKS_KMS_KEY_ROLE,
    KeyVault,
    KeyVaultArgs,
    check_soft_delete_days,
    customer_managed_key,
)
from mlinfra.azure.network import ROLE_TAG
from mlinfra.spec import SpecError
from tests.azure.support import LOCATION, RG, TAGS, TENANT, plan_on_azure, refused_before_any_resource

VAULT = "azure-native:keyvault:Vault"
KEY = "azure-native:keyvault:Key"


def _args(**kw) -> KeyVaultArgs:
    values = {
        "vault_base": "acme-dev",
        "resource_group_name": RG,
        "location": LOCATION,
        "tenant_id": TENANT,
        "soft_delete_days": 7,
        "private": False,
        "tags": TAGS,
    }
    values.update(kw)
    return KeyVaultArgs(**values)


def _plan(rotate: bool = True, protect: bool = False, **kw):
    def build(opts):
        vault = KeyVault("kv", _args(protect=protect, **kw), opts=opts)
        customer_managed_key(
            vault,
            "kv-key",
            key_name="disks",
            vault_name=vault.vault_name,
            resource_group_name=RG,
            protect=protect,
            tags=TAGS,
            rotate=rotate,
        )
        pulumi.export("uri", vault.vault_uri)

    return plan_on_azure(build)


def test_vault_is_purge_protected_rbac_only_and_named_with_a_random_suffix():
    plan = _plan()
    vault = plan.one(VAULT).inputs
    props = vault["properties"]
    assert props["enablePurgeProtection"] is True and props["enableSoftDelete"] is True
    assert props["softDeleteRetentionInDays"] == 7
    assert props["enableRbacAuthorization"] is True
    assert props["sku"] == {"family": "A", "name": "premium"}  # HSM-protected keys
    assert props["tenantId"] == TENANT
    suffix = plan.one("random:index/randomString:RandomString")
    assert (
        suffix.inputs["length"] == 5 and suffix.inputs["upper"] is False and suffix.inputs["special"] is False
    )
    name = vault["vaultName"]
    assert name.startswith("acme-dev-") and len(name) == len("acme-dev-") + 5 and len(name) <= 24
    assert plan.outputs["uri"] == f"https://{name}.vault.azure.net/"


def test_public_vault_has_no_firewall_for_aks_kms_public_mode():
    """AKS KMS "Public" refuses a vault firewall limited to networks and IPs (use-kms-etcd-encryption)."""
    props = _plan().one(VAULT).inputs["properties"]
    assert props["publicNetworkAccess"] == "Enabled"
    assert props["networkAcls"] == {"bypass": "AzureServices", "defaultAction": "Allow"}
    assert not _plan().of_type("azure-native:network:PrivateEndpoint")


def test_private_vault_is_reached_through_its_private_endpoint():
    plan = _plan(private=True, endpoints_subnet_id="/subnets/endpoints", dns_zone_id="/zones/vault")
    props = plan.one(VAULT).inputs["properties"]
    assert props["publicNetworkAccess"] == "Disabled" and props["networkAcls"]["defaultAction"] == "Deny"
    endpoint = plan.one("azure-native:network:PrivateEndpoint").inputs
    assert endpoint["subnet"] == {"id": "/subnets/endpoints"}
    assert endpoint["privateLinkServiceConnections"][0]["groupIds"] == ["vault"]
    group = plan.one("azure-native:network:PrivateDnsZoneGroup").inputs
    assert group["privateDnsZoneConfigs"] == [{"name": "vault", "privateDnsZoneId": "/zones/vault"}]


def test_keys_rotate_yearly_and_versions_expire():
    key = _plan().one(KEY).inputs
    props = key["properties"]
    assert props["kty"] == "RSA-HSM" and props["keySize"] == 2048
    policy = props["rotationPolicy"]
    assert policy["attributes"] == {"expiryTime": "P2Y"}
    assert {"action": {"type": "rotate"}, "trigger": {"timeAfterCreate": "P1Y"}} in policy["lifetimeActions"]
    assert ROLE_TAG not in key["tags"]


def test_aks_kms_key_has_no_rotation_and_no_expiry():
    """AKS pins the KMS key version: an automatic rotation or an expired version breaks etcd."""
    key = _plan(rotate=False).one(KEY).inputs
    assert "rotationPolicy" not in key["properties"]
    assert key["tags"][ROLE_TAG] == AKS_KMS_KEY_ROLE


def test_prod_protects_and_retains_vault_and_keys():
    plan = _plan(protect=True)
    for record in (plan.one(VAULT), plan.one(KEY)):
        assert record.protect and record.retain_on_delete


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"soft_delete_days": 6}, "key_deletion_window_days"),
        ({"soft_delete_days": 91}, "key_deletion_window_days"),
        ({"vault_base": "acme--dev"}, "vault_base"),
        ({"vault_base": "a-name-much-too-long"}, "vault_base"),
        ({"private": True}, "private"),
    ],
)
def test_bad_input_is_refused_before_any_resource(kw, field):
    error, registered = refused_before_any_resource(lambda opts: KeyVault("kv", _args(**kw), opts=opts))
    assert error.field == field
    assert registered == []


def test_soft_delete_bounds_are_key_vaults():
    check_soft_delete_days(7)
    check_soft_delete_days(90)
    with pytest.raises(SpecError, match="allowed: 7-90 days"):
        check_soft_delete_days(100)
