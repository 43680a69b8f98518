"""What rendering the real charts (assembled from their upstream tags) found, and the fixes: each test
holds one fix in place against the upstream data in ../shared/charts."""

from __future__ import annotations

from mlinfra.charts.checks import releases
from mlinfra.charts.wiring import BUILTIN_OBJECTS, check_wiring, implied_objects
from mlinfra.k8s.monitoring import MANAGED_CONTROL_PLANE_OFF
from tests.k8s.test_monitoring import kps, run
from tests.plans import planned, shipped_stacks


def _kps_values(case):
    rels = releases(planned(*case).resources)
    return next((r.values for r in rels if r.chart_name == "kube-prometheus-stack"), None)


def test_managed_clusters_do_not_scrape_control_plane_pods_they_cannot_see(chart_data):
    """kube-prometheus-stack defaults scrape kube-controller-manager, kube-scheduler, etcd (no such
    pods on EKS/GKE/AKS) and kube-proxy (metrics bound to 127.0.0.1 on EKS): their Services select
    nothing and their *Down alerts fire forever. Every shipped stack runs on a managed cluster."""
    defaults = chart_data.default_values("kube-prometheus-stack", "81.4.3")
    for component in MANAGED_CONTROL_PLANE_OFF:
        assert defaults[component]["enabled"] is True  # the upstream default this overrides
    # platform stacks run on EKS/GKE/AKS; the existing-cluster example's cluster is EKS (cloud: aws)
    managed = [c for c in shipped_stacks() if c[0].startswith("stacks/")] + [
        ("examples/existing-cluster", "dev")
    ]
    checked = 0
    for case in managed:
        values = _kps_values(case)
        if values is None:
            continue
        assert all(values[c] == {"enabled": False} for c in MANAGED_CONTROL_PLANE_OFF), case
        checked += 1
    assert checked


def test_a_self_managed_cluster_keeps_the_control_plane_monitors():
    values = kps(run(managed_control_plane=False))["values"]
    assert not set(MANAGED_CONTROL_PLANE_OFF) & set(values)


def _obj(kind: str, name: str, namespace: str | None = "monitoring", api: str = "v1", **fields) -> dict:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": api, "kind": kind, "metadata": meta, **fields}


def _prometheus_cr(sa="kube-prometheus-stack-prometheus"):
    spec = {"podMetadata": {"labels": {}}, "serviceAccountName": sa}
    return _obj("Prometheus", "kube-prometheus-stack-prometheus", api="monitoring.coreos.com/v1", spec=spec)


def test_pods_the_prometheus_operator_creates_are_wired():
    selector = {
        "app.kubernetes.io/name": "prometheus",
        "operator.prometheus.io/name": "kube-prometheus-stack-prometheus",
    }
    service = _obj("Service", "kube-prometheus-stack-prometheus", spec={"selector": selector})
    account = _obj("ServiceAccount", "kube-prometheus-stack-prometheus")
    namespace = _obj("Namespace", "monitoring", namespace=None)
    objects = [namespace, service, account, _prometheus_cr()]
    assert check_wiring(objects) == []
    objects[3] = _prometheus_cr(sa="missing")
    assert [p.check for p in check_wiring(objects)] == ["service-account"]
    assert [p.check for p in check_wiring([namespace, service, account])] == ["service-selects"]


def test_the_kubelet_service_the_operator_maintains_is_known():
    container = {"name": "op", "args": ["--kubelet-service=kube-system/kps-kubelet"]}
    operator = _obj(
        "Deployment", "op", api="apps/v1", spec={"template": {"spec": {"containers": [container]}}}
    )
    (kubelet,) = [o for o in implied_objects([operator]) if o["kind"] == "Service"]
    assert kubelet["metadata"] == {
        "name": "kps-kubelet",
        "namespace": "kube-system",
        "labels": {
            "k8s-app": "kubelet",
            "app.kubernetes.io/name": "kubelet",
            "app.kubernetes.io/managed-by": "prometheus-operator",
        },
    }


def test_every_cluster_has_the_api_server_service_and_dns_pods():
    kinds = {(o["kind"], o["metadata"]["namespace"]) for o in BUILTIN_OBJECTS}
    assert kinds == {("Service", "default"), ("Pod", "kube-system")}
