"""Helm values of the serving controllers: ingress-nginx, cert-manager, KServe, KEDA, metrics-server.

Pure functions of the settings they depend on, so each is checked key by key against the pinned
chart's default values (tests/k8s/test_serving.py, ../shared/charts/<chart>/<version>/values.yaml).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlinfra.k8s.metrics import METRICS_PORT_NAME
from mlinfra.k8s.objects import chart_labels, container_resources
from mlinfra.k8s.serving.common import (
    INGRESS_CLASS,
    INGRESS_CONTROLLER_VALUE,
    KSERVE_DEPLOYMENT_MODE,
    RESTRICTED_CONTAINER,
)
from mlinfra.spec import ServingSpec

# Internal load-balancer annotations per cloud. AWS: the in-tree NLB annotations, because they
# work on every EKS cluster whether or not the AWS Load Balancer Controller is installed (the
# controller's `external`/`nlb-ip` types silently do nothing without it).
INTERNAL_LB_ANNOTATIONS: dict[str, dict[str, str]] = {
    "aws": {
        "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
        "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
    },
    "gcp": {"networking.gke.io/load-balancer-type": "Internal"},
    "azure": {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"},
}
# Public load balancers: an NLB on AWS (the in-tree default is a Classic ELB); defaults elsewhere.
PUBLIC_LB_ANNOTATIONS: dict[str, dict[str, str]] = {
    "aws": {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"},
    "gcp": {},
    "azure": {},
    "kubernetes": {},
}


# Requests and limits of every container the charts render (the kubernetes policy pack's
# resource-requests-limits rule, which `mlinfra render` runs over chart workloads). Where a chart
# suggests a size it is kept: ingress-nginx 4.14.3 values.yaml controller.resources.requests
# (100m/90Mi), metrics-server 3.13.1 values.yaml resources.requests (100m/200Mi: about 1m CPU and
# 2 MiB per node, kubernetes-sigs/metrics-server README "Scaling"), cert-manager v1.18.2 values.yaml
# example requests (10m/32Mi). The certgen jobs (ingress-nginx createSecretJob/patchWebhookJob) and
# cert-manager's startupapicheck are one-shot Go binaries.
RESOURCES: dict[str, dict[str, Any]] = {
    "ingress-controller": container_resources("100m", "128Mi", "1", "512Mi"),
    "ingress-admission-jobs": container_resources("10m", "32Mi", "100m", "128Mi"),
    "cert-manager-controller": container_resources("50m", "128Mi", "500m", "512Mi"),
    "cert-manager-webhook": container_resources("20m", "64Mi", "200m", "256Mi"),
    # cainjector caches every Secret/CRD/webhook configuration it injects into
    "cert-manager-cainjector": container_resources("50m", "128Mi", "500m", "512Mi"),
    "cert-manager-startupapicheck": container_resources("10m", "32Mi", "100m", "64Mi"),
    "metrics-server": container_resources("100m", "200Mi", "500m", "400Mi"),
}


def replicas_for(environment: str) -> int:
    """Controllers run one replica in dev and two (with a PodDisruptionBudget) elsewhere."""
    return 1 if environment == "dev" else 2


def ingress_nginx_values(
    replicas: int,
    node_selector: Mapping[str, str],
    lb_annotations: Mapping[str, str],
    service_monitor: bool,
    labels: Mapping[str, str],
) -> dict[str, Any]:
    return {
        "controller": {
            "replicaCount": replicas,
            "minAvailable": 1,  # the chart renders the PDB only when replicaCount > 1
            "ingressClass": INGRESS_CLASS,
            "ingressClassResource": {
                "name": INGRESS_CLASS,
                "enabled": True,
                "default": False,
                "controllerValue": INGRESS_CONTROLLER_VALUE,
            },
            "watchIngressWithoutClass": False,
            "allowSnippetAnnotations": False,  # snippets are arbitrary nginx config (CVE-2021-25742)
            "image": {
                "runAsNonRoot": True,
                "runAsUser": 101,
                "runAsGroup": 82,
                "allowPrivilegeEscalation": False,
                "seccompProfile": {"type": "RuntimeDefault"},
                # nginx writes its config and temp files under its root filesystem; the chart
                # mounts no scratch volumes, so read-only would crash it.
                "readOnlyRootFilesystem": False,
            },
            "nodeSelector": dict(node_selector),
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "topology.kubernetes.io/zone",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {
                        "matchLabels": {
                            "app.kubernetes.io/name": "ingress-nginx",
                            "app.kubernetes.io/component": "controller",
                        }
                    },
                }
            ],
            "resources": RESOURCES["ingress-controller"],
            # the certgen jobs: templates/admission-webhooks/job-patch/job-createSecret.yaml and
            # job-patchWebhook.yaml read these two `resources`
            "admissionWebhooks": {
                "patch": {"nodeSelector": dict(node_selector)},
                "createSecretJob": {"resources": RESOURCES["ingress-admission-jobs"]},
                "patchWebhookJob": {"resources": RESOURCES["ingress-admission-jobs"]},
            },
            "metrics": {
                "enabled": True,
                "portName": METRICS_PORT_NAME,
                "serviceMonitor": {"enabled": service_monitor},
            },
            "service": {
                "annotations": dict(lb_annotations),
                # keep the client source IP (rate limits, audit) and skip the extra node hop
                "externalTrafficPolicy": "Local",
            },
            # The chart writes `controller.labels` onto the Deployment and its pods, next to
            # `commonLabels` and `podLabels`: a key given twice is a duplicate YAML key that
            # Helm refuses, so the ownership labels go through commonLabels + podLabels only.
            "podLabels": chart_labels(labels),
        },
        "commonLabels": chart_labels(labels),
    }


def cert_manager_values(
    replicas: int, node_selector: Mapping[str, str], service_monitor: bool, labels: Mapping[str, str]
) -> dict[str, Any]:
    selector = dict(node_selector)
    return {
        "crds": {"enabled": True, "keep": True},  # keep: uninstalling must not delete every Certificate
        "replicaCount": replicas,
        "podDisruptionBudget": {"enabled": replicas > 1, "minAvailable": 1},
        "nodeSelector": selector,
        "resources": RESOURCES["cert-manager-controller"],
        "webhook": {
            "replicaCount": replicas,
            "nodeSelector": selector,
            "resources": RESOURCES["cert-manager-webhook"],
        },
        "cainjector": {
            "replicaCount": replicas,
            "nodeSelector": selector,
            "resources": RESOURCES["cert-manager-cainjector"],
        },
        "startupapicheck": {"nodeSelector": selector, "resources": RESOURCES["cert-manager-startupapicheck"]},
        "prometheus": {"enabled": True, "servicemonitor": {"enabled": service_monitor}},
        "podLabels": chart_labels(labels),
    }


def kserve_values(spec: ServingSpec, node_selector: Mapping[str, str]) -> dict[str, Any]:
    return {
        "kserve": {
            "controller": {
                "deploymentMode": KSERVE_DEPLOYMENT_MODE,
                "nodeSelector": dict(node_selector),
                "gateway": {
                    "domain": spec.domain,
                    # We render one TLS Ingress per model (ModelDeployment) so every runtime
                    # gets the same class, issuer annotation and certificate handling.
                    "disableIngressCreation": True,
                    "ingressGateway": {"className": INGRESS_CLASS},
                },
                "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                "containerSecurityContext": dict(RESTRICTED_CONTAINER),
            },
            # Models set no storageUri (their own init container syncs the model, download.py), so
            # the storage initializer is injected only into InferenceServices someone else writes;
            # it must pass `restricted` in the serving namespace all the same.
            "storage": {
                "containerSecurityContext": {
                    **RESTRICTED_CONTAINER,
                    "seccompProfile": {"type": "RuntimeDefault"},
                }
            },
        }
    }


def keda_values(replicas: int, node_selector: Mapping[str, str], labels: Mapping[str, str]) -> dict[str, Any]:
    """KEDA 2.20.2 (kedacore/charts@v2.20.2 keda/values.yaml). Its containers already run
    restricted (the chart's securityContext / podSecurityContext defaults); the admission
    webhooks keep `failurePolicy: Ignore`, so a ScaledObject applied while they start is admitted."""
    selector = dict(node_selector)
    return {
        "crds": {"install": True},
        "operator": {"replicaCount": replicas, "nodeSelector": selector},
        "metricsServer": {"replicaCount": replicas, "nodeSelector": selector},
        "webhooks": {"replicaCount": replicas, "nodeSelector": selector, "failurePolicy": "Ignore"},
        "podDisruptionBudget": {
            part: ({"minAvailable": 1} if replicas > 1 else {})
            for part in ("operator", "metricServer", "webhooks")
        },
        "additionalLabels": chart_labels(labels),
        "resources": {
            "operator": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
            "metricServer": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
            "webhooks": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        },
    }


def metrics_server_values(
    replicas: int, node_selector: Mapping[str, str], labels: Mapping[str, str]
) -> dict[str, Any]:
    """metrics-server chart 3.13.1 (kubernetes-sigs/metrics-server@metrics-server-helm-chart-3.13.1):
    the resource metrics API every CPU HPA reads. Its defaults already run restricted (non-root,
    read-only root, no capabilities) as `system-cluster-critical`."""
    return {
        "replicas": replicas,
        "podDisruptionBudget": {"enabled": True, "minAvailable": 1} if replicas > 1 else {"enabled": False},
        "nodeSelector": dict(node_selector),
        "commonLabels": chart_labels(labels),
        "resources": RESOURCES["metrics-server"],
    }
