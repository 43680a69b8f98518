"""Shared in-cluster building blocks: validated labels, chart labels, Pod Security labels, and the
labels every component writes when it is handed another component's labels (as AwsPlatform does)."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from mlinfra.k8s.gpu import GpuEnablement, GpuEnablementArgs
from mlinfra.k8s.metrics import prometheus_url
from mlinfra.k8s.monitoring import MonitoringStack, MonitoringStackArgs
from mlinfra.k8s.objects import chart_labels, object_labels, pod_security_labels
from mlinfra.k8s.scheduling import gpu_scheduling, standard_labels
from mlinfra.k8s.serving import ModelDeployment, ServingCluster, ServingClusterArgs
from mlinfra.spec import GpuPoolSpec, ModelSpec, SpecError
from tests.conftest import make_spec, plan_of

COMPONENT = "app.kubernetes.io/component"
RELEASE = "kubernetes:helm.sh/v3:Release"
OWNERS = {"owner": "ml-platform", "cost-center": "cc-1234", "environment": "dev"}
# What AwsPlatform passes to every in-cluster component: labels built for "platform".
PLATFORM_LABELS = standard_labels("platform", "ml-platform", "cc-1234", "dev", team="search")
LABEL_VALUE_KEYS = {"labels", "podLabels", "commonLabels", "additionalLabels"}


def test_object_labels_keep_their_own_component_and_the_extras():
    labels = object_labels("gpu", PLATFORM_LABELS, **{"mlinfra.io/model": "chat"})
    assert labels[COMPONENT] == "gpu"
    assert labels["app.kubernetes.io/managed-by"] == "mlinfra"
    assert labels["team"] == "search"
    assert labels["mlinfra.io/model"] == "chat"
    assert {k: labels[k] for k in OWNERS} == OWNERS


@pytest.mark.parametrize(
    "labels,match",
    [
        ({"owner": "a", "environment": "dev"}, "cost-center"),
        ({**OWNERS, "owner": "  "}, "owner"),
        ({**OWNERS, "environment": "qa"}, "qa"),
    ],
)
def test_object_labels_refuse_missing_or_bad_owner_labels(labels, match):
    with pytest.raises(SpecError, match=match) as err:
        object_labels("gpu", labels, "labels")
    assert err.value.field == "labels"


def test_chart_labels_leave_the_chart_its_own_keys():
    assert chart_labels(PLATFORM_LABELS) == {**OWNERS, "team": "search"}


def test_pod_security_labels():
    assert pod_security_labels("privileged") == {
        "pod-security.kubernetes.io/enforce": "privileged",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
    }
    assert pod_security_labels("restricted", enforce_version="v1.33", audit_warn_version="latest") == {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "v1.33",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/audit-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/warn-version": "latest",
    }


def _in_cluster_layer():
    spec = make_spec()
    model = ModelSpec(name="chat", gpu_pool="a10g", gpus=1, cpu="4", memory="16Gi")

    def program():
        provider = k8s.Provider("k8s", kubeconfig="{}")
        opts = pulumi.ResourceOptions(provider=provider)
        MonitoringStack(
            "mon",
            MonitoringStackArgs(spec=spec.monitoring, environment="dev", labels=PLATFORM_LABELS),
            opts=opts,
        )
        GpuEnablement(
            "gpu",
            GpuEnablementArgs(
                pools=[GpuPoolSpec(name="a10g", machine_type="g5.xlarge")], labels=PLATFORM_LABELS
            ),
            opts=opts,
        )
        serving = ServingCluster(
            "serving",
            ServingClusterArgs(
                spec=spec.serving,
                cloud="aws",
                environment="dev",
                labels=PLATFORM_LABELS,
                prometheus_url=prometheus_url("monitoring"),
            ),
            opts=opts,
        )
        ModelDeployment(
            "model",
            serving.model_args(model, storage_uri="s3://b/m/", scheduling=gpu_scheduling("a10g")),
            opts=opts,
        )

    return plan_of(program)


def _label_values(values: Any, path: str = "values"):
    """(path, mapping) of every label map in a chart's values."""
    if isinstance(values, dict):
        for k, v in values.items():
            if k in LABEL_VALUE_KEYS and isinstance(v, dict):
                yield f"{path}.{k}", v
            else:
                yield from _label_values(v, f"{path}.{k}")
    elif isinstance(values, list):
        for i, v in enumerate(values):
            yield from _label_values(v, f"{path}[{i}]")


def test_platform_labels_do_not_override_each_components_own():
    plan = _in_cluster_layer()
    expected = {"gpu": "gpu", "mon": "monitoring", "model": "model-server"}
    checked = 0
    for r in plan.resources:
        if not r.type.startswith("kubernetes:") or r.type == RELEASE or not r.custom:
            continue
        component = r.inputs["metadata"]["labels"][COMPONENT]
        prefix = r.name.split("-", 1)[0]
        if prefix in expected:
            assert component == expected[prefix], r.name
        else:
            assert component in {"serving", "ingress", "cert-manager", "kserve", "keda"}, r.name
        checked += 1
    assert checked >= 25


def test_charts_get_no_label_key_they_write_themselves():
    # A key the chart's templates also write (app.kubernetes.io/*), or one key given through two
    # values that land on the same object, is a duplicate YAML key: Helm refuses the manifest.
    plan = _in_cluster_layer()
    releases = plan.of_type(RELEASE)
    assert len(releases) == 9
    seen = 0
    for r in releases:
        for path, labels in _label_values(r.inputs.get("values") or {}):
            seen += 1
            assert not [k for k in labels if k.startswith("app.kubernetes.io/")], (r.name, path)
            assert labels.get("owner") == "ml-platform", (r.name, path)
    # dcgm podLabels + ServiceMonitor, kps commonLabels, nginx common/pod, cert-manager pod,
    # metrics-server commonLabels, KEDA additionalLabels
    assert seen == 8
    nginx = plan.one(RELEASE, "serving-ingress-nginx").inputs["values"]
    # controller.labels reaches the Deployment (with commonLabels) and the pods (with podLabels).
    assert "labels" not in nginx["controller"]
