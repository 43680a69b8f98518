"""Every shipped stack and example against the upstream charts (../shared/charts): pinned versions
published, values keys read by the chart version, custom resources valid against their CRDs,
cross-object wiring whole. Each check also has a test proving it fails on broken input."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from mlinfra.charts import checks
from mlinfra.charts.checks import (
    PlannedRelease,
    check_custom_resources,
    check_pins,
    check_releases_pinned,
    check_values,
    crd_index,
    releases,
    wiring_objects,
)
from mlinfra.charts.data import ENV_VAR, ChartData, ChartDataError, resolve_charts_dir
from mlinfra.charts.values import EXCEPTIONS, FREE_FORM, PASS_THROUGH
from mlinfra.charts.wiring import check_wiring, plan_objects
from mlinfra.k8s.charts import ALL_PINS, KUBE_PROMETHEUS_STACK, ChartPin
from tests.plans import case_id, plan_with, planned, shipped_stacks

CASES = shipped_stacks()


def test_discovery_finds_every_shipped_stack_and_example():
    found = set(CASES)
    assert {("stacks/aws", "dev"), ("stacks/aws", "staging"), ("stacks/aws", "prod")} <= found
    assert {("examples/team-stack", "dev"), ("examples/existing-cluster", "dev")} <= found


# ---------------------------------------------------------------- over every stack


def test_every_pin_is_published_and_has_its_data(chart_data):
    assert check_pins(chart_data) == []


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_every_release_is_a_published_pin(case, chart_data):
    rels = releases(planned(*case).resources)
    assert check_releases_pinned(rels) == []
    for rel in rels:
        assert rel.version in chart_data.published(rel.chart_name), rel.subject


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_every_values_key_is_read_by_the_chart_version(case, chart_data):
    problems = check_values(chart_data, releases(planned(*case).resources), crd_index(chart_data))
    assert problems == [], "\n".join(map(str, problems))


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_every_custom_resource_validates_against_its_crd(case, chart_data):
    objects = plan_objects(planned(*case).resources)
    problems = check_custom_resources(crd_index(chart_data), objects)
    assert problems == [], "\n".join(map(str, problems))


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_cross_object_wiring_holds(case):
    problems = check_wiring(wiring_objects(planned(*case).resources))
    assert problems == [], "\n".join(map(str, problems))


def test_the_checks_see_what_the_platform_installs(chart_data):
    """Not vacuous: the shipped plans have releases, custom resources and wired objects to check."""
    plans = [planned(*case) for case in CASES if case[1] == "prod"]
    rels = [r for p in plans for r in releases(p.resources)]
    assert {r.chart_name for r in rels} >= {
        "ingress-nginx",
        "cert-manager",
        "kserve-crd",
        "kserve",
        "kube-prometheus-stack",
        "nvidia-device-plugin",
        "dcgm-exporter",
        "cluster-autoscaler",
    }
    objects = [o for p in plans for o in plan_objects(p.resources)]
    crs = checks.custom_resources(objects)
    assert {c["kind"] for c in crs} >= {
        "InferenceService",
        "ServiceMonitor",
        "PrometheusRule",
        "ClusterIssuer",
        "Certificate",
    }
    kinds = {o["kind"] for p in plans for o in wiring_objects(p.resources)}
    assert kinds >= {
        "NetworkPolicy",
        "Ingress",
        "PodDisruptionBudget",
        "ServiceMonitor",
        "ServiceAccount",
    }


def test_every_exception_names_a_reason_and_a_key_the_plans_set():
    """An exception nobody needs any more is removed, not kept 'just in case'."""
    used = set()
    for case in CASES:
        for rel in releases(planned(*case).resources):
            for chart, path in [*EXCEPTIONS, *PASS_THROUGH]:
                value: Any = rel.values
                for part in path.split("."):
                    value = value.get(part) if isinstance(value, dict) else None
                if chart == rel.chart_name and value is not None:
                    used.add((chart, path))
    assert set(EXCEPTIONS) | set(PASS_THROUGH) <= used
    assert all(reason.strip() for reason in EXCEPTIONS.values())


# ---------------------------------------------------------------- each check fails on broken input


def _release(chart="kube-prometheus-stack") -> PlannedRelease:
    plan = plan_with(lambda p: any(r.chart_name == chart for r in releases(p.resources)))
    return next(r for r in releases(plan.resources) if r.chart_name == chart)


def test_an_unpublished_pin_is_refused(chart_data):
    bad = dataclasses.replace(KUBE_PROMETHEUS_STACK, version="81.4.5")  # the pin this issue fixed
    problems = check_pins(chart_data, [bad])
    assert any("81.4.5 was never published" in p.message for p in problems)
    assert any("no chart data" in p.message for p in problems)


def test_a_chart_without_a_published_list_is_refused(chart_data):
    bad = ChartPin("no-such-chart", "no-such-chart", "https://example.invalid", "1.0.0", "x@1.0.0")
    assert "published/no-such-chart.txt is missing" in check_pins(chart_data, [bad])[0].message


def test_a_release_that_is_not_a_pin_is_refused():
    rel = dataclasses.replace(_release(chart="dcgm-exporter"), version="4.8.3")
    assert "is not a ChartPin" in check_releases_pinned([rel])[0].message


def test_an_unknown_values_key_is_refused(chart_data):
    rel = _release(chart="dcgm-exporter")
    baseline = {p.message.split(":")[0] for p in check_values(chart_data, [rel])}
    values = copy.deepcopy(dict(rel.values))
    values["serviceMonitor"]["additionalLables"] = {"a": "b"}  # typo
    values["podLabel"] = {"a": "b"}
    problems = check_values(chart_data, [dataclasses.replace(rel, values=values)])
    paths = {p.message.split(":")[0] for p in problems}
    assert paths - baseline == {"serviceMonitor.additionalLables", "podLabel"}


def test_a_key_under_a_subchart_is_checked_against_the_subchart(chart_data):
    rel = _release()
    values = copy.deepcopy(dict(rel.values))
    values["grafana"]["sidecar"]["dashboards"]["labelValues"] = "1"  # grafana reads labelValue
    problems = check_values(chart_data, [dataclasses.replace(rel, values=values)])
    assert [p.message.split(":")[0] for p in problems] == ["grafana.sidecar.dashboards.labelValues"]


def test_a_map_where_the_chart_has_a_scalar_is_refused(chart_data):
    rel = _release(chart="dcgm-exporter")
    values = {**rel.values, "priorityClassName": {"name": "x"}}
    problems = check_values(chart_data, [dataclasses.replace(rel, values=values)])
    assert "not a map" in problems[0].message


def test_keys_under_an_empty_default_need_a_free_form_name_or_an_exception(chart_data):
    rel = _release(chart="dcgm-exporter")
    # `service.annotations` is a listed free-form map; `tolerations` items are lists (leaves).
    values = copy.deepcopy(dict(rel.values))
    values["service"] = {"annotations": {"anything/goes": "x"}}
    assert check_values(chart_data, [dataclasses.replace(rel, values=values)]) == []
    assert "annotations" in FREE_FORM
    device_plugin = _release(chart="nvidia-device-plugin")
    values = {**device_plugin.values, "runtimeClassName": {"handler": "nvidia"}}  # default null
    problems = check_values(chart_data, [dataclasses.replace(device_plugin, values=values)])
    assert [p.message.split(":")[0] for p in problems] == ["runtimeClassName.handler"]


def test_a_free_form_name_the_chart_structures_itself_is_checked(chart_data):
    """KEDA 2.20.2 keeps one `resources`/`securityContext` per component (values.yaml `resources:
    operator: ... metricServer: ... webhooks: ...`): a misspelt component under those names is not a
    resource amount and must not pass as one."""
    rel = _release(chart="keda")
    values = copy.deepcopy(dict(rel.values))
    values["resources"]["metricsServer"] = values["resources"].pop("metricServer")
    values["securityContext"] = {"operater": {"readOnlyRootFilesystem": True}}
    problems = check_values(chart_data, [dataclasses.replace(rel, values=values)])
    assert sorted(p.message.split(":")[0] for p in problems) == [
        "resources.metricsServer",
        "securityContext.operater",
    ]
    # where the name means the Kubernetes object, its keys stay free (resource names, any amount)
    cert_manager = _release(chart="cert-manager")
    values = copy.deepcopy(dict(cert_manager.values))
    values["resources"] = {"requests": {"cpu": "1", "ephemeral-storage": "1Gi"}, "limits": {"memory": "1Gi"}}
    assert check_values(chart_data, [dataclasses.replace(cert_manager, values=values)]) == []


def test_values_schema_violations_are_refused_like_helm_does(chart_data):
    rel = _release(chart="cert-manager")
    values = copy.deepcopy(dict(rel.values))
    values["crds"]["keep"] = "yes"  # the schema says boolean
    values["webhook"]["replicaCount"] = "two"
    problems = check_values(chart_data, [dataclasses.replace(rel, values=values)])
    assert {p.check for p in problems} == {"values-schema"}
    assert any(p.message.startswith("crds.keep:") for p in problems)


def test_a_key_only_the_schema_declares_is_accepted_and_one_it_forbids_is_refused(chart_data):
    rel = _release(chart="cert-manager")
    values = copy.deepcopy(dict(rel.values))
    values["webhook"]["hostNetwrk"] = True
    problems = check_values(chart_data, [dataclasses.replace(rel, values=values)])
    assert any(p.check == "values" and p.message.startswith("webhook.hostNetwrk") for p in problems)


def test_values_copied_into_a_custom_resource_are_checked_against_the_crd_field(chart_data):
    rel = _release()
    values = copy.deepcopy(dict(rel.values))
    values["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]["spec"]["storageClass"] = (
        "gp3"
    )
    problems = check_values(chart_data, [dataclasses.replace(rel, values=values)], crd_index(chart_data))
    assert (
        len(problems) == 1
        and "storageClass" in problems[0].message
        and "Prometheus spec.storage" in problems[0].message
    )


def test_a_condition_of_a_dependency_counts_as_read(chart_data):
    rel = _release(chart="nvidia-device-plugin")
    assert rel.values["nfd"] == {"enabled": False}  # Chart.yaml: condition nfd.enabled,gfd.enabled
    assert check_values(chart_data, [rel]) == []


def _cr(kind: str) -> dict[str, Any]:
    plan = plan_with(lambda p: any(o["kind"] == kind for o in plan_objects(p.resources)))
    return copy.deepcopy(next(o for o in plan_objects(plan.resources) if o["kind"] == kind))


@pytest.mark.parametrize(
    "kind,mutate,expected",
    [
        (
            "InferenceService",
            lambda o: o["spec"]["predictor"]["model"].update(storageURI="s3://x"),
            "storageURI",
        ),
        ("InferenceService", lambda o: o["spec"]["predictor"].update(minReplicas="two"), "minReplicas"),
        ("ServiceMonitor", lambda o: o["spec"]["endpoints"][0].update(prot="metrics"), "prot"),
        ("PrometheusRule", lambda o: o["spec"]["groups"][0]["rules"][0].update(exp="up"), "exp"),
        ("Certificate", lambda o: o["spec"]["privateKey"].update(algorithm="DSA"), "algorithm"),
        ("ClusterIssuer", lambda o: o["spec"].update(selfSigned=None, selfsigned={}), "selfsigned"),
    ],
)
def test_a_custom_resource_typo_is_refused(kind, mutate, expected, chart_data):
    obj = _cr(kind)
    assert check_custom_resources(crd_index(chart_data), [obj]) == []
    mutate(obj)
    problems = check_custom_resources(crd_index(chart_data), [obj])
    assert problems and expected in problems[0].message, problems


def test_a_custom_resource_of_an_unpinned_crd_or_version_is_refused(chart_data):
    index = crd_index(chart_data)
    obj = _cr("ServiceMonitor")
    obj["apiVersion"] = "monitoring.coreos.com/v2"
    assert "serves versions ['v1']" in check_custom_resources(index, [obj])[0].message
    widget = {"apiVersion": "example.mlinfra.io/v1", "kind": "Widget", "metadata": {"name": "x"}, "spec": {}}
    assert "no pinned chart installs this CRD" in check_custom_resources(index, [widget])[0].message


def test_the_crd_lookup_is_generic_over_every_pinned_charts_crds(chart_data):
    """A chart pinned later (KEDA, Karpenter) brings its CRDs without new code."""
    keda = ChartPin("keda", "keda", "https://kedacore.github.io/charts", "2.20.2", "kedacore/charts@v2.20.2")
    index = crd_index(chart_data, (*ALL_PINS, keda))
    scaled = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "chat", "namespace": "serving"},
        "spec": {
            "scaleTargetRef": {"name": "chat"},
            "minReplicaCount": 1,
            "triggers": [{"type": "prometheus", "metadata": {"query": "x"}}],
        },
    }
    assert check_custom_resources(index, [scaled]) == []
    scaled["spec"]["minReplicas"] = 1  # KEDA spells it minReplicaCount
    assert "minReplicas" in check_custom_resources(index, [scaled])[0].message


def _wired(case=("examples/existing-cluster", "dev")) -> list[dict[str, Any]]:
    return copy.deepcopy(wiring_objects(planned(*case).resources))


def _one(objs, kind, name=None):
    return next(o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name))


@pytest.mark.parametrize(
    "mutate,check",
    [
        (
            lambda objs: _one(objs, "ServiceMonitor")["spec"]["selector"]["matchLabels"].update(
                {"mlinfra.io/model-server": "yes"}
            ),
            "monitor-selects",
        ),
        (
            lambda objs: _one(objs, "ServiceMonitor")["spec"]["endpoints"][0].update(port="prometheus"),
            "monitor-selects",
        ),
        (
            lambda objs: _one(objs, "ServiceMonitor")["spec"]["namespaceSelector"].update(
                matchNames=["models"]
            ),
            "monitor-selects",
        ),
        (
            lambda objs: _one(objs, "Ingress")["spec"]["rules"][0]["http"]["paths"][0]["backend"][
                "service"
            ].update(name="summarizer"),
            "ingress-backend",
        ),
        (
            lambda objs: _one(objs, "Ingress")["spec"]["rules"][0]["http"]["paths"][0]["backend"][
                "service"
            ].update(port={"number": 8080}),
            "ingress-backend",
        ),
        (
            lambda objs: _one(objs, "NetworkPolicy", "allow-dcgm-scrape")["spec"]["podSelector"][
                "matchLabels"
            ].update({"app.kubernetes.io/name": "dcgm"}),
            "network-policy-selects",
        ),
        (
            lambda objs: _one(objs, "NetworkPolicy", "allow-acme-solver")["spec"]["podSelector"].update(
                matchLabels={"acme.cert-manager.io/http-01-solver": "true"}
            ),
            "network-policy-selects",
        ),
        (
            lambda objs: _one(objs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"].update(
                {"serving.kserve.io/inferenceservice": "sumariser"}
            ),
            "pdb-selects",
        ),
        (
            lambda objs: _one(objs, "InferenceService")["spec"]["predictor"].update(
                serviceAccountName="summariser"
            ),
            "service-account",
        ),
        (
            lambda objs: _one(objs, "Service", "summarizer-metrics")["spec"].update(
                selector={"app": "nothing"}
            ),
            "service-selects",
        ),
        (lambda objs: _one(objs, "ConfigMap")["metadata"].update(namespace="monitor"), "namespace"),
    ],
)
def test_broken_wiring_is_found(mutate, check):
    objs = _wired()
    assert check_wiring(objs) == []
    mutate(objs)
    assert check in {p.check for p in check_wiring(objs)}


def test_an_hpa_aimed_at_a_missing_deployment_is_found():
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "serving"}}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "embedder", "namespace": "serving"},
        "spec": {"template": {"metadata": {"labels": {"app": "embedder"}}, "spec": {"containers": []}}},
    }
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "embedder", "namespace": "serving"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "embedder"}},
    }
    assert check_wiring([ns, deployment, hpa]) == []
    hpa["spec"]["scaleTargetRef"]["name"] = "embeder"
    assert [p.check for p in check_wiring([ns, deployment, hpa])] == ["hpa-target"]


def test_a_scaled_object_aimed_at_a_missing_workload_is_found():
    """KEDA builds an HPA from the ScaledObject: its target must exist too (KServe's raw Deployment
    `<isvc>-predictor` counts, as the controller creates it)."""
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "serving"}}
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "rerank", "namespace": "serving"},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "huggingface"}}}},
    }
    scaled = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "rerank", "namespace": "serving"},
        "spec": {"scaleTargetRef": {"name": "rerank-predictor"}, "triggers": []},  # kind: Deployment
    }
    assert check_wiring([ns, isvc, scaled]) == []
    scaled["spec"]["scaleTargetRef"]["name"] = "rerank"
    assert [p.check for p in check_wiring([ns, isvc, scaled])] == ["hpa-target"]


# ---------------------------------------------------------------- the chart data directory


def test_a_missing_chart_data_directory_says_what_it_is_for_and_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(ChartDataError) as e:
        resolve_charts_dir(tmp_path / "nowhere")
    message = str(e.value)
    assert "nowhere" in message and "--charts" in message
    assert "mlinfra charts pull --dir DIR" in message and "published upstream" in message


def test_the_option_beats_the_environment_beats_the_default(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    monkeypatch.setenv(ENV_VAR, str(b))
    assert resolve_charts_dir(a) == a
    assert resolve_charts_dir(None) == b
    monkeypatch.delenv(ENV_VAR)
    assert resolve_charts_dir(None) == Path(__file__).resolve().parents[2].parent / "shared" / "charts"


def test_subchart_values_sit_under_their_alias(chart_data: ChartData):
    defaults = chart_data.default_values("nvidia-device-plugin", "0.18.2")
    assert "enableNodeFeatureApi" in defaults["nfd"]  # the parent's override
    assert "master" in defaults["nfd"] and "image" in defaults["nfd"]  # node-feature-discovery's own


def test_built_in_api_groups_are_not_taken_for_custom_resources():
    api_service = {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": "x"}}
    monitor = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "y"}}
    assert checks.custom_resources([api_service, monitor]) == [monitor]
