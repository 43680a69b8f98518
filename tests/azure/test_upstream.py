"""What the Azure stacks render, checked against upstream data: every core Kubernetes object against
the 1.33 OpenAPI schema (kubernetes-validate), every custom resource against the CRD schema of the
pinned chart (../shared/charts/<chart>/<version>/crds.yaml), and the Helm values Azure adds (pool
tolerations, the internal load-balancer annotation) at keys the pinned charts read."""

from __future__ import annotations

from typing import Any

import pytest

from mlinfra.azure.gpu_node_pool import spot_toleration
from mlinfra.k8s.charts import (
    CERT_MANAGER,
    DCGM_EXPORTER,
    INGRESS_NGINX,
    KEDA,
    KSERVE_CRD,
    KUBE_PROMETHEUS_STACK,
    NVIDIA_DEVICE_PLUGIN,
    ChartPin,
)
from tests.k8s.chart_data import crds, defaults, validate_custom_resource
from tests.k8s.k8s_schema import CORE_GROUP_PREFIXES, object_of, validate_core_objects
from tests.test_stacks import AZURE_STACKS, _id, planned

CRD_CHARTS = (CERT_MANAGER, KEDA, KSERVE_CRD, KUBE_PROMETHEUS_STACK)


def crd_chart(obj: dict[str, Any]) -> ChartPin | None:
    """The pinned chart whose CRDs define `obj`'s kind."""
    group, _, version = obj["apiVersion"].rpartition("/")
    return next((pin for pin in CRD_CHARTS if (group, version, obj["kind"]) in crds(pin)), None)


@pytest.mark.parametrize("case", AZURE_STACKS, ids=_id)
def test_core_objects_validate_against_the_kubernetes_schema(case):
    assert validate_core_objects(planned(*case), "1.33") > 20


@pytest.mark.parametrize("case", AZURE_STACKS, ids=_id)
def test_custom_resources_validate_against_their_crds(case):
    checked = 0
    for r in planned(*case).resources:
        if not r.type.startswith("kubernetes:") or r.type.startswith(
            ("kubernetes:helm.sh/", *CORE_GROUP_PREFIXES)
        ):
            continue
        obj = object_of(r.inputs)
        pin = crd_chart(obj)
        assert pin is not None, f"no CRD for {obj['apiVersion']} {obj['kind']} in the pinned charts"
        validate_custom_resource(obj, pin)
        checked += 1
    assert checked


def test_azure_values_sit_at_keys_the_pinned_charts_read():
    plan = planned("stacks/azure", "dev")
    releases = {
        r.inputs["chart"]: r.inputs.get("values", {}) for r in plan.of_type("kubernetes:helm.sh/v3:Release")
    }
    for pin in (NVIDIA_DEVICE_PLUGIN, DCGM_EXPORTER):
        assert "tolerations" in defaults(pin), pin.name
        assert spot_toleration() in releases[pin.chart]["tolerations"], pin.name
    assert "annotations" in defaults(INGRESS_NGINX)["controller"]["service"]
    annotations = releases[INGRESS_NGINX.chart]["controller"]["service"]["annotations"]
    assert annotations["service.beta.kubernetes.io/azure-load-balancer-internal"] == "true"
