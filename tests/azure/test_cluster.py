"""Cluster: identity shapes, a versioned KMS key, grants created before the cluster, Entra ID only,
CriticalAddonsOnly system pool, API access per environment, the kubelogin kubeconfig."""

from __future__ import annotations

import base64
import json

import pulumi
import pytest
import yaml

from mlinfra.azure.cluster import (
    AKS_SERVER_APP_ID,
    CRITICAL_ADDONS_TAINT,
    PLATFORM_POOL,
    Cluster,
    ClusterArgs,
    dns_service_ip,
    exec_kubeconfig,
)
from mlinfra.azure.identity import deployer_principal_type
from mlinfra.catalog import CLUSTER_AUTOSCALER_FLAGS
from mlinfra.offline.mocks import AZURE_DEPLOYER_OBJECT_ID, azure_call_outputs
from mlinfra.spec import ClusterSpec
from tests.azure.support import (
    LOCATION,
    RG,
    SUBSCRIPTION,
    TAGS,
    TENANT,
    plan_on_azure,
    refused_before_any_resource,
)

MC = "azure-native:containerservice:ManagedCluster"
RA = "azure-native:authorization:RoleAssignment"
KEY = "azure-native:keyvault:Key"
RG_ID = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RG}"
VAULT_ID = f"{RG_ID}/providers/Microsoft.KeyVault/vaults/acme-dev-abcde"
DEV = ClusterSpec(api_access="public", public_access_cidrs=["203.0.113.0/24"])
PROD = ClusterSpec(admin_principals=["group:0d4f8a2c-7e19-4b63-9c5a-2e8b1f6d3a97"])


def _args(spec: ClusterSpec = DEV, environment: str = "dev", **kw) -> ClusterArgs:
    values = {
        "spec": spec,
        "cluster_name": "acme-dev",
        "node_resource_group": "acme-dev-nodes",
        "environment": environment,
        "resource_group_name": RG,
        "resource_group_id": RG_ID,
        "location": LOCATION,
        "subscription_id": SUBSCRIPTION,
        "tenant_id": TENANT,
        "vnet_id": f"{RG_ID}/providers/Microsoft.Network/virtualNetworks/acme-dev-vnet",
        "nodes_subnet_id": "/subnets/nodes",
        "apiserver_subnet_id": "/subnets/apiserver",
        "zones": ["1", "2", "3"],
        "service_cidr": "172.20.0.0/16",
        "pod_cidr": "10.244.0.0/16",
        "system_vm_size": "Standard_D4ds_v5",
        "platform_vm_size": "Standard_D8ds_v5",
        "sku_tier": "Standard",
        "vault_id": VAULT_ID,
        "vault_name": "acme-dev-abcde",
        "private_vault": False,
        "deployer_object_id": AZURE_DEPLOYER_OBJECT_ID,
        # signed in with the Azure CLI
        "deployer_principal_type": deployer_principal_type("04b07795-8ddb-461a-bbee-02f9e1bf7b46"),
        "tags": TAGS,
    }
    values.update(kw)
    return ClusterArgs(**values)


def _plan(**kw):
    def build(opts):
        cluster = Cluster("c", _args(**kw), opts=opts)
        pulumi.export("issuer", cluster.oidc_issuer)
        pulumi.export("endpoint", cluster.endpoint)

    return plan_on_azure(build)


@pytest.fixture(scope="module")
def dev():
    return _plan()


@pytest.fixture(scope="module")
def prod():
    return _plan(spec=PROD, environment="prod", private_vault=True, protect=True)


def test_identities_are_user_assigned_in_the_sdks_shapes(dev):
    """ManagedClusterIdentityArgs takes a *list* of ids; identity_profile is a map (build sheet pitfall 23)."""
    mc = dev.one(MC).inputs
    assert mc["identity"]["type"] == "UserAssigned"
    assert mc["identity"]["userAssignedIdentities"] == [
        f"{RG_ID}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/acme-dev-control-plane"
    ]
    kubelet = mc["identityProfile"]["kubeletidentity"]
    assert kubelet["resourceId"].endswith("/userAssignedIdentities/acme-dev-kubelet")
    assert kubelet["clientId"] and kubelet["objectId"]


def test_kms_uses_the_versioned_key_uri(dev, prod):
    for plan, access in ((dev, "Public"), (prod, "Private")):
        kms = plan.one(MC).inputs["securityProfile"]["azureKeyVaultKms"]
        key = plan.one(KEY, "c-kms-key")
        # The mock returns https://<vault>.vault.azure.net/keys/<name>/<version>, like ARM.
        assert kms["enabled"] is True
        assert kms["keyId"].startswith(
            f"https://acme-dev-abcde.vault.azure.net/keys/{key.inputs['keyName']}/"
        )
        assert len(kms["keyId"].rsplit("/", 1)[-1]) == 32
        assert kms["keyVaultNetworkAccess"] == access
        assert ("keyVaultResourceId" in kms) == (access == "Private")


def test_every_grant_the_cluster_needs_exists_before_it(dev):
    mc = dev.one(MC)
    grants = {r.name: r for r in dev.of_type(RA)}
    needed = {
        "c-network-contributor": "4d97b98b-1d4f-4787-a291-c67834d212e7",
        "c-kubelet-operator": "f1a07417-d97a-45cb-824c-7a7467783830",
        "c-kms-crypto-user": "12338af0-0e69-4776-bea7-57ae8d297424",
        "c-des-reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
        "c-des-key-user": "e147488a-f6f5-4113-8e2d-b22465e65bf6",
        "c-deployer-cluster-admin": "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b",
    }
    for name, role in needed.items():
        assert grants[name].inputs["roleDefinitionId"].endswith(f"/roleDefinitions/{role}")
        assert grants[name].urn in mc.dependencies, f"{name} not created before the cluster"
    assert grants["c-kms-crypto-user"].inputs["scope"].endswith("/keys/acme-dev-etcd")


def test_deployer_administers_through_azure_rbac_granted_early(dev):
    """Granted on the resource group before the cluster, so it has propagated by the first kubectl call."""
    deployer = dev.one(RA, "c-deployer-cluster-admin").inputs
    assert deployer["principalId"] == AZURE_DEPLOYER_OBJECT_ID
    assert deployer["scope"] == RG_ID
    assert deployer["principalType"] == "User"  # signed in through the Azure CLI


def test_a_ci_service_principal_deployer_is_granted_as_one():
    """The SDK would send 'User', and ARM refuses a type that differs from the principal's."""
    plan = _plan(deployer_principal_type=deployer_principal_type("9d0e3b57-0000-4000-8000-00000000c1c1"))
    assert plan.one(RA, "c-deployer-cluster-admin").inputs["principalType"] == "ServicePrincipal"


def test_without_a_deployer_nobody_but_the_admins_is_granted_cluster_admin(prod):
    """A private cluster's layer is installed by the runner identity (granted by the platform on the
    cluster): the component grants cluster-admin only to `admin_principals` then."""
    plan = _plan(spec=PROD, environment="prod", private_vault=True, deployer_object_id=None)
    admins = [
        r.inputs
        for r in plan.of_type(RA)
        if r.inputs["roleDefinitionId"].endswith("/b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b")
    ]
    assert [(a["principalId"], a["principalType"]) for a in admins] == [
        ("0d4f8a2c-7e19-4b63-9c5a-2e8b1f6d3a97", "Group")
    ]
    assert admins[0]["scope"].endswith("/managedClusters/acme-dev")


def test_entra_id_only_with_azure_rbac_and_workload_identity(dev):
    mc = dev.one(MC).inputs
    assert mc["disableLocalAccounts"] is True and mc["enableRBAC"] is True
    assert mc["aadProfile"] == {"managed": True, "enableAzureRBAC": True, "tenantID": TENANT}
    assert mc["oidcIssuerProfile"] == {"enabled": True}
    assert mc["securityProfile"]["workloadIdentity"] == {"enabled": True}
    assert dev.outputs["issuer"].startswith(f"https://{LOCATION}.oic.prod-aks.azure.com/")


def test_system_pool_runs_aks_addons_only_and_platform_pool_runs_mlinfra(dev):
    system, platform = dev.one(MC).inputs["agentPoolProfiles"]
    assert system["mode"] == "System" and system["nodeTaints"] == [CRITICAL_ADDONS_TAINT]
    assert platform["name"] == PLATFORM_POOL and platform["mode"] == "User" and platform["nodeTaints"] == []
    assert platform["nodeLabels"] == {"mlinfra.io/pool": PLATFORM_POOL}
    assert platform["vmSize"] == "Standard_D8ds_v5" and system["vmSize"] == "Standard_D4ds_v5"
    for pool in (system, platform):
        assert pool["enableEncryptionAtHost"] is True and pool["enableNodePublicIP"] is False
        assert pool["availabilityZones"] == ["1", "2", "3"] and pool["vnetSubnetID"] == "/subnets/nodes"
        assert pool["orchestratorVersion"] == "1.33" and pool["osSKU"] == "Ubuntu"
    assert (system["minCount"], system["maxCount"]) == (1, 6)  # dev: one system node


def test_network_is_overlay_with_enforced_network_policy(dev):
    net = dev.one(MC).inputs["networkProfile"]
    assert (net["networkPlugin"], net["networkPluginMode"]) == ("azure", "overlay")
    assert net["networkPolicy"] == "cilium" and net["networkDataplane"] == "cilium"
    assert net["outboundType"] == "userAssignedNATGateway"
    assert net["dnsServiceIP"] == "172.20.0.10" == dns_service_ip("172.20.0.0/16")


def test_dev_api_is_public_to_listed_ranges_and_prod_private(dev, prod):
    public = dev.one(MC).inputs["apiServerAccessProfile"]
    assert public["enablePrivateCluster"] is False and public["authorizedIPRanges"] == ["203.0.113.0/24"]
    private = prod.one(MC).inputs["apiServerAccessProfile"]
    assert private["enablePrivateCluster"] is True and "authorizedIPRanges" not in private
    assert private["privateDNSZone"] == "system" and private["enablePrivateClusterPublicFQDN"] is False
    for plan in (dev, prod):
        api = plan.one(MC).inputs["apiServerAccessProfile"]
        assert api["enableVnetIntegration"] is True and api["subnetId"] == "/subnets/apiserver"
    assert "privatelink" in prod.outputs["endpoint"] and "privatelink" not in dev.outputs["endpoint"]


def test_node_disks_use_the_disk_encryption_set(dev):
    mc = dev.one(MC).inputs
    des = dev.one("azure-native:compute:DiskEncryptionSet")
    assert mc["diskEncryptionSetID"] == des.id
    assert des.inputs["identity"] == {"type": "SystemAssigned"}
    assert des.inputs["rotationToLatestKeyVersionEnabled"] is True
    assert des.inputs["activeKey"]["keyUrl"].count("/") == 5  # versioned (SDK: required)
    assert dev.of_type("kubernetes:storage.k8s.io/v1:StorageClass") == []  # the platform's layer makes it


def test_autoscaler_and_upgrades(dev):
    mc = dev.one(MC).inputs
    # the shared flags, with the priority expander (on-demand GPU pools before spot)
    flags = {**CLUSTER_AUTOSCALER_FLAGS, "expander": "priority"}
    assert mc["autoScalerProfile"] == {_camel(k): v for k, v in flags.items()}
    assert mc["autoUpgradeProfile"] == {"upgradeChannel": "patch", "nodeOSUpgradeChannel": "NodeImage"}
    assert mc["kubernetesVersion"] == "1.33"


def _camel(flag: str) -> str:
    head, *rest = flag.split("-")
    return head + "".join(w.capitalize() for w in rest)


def test_control_plane_logs_per_environment(dev, prod):
    def categories(plan):
        return {log["category"] for log in plan.one("azure-native:monitor:DiagnosticSetting").inputs["logs"]}

    assert categories(dev) == {"kube-apiserver", "kube-audit-admin", "guard"}
    assert categories(prod) >= categories(dev) | {"cluster-autoscaler", "kube-controller-manager"}


def test_prod_admins_and_protection(prod):
    admins = [r for r in prod.of_type(RA) if r.name.startswith("c-admin-")]
    assert [(a.inputs["principalId"], a.inputs["principalType"]) for a in admins] == [
        ("0d4f8a2c-7e19-4b63-9c5a-2e8b1f6d3a97", "Group")
    ]
    assert admins[0].inputs["scope"].endswith("/managedClusters/acme-dev")
    for t in (MC, KEY, "azure-native:compute:DiskEncryptionSet"):
        assert all(r.protect and r.retain_on_delete for r in prod.of_type(t)), t


def test_kubeconfig_runs_kubelogin_non_interactively():
    """The credentials AKS returns log in with a device code, which would block `pulumi up`."""
    raw = azure_call_outputs(
        "azure-native:containerservice:listManagedClusterUserCredentials", {"resourceName": "acme-dev"}, {}
    )["kubeconfigs"][0]["value"]
    assert "devicecode" in base64.b64decode(raw).decode()
    config = json.loads(exec_kubeconfig(raw))
    exec_ = config["users"][0]["user"]["exec"]
    assert exec_["command"] == "kubelogin"
    assert exec_["args"] == ["get-token", "--login", "azurecli", "--server-id", AKS_SERVER_APP_ID]
    assert exec_["interactiveMode"] == "Never"
    assert config["clusters"][0]["cluster"]["server"].startswith("https://")
    assert yaml.safe_dump(config)  # a valid kubeconfig document


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        (
            {
                "spec": ClusterSpec(api_access="public", public_access_cidrs=["203.0.113.0/24"]),
                "environment": "prod",
            },
            "spec.api_access",
        ),
        ({"spec": ClusterSpec(api_access="dns")}, "spec.api_access"),
        ({"sku_tier": "Gold"}, "sku_tier"),
        ({"zones": []}, "zones"),
        ({"system_vm_size": "m6i.large"}, "system_vm_size"),
        (
            {"spec": ClusterSpec(admin_principals=["arn:aws:iam::123456789012:role/x"])},
            "spec.admin_principals.0",
        ),
        (
            {"spec": ClusterSpec(admin_principals=["0d4f8a2c-7e19-4b63-9c5a-2e8b1f6d3a97"])},
            "spec.admin_principals.0",
        ),
        ({"admin_group_object_ids": ["ml-admins"]}, "admin_group_object_ids.0"),
        ({"pod_cidr": "172.20.0.0/16"}, "service_cidr"),
        ({"cluster_name": "-bad"}, "cluster_name"),
    ],
)
def test_bad_input_is_refused_before_any_resource(kw, field):
    error, registered = refused_before_any_resource(lambda opts: Cluster("c", _args(**kw), opts=opts))
    assert error.field == field
    assert registered == []


def test_kms_on_a_private_vault_grants_key_vault_contributor_on_the_vault(dev, prod):
    """MicrosoftDocs/azure-aks-docs use-kms-etcd-encryption.md, "Assign permissions to create a private
    link": a private vault needs "Key Vault Contributor" (built-in role f25e0fa2-...) for the control-plane
    identity, which AKS does not validate; a public vault does not."""
    grant = prod.one(RA, "c-kms-private-link")
    assert grant.inputs["roleDefinitionId"].endswith("/roleDefinitions/f25e0fa2-a7c8-4377-a976-54943a77a395")
    kms = prod.one(MC).inputs["securityProfile"]["azureKeyVaultKms"]
    assert grant.inputs["scope"] == kms["keyVaultResourceId"]
    # the control-plane identity: the one the KMS plugin's "Key Vault Crypto User" grant names
    assert grant.inputs["principalId"] == prod.one(RA, "c-kms-crypto-user").inputs["principalId"]
    assert grant.urn in prod.one(MC).dependencies
    assert not [r for r in dev.of_type(RA) if r.name == "c-kms-private-link"]
