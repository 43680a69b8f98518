"""Every container a pinned chart renders is sized (CPU and memory requests and limits) through the
values its templates read, and Grafana runs on a read-only root filesystem.

The kubernetes policy pack's resource-requests-limits and pod-security-restricted rules are
mandatory in staging and prod; `mlinfra render` runs them over the chart workloads. The charts
cannot be rendered here, so this test reads the release values over each pinned chart version's
default values (../shared/charts) at the paths the templates read, listed below with the template.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from mlinfra.charts.checks import releases
from mlinfra.charts.data import coalesce
from mlinfra.charts.render import (
    CHART_EXEMPTIONS,
    RESOURCES_POLICY,
    RenderedRelease,
    chart_exemptions,
)
from mlinfra.charts.values import chart_defaults_and_schema
from tests.plans import case_id, plan_with, planned, shipped_stacks

# chart -> values paths of container `resources`, each read by the named template at the pinned tag.
CONTAINER_RESOURCES: dict[str, tuple[str, ...]] = {
    "kube-prometheus-stack": (
        "crds.upgradeJob.resources",  # charts/crds/templates/upgrade/job.yaml (busybox + kubectl)
        "prometheusOperator.resources",  # templates/prometheus-operator/deployment.yaml
        "prometheusOperator.admissionWebhooks.patch.resources",  # job-createSecret.yaml, job-patchWebhook.yaml
        "prometheusOperator.prometheusConfigReloader.resources",  # deployment.yaml --config-reloader-*
        "alertmanager.alertmanagerSpec.resources",  # templates/alertmanager/alertmanager.yaml
        "grafana.resources",  # grafana 10.5.15 templates/_pod.tpl
        "grafana.sidecar.resources",  # grafana 10.5.15 templates/_pod.tpl (dashboard + datasource sidecars)
        "kube-state-metrics.resources",  # kube-state-metrics 7.1.0 templates/deployment.yaml
        "prometheus-node-exporter.resources",  # prometheus-node-exporter 4.51.0 templates/daemonset.yaml
    ),
    "cert-manager": (
        "resources",  # templates/deployment.yaml
        "webhook.resources",  # templates/webhook-deployment.yaml
        "cainjector.resources",  # templates/cainjector-deployment.yaml
        "startupapicheck.resources",  # templates/startupapicheck-job.yaml
    ),
    "ingress-nginx": (
        "controller.resources",  # templates/controller-deployment.yaml
        "controller.admissionWebhooks.createSecretJob.resources",  # job-patch/job-createSecret.yaml
        "controller.admissionWebhooks.patchWebhookJob.resources",  # job-patch/job-patchWebhook.yaml
    ),
    "metrics-server": ("resources",),  # templates/deployment.yaml
    "nvidia-device-plugin": (
        "resources",
    ),  # templates/daemonset-device-plugin.yml, daemonset-mps-control-daemon.yml
    "dcgm-exporter": ("resources",),  # deployment/templates/daemonset.yaml
    "cluster-autoscaler": ("resources",),  # templates/deployment.yaml
    "keda": (
        "resources.operator",
        "resources.metricServer",
        "resources.webhooks",
    ),  # templates/*/deployment.yaml
}

CASES = [case for case in shipped_stacks() if case[1] in ("staging", "prod")]


def _at(values: Any, path: str) -> Any:
    for part in path.split("."):
        values = values.get(part) if isinstance(values, Mapping) else None
    return values


def _missing(resources: Any) -> list[str]:
    return [
        f"{kind}.{r}"
        for kind in ("requests", "limits")
        for r in ("cpu", "memory")
        if not isinstance(resources, Mapping) or _at(resources, f"{kind}.{r}") in (None, "")
    ]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_every_chart_container_is_sized_through_values_the_chart_reads(case, chart_data):
    rels = releases(planned(*case).resources)
    if not rels:
        pytest.skip("this stack installs no chart (its in-cluster layer is another project)")
    problems = []
    for rel in rels:
        defaults, _ = chart_defaults_and_schema(chart_data, rel.chart_name, rel.version)
        merged = coalesce(dict(rel.values), defaults)
        paths = CONTAINER_RESOURCES.get(rel.chart_name)
        if paths is None:
            continue  # kserve, kserve-crd: below
        for path in paths:
            # the path is one the pinned chart reads (its default values name it)
            assert isinstance(_at(defaults, path), Mapping), (
                f"{rel.subject}: {path} is not a map in the chart"
            )
            missing = _missing(_at(merged, path))
            if missing:
                problems.append(f"{rel.subject}: {path}: {', '.join(missing)} not set")
    assert problems == [], "\n".join(problems)


def test_the_table_covers_every_chart_with_workloads():
    """kserve-crd renders only CRDs; kserve sizes its controller in its own defaults (values.yaml
    kserve.controller.resources: requests and limits)."""
    plan = plan_with(lambda p: any(r.chart_name == "kserve" for r in releases(p.resources)))
    charts = {r.chart_name for r in releases(plan.resources)}
    assert charts - set(CONTAINER_RESOURCES) <= {"kserve", "kserve-crd"}


def test_kserve_controller_is_sized_by_its_chart_defaults(chart_data):
    rel = next(
        r
        for r in releases(
            plan_with(lambda p: any(x.chart_name == "kserve" for x in releases(p.resources))).resources
        )
        if r.chart_name == "kserve"
    )
    defaults, _ = chart_defaults_and_schema(chart_data, rel.chart_name, rel.version)
    merged = coalesce(dict(rel.values), defaults)
    assert _missing(_at(merged, "kserve.controller.resources")) == []


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_grafana_runs_on_a_read_only_root_filesystem_with_a_writable_tmp(case, chart_data):
    rel = next(
        (r for r in releases(planned(*case).resources) if r.chart_name == "kube-prometheus-stack"), None
    )
    if rel is None:
        pytest.skip("this stack installs no monitoring (its in-cluster layer is another project)")
    defaults, _ = chart_defaults_and_schema(chart_data, rel.chart_name, rel.version)
    merged = coalesce(dict(rel.values), defaults)
    grafana = merged["grafana"]
    assert grafana["containerSecurityContext"]["readOnlyRootFilesystem"] is True
    # the chart's restricted defaults are kept (Helm merges maps)
    assert grafana["containerSecurityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert grafana["sidecar"]["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"name": "tmp", "mountPath": "/tmp"} in grafana["extraEmptyDirMounts"]
    # logs to the console, never to /var/log/grafana on the read-only root
    assert grafana["grafana.ini"]["log"]["mode"] == "console"


def _daemonset(name: str, containers: list[dict[str, Any]], init: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": "gpu-system"},
        "spec": {"template": {"spec": {"initContainers": init, "containers": containers}}},
    }


SIZED = {"requests": {"cpu": "1", "memory": "1"}, "limits": {"cpu": "1", "memory": "1"}}


def test_resource_exemption_covers_only_the_device_plugins_config_manager():
    plan = plan_with(lambda p: any(r.chart_name == "nvidia-device-plugin" for r in releases(p.resources)))
    rel = next(r for r in releases(plan.resources) if r.chart_name == "nvidia-device-plugin")
    config_manager = {"name": "nvidia-device-plugin-sidecar", "command": ["config-manager"]}
    ok = _daemonset(
        "nvidia-device-plugin",
        [config_manager, {"name": "nvidia-device-plugin-ctr", "resources": SIZED}],
        [{"name": "nvidia-device-plugin-init", "command": ["config-manager"]}],
    )
    unsized_main = _daemonset(
        "nvidia-device-plugin", [config_manager, {"name": "nvidia-device-plugin-ctr"}], []
    )

    def exempt(obj):
        return [
            e
            for e in chart_exemptions([RenderedRelease(rel, None, [obj], [])])
            if e.policy == RESOURCES_POLICY
        ]

    assert [e.reason for e in exempt(ok)] == [
        CHART_EXEMPTIONS[("nvidia-device-plugin", "DaemonSet", "*device-plugin", RESOURCES_POLICY)]
    ]
    assert exempt(unsized_main) == []
