"""in_cluster_layer: the per-cloud hooks (pod labels, pool tolerations, the cloud's own device
plugin, DCGM values, pool dependencies) reach the objects they are for."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from mlinfra.k8s.charts import DCGM_EXPORTER
from mlinfra.k8s.layer import InClusterLayerArgs, in_cluster_layer
from mlinfra.offline import Plan, ProgramError
from mlinfra.spec import GpuPoolSpec, ModelSpec, SpecError
from tests.conftest import make_spec, plan_of
from tests.k8s.chart_data import unread_keys

RELEASE = "kubernetes:helm.sh/v3:Release"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
AZURE_WI = {"azure.workload.identity/use": "true"}
SPOT_TOLERATION = {
    "key": "kubernetes.azure.com/scalesetpriority",
    "operator": "Equal",
    "value": "spot",
    "effect": "NoSchedule",
}
# GKE on Container-Optimized OS: the driver lives under /home/kubernetes/bin/nvidia (ai-on-gke's
# DCGM manifest mounts it and points LD_LIBRARY_PATH at it).
GKE_DCGM_VALUES = {
    "extraHostVolumes": [{"name": "nvidia-install-dir-host", "hostPath": "/home/kubernetes/bin/nvidia"}],
    "extraVolumeMounts": [{"name": "nvidia-install-dir-host", "mountPath": "/usr/local/nvidia"}],
    "extraEnv": [{"name": "LD_LIBRARY_PATH", "value": "/usr/local/nvidia/lib64"}],
    "serviceMonitor": {"interval": "30s"},
}

POOLS = [
    GpuPoolSpec(name="a10g", machine_type="g5.xlarge"),
    GpuPoolSpec(name="a10g-spot", machine_type="g5.xlarge", capacity_type="spot", time_slicing_replicas=2),
]
CHAT = ModelSpec(
    name="chat", runtime="deployment", image="vllm/vllm-openai:v0.11.0", gpu_pool="a10g-spot", gpus=1
)
RERANK = ModelSpec(name="rerank", gpu_pool="a10g", gpus=1, version="v1/")


class _Pool(pulumi.ComponentResource):
    """Stands in for a cloud's GPU node-pool component (one node group inside)."""

    def __init__(self, name: str):
        super().__init__("test:cloud:GpuNodePool", name)
        self.node_group = k8s.core.v1.ConfigMap(
            f"{name}-node-group", opts=pulumi.ResourceOptions(parent=self)
        )
        self.register_outputs({})


def _layer(models=(CHAT, RERANK), pools=POOLS, **hooks: Any) -> Plan:
    spec = make_spec()
    serving = spec.serving.model_copy(update={"models": list(models)})

    def program():
        provider = k8s.Provider("k8s", kubeconfig="{}")
        deps = {p: _Pool(f"pool-{p}") for p in hooks.pop("pool_dependency_names", ())}
        in_cluster_layer(
            "",
            InClusterLayerArgs(
                environment="dev",
                tags=spec.tags,
                gpu_pools=pools,
                serving=serving,
                monitoring=spec.monitoring,
                cloud="azure",
                kubernetes_version="1.33",
                storage_uri=lambda path: f"https://acct.blob.core.windows.net/artifacts/{path}",
                identity=lambda model: {
                    "azure.workload.identity/client-id": "00000000-0000-0000-0000-000000000000"
                },
                pool_dependencies=deps,
                **hooks,
            ),
            pulumi.ResourceOptions(providers={"kubernetes": provider}),
        )

    return plan_of(program)


def _pods(plan: Plan) -> dict[str, dict[str, Any]]:
    """Model name -> (labels, pod spec) of every model workload, stable and canary."""
    out = {}
    for r in plan.of_type(DEPLOYMENT):
        tmpl = r.inputs["spec"]["template"]
        out[r.inputs["metadata"]["name"]] = {"labels": tmpl["metadata"]["labels"], "spec": tmpl["spec"]}
    for r in plan.of_type(ISVC):
        predictor = r.inputs["spec"]["predictor"]
        out[r.inputs["metadata"]["name"]] = {"labels": predictor["labels"], "spec": predictor}
    return out


def test_pod_labels_reach_every_model_pod_stable_and_canary():
    canary = ModelSpec.model_validate(
        {**RERANK.model_dump(), "canary": {"traffic_percent": 10, "version": "v2/"}}
    )
    pods = _pods(_layer(models=(CHAT, canary), pod_labels=AZURE_WI))
    assert set(pods) == {"chat", "rerank", "rerank-canary"}
    for name, pod in pods.items():
        assert pod["labels"]["azure.workload.identity/use"] == "true", name
        assert pod["labels"]["mlinfra.io/model"] in ("chat", "rerank"), name


def test_pool_tolerations_reach_the_gpu_daemons_and_the_models_of_that_pool_only():
    plan = _layer(pool_tolerations={"a10g-spot": [SPOT_TOLERATION]})
    for release in ("gpu-device-plugin", "gpu-dcgm-exporter"):
        tolerations = plan.one(RELEASE, release).inputs["values"]["tolerations"]
        assert SPOT_TOLERATION in tolerations, release
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in tolerations
    pods = _pods(plan)
    assert SPOT_TOLERATION in pods["chat"]["spec"]["tolerations"]  # lands on a10g-spot
    assert SPOT_TOLERATION not in pods["rerank"]["spec"]["tolerations"]  # a10g has no spot taint


def test_without_our_device_plugin_the_cloud_shares_gpus():
    # GKE: the driver and plugin come from the node pool, time-slicing from its gpu_sharing_config.
    plan = _layer(install_device_plugin=False)
    releases = [r.name for r in plan.of_type(RELEASE)]
    assert "gpu-device-plugin" not in releases and "gpu-dcgm-exporter" in releases
    assert not [r for r in plan.of_type(RELEASE) if r.inputs.get("chart") == "nvidia-device-plugin"]
    # with our plugin the same pools get a time-slicing entry
    ours = _layer().one(RELEASE, "gpu-device-plugin").inputs["values"]
    assert "pool-a10g-spot" in ours["config"]["map"]


def test_dcgm_values_are_deep_merged_and_read_by_the_chart():
    values = _layer(dcgm_values=GKE_DCGM_VALUES).one(RELEASE, "gpu-dcgm-exporter").inputs["values"]
    assert values["extraHostVolumes"] == GKE_DCGM_VALUES["extraHostVolumes"]
    assert values["extraEnv"] == GKE_DCGM_VALUES["extraEnv"]
    assert values["serviceMonitor"]["interval"] == "30s"
    assert values["serviceMonitor"]["relabelings"]  # our keys under the merged map survive
    assert values["fullnameOverride"] == "dcgm-exporter"
    assert unread_keys(values, DCGM_EXPORTER) == []
    assert unread_keys({"extraHostVolume": []}, DCGM_EXPORTER) == ["extraHostVolume"]  # the check bites


def test_model_workloads_depend_on_the_pools_they_can_land_on():
    plan = _layer(pool_dependency_names=("a10g", "a10g-spot"))
    groups = {
        p: plan.one("kubernetes:core/v1:ConfigMap", f"pool-{p}-node-group").urn for p in ("a10g", "a10g-spot")
    }
    components = {r.name: r for r in plan.of_type("mlinfra:k8s:ModelDeployment")}
    assert groups["a10g-spot"] in components["model-chat"].dependencies
    assert groups["a10g"] not in components["model-chat"].dependencies
    assert groups["a10g"] in components["model-rerank"].dependencies


@pytest.mark.parametrize(
    ("hooks", "field"),
    [
        ({"pool_tolerations": {"h100": [SPOT_TOLERATION]}}, "pool_tolerations"),
        ({"pool_tolerations": {"a10g": [{**SPOT_TOLERATION, "operator": "In"}]}}, "pool_tolerations.a10g.0"),
        ({"pool_tolerations": {"a10g": [{"keys": "x"}]}}, "pool_tolerations.a10g.0"),
        ({"pool_tolerations": {"a10g": SPOT_TOLERATION}}, "pool_tolerations"),
        ({"pool_dependency_names": ("h100",)}, "pool_dependencies"),
        ({"pod_labels": {"azure.workload.identity/use": True}}, "pod_labels"),
        ({"dcgm_values": ["not", "a", "map"]}, "dcgm_values"),
    ],
)
def test_bad_hooks_are_refused_naming_the_field(hooks: dict[str, Any], field: str):
    with pytest.raises(ProgramError) as err:
        _layer(**hooks)
    assert isinstance(err.value.cause, SpecError)
    assert err.value.cause.field == field
