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
from tests.k8s.chart_data import defaults, unread_keys

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
    GpuPoolSpec(name="l4", machine_type="g6.xlarge"),
]
CHAT = ModelSpec(name="chat", runtime="vllm", gpu_pool="a10g-spot", gpus=1, version="v3/")
RERANK = ModelSpec(name="rerank", gpu_pool="a10g", gpus=1, version="v1/")
EMBED = ModelSpec(name="embed", runtime="triton", gpu_pool="l4", gpus=1, version="v1/")


class _Pool(pulumi.ComponentResource):
    """Stands in for a cloud's GPU node-pool component (one node group inside)."""

    def __init__(self, name: str):
        super().__init__("test:cloud:GpuNodePool", name)
        self.node_group = k8s.core.v1.ConfigMap(
            f"{name}-node-group", opts=pulumi.ResourceOptions(parent=self)
        )
        self.register_outputs({})


def _layer(models=(CHAT, RERANK, EMBED), pools=POOLS, **hooks: Any) -> Plan:
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
    assert SPOT_TOLERATION in pods["chat"]["spec"]["tolerations"]  # its own pool is a10g-spot
    assert SPOT_TOLERATION in pods["rerank"]["spec"]["tolerations"]  # a10g models may burst onto a10g-spot
    assert SPOT_TOLERATION not in pods["embed"]["spec"]["tolerations"]  # l4 models never land there


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
    # customMetrics: read by templates/metrics-configmap.yaml, only commented in values.yaml
    assert unread_keys(values, DCGM_EXPORTER) == []
    assert unread_keys({"extraHostVolume": []}, DCGM_EXPORTER) == ["extraHostVolume"]  # the check bites


def test_a_clouds_dcgm_volumes_add_to_the_counters_mount():
    """dcgm-exporter 4.8.2 mounts its counters ConfigMap (customMetrics) through the default
    extraConfigMapVolumes/extraVolumeMounts lists; Helm replaces a list, so GKE's driver mount would
    drop it and the exporter would read the image's list instead of ours."""
    values = _layer(dcgm_values=GKE_DCGM_VALUES).one(RELEASE, "gpu-dcgm-exporter").inputs["values"]
    mounts = {v["mountPath"] for v in values["extraVolumeMounts"]}
    assert mounts == {"/etc/dcgm-exporter/default-counters.csv", "/usr/local/nvidia"}
    assert [v["configMap"]["name"] for v in values["extraConfigMapVolumes"]] == [
        "exporter-metrics-config-map"
    ]
    # the mount is the chart's own default, pinned as upstream has it
    chart = defaults(DCGM_EXPORTER)
    assert values["extraConfigMapVolumes"] == chart["extraConfigMapVolumes"]
    assert values["extraVolumeMounts"][0] == chart["extraVolumeMounts"][0]


def test_model_workloads_depend_on_the_pools_they_can_land_on():
    names = ("a10g", "a10g-spot", "l4")
    plan = _layer(pool_dependency_names=names)
    groups = {p: plan.one("kubernetes:core/v1:ConfigMap", f"pool-{p}-node-group").urn for p in names}
    components = {r.name: r for r in plan.of_type("mlinfra:k8s:ModelDeployment")}
    for model in ("model-chat", "model-rerank"):  # both a10g: either pool of that accelerator
        assert {groups["a10g"], groups["a10g-spot"]} <= set(components[model].dependencies), model
        assert groups["l4"] not in components[model].dependencies, model
    assert groups["l4"] in components["model-embed"].dependencies
    assert groups["a10g"] not in components["model-embed"].dependencies


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


# --------------------------------------------------------------------------- scheduling by accelerator


def _matches(term: dict[str, Any], labels: dict[str, str]) -> bool:
    for e in term["matchExpressions"]:
        value = labels.get(e["key"])
        if e["operator"] == "In" and value not in e["values"]:
            return False
        if e["operator"] == "NotIn" and value in e["values"]:
            return False
        if e["operator"] == "Exists" and e["key"] not in labels:
            return False
    return True


def _tolerated(taint: dict[str, str], tolerations: list[dict[str, str]]) -> bool:
    return any(
        t.get("key") in (None, taint["key"])
        and t.get("effect") in (None, "", taint["effect"])
        and (t.get("operator") == "Exists" or t.get("value") == taint["value"])
        for t in tolerations
    )


def _can_land(pod: dict[str, Any], labels: dict[str, str], taints: list[dict[str, str]]) -> bool:
    """kube-scheduler's filters for a node: nodeSelector, required node affinity, taints."""
    if any(labels.get(k) != v for k, v in (pod.get("nodeSelector") or {}).items()):
        return False
    required = (
        pod.get("affinity", {}).get("nodeAffinity", {}).get("requiredDuringSchedulingIgnoredDuringExecution")
    )
    if required and not any(_matches(t, labels) for t in required["nodeSelectorTerms"]):
        return False
    return all(_tolerated(t, pod.get("tolerations", [])) for t in taints)


def _preference(pod: dict[str, Any], labels: dict[str, str]) -> int:
    prefs = pod["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    return sum(p["weight"] for p in prefs if _matches(p["preference"], labels))


def test_model_pods_can_land_on_every_pool_of_their_accelerator_and_prefer_their_own():
    from mlinfra.catalog import gpu_machine_type
    from mlinfra.k8s.scheduling import gpu_node_labels, gpu_taint

    spot_taint = {k: SPOT_TOLERATION[k] for k in ("key", "value", "effect")}
    nodes = {
        p.name: (
            gpu_node_labels(p.name, gpu_machine_type("aws", p.machine_type).gpu_model, p.capacity_type),
            [gpu_taint(), *([spot_taint] if p.capacity_type == "spot" else [])],
        )
        for p in POOLS
    }
    pods = _pods(_layer(pool_tolerations={"a10g-spot": [SPOT_TOLERATION]}))
    landing = {
        model: {n for n, (lbl, taints) in nodes.items() if _can_land(pods[model]["spec"], lbl, taints)}
        for model in pods
    }
    assert landing == {"chat": {"a10g", "a10g-spot"}, "rerank": {"a10g", "a10g-spot"}, "embed": {"l4"}}
    rerank, chat = pods["rerank"]["spec"], pods["chat"]["spec"]
    # rerank: its own on-demand pool first; the spot pool of the same accelerator takes the burst
    assert _preference(rerank, nodes["a10g"][0]) > _preference(rerank, nodes["a10g-spot"][0])
    # chat names the spot pool: that preference wins over on-demand capacity
    assert _preference(chat, nodes["a10g-spot"][0]) > _preference(chat, nodes["a10g"][0]) > 0


# --------------------------------------------------------------------------- existing clusters


def test_existing_cluster_shared_pool_needs_its_nodes_listed():
    with pytest.raises(ProgramError) as err:
        _layer(gpu_pools_managed=False)
    assert err.value.cause.field == "pool_nodes"
    assert "nvidia.com/device-plugin.config=pool-a10g-spot" in str(err.value.cause)
    assert "time_slicing_replicas: 1" in str(err.value.cause)
    plan = _layer(gpu_pools_managed=False, pool_nodes={"a10g-spot": ["ip-10-0-1-23.ec2.internal"]})
    (patch,) = plan.of_type("kubernetes:core/v1:NodePatch")
    assert patch.inputs["metadata"]["labels"] == {"nvidia.com/device-plugin.config": "pool-a10g-spot"}


def test_a_model_on_a_pool_the_layer_does_not_have_is_refused():
    with pytest.raises(ProgramError) as err:
        _layer(pools=POOLS[:1])
    assert err.value.cause.field == "serving.models.0.gpu_pool"


def test_pool_nodes_are_refused_where_the_platform_creates_the_pools():
    with pytest.raises(ProgramError) as err:
        _layer(pool_nodes={"a10g-spot": ["n1"]})
    assert err.value.cause.field == "pool_nodes"


def test_metrics_server_and_keda_follow_the_layer_arguments():
    releases = {r.name for r in _layer().of_type(RELEASE)}
    assert {"serving-metrics-server", "serving-keda"} <= releases
    releases = {r.name for r in _layer(install_metrics_server=False).of_type(RELEASE)}
    assert "serving-metrics-server" not in releases  # GKE and AKS run their own
