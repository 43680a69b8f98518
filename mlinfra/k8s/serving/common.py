"""Names and settings the serving cluster and the model deployments share."""

from __future__ import annotations

from typing import Any

from mlinfra.spec import check_image_pinned

__all__ = ["check_image_pinned"]

# The monitoring stack's ServiceMonitor selects model-server Services by MODEL_SERVER_LABEL and
# scrapes their port named `metrics` (mlinfra/k8s/metrics.py defines the contract).
HTTP_PORT_NAME = "http"
PRIVATE_CA_SECRET = "mlinfra-private-ca"  # cert-manager namespace; ca.crt is what clients trust

SERVICE_HTTP_PORT = 80  # the Service port the Ingress targets (KServe raw mode uses 80 too)
SERVICE_METRICS_PORT = 9090

INGRESS_NAMESPACE = "ingress-nginx"
CERT_MANAGER_NAMESPACE = "cert-manager"
KSERVE_NAMESPACE = "kserve"
KEDA_NAMESPACE = "keda"
# metrics-server serves the resource metrics API (metrics.k8s.io) from kube-system, as every
# distribution installs it (kubernetes-sigs/metrics-server README).
METRICS_SERVER_NAMESPACE = "kube-system"
# Our own IngressClass and controller class, so an ingress-nginx that already runs on a
# bring-your-own cluster neither serves our Ingresses nor has its Ingresses served by ours.
INGRESS_CLASS = "mlinfra-nginx"
INGRESS_CONTROLLER_VALUE = "k8s.io/mlinfra-ingress-nginx"

KSERVE_DEPLOYMENT_MODE = "RawDeployment"
# The namespaced ServingRuntime models with runtime "kserve" use (created by ServingCluster once
# the KServe controller and its webhooks serve).
KSERVE_RUNTIME_NAME = "mlinfra-huggingface"

SERVING_CLOUDS = ("aws", "gcp", "azure", "kubernetes")

# Pod Security admission: `restricted` is enforced at the cluster's pinned minor version, so a
# control-plane upgrade never tightens the rules under running pods by surprise (the pin moves
# with `kubernetes_version`, in the same change that upgrades the cluster); audit and warn use
# `latest` so upcoming tightenings show up as warnings before they bite.
PSA_LEVEL = "restricted"

# Restricted security context of every model-server pod.
RUN_AS_USER = 1000
RUN_AS_GROUP = 1000
FS_GROUP = 1000

# A container that passes Pod Security `restricted` with a read-only root filesystem.
RESTRICTED_CONTAINER: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "privileged": False,
    "runAsNonRoot": True,
}

# LimitRange defaults for containers that omit resources (required: the quota has limits.*).
DEFAULT_CONTAINER_LIMITS = {"cpu": "500m", "memory": "512Mi"}
DEFAULT_CONTAINER_REQUESTS = {"cpu": "100m", "memory": "128Mi"}


# check_image_pinned (mlinfra.spec): the one rule for model-server images, also used by ModelSpec.
