"""The Azure platform on both deployment paths (hooks.md contract C): dev installs the in-cluster
layer in its one stack; staging/prod (api_access private) register no Kubernetes resource in the
platform stack, and stacks/azure-in-cluster installs the same layer from the VNet's runners subnet,
fed by the platform's outputs through a StackReference."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlinfra.azure.identity import WORKLOAD_IDENTITY_CLIENT_ID
from mlinfra.azure.in_cluster import STORAGE_CLASS, layer_hooks
from mlinfra.offline.reach import UNREACHABLE
from mlinfra.platform import layer_hooks as checked_layer_hooks
from mlinfra.platform import platform_spec_from_file, spec_digest
from mlinfra.spec import PlatformSpec
from tests.test_stacks import deployed, planned

ROOT = Path(__file__).resolve().parents[2]
SC = "kubernetes:storage.k8s.io/v1:StorageClass"
DES = "azure-native:compute:DiskEncryptionSet"
ROLE = "azure-native:authorization:RoleAssignment"
AKS_RBAC_CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"  # built-in role id (azure-built-in-roles)


@pytest.mark.parametrize(
    ("stack_dir", "stack"), [("stacks/azure", "dev"), ("stacks/azure-in-cluster", "prod")]
)
def test_default_storage_class_is_premium_ssd_under_the_platforms_disk_encryption_set(stack_dir, stack):
    sc = planned(stack_dir, stack).one(SC)
    des = planned("stacks/azure", stack).one(DES)
    assert sc.inputs["metadata"]["name"] == STORAGE_CLASS
    assert sc.inputs["provisioner"] == "disk.csi.azure.com"
    assert sc.inputs["parameters"]["diskEncryptionSetID"] == des.id
    assert sc.inputs["reclaimPolicy"] == ("Retain" if stack == "prod" else "Delete")


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_private_platform_stack_registers_no_kubernetes_resource_and_its_in_cluster_stack_does(stack):
    platform, in_cluster = deployed(("stacks/azure", stack))
    assert not [r for r in platform.resources if r.type.startswith("kubernetes:")]
    assert platform.outputs["in_cluster"]["api_access"] == "private"
    # The in-cluster stack declares it runs inside the network: no unreachable-cluster warning.
    for plan in (platform, in_cluster):
        assert not [w for w in plan.warnings if w.startswith(UNREACHABLE)], plan.warnings
    for component in ("GpuEnablement", "ServingCluster", "MonitoringStack", "ModelDeployment"):
        assert in_cluster.of_type(f"mlinfra:k8s:{component}"), component
    assert in_cluster.one("mlinfra:azure:InClusterPlatform")


def test_model_service_accounts_use_the_platforms_identities():
    platform, in_cluster = deployed(("stacks/azure", "prod"))
    annotations = platform.outputs["in_cluster"]["model_identities"]
    assert set(annotations) == {"reranker", "embedder"}
    accounts = {
        r.inputs["metadata"]["name"]: r.inputs["metadata"]["annotations"]
        for r in in_cluster.of_type("kubernetes:core/v1:ServiceAccount")
        if "mlinfra:k8s:ModelDeployment" in r.urn
    }
    assert set(accounts) == set(annotations)
    for model, annotation in accounts.items():
        assert annotation[WORKLOAD_IDENTITY_CLIENT_ID] == annotations[model][WORKLOAD_IDENTITY_CLIENT_ID]


def test_the_runner_identity_administers_this_cluster_only():
    plan = planned("stacks/azure", "prod")
    identity = plan.one("azure-native:managedidentity:UserAssignedIdentity", "acme-ml-prod-runner-identity")
    grant = plan.one(ROLE, "acme-ml-prod-runner-cluster-admin").inputs
    assert grant["roleDefinitionId"].endswith(AKS_RBAC_CLUSTER_ADMIN)
    assert grant["scope"] == plan.one("azure-native:containerservice:ManagedCluster").id
    assert grant["principalType"] == "ServicePrincipal"
    assert identity.inputs["resourceName"] == "acme-ml-prod-in-cluster-runner"
    assert plan.outputs["runner_identity_client_id"]
    dev = planned("stacks/azure", "dev")
    assert not [r for r in dev.resources if "runner" in r.name]


def test_the_in_cluster_stack_reads_the_spec_of_the_platform_stack_file():
    for stack in ("staging", "prod"):
        doc = yaml.safe_load((ROOT / "stacks/azure-in-cluster" / f"Pulumi.{stack}.yaml").read_text())
        assert "mlinfra:platform" not in (doc.get("config") or {})
        spec = platform_spec_from_file(ROOT / "stacks/azure", stack)
        assert spec.cluster.api_access == "private"
        platform_doc = yaml.safe_load((ROOT / "stacks/azure" / f"Pulumi.{stack}.yaml").read_text())
        assert spec_digest(spec) == spec_digest(PlatformSpec.load(platform_doc["config"]["mlinfra:platform"]))
        assert planned("stacks/azure", stack).outputs["in_cluster"]["spec_sha256"] == spec_digest(spec)


def test_azure_layer_hooks_pass_the_deployment_paths_check():
    spec = platform_spec_from_file(ROOT / "stacks/azure", "prod")
    assert checked_layer_hooks(spec) == layer_hooks(spec)


def test_the_autoscaler_prefers_on_demand_gpu_pools_over_spot():
    """hooks.md A: on-demand first, spot for burst. prod's a100 and a100spot are the same VM size, so
    least-waste ties them; the priority expander (kubernetes/autoscaler expander/priority/readme.md)
    reads `cluster-autoscaler-priority-expander` in the autoscaler's namespace: higher number wins,
    a group no regex matches is never chosen."""
    import re

    platform = planned("stacks/azure", "prod")
    profile = platform.one("azure-native:containerservice:ManagedCluster").inputs["autoScalerProfile"]
    assert profile["expander"] == "priority"
    layer = planned("stacks/azure-in-cluster", "prod")
    (cm,) = [
        r
        for r in layer.of_type("kubernetes:core/v1:ConfigMap")
        if r.inputs["metadata"]["name"] == "cluster-autoscaler-priority-expander"
    ]
    assert cm.inputs["metadata"]["namespace"] == "kube-system"
    priorities = {int(k): v for k, v in yaml.safe_load(cm.inputs["data"]["priorities"]).items()}

    def tier(node_group: str) -> int:
        return max(p for p, regexes in priorities.items() if any(re.search(r, node_group) for r in regexes))

    # AKS node groups are the pools' scale sets, aks-<pool>-<digits>-vmss.
    assert tier("aks-a100-12345678-vmss") > tier("aks-a100spot-12345678-vmss")
    assert tier("aks-platform-12345678-vmss") == tier("aks-a100spot-12345678-vmss")
