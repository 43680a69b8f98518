"""AzurePlatform: one explicit provider, every block, the in-cluster layer wired with Azure's hooks
(spot tolerations, workload-identity pod label, platform pool), identities per model, budget."""

from __future__ import annotations

import json
from functools import cache

import pytest

from mlinfra.azure.gpu_node_pool import spot_toleration
from mlinfra.azure.identity import WORKLOAD_IDENTITY_CLIENT_ID, WORKLOAD_IDENTITY_USE_LABEL
from mlinfra.azure.in_cluster import STORAGE_CLASS, layer_hooks
from mlinfra.k8s.charts import KEDA, METRICS_SERVER
from mlinfra.k8s.scheduling import POOL_LABEL
from mlinfra.offline.mocks import AZURE_DEPLOYER_OBJECT_ID
from mlinfra.platform import MlPlatform
from mlinfra.spec import PlatformSpec
from tests.azure.support import AZURE_SPEC, LOCATION, SUBSCRIPTION, TENANT
from tests.conftest import plan_of

MODEL = {
    "name": "reranker",
    "runtime": "vllm",
    "version": "2026-10-01/",
    "gpu_pool": "t4spot",
    "gpus": 1,
    "cpu": "2",
    "memory": "12Gi",
}


def _spec(environment: str = "dev", **overrides) -> PlatformSpec:
    data = json.loads(json.dumps(AZURE_SPEC))
    data["environment"] = environment
    data["serving"] = {**data["serving"], "models": [MODEL]}
    data["budget"] = {"alert_emails": ["ml@acme.example"]}
    if environment != "dev":
        data["cluster"] = {}
        data["gpu_pools"][1]["min_nodes"] = 1
        data["gpu_pools"][1]["desired_nodes"] = 1
    data.update(overrides)
    return PlatformSpec.load(data)


@cache
def _plan(environment: str = "dev"):
    spec = _spec(environment)
    return plan_of(lambda: MlPlatform(spec.prefix, spec), region=LOCATION)


def test_mlplatform_builds_every_azure_block():
    plan = _plan()
    platform = plan.one("mlinfra:azure:Platform")
    children = {r.type for r in plan.children(platform.urn)}
    assert {
        "mlinfra:azure:Network",
        "mlinfra:azure:KeyVault",
        "mlinfra:azure:Cluster",
        "mlinfra:azure:GpuNodePool",
        "mlinfra:azure:ArtifactBucket",
        "mlinfra:azure:Registry",
        "mlinfra:azure:WorkloadIdentity",
        "azure-native:resources:ResourceGroup",
        "azure-native:consumption:Budget",
        "mlinfra:k8s:GpuEnablement",
        "mlinfra:k8s:ModelDeployment",
    } <= children


def test_one_explicit_provider_pinned_to_the_subscription():
    plan = _plan()
    (provider,) = plan.of_type("pulumi:providers:azure-native")
    assert provider.inputs["subscriptionId"] == SUBSCRIPTION
    assert provider.inputs["tenantId"] == TENANT and provider.inputs["location"] == LOCATION
    for r in plan.resources:
        if r.type.startswith("azure-native:"):
            assert r.provider == provider.urn, r.urn


def test_layer_hooks_are_azures():
    spec = _spec()
    hooks = layer_hooks(spec)
    assert hooks["install_device_plugin"] is True  # AKS installs the driver, not the plugin
    assert hooks["install_metrics_server"] is False  # AKS runs metrics-server
    charts = {r.inputs["chart"] for r in _plan().of_type("kubernetes:helm.sh/v3:Release")}
    assert METRICS_SERVER.chart not in charts and KEDA.chart in charts
    assert hooks["pool_tolerations"] == {"t4spot": [spot_toleration()]}  # only the spot pool
    assert hooks["pod_labels"] == {WORKLOAD_IDENTITY_USE_LABEL: "true"}
    assert hooks["system_node_selector"] == {POOL_LABEL: "platform"}


def test_default_storage_class_is_premium_ssd_under_the_disk_encryption_set():
    plan = _plan()
    platform = plan.one("mlinfra:azure:Platform")
    provider = plan.one("pulumi:providers:kubernetes", "acme-dev-cluster-k8s")
    assert provider.parent == platform.urn  # the names of the cloud-agnostic in-cluster path
    sc = plan.one("kubernetes:storage.k8s.io/v1:StorageClass", f"acme-dev-cluster-{STORAGE_CLASS}")
    assert sc.parent == platform.urn and sc.provider == provider.urn
    des = plan.one("azure-native:compute:DiskEncryptionSet")
    assert sc.inputs["provisioner"] == "disk.csi.azure.com"
    assert sc.inputs["parameters"] == {
        "skuName": "Premium_LRS",
        "kind": "managed",
        "diskEncryptionSetID": des.id,
    }
    assert sc.inputs["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    assert sc.inputs["volumeBindingMode"] == "WaitForFirstConsumer"
    assert sc.inputs["reclaimPolicy"] == "Delete"  # dev; retained where the platform protects state
    assert plan.one("azure-native:containerservice:ManagedCluster").urn in sc.dependencies


def test_gpu_daemons_and_spot_models_tolerate_the_aks_spot_taint():
    plan = _plan()
    for release in ("dev-gpu-device-plugin", "dev-gpu-dcgm-exporter"):
        values = plan.one("kubernetes:helm.sh/v3:Release", f"acme-{release}").inputs["values"]
        assert spot_toleration() in values["tolerations"], release
    pod = plan.one("kubernetes:apps/v1:Deployment", "acme-dev-model-reranker-deployment").inputs["spec"][
        "template"
    ]
    assert spot_toleration() in pod["spec"]["tolerations"]
    assert pod["metadata"]["labels"][WORKLOAD_IDENTITY_USE_LABEL] == "true"


def test_model_service_account_is_bound_to_its_identity():
    plan = _plan()
    sa = plan.one("kubernetes:core/v1:ServiceAccount", "acme-dev-model-reranker-service-account").inputs
    assert WORKLOAD_IDENTITY_CLIENT_ID in sa["metadata"]["annotations"]
    fic = plan.one("azure-native:managedidentity:FederatedIdentityCredential").inputs
    assert fic["subject"] == f"system:serviceaccount:{sa['metadata']['namespace']}:{sa['metadata']['name']}"


def test_models_wait_for_their_pool():
    plan = _plan()
    model = plan.one("mlinfra:k8s:ModelDeployment")
    # A dependency on a component is recorded as one on the resources under it.
    agent_pool = plan.one("azure-native:containerservice:AgentPool", "acme-dev-gpu-t4spot-pool")
    assert agent_pool.urn in model.dependencies


def test_budget_covers_the_platform_and_node_resource_groups():
    budget = _plan().one("azure-native:consumption:Budget").inputs
    assert budget["scope"] == f"/subscriptions/{SUBSCRIPTION}"
    assert budget["filter"]["dimensions"]["values"] == ["acme-dev", "acme-dev-nodes"]
    assert set(budget["notifications"]) == {"actual-50", "actual-80", "actual-100", "forecast-100"}
    assert budget["timePeriod"]["startDate"].endswith("-01T00:00:00Z")


@pytest.mark.parametrize("environment", ["staging"])
def test_private_platform_keeps_data_services_behind_private_endpoints(environment):
    plan = _plan(environment)
    groups = sorted(
        c["groupIds"][0]
        for pe in plan.of_type("azure-native:network:PrivateEndpoint")
        for c in pe.inputs["privateLinkServiceConnections"]
    )
    assert groups == ["blob", "registry", "vault"]
    assert plan.one("azure-native:network:Subnet", "acme-staging-network-runners")
    assert (
        plan.one("azure-native:storage:StorageAccount", "acme-staging-artifacts-account").inputs[
            "encryption"
        ]["keySource"]
        == "Microsoft.Keyvault"
    )
    mc = plan.one("azure-native:containerservice:ManagedCluster").inputs
    assert mc["securityProfile"]["azureKeyVaultKms"]["keyVaultNetworkAccess"] == "Private"


RA = "azure-native:authorization:RoleAssignment"
CLUSTER_ADMIN = "/roleDefinitions/b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"  # AKS RBAC Cluster Admin


def _cluster_admins(plan) -> dict[str, dict]:
    return {
        r.name: r.inputs for r in plan.of_type(RA) if r.inputs["roleDefinitionId"].endswith(CLUSTER_ADMIN)
    }


@pytest.mark.parametrize("environment", ["staging", "prod"])
def test_private_platform_grants_no_deployer_cluster_admin(environment):
    """The in-cluster stack's runner installs the layer; `pulumi up` of this stack (a person today,
    CI tomorrow) must not replace each other's grant, so there is none: the runner on its cluster,
    people through cluster.admin_principals / azure.admin_group_object_ids."""
    plan = _plan(environment)
    admins = _cluster_admins(plan)
    assert set(admins) == {f"acme-{environment}-runner-cluster-admin"}
    assert not any("deployer" in r.name for r in plan.of_type(RA))
    assert admins[f"acme-{environment}-runner-cluster-admin"]["scope"].endswith(
        f"/managedClusters/acme-{environment}"
    )


def test_dev_grants_whoever_runs_pulumi_up_on_the_resource_group_before_the_cluster():
    plan = _plan()
    grant = plan.one(RA, "acme-dev-cluster-deployer-cluster-admin")
    assert grant.inputs["principalId"] == AZURE_DEPLOYER_OBJECT_ID  # getClientConfig's objectId
    assert grant.inputs["principalType"] == "ServicePrincipal"  # the mock signs in as an application
    assert grant.inputs["scope"] == f"/subscriptions/{SUBSCRIPTION}/resourceGroups/acme-dev"
    assert grant.urn in plan.one("azure-native:containerservice:ManagedCluster").dependencies


@pytest.mark.parametrize(
    ("principal", "kind"),
    [
        ("serviceprincipal:9D0E3B57-0000-4000-8000-00000000C1C1", "ServicePrincipal"),
        ("group:6c0e2a9d-4b17-4e85-a3f2-1d9c8b7e5a40", "Group"),
    ],
)
def test_an_explicit_deployer_is_the_principal_whoever_runs_pulumi_up(principal, kind):
    spec = _spec(azure={**AZURE_SPEC["azure"], "deployer_principal": principal})
    plan = plan_of(lambda: MlPlatform(spec.prefix, spec), region=LOCATION)
    grant = plan.one(RA, "acme-dev-cluster-deployer-cluster-admin").inputs
    assert grant["principalId"] == principal.split(":", 1)[1].lower()
    assert grant["principalType"] == kind
    assert grant["principalId"] != AZURE_DEPLOYER_OBJECT_ID
    assert grant["scope"] == f"/subscriptions/{SUBSCRIPTION}/resourceGroups/acme-dev"
