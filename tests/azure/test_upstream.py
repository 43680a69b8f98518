"""What the Azure stacks render, checked against upstream data: every core Kubernetes object against
the 1.33 OpenAPI schema (kubernetes-validate), every custom resource against the CRD schema of the
pinned chart (../shared/charts/<chart>/<version>/crds.yaml), and the Helm values Azure adds (pool
tolerations, the internal load-balancer annotation) at keys the pinned charts read."""

from __future__ import annotations

from functools import cache
from typing import Any

import jsonschema
import pytest
import yaml

from mlinfra.azure.gpu_node_pool import spot_toleration
from mlinfra.k8s.charts import (
    CERT_MANAGER,
    DCGM_EXPORTER,
    INGRESS_NGINX,
    KSERVE_CRD,
    KUBE_PROMETHEUS_STACK,
    NVIDIA_DEVICE_PLUGIN,
)
from tests.k8s.chart_data import chart_dir, defaults
from tests.k8s.k8s_schema import CORE_GROUP_PREFIXES, object_of, validate_core_objects
from tests.test_stacks import AZURE_STACKS, _id, planned

CRD_CHARTS = (CERT_MANAGER, KSERVE_CRD, KUBE_PROMETHEUS_STACK)


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema, from the CRDs the pinned charts install."""
    out = {}
    for pin in CRD_CHARTS:
        for crd in yaml.safe_load_all((chart_dir(pin) / "crds.yaml").read_text()):
            if not crd:
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                out[(f"{group}/{version['name']}", kind)] = _python_patterns(
                    version["schema"]["openAPIV3Schema"]
                )
    return out


def _python_patterns(schema: Any) -> Any:
    """CRD patterns are Go regular expressions; Go takes inline flags anywhere (`^(?i)...`), Python
    only at the start: move them there so jsonschema can compile the same pattern."""
    if isinstance(schema, dict):
        out = {k: _python_patterns(v) for k, v in schema.items()}
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and "(?i)" in pattern and not pattern.startswith("(?i)"):
            out["pattern"] = "(?i)" + pattern.replace("(?i)", "")
        return out
    if isinstance(schema, list):
        return [_python_patterns(v) for v in schema]
    return schema


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
        schema = crd_schemas().get((obj["apiVersion"], obj["kind"]))
        assert schema is not None, f"no CRD for {obj['apiVersion']} {obj['kind']} in the pinned charts"
        # The API server fills metadata; the CRD schema describes the rest.
        jsonschema.validate(
            {k: v for k, v in obj.items() if k != "metadata"},
            {
                **schema,
                "properties": {k: v for k, v in schema.get("properties", {}).items() if k != "metadata"},
            },
        )
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
