"""GcpPlatform on the shipped stacks: the whole platform, one explicit provider, the in-cluster layer
on the cluster's provider with the GKE hooks, identities per model, environment differences."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from mlinfra.platform import IMPLEMENTED_CLOUDS, MlPlatform
from tests.conftest import plan_of
from tests.gcp.plans import ROOT, planned
from tests.gcp.support import gcp_spec
from tests.k8s.k8s_schema import CORE_GROUP_PREFIXES, object_of, validate

STACKS = ["dev", "staging", "prod"]
POOL = "gcp:container/nodePool:NodePool"


def _config(stack: str) -> dict:
    return yaml.safe_load((ROOT / "stacks/gcp" / f"Pulumi.{stack}.yaml").read_text())["config"][
        "mlinfra:platform"
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_stack_has_gcp_pools_identities_and_the_gke_issuer(stack):
    """The cloud-neutral checks (components, outputs, explicit providers with default labels, the
    layer on the cluster's provider) run on these stacks in tests/test_stacks.py."""
    plan = planned(stack)
    assert plan.of_type("mlinfra:gcp:WorkloadIdentity")
    gpu_pools = [r for r in plan.of_type(POOL) if r.inputs["nodeConfig"].get("guestAccelerators")]
    assert len(gpu_pools) >= 2
    if stack == "dev":
        assert any(p.inputs["nodeConfig"].get("spot") for p in gpu_pools)
    assert plan.outputs["oidc_issuer"].startswith("https://container.googleapis.com/v1/projects/")
    gcp = plan.one("pulumi:providers:gcp")
    assert gcp.inputs["project"] == _config(stack)["gcp"]["project"]


@pytest.mark.parametrize("stack", STACKS)
def test_no_device_plugin_and_dcgm_on_gke(stack):
    releases = {r.inputs["name"] for r in planned(stack).of_type("kubernetes:helm.sh/v3:Release")}
    assert "nvidia-device-plugin" not in releases  # GKE's own plugin (gpu_driver_installation_config)
    assert "dcgm-exporter" in releases


@pytest.mark.parametrize("stack", STACKS)
def test_every_kubernetes_object_validates_against_the_clusters_schema(stack):
    """Core objects against the Kubernetes OpenAPI schema of the stack's minor (kubernetes-validate,
    strict). Server-side-apply patches are partial by design (tests/gcp/test_cluster.py checks the
    StorageClass patch's fields)."""
    plan = planned(stack)
    version = _config(stack)["cluster"]["kubernetes_version"]
    objects = [
        r for r in plan.resources if r.type.startswith(CORE_GROUP_PREFIXES) and not r.type.endswith("Patch")
    ]
    for r in objects:
        validate(object_of(r.inputs), version)
    assert len(objects) >= 25


@pytest.mark.parametrize("stack", STACKS)
def test_model_pods_reach_the_gke_metadata_server_through_dataplane_v2(stack):
    """Pitfall: on Dataplane V2 a NetworkPolicy must allow 169.254.169.254:80 for Workload Identity;
    without it the model-download init container never gets a token. That address is the GKE
    metadata server only because every pool runs GKE_METADATA (node credentials withheld)."""
    plan = planned(stack)
    cluster = plan.one("gcp:container/cluster:Cluster").inputs
    assert cluster["datapathProvider"] == "ADVANCED_DATAPATH"
    assert all(
        p.inputs["nodeConfig"]["workloadMetadataConfig"]["mode"] == "GKE_METADATA" for p in plan.of_type(POOL)
    )
    policy = next(
        r
        for r in plan.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if r.name.endswith("allow-workload-identity")
    )
    allowed = [
        (e["to"][0]["ipBlock"]["cidr"], e["ports"][0]["port"]) for e in policy.inputs["spec"]["egress"]
    ]
    assert ("169.254.169.254/32", 80) in allowed


def test_monitoring_volumes_use_the_cmek_storage_class():
    plan = planned("prod")
    stack = next(
        r
        for r in plan.of_type("kubernetes:helm.sh/v3:Release")
        if r.inputs["name"] == "kube-prometheus-stack"
    )
    text = json.dumps(stack.inputs["values"])
    assert '"storageClassName": "pd-balanced-cmek"' in text


def test_dcgm_exporter_gets_the_cos_driver_path():
    plan = planned("dev")
    dcgm = next(
        r for r in plan.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "dcgm-exporter"
    )
    values = dcgm.inputs["values"]
    assert {"name": "nvidia-install-dir-host", "hostPath": "/home/kubernetes/bin/nvidia"} in values[
        "extraHostVolumes"
    ]
    assert {"name": "LD_LIBRARY_PATH", "value": "/usr/local/nvidia/lib64"} in values["extraEnv"]
    assert values["securityContext"]["privileged"] is True
    assert values["securityContext"]["allowPrivilegeEscalation"] is True


@pytest.mark.parametrize("stack", STACKS)
def test_each_model_identity_is_exactly_the_models_service_account(stack):
    plan = planned(stack)
    accounts = {
        (r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"])
        for r in plan.of_type("kubernetes:core/v1:ServiceAccount")
        if "mlinfra:k8s:ModelDeployment" in r.urn
    }
    granted = set()
    for g in plan.of_type("gcp:storage/managedFolderIamMember:ManagedFolderIamMember"):
        _, _, subject = g.inputs["member"].partition("/subject/")
        ns, sa = subject.removeprefix("ns/").split("/sa/")
        granted.add((ns, sa))
    assert accounts and granted == accounts
    folders = {f.inputs["name"] for f in plan.of_type("gcp:storage/managedFolder:ManagedFolder")}
    assert folders == {f"models/{m['name']}/" for m in _config(stack)["serving"]["models"]}


@pytest.mark.parametrize("stack", STACKS)
def test_gpu_pools_follow_the_system_pool_and_models_follow_their_pools(stack):
    plan = planned(stack)
    system = next(r for r in plan.of_type(POOL) if r.inputs["name"].startswith("system-"))
    node_pools = {r.inputs["name"]: r for r in plan.of_type(POOL)}
    for pool in plan.of_type(POOL):
        if pool.inputs["nodeConfig"].get("guestAccelerators"):
            assert system.urn in pool.dependencies
            assert pool.inputs["nodeConfig"]["taints"] == [
                {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}
            ]
    for model in plan.of_type("mlinfra:k8s:ModelDeployment"):
        spec = next(
            m for m in _config(stack)["serving"]["models"] if model.name.endswith(f"model-{m['name']}")
        )
        # Depending on the GpuNodePool component waits for its node pool (Pulumi expands components).
        assert node_pools[spec["gpu_pool"]].urn in model.dependencies


def test_prod_protects_stateful_resources_and_dev_does_not():
    prod, dev = planned("prod"), planned("dev")
    for type_ in (
        "gcp:storage/bucket:Bucket",
        "gcp:kms/cryptoKey:CryptoKey",
        "gcp:kms/keyRing:KeyRing",
        "gcp:artifactregistry/repository:Repository",
        "gcp:container/cluster:Cluster",
    ):
        assert prod.of_type(type_) and all(r.protect and r.retain_on_delete for r in prod.of_type(type_)), (
            type_
        )
        assert not any(r.protect for r in dev.of_type(type_)), type_


def test_dev_and_prod_differ_where_the_profiles_say():
    dev, prod = planned("dev"), planned("prod")
    assert len(dev.of_type("gcp:compute/address:Address")) == 1
    assert len(prod.of_type("gcp:compute/address:Address")) == 3
    dev_cluster, prod_cluster = (
        dev.one("gcp:container/cluster:Cluster"),
        prod.one("gcp:container/cluster:Cluster"),
    )
    assert dev_cluster.inputs["location"] == "us-central1-a"  # zonal in dev
    assert prod_cluster.inputs["location"] == "europe-west4"
    assert prod_cluster.inputs["releaseChannel"] == {"channel": "STABLE"}
    assert "logConfig" not in dev.one("gcp:compute/subnetwork:Subnetwork").inputs
    assert "logConfig" in prod.one("gcp:compute/subnetwork:Subnetwork").inputs
    budget = prod.one("gcp:billing/budget:Budget").inputs
    assert dev.one("gcp:billing/budget:Budget").inputs["amount"]["specifiedAmount"]["units"] == "1500"
    assert budget["amount"]["specifiedAmount"] == {"currencyCode": "USD", "units": "40000", "nanos": 0}
    assert len(budget["allUpdatesRule"]["monitoringNotificationChannels"]) == 2
    assert budget["budgetFilter"]["labels"] == {"cost-center": "cc-4711"}
    assert budget["budgetFilter"]["projects"][0].startswith("projects/")


def test_gcp_is_implemented_and_dispatched():
    assert "gcp" in IMPLEMENTED_CLOUDS
    spec = gcp_spec()
    plan = plan_of(lambda: MlPlatform(spec.prefix, spec), region=spec.region)
    platform = plan.one("mlinfra:gcp:Platform")
    children = {r.type for r in plan.children(platform.urn)}
    assert {"mlinfra:gcp:Network", "mlinfra:gcp:Cluster", "mlinfra:gcp:GpuNodePool"} <= children


def test_gsa_mode_annotates_the_service_account():
    spec = gcp_spec(
        gcp={"project": "acme-ml-dev", "workload_identity": "gsa"},
        serving={"models": [{"name": "m", "gpu_pool": "l4-spot", "runtime": "vllm", "version": "v1/"}]},
    )
    plan = plan_of(lambda: MlPlatform(spec.prefix, spec), region=spec.region)
    sa = next(r for r in plan.of_type("kubernetes:core/v1:ServiceAccount") if "ModelDeployment" in r.urn)
    assert sa.inputs["metadata"]["annotations"]["iam.gke.io/gcp-service-account"].startswith(
        "acme-ml-dev-m-m@"
    )


def test_stack_program_is_the_short_one():
    text = (ROOT / "stacks/gcp/__main__.py").read_text()
    assert "MlPlatform(spec.prefix, spec, PlatformSecrets.from_config())" in text
    assert Path(ROOT / "stacks/gcp/Pulumi.yaml").is_file()


def _readme_gcp() -> str:
    text = (ROOT / "README.md").read_text()
    return text[text.index("\n## GCP") :]


def test_enable_apis_turns_every_api_on_before_any_gcp_resource():
    """Each API the platform calls is enabled (never disabled on destroy: other stacks use it) and
    the provider every GCP child uses waits for all of them."""
    from mlinfra.gcp.platform import BUDGET_APIS, REQUIRED_APIS

    spec = gcp_spec(gcp={"project": "acme-ml-dev", "enable_apis": True})
    plan = plan_of(lambda: MlPlatform(spec.prefix, spec), region=spec.region)
    services = plan.of_type("gcp:projects/service:Service")
    assert sorted(s.inputs["service"] for s in services) == sorted(REQUIRED_APIS)  # no budget here
    assert all(s.inputs["disableOnDestroy"] is False for s in services)
    main = next(p for p in plan.of_type("pulumi:providers:gcp") if p.name.endswith("-gcp"))
    assert {s.urn for s in services} <= set(main.dependencies)
    for r in plan.resources:
        if r.type.startswith("gcp:") and r.type != "gcp:projects/service:Service":
            assert r.provider.startswith(main.urn), r.urn
    assert not set(BUDGET_APIS) & {s.inputs["service"] for s in services}
    assert not planned("dev").of_type("gcp:projects/service:Service")  # off unless asked


def test_readme_lists_the_apis_the_platform_uses():
    from mlinfra.gcp.platform import BUDGET_APIS, REQUIRED_APIS

    text = _readme_gcp()
    listed = set(re.findall(r"[a-z]+\.googleapis\.com", text[: text.index("GPU quota")]))
    assert listed == set(REQUIRED_APIS + BUDGET_APIS)


def test_deployer_roles_cover_every_resource_the_plans_register_and_the_readme_lists_them():
    """A non-Owner deployer needs a role for every resource type the platform creates; derived from
    the shipped plans plus the optional API enablement."""
    from mlinfra.gcp.platform import DEPLOYER_BASE_ROLES, deployer_roles

    gsa = gcp_spec(gcp={"project": "acme-ml-dev", "enable_apis": True})
    plans = [planned(s) for s in STACKS] + [plan_of(lambda: MlPlatform(gsa.prefix, gsa), region=gsa.region)]
    types = {r.type for p in plans for r in p.resources}
    assert {"gcp:compute/firewall:Firewall", "gcp:projects/service:Service"} <= types
    roles = deployer_roles(types)  # raises on a gcp type without a role
    assert "roles/compute.securityAdmin" in roles and "roles/monitoring.notificationChannelEditor" in roles
    assert set(DEPLOYER_BASE_ROLES) <= set(roles)
    text = _readme_gcp()
    section = text[text.index("The deploying identity needs") : text.index("on the runner:")]
    assert set(re.findall(r"roles/[A-Za-z.]+[A-Za-z]", section)) == set(roles)
