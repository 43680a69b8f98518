"""Grafana dashboards: shipped as package data, valid Grafana JSON, known metrics, loaded by the sidecar."""

from __future__ import annotations

import json
from importlib import resources

import pulumi
import pulumi_kubernetes as k8s
import pytest

from mlinfra.k8s import metrics as m
from mlinfra.k8s.monitoring import MonitoringStack, MonitoringStackArgs, dashboard_files
from tests.conftest import make_spec, plan_of

EXPECTED = {"gpu.json", "models.json"}
CONFIGMAP = "kubernetes:core/v1:ConfigMap"


def _load(name: str) -> dict:
    return json.loads(dashboard_files()[name])


def _exprs(doc: dict) -> list[str]:
    return [t["expr"] for p in doc["panels"] for t in p["targets"]]


def test_dashboards_are_package_data():
    folder = resources.files("mlinfra.k8s") / "dashboards"
    assert {f.name for f in folder.iterdir() if f.name.endswith(".json")} == EXPECTED
    assert set(dashboard_files()) == EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_dashboard_is_valid_grafana_json_with_known_metrics(name):
    doc = _load(name)
    assert doc["title"].startswith("mlinfra / ")
    assert doc["uid"] == f"mlinfra-{name.removesuffix('.json')}"
    assert isinstance(doc["schemaVersion"], int) and doc["schemaVersion"] >= 36
    assert doc["panels"]
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    for panel in doc["panels"]:
        assert panel["title"] and panel["type"] == "timeseries"
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        assert panel["targets"]
        for target in panel["targets"]:
            assert target["refId"]
            assert m.metric_names(target["expr"]), (panel["title"], target["expr"])
            assert m.unknown_metrics(target["expr"]) == set(), (panel["title"], target["expr"])
    variables = {v["name"] for v in doc["templating"]["list"]}
    assert "datasource" in variables


def test_gpu_dashboard_covers_the_fleet_per_node_and_per_pool():
    exprs = _exprs(_load("gpu.json"))
    for metric in (
        m.DCGM_GPU_UTIL,
        m.DCGM_FB_USED,
        m.DCGM_FB_FREE,
        m.DCGM_GPU_TEMP,
        m.DCGM_POWER_USAGE,
        m.DCGM_XID_ERRORS,
    ):
        assert any(metric in e for e in exprs), metric
    assert any("by (node)" in e and m.DCGM_GPU_UTIL in e for e in exprs)
    assert any(f"by ({m.POOL_SERIES_LABEL})" in e and m.DCGM_GPU_UTIL in e for e in exprs)
    assert any(f"by ({m.POOL_SERIES_LABEL})" in e and m.DCGM_XID_ERRORS in e for e in exprs)


def test_models_dashboard_covers_rate_latency_errors_replicas():
    exprs = _exprs(_load("models.json"))
    assert any(e.startswith(f"sum by (host) (rate({m.NGINX_REQUESTS}") for e in exprs)
    for q in ("0.5", "0.95", "0.99"):
        assert any(
            e.startswith(f"histogram_quantile({q}, ") and m.NGINX_REQUEST_DURATION_BUCKET in e for e in exprs
        )
    assert any('status=~"5.."' in e for e in exprs)
    assert any(m.KUBE_DEPLOYMENT_STATUS_REPLICAS_AVAILABLE in e for e in exprs)


def test_dashboards_are_loaded_into_configmaps_with_the_sidecar_label():
    spec = make_spec().monitoring

    def program():
        provider = k8s.Provider("k8s", kubeconfig="{}")
        MonitoringStack(
            "mon",
            MonitoringStackArgs(
                spec=spec,
                environment="dev",
                serving_namespace="inference",
                labels={"owner": "o", "cost-center": "c"},
            ),
            pulumi.ResourceOptions(providers={"kubernetes": provider}),
        )

    plan = plan_of(program)
    maps = {r.name: r.inputs for r in plan.of_type(CONFIGMAP)}
    assert set(maps) == {"mon-dashboard-gpu", "mon-dashboard-models"}
    for name in EXPECTED:
        cm = maps[f"mon-dashboard-{name.removesuffix('.json')}"]
        assert cm["metadata"]["namespace"] == "monitoring"
        assert cm["metadata"]["labels"][m.DASHBOARD_LABEL] == m.DASHBOARD_LABEL_VALUE
        assert list(cm["data"]) == [name]
        loaded = json.loads(cm["data"][name])
        shipped = _load(name)
        assert loaded["uid"] == shipped["uid"] and loaded["panels"] == shipped["panels"]
    models = json.loads(maps["mon-dashboard-models"]["data"]["models.json"])
    ns_var = next(v for v in models["templating"]["list"] if v["name"] == "namespace")
    assert ns_var["query"] == "inference" and ns_var["current"]["value"] == "inference"


def _panels(name: str) -> dict[str, dict]:
    return {p["title"]: p for p in _load(name)["panels"]}


def test_memory_panels_are_in_mebibytes_as_dcgm_reports_them():
    # DCGM_FI_DEV_FB_* are MiB (dcgm-exporter etc/default-counters.csv); Grafana's unit for MiB is
    # "mbytes" ("decmbytes" is SI megabytes).
    for name in EXPECTED:
        for panel in _load(name)["panels"]:
            exprs = " ".join(t["expr"] for t in panel["targets"])
            unit = panel["fieldConfig"]["defaults"]["unit"]
            assert unit != "decmbytes", panel["title"]
            if "DCGM_FI_DEV_FB_" in exprs and unit != "percentunit":
                assert unit == "mbytes", panel["title"]


def test_memory_ratio_counts_driver_reserved_memory():
    (target,) = _panels("gpu.json")["GPU memory full ratio per pool (used + reserved of total)"]["targets"]
    assert "DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE + DCGM_FI_DEV_FB_RESERVED" in target["expr"]


def test_per_model_gpu_panels_join_gpu_series_to_the_model():
    panels = _panels("models.json")
    for title in ("GPU utilisation per model", "GPU memory used per model"):
        (target,) = panels[title]["targets"]
        assert "group_left (label_mlinfra_io_model) kube_pod_labels" in target["expr"], title
        assert target["expr"].startswith("avg by (label_mlinfra_io_model)") or target["expr"].startswith(
            "sum by (label_mlinfra_io_model)"
        )
