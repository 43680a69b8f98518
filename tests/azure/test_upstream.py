"""What the Azure stacks render, checked against upstream data: every core Kubernetes object against
the 1.33 OpenAPI schema (kubernetes-validate), and the Helm values Azure adds (the AKS spot
toleration on the GPU daemons, the internal load-balancer annotation) where the pinned charts read
them. (Custom resources against their CRDs and every values key against its chart version are
checked for every shipped stack, the Azure ones included, by tests/upstream/test_chart_checks.py.)"""

from __future__ import annotations

import pytest

from mlinfra.azure.gpu_node_pool import spot_toleration
from mlinfra.k8s.charts import DCGM_EXPORTER, INGRESS_NGINX, NVIDIA_DEVICE_PLUGIN
from tests.k8s.chart_data import unread_keys
from tests.k8s.k8s_schema import validate_core_objects
from tests.test_stacks import _id, planned

# The stacks that register the in-cluster layer: dev's platform stack, the private ones' in-cluster stacks.
LAYER_STACKS = [
    ("stacks/azure", "dev"),
    ("stacks/azure-in-cluster", "staging"),
    ("stacks/azure-in-cluster", "prod"),
]


@pytest.mark.parametrize("case", LAYER_STACKS, ids=_id)
def test_core_objects_validate_against_the_kubernetes_schema(case):
    assert validate_core_objects(planned(*case), "1.33") > 20


def test_azure_values_sit_at_keys_the_pinned_charts_read():
    plan = planned("stacks/azure", "dev")
    releases = {
        r.inputs["chart"]: r.inputs.get("values", {}) for r in plan.of_type("kubernetes:helm.sh/v3:Release")
    }
    for pin in (NVIDIA_DEVICE_PLUGIN, DCGM_EXPORTER):
        assert spot_toleration() in releases[pin.chart]["tolerations"], pin.name
        assert unread_keys({"tolerations": releases[pin.chart]["tolerations"]}, pin) == [], pin.name
    service = releases[INGRESS_NGINX.chart]["controller"]["service"]
    assert service["annotations"]["service.beta.kubernetes.io/azure-load-balancer-internal"] == "true"
    assert (
        unread_keys({"controller": {"service": {"annotations": service["annotations"]}}}, INGRESS_NGINX) == []
    )


# Size-table rows as MicrosoftDocs/azure-docs publishes them (articles/virtual-machines/<series>.md):
# size -> (vCPU, memory GiB, GPUs, GPU memory GiB). The catalogue's figures must be these.
AZURE_SIZE_PAGES = {
    # ndm-a100-v4-series.md: "| Standard_ND96amsr_A100_v4 | 96 | 1900 | 6400 | 8 A100 80 GB GPUs ..."
    "Standard_ND96amsr_A100_v4": (96, 1900, 8, 80),
}


@pytest.mark.parametrize("size", sorted(AZURE_SIZE_PAGES))
def test_catalogue_figures_match_the_azure_size_pages(size):
    from mlinfra.catalog import gpu_machine_type

    machine = gpu_machine_type("azure", size)
    assert (machine.vcpu, machine.memory_gib, machine.gpus, machine.gpu_memory_gib) == AZURE_SIZE_PAGES[size]
