"""With GKE Dataplane V2 enforcing NetworkPolicies, what must pass on the GCP stacks passes and what
must not is blocked (the evaluator mlinfra.offline.network_policies over the plans' policies).

GKE specifics: the control plane calls webhooks from the control-plane range (gcp.control_plane_cidr,
172.16.0.0/28 by default; the webhook firewall rule admits it to the nodes); Workload Identity asks
the GKE metadata server at 169.254.169.254:80 on Dataplane V2 (GKE docs, "Authenticate to Google Cloud
APIs from GKE workloads", Limitations) — the pods' only way to a Google token; Cloud Storage and the
token exchange are reached over 443 (Private Google Access: private.googleapis.com 199.36.153.8/30,
or Google's public ranges).
"""

from __future__ import annotations

from functools import cache

import pytest

from mlinfra.k8s.gpu import DCGM_EXPORTER_PORT
from mlinfra.offline.network_policies import Endpoint
from tests.gcp.plans import planned
from tests.k8s.flow_endpoints import (
    CERT_MANAGER_WEBHOOK,
    COREDNS,
    GPU_NODE,
    INGRESS,
    KSERVE_WEBHOOK,
    PROMETHEUS,
    STRANGER,
    layer_setup,
)

CONTROL_PLANE = Endpoint("GKE control plane", "172.16.0.2")
KUBELET = Endpoint("the model pod's node (kubelet)", "10.20.0.10", node=GPU_NODE)
OTHER_NODE = Endpoint("another node", "10.20.0.11", node="gpu-node-2")
GKE_METADATA = Endpoint("GKE metadata server", "169.254.169.254")
GCS = Endpoint("storage.googleapis.com via private.googleapis.com", "199.36.153.9")
STACKS = ["dev", "staging", "prod"]


@cache
def _setup(stack: str):
    return layer_setup(planned(stack))


def _flows(stack: str) -> list[tuple[str, Endpoint, Endpoint, int, str, bool]]:
    """(what, source, destination, port, protocol, allowed) for every pod of the stack."""
    _, models, dcgm = _setup(stack)
    flows = [
        ("prometheus scrapes dcgm", PROMETHEUS, dcgm, DCGM_EXPORTER_PORT, "TCP", True),
        ("control plane -> cert-manager webhook", CONTROL_PLANE, CERT_MANAGER_WEBHOOK, 10250, "TCP", True),
        ("control plane -> kserve webhook", CONTROL_PLANE, KSERVE_WEBHOOK, 9443, "TCP", True),
        ("control plane -> ingress-nginx webhook", CONTROL_PLANE, INGRESS, 8443, "TCP", True),
        ("stranger -> dcgm", STRANGER, dcgm, DCGM_EXPORTER_PORT, "TCP", False),
    ]
    for pod in [*models.values(), dcgm]:
        flows += [(f"{pod.name} dns {p}", pod, COREDNS, 53, p, True) for p in ("UDP", "TCP")]
        flows += [
            (f"kubelet probes {pod.name}:{port}", KUBELET, pod, port, "TCP", True)
            for port in pod.ports.values()
        ]
    for pod in models.values():
        http = pod.ports["http"]
        flows += [
            (f"ingress -> {pod.name}", INGRESS, pod, http, "TCP", True),
            (f"prometheus -> {pod.name}", PROMETHEUS, pod, http, "TCP", True),
            (f"{pod.name} -> GKE metadata server (Workload Identity)", pod, GKE_METADATA, 80, "TCP", True),
            (f"{pod.name} -> GCS over TLS", pod, GCS, 443, "TCP", True),
            (f"{pod.name} -> GCS in plaintext", pod, GCS, 80, "TCP", False),
            (f"stranger -> {pod.name}", STRANGER, pod, http, "TCP", False),
            (f"another node -> {pod.name}", OTHER_NODE, pod, http, "TCP", False),
            (f"ingress -> {pod.name}:9999", INGRESS, pod, 9999, "TCP", False),
        ]
    return flows


@pytest.mark.parametrize("stack", STACKS)
def test_flows(stack):
    policies, models, _ = _setup(stack)
    assert policies.policies and models  # the plan has both (else every flow below is vacuous)
    verdicts = [
        (what, allowed, policies.connect(src, dst, port, proto))
        for what, src, dst, port, proto, allowed in _flows(stack)
    ]
    wrong = [f"{what}: {verdict.reason}" for what, allowed, verdict in verdicts if bool(verdict) != allowed]
    assert not wrong, wrong
