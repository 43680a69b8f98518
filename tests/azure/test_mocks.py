"""The offline mocks return azure-native outputs in the shapes the SDK's output types read: maps for
user-assigned identities, ARM ids under the provider's subscription, vault and key URIs, the OIDC
issuer, a kubeconfig."""

from __future__ import annotations

import base64

import yaml

from mlinfra.offline.mocks import AZURE_TENANT_ID, azure_call_outputs, azure_outputs

PROVIDER = {"subscriptionId": "11111111-2222-3333-4444-555555555555", "location": "westus3"}


def test_user_assigned_identities_come_back_as_a_map_with_principals():
    uai = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/cp"
    _, out = azure_outputs(
        "azure-native:containerservice:ManagedCluster",
        "c",
        {
            "resourceName": "acme",
            "resourceGroupName": "rg",
            "identity": {"type": "UserAssigned", "userAssignedIdentities": [uai]},
        },
        PROVIDER,
    )
    assert set(out["identity"]["userAssignedIdentities"]) == {uai}
    assert out["identity"]["userAssignedIdentities"][uai]["principalId"]
    assert out["oidcIssuerProfile"]["issuerURL"].startswith(
        f"https://westus3.oic.prod-aks.azure.com/{AZURE_TENANT_ID}/"
    )
    assert out["fqdn"].endswith(".hcp.westus3.azmk8s.io") and "privatelink" in out["privateFQDN"]


def test_ids_live_under_the_providers_subscription_and_group():
    rid, out = azure_outputs(
        "azure-native:keyvault:Vault", "v", {"vaultName": "kv-x", "resourceGroupName": "rg"}, PROVIDER
    )
    assert (
        rid
        == "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-x"
    )
    assert out["properties"]["vaultUri"] == "https://kv-x.vault.azure.net/"


def test_keys_have_versionless_and_versioned_uris():
    _, out = azure_outputs(
        "azure-native:keyvault:Key",
        "k",
        {"keyName": "etcd", "vaultName": "kv-x", "resourceGroupName": "rg"},
        PROVIDER,
    )
    assert out["keyUri"] == "https://kv-x.vault.azure.net/keys/etcd"
    version = out["keyUriWithVersion"].removeprefix(out["keyUri"] + "/")
    assert len(version) == 32 and "/" not in version


def test_system_assigned_identity_gets_a_principal():
    _, out = azure_outputs(
        "azure-native:compute:DiskEncryptionSet",
        "d",
        {"diskEncryptionSetName": "des", "resourceGroupName": "rg", "identity": {"type": "SystemAssigned"}},
        PROVIDER,
    )
    assert out["identity"]["principalId"] and out["identity"]["tenantId"] == AZURE_TENANT_ID


def test_extension_resources_hang_below_their_scope():
    rid, _ = azure_outputs("azure-native:authorization:RoleAssignment", "r", {"scope": "/sub/x"}, PROVIDER)
    assert rid.startswith("/sub/x/providers/Microsoft.Authorization/roleAssignments/")


def test_deterministic_and_the_kubeconfig_is_a_kubeconfig():
    a = azure_outputs("azure-native:network:VirtualNetwork", "n", {"resourceGroupName": "rg"}, PROVIDER)
    assert a == azure_outputs(
        "azure-native:network:VirtualNetwork", "n", {"resourceGroupName": "rg"}, PROVIDER
    )
    creds = azure_call_outputs(
        "azure-native:containerservice:listManagedClusterUserCredentials", {"resourceName": "acme"}, PROVIDER
    )
    config = yaml.safe_load(base64.b64decode(creds["kubeconfigs"][0]["value"]))
    assert config["kind"] == "Config" and config["clusters"][0]["cluster"]["server"].endswith(
        ".azmk8s.io:443"
    )
    client = azure_call_outputs("azure-native:authorization:getClientConfig", {}, PROVIDER)
    assert client["subscriptionId"] == PROVIDER["subscriptionId"] and client["objectId"]
