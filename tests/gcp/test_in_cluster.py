"""GKE's part of the deployment path (mlinfra.gcp.in_cluster): the layer hooks, the cluster objects
(CMEK default StorageClass, GKE's default un-defaulted, admin RBAC), and the private path: the
platform stack registers no Kubernetes resource, the in-cluster stack installs the same objects."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pulumi
import yaml

from mlinfra.charts.data import ChartData, resolve_charts_dir
from mlinfra.charts.values import chart_defaults_and_schema
from mlinfra.gcp.in_cluster import DCGM_CHART_DEFAULT_MOUNT, GKE_DCGM_VALUES, STORAGE_CLASS, layer_hooks
from mlinfra.k8s.charts import DCGM_EXPORTER
from mlinfra.offline import plan_stack
from mlinfra.platform import MlPlatform
from mlinfra.platform import layer_hooks as checked_hooks
from tests.conftest import deployed_plan_of, plan_of
from tests.gcp.plans import ROOT, planned
from tests.gcp.support import GCP_PROD_SPEC, gcp_spec
from tests.k8s.chart_data import unread_keys
from tests.k8s.k8s_schema import object_of, validate

SC = "kubernetes:storage.k8s.io/v1:StorageClass"
PATCH = "kubernetes:storage.k8s.io/v1:StorageClassPatch"
BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
ADMINS = {"api_access": "dns", "admin_principals": ["user:alice@acme.example"]}


def test_layer_hooks_come_from_the_spec_and_are_static_hooks():
    hooks = layer_hooks(gcp_spec())
    assert hooks["install_device_plugin"] is False  # GKE's own plugin (gpu_driver_installation_config)
    assert hooks["install_metrics_server"] is False  # GKE runs metrics-server
    assert hooks["storage_class"] == STORAGE_CLASS
    assert hooks["dcgm_values"] == GKE_DCGM_VALUES
    assert hooks["system_node_selector"] == {"mlinfra.io/pool": "system"}
    assert layer_hooks(gcp_spec(gpu_pools=[]))["dcgm_values"] == {}
    assert checked_hooks(gcp_spec()) == hooks  # the deployment path accepts every one of them


def test_dcgm_values_are_read_by_the_chart_and_keep_its_own_mount():
    """Helm replaces lists: the chart's default metrics mount must be repeated, exactly."""
    assert unread_keys(GKE_DCGM_VALUES, DCGM_EXPORTER) == []
    chart, _ = chart_defaults_and_schema(
        ChartData(resolve_charts_dir()), DCGM_EXPORTER.name, DCGM_EXPORTER.version
    )
    assert chart["extraVolumeMounts"] == [DCGM_CHART_DEFAULT_MOUNT]
    assert GKE_DCGM_VALUES["extraVolumeMounts"][0] == DCGM_CHART_DEFAULT_MOUNT
    assert {v["name"] for v in chart["extraConfigMapVolumes"]} == {DCGM_CHART_DEFAULT_MOUNT["name"]}
    assert "-f" in chart["arguments"] and chart["arguments"][1] == DCGM_CHART_DEFAULT_MOUNT["mountPath"]


def test_default_storage_class_is_cmek_and_gke_default_is_turned_off():
    """Pitfall: two default StorageClasses (GKE's standard-rwo and ours); Kubernetes picks the newest."""
    dev, prod = planned("dev"), planned("prod")
    sc = dev.one(SC)
    assert sc.inputs["provisioner"] == "pd.csi.storage.gke.io"
    assert sc.inputs["parameters"]["disk-encryption-kms-key"].endswith("/cryptoKeys/acme-ml-dev-node-disks")
    assert sc.inputs["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    assert sc.inputs["volumeBindingMode"] == "WaitForFirstConsumer"
    assert sc.inputs["reclaimPolicy"] == "Delete"
    assert prod.one(SC).inputs["reclaimPolicy"] == "Retain"
    validate(object_of(sc.inputs))
    patch = dev.one(PATCH)
    assert patch.inputs["metadata"]["name"] == "standard-rwo"
    assert patch.inputs["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "false"
    # After the cluster and its system pool: the CSI driver's nodes exist.
    system = next(r.urn for r in dev.of_type("gcp:container/nodePool:NodePool") if r.name.endswith("-system"))
    assert system in sc.dependencies and system in patch.dependencies


def test_admins_get_cluster_admin_rbac():
    spec = gcp_spec(cluster=ADMINS)
    plan = plan_of(lambda: MlPlatform(spec.prefix, spec), region=spec.region)
    binding = plan.one(BINDING).inputs
    assert binding["roleRef"]["name"] == "cluster-admin"
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice@acme.example"}
    ]
    validate(object_of(binding))


def _private(base=GCP_PROD_SPEC):
    data = copy.deepcopy(base)
    data["cluster"] = {
        **data.get("cluster", {}),
        "api_access": "private",
        "admin_principals": ["user:alice@acme.example"],
    }
    return data


def test_a_private_platform_registers_no_kubernetes_resource_and_exports_the_layer_values():
    spec = gcp_spec(_private())

    def program():
        pulumi.export("in_cluster", MlPlatform(spec.prefix, spec).in_cluster)

    plan = plan_of(program, region=spec.region)
    assert not [
        r for r in plan.resources if r.type.startswith(("kubernetes:", "pulumi:providers:kubernetes"))
    ]
    values = plan.outputs["in_cluster"]
    assert values["api_access"] == "private"
    assert values["cloud"]["node_disk_key_id"].endswith("/cryptoKeys/acme-ml-prod-node-disks")
    assert values["storage_base_uri"].startswith("gs://")
    assert set(values["model_identities"]) == {m.name for m in spec.serving.models}


def test_the_private_path_installs_what_the_one_stack_path_installs():
    """Same objects, same names: only who registers them differs."""
    private = gcp_spec(_private())
    dns = gcp_spec({**_private(), "cluster": {**_private()["cluster"], "api_access": "dns"}})

    def k8s_names(plan):
        return sorted((r.type, r.name) for r in plan.resources if r.type.startswith("kubernetes:"))

    assert k8s_names(deployed_plan_of(private)) == k8s_names(deployed_plan_of(dns))


def test_the_gcp_in_cluster_stack_installs_the_layer_of_a_private_platform_stack(tmp_path: Path):
    """stacks/gcp-in-cluster, run on a private platform stack (planned offline, StackReference and
    all): the spec comes from ../gcp/Pulumi.<stack>.yaml, the values from the platform's outputs."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    for project in ("gcp", "gcp-in-cluster"):
        shutil.copytree(
            ROOT / "stacks" / project,
            tmp_path / "stacks" / project,
            ignore=shutil.ignore_patterns("Pulumi.*.yaml"),
        )
    prod = yaml.safe_load((ROOT / "stacks/gcp/Pulumi.prod.yaml").read_text())
    prod["config"]["mlinfra:platform"]["cluster"]["api_access"] = "private"
    (tmp_path / "stacks/gcp/Pulumi.prod.yaml").write_text(yaml.safe_dump(prod))
    (tmp_path / "stacks/gcp-in-cluster/Pulumi.prod.yaml").write_text("config: {}\n")

    platform = plan_stack(tmp_path / "stacks/gcp", "prod")
    layer = plan_stack(tmp_path / "stacks/gcp-in-cluster", "prod")
    assert not [r for r in platform.resources if r.type.startswith("kubernetes:")]
    types = {r.type for r in layer.resources}
    assert {
        "mlinfra:gcp:InClusterPlatform",
        "mlinfra:k8s:ServingCluster",
        "mlinfra:k8s:MonitoringStack",
    } <= types
    sc = layer.one(SC)
    assert sc.inputs["parameters"]["disk-encryption-kms-key"].endswith("/cryptoKeys/acme-ml-prod-node-disks")
    assert not [w for w in layer.warnings if w.startswith("unreachable cluster")], layer.warnings
