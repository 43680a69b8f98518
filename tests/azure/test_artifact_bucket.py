"""ArtifactBucket: Entra-only, TLS 1.2, no public blobs, infrastructure encryption, CMK (staging/prod)
granted before the account, versioning, lifecycle, access logs, firewall or private endpoint."""

from __future__ import annotations

import pulumi
import pytest

from mlinfra.azure.artifact_bucket import ArtifactBucket, ArtifactBucketArgs, ip_rule
from mlinfra.spec import ArtifactsSpec
from tests.azure.support import LOCATION, RG, SUBSCRIPTION, TAGS, plan_on_azure, refused_before_any_resource

ACCOUNT = "azure-native:storage:StorageAccount"


def _args(**kw) -> ArtifactBucketArgs:
    values = {
        "spec": ArtifactsSpec(noncurrent_version_expiration_days=30),
        "account_name": "acmedevartifacts",
        "container_name": "artifacts",
        "resource_group_name": RG,
        "location": LOCATION,
        "subscription_id": SUBSCRIPTION,
        "customer_managed_key": False,
        "private": False,
        "allowed_subnet_ids": ["/subnets/nodes"],
        "allowed_ip_ranges": ["203.0.113.0/24", "198.51.100.7/32"],
        "tags": TAGS,
    }
    values.update(kw)
    return ArtifactBucketArgs(**values)


def _plan(**kw):
    def build(opts):
        bucket = ArtifactBucket("art", _args(**kw), opts=opts)
        pulumi.export("uri", bucket.uri("models/reranker/"))

    return plan_on_azure(build)


CMK = {
    "customer_managed_key": True,
    "vault_name": "acme-stg-abcde",
    "vault_uri": "https://acme-stg-abcde.vault.azure.net/",
}


def test_account_accepts_entra_id_over_tls_1_2_only():
    a = _plan().one(ACCOUNT).inputs
    assert a["kind"] == "StorageV2" and a["sku"] == {"name": "Standard_ZRS"}
    assert a["enableHttpsTrafficOnly"] is True and a["minimumTlsVersion"] == "TLS1_2"
    assert a["allowBlobPublicAccess"] is False and a["allowSharedKeyAccess"] is False
    assert a["defaultToOAuthAuthentication"] is True and a["allowCrossTenantReplication"] is False
    assert a["allowedCopyScope"] == "AAD"
    assert a["encryption"]["requireInfrastructureEncryption"] is True
    assert a["encryption"]["keySource"] == "Microsoft.Storage"


def test_public_account_admits_the_node_subnet_and_listed_addresses_only():
    rules = _plan().one(ACCOUNT).inputs["networkRuleSet"]
    assert rules["defaultAction"] == "Deny" and rules["bypass"] == "AzureServices"
    assert rules["virtualNetworkRules"] == [{"virtualNetworkResourceId": "/subnets/nodes", "action": "Allow"}]
    # A /32 is given as the address: the storage firewall refuses /31 and /32 ranges.
    assert [r["iPAddressOrRange"] for r in rules["ipRules"]] == ["203.0.113.0/24", "198.51.100.7"]
    assert ip_rule("198.51.100.6/31") == "198.51.100.6"


def test_customer_managed_key_is_granted_before_the_account_exists():
    plan = _plan(**CMK)
    account = plan.one(ACCOUNT)
    enc = account.inputs["encryption"]
    key = plan.one("azure-native:keyvault:Key")
    assert enc["keySource"] == "Microsoft.Keyvault"
    assert enc["keyVaultProperties"] == {"keyName": key.inputs["keyName"], "keyVaultUri": CMK["vault_uri"]}
    assert "keyVersion" not in enc["keyVaultProperties"]  # versionless: follows the key's rotation
    identity = plan.one("azure-native:managedidentity:UserAssignedIdentity")
    assert account.inputs["identity"] == {
        "type": "UserAssigned",
        "userAssignedIdentities": [identity.id],
    }  # a list
    assert enc["encryptionIdentity"] == {"encryptionUserAssignedIdentity": identity.id}
    grant = plan.one("azure-native:authorization:RoleAssignment")
    assert grant.inputs["roleDefinitionId"].endswith("/e147488a-f6f5-4113-8e2d-b22465e65bf6")
    assert grant.inputs["scope"] == key.id and grant.inputs["principalType"] == "ServicePrincipal"
    assert grant.urn in account.dependencies


def test_versioning_soft_delete_and_lifecycle():
    plan = _plan(spec=ArtifactsSpec(noncurrent_version_expiration_days=45, infrequent_access_after_days=90))
    svc = plan.one("azure-native:storage:BlobServiceProperties").inputs
    assert svc["isVersioningEnabled"] is True
    assert svc["deleteRetentionPolicy"] == {"enabled": True, "days": 7}
    container = plan.one("azure-native:storage:BlobContainer").inputs
    assert container["publicAccess"] == "None" and container["containerName"] == "artifacts"
    (rule,) = plan.one("azure-native:storage:ManagementPolicy").inputs["policy"]["rules"]
    actions = rule["definition"]["actions"]
    assert actions["version"] == {"delete": {"daysAfterCreationGreaterThan": 45}}
    assert actions["baseBlob"] == {"tierToCool": {"daysAfterModificationGreaterThan": 90}}


def test_access_logs_go_to_the_workspace():
    plan = _plan(spec=ArtifactsSpec(access_logging=True), workspace_id="/workspaces/logs")
    diag = plan.one("azure-native:monitor:DiagnosticSetting").inputs
    assert diag["resourceUri"].endswith("/storageAccounts/acmedevartifacts/blobServices/default")
    assert {log["category"] for log in diag["logs"]} == {"StorageRead", "StorageWrite", "StorageDelete"}
    assert not _plan().of_type("azure-native:monitor:DiagnosticSetting")


def test_private_account_has_no_public_access_and_an_endpoint():
    plan = _plan(private=True, endpoints_subnet_id="/subnets/endpoints", dns_zone_id="/zones/blob")
    a = plan.one(ACCOUNT).inputs
    assert a["publicNetworkAccess"] == "Disabled" and "ipRules" not in a["networkRuleSet"]
    pe = plan.one("azure-native:network:PrivateEndpoint").inputs
    assert pe["privateLinkServiceConnections"][0]["groupIds"] == ["blob"]


def test_uri_is_the_blob_url_kserve_reads():
    assert (
        _plan().outputs["uri"] == "https://acmedevartifacts.blob.core.windows.net/artifacts/models/reranker/"
    )


def test_prod_protects_account_container_and_key():
    plan = _plan(protect=True, **CMK)
    for t in (ACCOUNT, "azure-native:storage:BlobContainer", "azure-native:keyvault:Key"):
        assert all(r.protect and r.retain_on_delete for r in plan.of_type(t)), t


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"account_name": "acme-dev-artifacts"}, "account_name"),
        ({"account_name": "ab"}, "artifacts.bucket_name"),
        ({"customer_managed_key": True}, "customer_managed_key"),
        ({"private": True}, "private"),
        ({"spec": ArtifactsSpec(access_logging=True)}, "artifacts.access_logging"),
        ({"allowed_ip_ranges": ["not-a-cidr"]}, "allowed_ip_ranges"),
    ],
)
def test_bad_input_is_refused_before_any_resource(kw, field):
    error, registered = refused_before_any_resource(
        lambda opts: ArtifactBucket("art", _args(**kw), opts=opts)
    )
    assert error.field == field
    assert registered == []
