"""The serving namespace's guardrails: ResourceQuota (GPUs included), LimitRange, NetworkPolicies.

Nothing enters or leaves a model pod unless a policy here allows it: the ingress controller and
Prometheus in, DNS and HTTPS (object storage, token exchange) out, plus the cloud's
workload-identity endpoint. The node's instance-metadata address is never opened.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlinfra.components import child
from mlinfra.k8s.metrics import METRICS_PORT_NAME, MODEL_SERVER_LABEL, MODEL_SERVER_LABEL_VALUE
from mlinfra.k8s.objects import from_namespace, network_policy
from mlinfra.k8s.scheduling import GPU_RESOURCE
from mlinfra.k8s.serving.common import (
    DEFAULT_CONTAINER_LIMITS,
    DEFAULT_CONTAINER_REQUESTS,
    HTTP_PORT_NAME,
    INGRESS_NAMESPACE,
)
from mlinfra.spec import QuotaSpec

LETSENCRYPT_SERVERS = {
    "letsencrypt": "https://acme-v02.api.letsencrypt.org/directory",
    "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}
ACME_SOLVER_LABEL = "acme.cert-manager.io/http01-solver"
ACME_SOLVER_PORT = 8089

# Egress a pod needs to exchange its Kubernetes identity for a cloud token, per cloud.
# AWS IRSA and Azure Workload Identity use a projected token + HTTPS (covered by allow-egress-https);
# EKS Pod Identity asks the node agent at 169.254.170.23:80; GKE Workload Identity asks the
# GKE metadata server: a NetworkPolicy must allow 169.254.169.254/32:80 on GKE Dataplane V2 (the
# datapath mlinfra's GKE clusters use), 169.254.169.252/32:988 on the Calico datapath from
# 1.21.0-gke.1000, 127.0.0.1/32:988 before (GKE docs, "Authenticate to Google Cloud APIs from GKE
# workloads", Limitations). On GKE 169.254.169.254 is the GKE metadata server, which withholds the
# node's credentials (workload_metadata_config GKE_METADATA); on AWS that address stays blocked.
WORKLOAD_IDENTITY_EGRESS: dict[str, list[tuple[str, int]]] = {
    "aws": [("169.254.170.23/32", 80)],
    "gcp": [("169.254.169.254/32", 80), ("169.254.169.252/32", 988), ("127.0.0.1/32", 988)],
    "azure": [],
    "kubernetes": [],
}


def quota_and_limits(
    parent: pulumi.Resource, name: str, namespace: pulumi.Input[str], quota: QuotaSpec, labels: dict[str, str]
) -> None:
    k8s.core.v1.ResourceQuota(
        f"{name}-quota",
        metadata={"name": "serving-quota", "namespace": namespace, "labels": labels},
        spec={
            "hard": {
                "requests.cpu": quota.cpu,
                "requests.memory": quota.memory,
                "limits.cpu": quota.cpu,
                "limits.memory": quota.memory,
                "pods": str(quota.pods),
                f"requests.{GPU_RESOURCE}": str(quota.gpus),
            }
        },
        opts=child(parent),
    )
    k8s.core.v1.LimitRange(
        f"{name}-limits",
        metadata={"name": "serving-limits", "namespace": namespace, "labels": labels},
        spec={
            "limits": [
                {
                    "type": "Container",
                    "default": dict(DEFAULT_CONTAINER_LIMITS),
                    "defaultRequest": dict(DEFAULT_CONTAINER_REQUESTS),
                    # no single container may claim more than the namespace's whole budget
                    "max": {"cpu": quota.cpu, "memory": quota.memory},
                }
            ]
        },
        opts=child(parent),
    )


def network_policies(
    parent: pulumi.Resource,
    name: str,
    namespace: pulumi.Input[str],
    labels: Mapping[str, str],
    *,
    cloud: str,
    monitoring_namespace: str | None,
    acme: bool,
) -> None:
    def policy(role: str, spec: dict[str, Any]) -> None:
        network_policy(parent, f"{name}-{role}", role, namespace, labels, spec)

    model_pods = {"matchLabels": {MODEL_SERVER_LABEL: MODEL_SERVER_LABEL_VALUE}}
    http_port = [{"protocol": "TCP", "port": HTTP_PORT_NAME}]
    # Nothing in, nothing out, unless a policy below allows it.
    policy("default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
    policy(
        "allow-from-ingress",
        {
            "podSelector": model_pods,
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [from_namespace(INGRESS_NAMESPACE)], "ports": http_port}],
        },
    )
    policy(
        "allow-to-dns",
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            **from_namespace("kube-system"),
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            ],
        },
    )
    # Model pods pull weights from object storage (S3 / GCS / Blob, public or VPC-endpoint
    # addresses) and exchange tokens with the cloud's STS, all over TLS. NetworkPolicy cannot
    # match host names, so the allowance is "any address, 443 only": no plaintext egress, no
    # other ports; tighter FQDN rules need an egress proxy or a CNI with FQDN policies.
    policy(
        "allow-egress-https",
        {
            "podSelector": model_pods,
            "policyTypes": ["Egress"],
            "egress": [
                {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 443}]}
            ],
        },
    )
    identity = WORKLOAD_IDENTITY_EGRESS[cloud]
    if identity:
        policy(
            "allow-workload-identity",
            {
                "podSelector": model_pods,
                "policyTypes": ["Egress"],
                "egress": [
                    {"to": [{"ipBlock": {"cidr": cidr}}], "ports": [{"protocol": "TCP", "port": port}]}
                    for cidr, port in identity
                ],
            },
        )
    if monitoring_namespace:
        # Prometheus scrapes the server's /metrics: on the HTTP port, or on a port named `metrics`
        # where the runtime serves them apart (Triton: 8002).
        policy(
            "allow-from-monitoring",
            {
                "podSelector": model_pods,
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [from_namespace(monitoring_namespace)],
                        "ports": [*http_port, {"protocol": "TCP", "port": METRICS_PORT_NAME}],
                    }
                ],
            },
        )
    if acme:
        # cert-manager runs the HTTP-01 solver pod in the namespace of the certificate.
        policy(
            "allow-acme-solver",
            {
                "podSelector": {"matchLabels": {ACME_SOLVER_LABEL: "true"}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [from_namespace(INGRESS_NAMESPACE)],
                        "ports": [{"protocol": "TCP", "port": ACME_SOLVER_PORT}],
                    }
                ],
            },
        )
