"""GpuEnablement: device plugin (pinned, GPU-only, time-slicing per pool), DCGM exporter, namespace."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from mlinfra.catalog import SUPPORTED_KUBERNETES_VERSIONS
from mlinfra.k8s.charts import DCGM_EXPORTER, NVIDIA_DEVICE_PLUGIN
from mlinfra.k8s.gpu import GpuEnablement, GpuEnablementArgs, device_plugin_node_labels
from mlinfra.k8s.metrics import MONITORING_RELEASE_NAME
from mlinfra.k8s.scheduling import GPU_NODE_LABEL, gpu_toleration
from mlinfra.spec import GpuPoolSpec, SpecError
from tests.conftest import plan_of
from tests.k8s.k8s_schema import validate_core_objects

LABELS = {"owner": "ml-platform", "cost-center": "cc-1234", "environment": "dev"}
RELEASE = "kubernetes:helm.sh/v3:Release"
PROVIDER_URN = "urn:pulumi:test::mlinfra-test::pulumi:providers:kubernetes::k8s"


def pool(name: str, replicas: int = 1) -> GpuPoolSpec:
    return GpuPoolSpec(name=name, machine_type="g5.xlarge", time_slicing_replicas=replicas)


def run(pools=None, **kw):
    args = GpuEnablementArgs(
        pools=pools if pools is not None else [pool("a10g")], labels=kw.pop("labels", LABELS), **kw
    )

    def program():
        provider = k8s.Provider("k8s", kubeconfig="{}")
        g = GpuEnablement("gpu", args, pulumi.ResourceOptions(providers={"kubernetes": provider}))
        pulumi.export("namespace", g.namespace)
        pulumi.export("dcgm", g.dcgm_service_name)

    return plan_of(program)


def values(plan, name):
    return plan.one(RELEASE, name).inputs["values"]


def test_device_plugin_is_pinned_and_runs_only_on_gpu_nodes():
    plan = run()
    rel = plan.one(RELEASE, "gpu-device-plugin").inputs
    assert rel["chart"] == "nvidia-device-plugin"
    assert rel["version"] == NVIDIA_DEVICE_PLUGIN.version == "0.18.2"
    assert rel["repositoryOpts"]["repo"] == "https://nvidia.github.io/k8s-device-plugin"
    assert rel["namespace"] == "gpu-system"
    assert rel["name"] == "nvidia-device-plugin"
    v = rel["values"]
    assert v["tolerations"] == [gpu_toleration()]
    assert v["nodeSelector"] == {GPU_NODE_LABEL: "true"}
    terms = v["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    assert terms == [{"matchExpressions": [{"key": GPU_NODE_LABEL, "operator": "In", "values": ["true"]}]}]
    assert v["priorityClassName"] == "system-node-critical"
    assert v["gfd"] == {"enabled": False} and v["nfd"] == {"enabled": False}
    assert "config" not in v  # no pool shares its GPUs


def test_time_slicing_renders_only_for_pools_with_replicas_above_one():
    plan = run([pool("shared", 4), pool("whole", 1), pool("pair", 2)])
    config = values(plan, "gpu-device-plugin")["config"]
    assert set(config["map"]) == {"default", "pool-shared", "pool-pair"}
    assert config["default"] == "default"
    shared = yaml.safe_load(config["map"]["pool-shared"])
    assert shared["version"] == "v1"
    assert shared["sharing"]["timeSlicing"]["resources"] == [{"name": "nvidia.com/gpu", "replicas": 4}]
    assert (
        yaml.safe_load(config["map"]["pool-pair"])["sharing"]["timeSlicing"]["resources"][0]["replicas"] == 2
    )
    assert "sharing" not in yaml.safe_load(config["map"]["default"])
    # the node label that selects each pool's entry
    assert device_plugin_node_labels(pool("shared", 4)) == {"nvidia.com/device-plugin.config": "pool-shared"}
    assert device_plugin_node_labels(pool("whole", 1)) == {}


def test_device_plugin_not_installed_when_disabled():
    plan = run(install_device_plugin=False)
    names = [r.name for r in plan.of_type(RELEASE)]
    assert names == ["gpu-dcgm-exporter"]
    assert not any(r.inputs.get("chart") == "nvidia-device-plugin" for r in plan.of_type(RELEASE))


def test_without_our_device_plugin_no_time_slicing_config_and_no_refusal():
    # The cloud installs the plugin and shares GPUs itself (GKE: gpu_sharing_config on the pool).
    plan = run([pool("shared", 4)], install_device_plugin=False)
    assert [r.name for r in plan.of_type(RELEASE)] == ["gpu-dcgm-exporter"]
    assert plan.outputs["namespace"] == "gpu-system"


def test_gpu_namespace_sizes_the_device_plugins_unsized_containers():
    # The chart's config-manager containers (time-slicing) carry no resources and no value sets them
    # (NVIDIA/k8s-device-plugin@v0.18.2 templates/daemonset-device-plugin.yml): a LimitRange does.
    (limits,) = run([pool("shared", 4)]).of_type("kubernetes:core/v1:LimitRange")
    assert limits.inputs["metadata"]["namespace"] == "gpu-system"
    (item,) = limits.inputs["spec"]["limits"]
    assert item["type"] == "Container"
    for kind in ("default", "defaultRequest"):
        assert set(item[kind]) == {"cpu", "memory"}
    # no plugin of ours, nothing to size
    assert (
        run([pool("shared", 4)], install_device_plugin=False).of_type("kubernetes:core/v1:LimitRange") == []
    )


def test_pool_tolerations_must_name_known_pools():
    with pytest.raises(SpecError) as err:
        GpuEnablement(
            "x",
            GpuEnablementArgs(
                pools=[pool("a")], labels=LABELS, pool_tolerations={"b": [{"key": "k", "operator": "Exists"}]}
            ),
        )
    assert err.value.field == "pool_tolerations"


@pytest.mark.parametrize(
    "kw,field",
    [
        ({"labels": {"owner": "a", "environment": "dev"}}, "labels"),
        ({"labels": {**LABELS, "environment": "qa"}}, "labels"),
        ({"namespace": "GPU_System"}, "namespace"),
        ({"monitoring_namespace": "-bad"}, "monitoring_namespace"),
    ],
)
def test_bad_args_name_the_field(kw, field):
    with pytest.raises(SpecError) as err:
        GpuEnablement("x", GpuEnablementArgs(pools=[pool("a")], **{"labels": LABELS, **kw}))
    assert err.value.field == field


def test_duplicate_pools_refused():
    with pytest.raises(SpecError, match="duplicate"):
        GpuEnablement("x", GpuEnablementArgs(pools=[pool("a"), pool("a")], labels=LABELS))


def test_dcgm_exporter_values():
    plan = run()
    rel = plan.one(RELEASE, "gpu-dcgm-exporter").inputs
    assert rel["chart"] == "dcgm-exporter"
    assert rel["version"] == DCGM_EXPORTER.version == "4.8.2"
    assert rel["repositoryOpts"]["repo"] == "https://nvidia.github.io/dcgm-exporter/helm-charts"
    v = rel["values"]
    assert v["fullnameOverride"] == "dcgm-exporter"
    assert v["tolerations"] == [gpu_toleration()]
    assert v["nodeSelector"] == {GPU_NODE_LABEL: "true"}
    assert v["priorityClassName"] == "system-node-critical"
    sm = v["serviceMonitor"]
    assert sm["enabled"] is True
    assert sm["additionalLabels"]["release"] == MONITORING_RELEASE_NAME
    assert sm["relabelings"] == [
        {"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node", "action": "replace"}
    ]
    assert v["kubernetes"]["enablePodLabels"] is False
    assert plan.outputs == {"namespace": "gpu-system", "dcgm": "dcgm-exporter"}


def test_service_monitor_can_be_turned_off():
    plan = run(service_monitor=False)
    assert values(plan, "gpu-dcgm-exporter")["serviceMonitor"]["enabled"] is False


def test_namespace_is_the_only_privileged_one_and_labelled():
    plan = run()
    namespaces = plan.of_type("kubernetes:core/v1:Namespace")
    assert len(namespaces) == 1
    labels = namespaces[0].inputs["metadata"]["labels"]
    assert namespaces[0].inputs["metadata"]["name"] == "gpu-system"
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    for key, val in LABELS.items():
        assert labels[key] == val


def test_ingress_is_denied_except_prometheus_scraping_dcgm():
    plan = run(monitoring_namespace="observability")
    deny = plan.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "gpu-default-deny").inputs["spec"]
    assert deny["podSelector"] == {} and deny["policyTypes"] == ["Ingress"] and "ingress" not in deny
    allow = plan.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "gpu-allow-scrape").inputs["spec"]
    rule = allow["ingress"][0]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "observability"}}}
    ]
    assert rule["ports"] == [{"port": 9400, "protocol": "TCP"}]


def test_every_object_has_standard_labels_and_the_explicit_provider():
    plan = run([pool("shared", 2)])
    k8s_records = [r for r in plan.resources if r.type.startswith("kubernetes:")]
    assert len(k8s_records) == 6
    for r in k8s_records:
        assert r.provider == PROVIDER_URN, r.name
        assert r.parent and r.parent.endswith("mlinfra:k8s:GpuEnablement::gpu")
    for r in plan.resources:
        if r.type.startswith("kubernetes:") and r.type != RELEASE:
            labels = r.inputs["metadata"]["labels"]
            assert {k: labels[k] for k in LABELS} == LABELS
    assert {k: values(plan, "gpu-dcgm-exporter")["podLabels"][k] for k in LABELS} == LABELS
    assert plan.warnings == []


@pytest.mark.parametrize("version", SUPPORTED_KUBERNETES_VERSIONS)
def test_core_objects_validate_against_the_kubernetes_schema(version):
    plan = run([pool("shared", 3)])
    assert validate_core_objects(plan, version) == 4  # Namespace + LimitRange + 2 NetworkPolicies


def test_dcgm_series_keep_the_pod_and_namespace_of_the_gpus_user():
    sm = values(run(), "gpu-dcgm-exporter")["serviceMonitor"]
    # without honorLabels Prometheus renames the exporter's pod/namespace to exported_pod/_namespace
    assert sm["honorLabels"] is True


def test_dcgm_exports_every_counter_the_rules_and_dashboards_read():
    import json
    import re

    from mlinfra.k8s import metrics as m
    from mlinfra.k8s.alerts import alert_rules
    from mlinfra.k8s.monitoring import dashboard_files
    from mlinfra.spec import MonitoringSpec

    csv = values(run(), "gpu-dcgm-exporter")["customMetrics"]
    shipped = {line.split(",")[0].strip() for line in csv.splitlines() if line and not line.startswith("#")}
    assert m.DCGM_FB_RESERVED in shipped  # the chart's own list lacks it
    exprs = [r["expr"] for g in alert_rules(MonitoringSpec(), [], "dev") for r in g["rules"]]
    exprs += [
        t["expr"]
        for text in dashboard_files().values()
        for p in json.loads(text)["panels"]
        for t in p["targets"]
    ]
    used = {name for e in exprs for name in m.metric_names(e) if re.match(r"^DCGM_", name)}
    assert used and used <= shipped, used - shipped
    for line in csv.splitlines():
        field_name, kind, text = (part.strip() for part in line.split(",", 2))
        assert kind in ("gauge", "counter") and text, line


def test_existing_nodes_of_a_shared_pool_get_its_time_slicing_label():
    plan = run(
        [pool("shared", 4), pool("whole")],
        pool_nodes={"shared": ["ip-10-0-1-23.ec2.internal"], "whole": ["n2"]},
    )
    (patch,) = plan.of_type("kubernetes:core/v1:NodePatch")
    assert patch.inputs["metadata"] == {
        "name": "ip-10-0-1-23.ec2.internal",
        "labels": {"nvidia.com/device-plugin.config": "pool-shared"},
    }
    validate_core_objects(plan)


@pytest.mark.parametrize(
    "pool_nodes,match",
    [
        ({"other": ["n1"]}, "unknown pools"),
        ({"shared": "n1"}, "list of node names"),
        ({"shared": ["Not_A_Node"]}, "not a node name"),
    ],
)
def test_bad_pool_nodes_are_refused(pool_nodes, match):
    with pytest.raises(SpecError, match=match) as err:
        GpuEnablement("x", GpuEnablementArgs(pools=[pool("shared", 2)], labels=LABELS, pool_nodes=pool_nodes))
    assert err.value.field.startswith("pool_nodes")


def test_every_value_is_read_by_the_pinned_charts():
    from tests.k8s.chart_data import unread_keys

    plan = run([pool("shared", 4), pool("whole")])
    assert unread_keys(values(plan, "gpu-device-plugin"), NVIDIA_DEVICE_PLUGIN) == []
    # customMetrics: read by templates/metrics-configmap.yaml, only commented in values.yaml
    assert unread_keys(values(plan, "gpu-dcgm-exporter"), DCGM_EXPORTER) == []
