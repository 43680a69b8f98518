"""With the VPC CNI enforcing NetworkPolicies (vpc-cni enableNetworkPolicy), what must pass still passes.

The evaluator (mlinfra.offline.network_policies) reads the NetworkPolicies and Namespaces of the AWS
plans; the pods of the charts are described with the labels, namespaces and ports their templates
give them (cited next to each).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from mlinfra.k8s.gpu import DCGM_EXPORTER_PORT
from mlinfra.offline import Plan, plan_stack
from mlinfra.offline.network_policies import Endpoint
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

ROOT = Path(__file__).resolve().parents[2]

# EKS: the API server calls webhooks from its cross-account ENIs in the cluster's subnets (not a node).
CONTROL_PLANE = Endpoint("EKS control plane ENI", "10.30.0.11")
GPU_NODE_IP = Endpoint("the model pod's node (kubelet)", "10.30.1.10", node=GPU_NODE)
OTHER_NODE = Endpoint("another node", "10.30.1.11", node="gpu-node-2")
# Model pods' AWS endpoints: S3 through the gateway endpoint (S3's public ranges, e.g. 52.216.0.0/15 in
# us-east-1), STS / ECR through interface endpoints (ENIs in the private subnets), the EKS Pod Identity
# agent (169.254.170.23:80, EKS user guide pod-id-agent-setup), and the node's IMDS, which stays closed.
S3 = Endpoint("s3 (gateway endpoint)", "52.216.8.10")
STS = Endpoint("sts interface endpoint", "10.30.0.200")
ECR = Endpoint("ecr.api interface endpoint", "10.30.0.201")
POD_IDENTITY_AGENT = Endpoint("eks pod identity agent", "169.254.170.23")
IMDS = Endpoint("instance metadata", "169.254.169.254")


@cache
def _plans(case: str) -> tuple[Plan, ...]:
    if case == "dev":
        return (plan_stack(ROOT / "stacks/aws", "dev"),)
    return (plan_stack(ROOT / "stacks/aws-in-cluster", case),)


def _setup(case: str):
    return layer_setup(*_plans(case))


CASES = ["dev", "staging", "prod"]


@pytest.mark.parametrize("case", CASES)
def test_the_plans_have_policies_and_model_pods(case):
    policies, models, _ = _setup(case)
    assert len(policies.policies) >= 5
    assert models and all(m.labels.get("mlinfra.io/model") for m in models.values())


@pytest.mark.parametrize("case", CASES)
def test_dns_passes(case):
    policies, models, dcgm = _setup(case)
    for pod in [*models.values(), dcgm]:
        assert policies.connect(pod, COREDNS, 53, "UDP"), pod.name
        assert policies.connect(pod, COREDNS, 53, "TCP"), pod.name


@pytest.mark.parametrize("case", CASES)
def test_kubelet_probes_pass(case):
    policies, models, dcgm = _setup(case)
    for pod in [*models.values(), dcgm]:
        for port in pod.ports.values():
            assert policies.connect(GPU_NODE_IP, pod, port), (pod.name, port)


@pytest.mark.parametrize("case", CASES)
def test_prometheus_scrapes_pass(case):
    policies, models, dcgm = _setup(case)
    for pod in models.values():
        assert policies.connect(PROMETHEUS, pod, pod.ports["http"]), (
            pod.name
        )  # the metrics Service targets `http`
    assert policies.connect(PROMETHEUS, dcgm, DCGM_EXPORTER_PORT)


@pytest.mark.parametrize("case", CASES)
def test_ingress_reaches_the_model_pods(case):
    policies, models, _ = _setup(case)
    for pod in models.values():
        assert policies.connect(INGRESS, pod, pod.ports["http"]), pod.name


@pytest.mark.parametrize("case", CASES)
def test_model_pods_reach_s3_sts_ecr_and_the_pod_identity_agent(case):
    policies, models, _ = _setup(case)
    for pod in models.values():
        for endpoint in (S3, STS, ECR):
            assert policies.connect(pod, endpoint, 443), (pod.name, endpoint.name)
        assert policies.connect(pod, POD_IDENTITY_AGENT, 80), pod.name


@pytest.mark.parametrize("case", CASES)
def test_api_server_reaches_the_admission_webhooks(case):
    policies, _, _ = _setup(case)
    assert policies.connect(CONTROL_PLANE, CERT_MANAGER_WEBHOOK, 10250)
    assert policies.connect(CONTROL_PLANE, KSERVE_WEBHOOK, 9443)
    assert policies.connect(CONTROL_PLANE, INGRESS, 8443)


@pytest.mark.parametrize("case", CASES)
def test_what_must_be_blocked_is(case):
    policies, models, dcgm = _setup(case)
    for pod in models.values():
        assert not policies.connect(pod, IMDS, 80), pod.name  # the node role stays out of reach
        assert not policies.connect(pod, S3, 80), pod.name  # plaintext out
        assert not policies.connect(STRANGER, pod, pod.ports["http"]), pod.name  # other namespaces
        assert not policies.connect(OTHER_NODE, pod, pod.ports["http"]), pod.name  # not its own node
        assert not policies.connect(INGRESS, pod, 9999), pod.name  # only the serving port
    assert not policies.connect(STRANGER, dcgm, DCGM_EXPORTER_PORT)
