"""Pods the NetworkPolicy flow tests of every cloud share: the charts' pods (labels, namespaces and
ports their templates give them, cited next to each) and the layer's own pods read from a plan."""

from __future__ import annotations

from mlinfra.k8s.gpu import DCGM_EXPORTER_PORT
from mlinfra.k8s.serving import CERT_MANAGER_NAMESPACE, INGRESS_NAMESPACE, KSERVE_NAMESPACE
from mlinfra.offline import Plan
from mlinfra.offline.network_policies import Endpoint, PolicySet, pods_in

GPU_NODE = "gpu-node-1"

# The pods the charts and the cluster run (not rendered in the plan: they come from Helm and the
# cloud's add-ons). Cluster DNS: EKS's CoreDNS add-on (Deployment `coredns`, the upstream kubernetes
# coredns manifest) and GKE's kube-dns (Deployment `kube-dns`) both run in kube-system with pods
# labelled k8s-app=kube-dns, serving 53/UDP and 53/TCP.
COREDNS = Endpoint(
    "coredns", "10.30.0.53", "kube-system", {"k8s-app": "kube-dns"}, {"dns": 53, "dns-tcp": 53}, node="sys-1"
)
# kube-prometheus-stack 81.4.3: the operator labels Prometheus pods app.kubernetes.io/name=prometheus.
PROMETHEUS = Endpoint(
    "prometheus", "10.30.0.90", "monitoring", {"app.kubernetes.io/name": "prometheus"}, node="sys-1"
)
# ingress-nginx 4.14.3: controller pods app.kubernetes.io/{name: ingress-nginx, component: controller};
# the admission webhook is served by the controller on 8443 ("webhook" port).
INGRESS = Endpoint(
    "ingress-nginx controller",
    "10.30.0.80",
    INGRESS_NAMESPACE,
    {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"},
    {"http": 80, "https": 443, "webhook": 8443},
    node="sys-2",
)
# cert-manager v1.18.2: webhook pods app.kubernetes.io/{name: webhook, component: webhook}, port 10250 "https".
CERT_MANAGER_WEBHOOK = Endpoint(
    "cert-manager webhook",
    "10.30.0.81",
    CERT_MANAGER_NAMESPACE,
    {"app.kubernetes.io/name": "webhook", "app.kubernetes.io/component": "webhook"},
    {"https": 10250},
    node="sys-2",
)
# kserve v0.15.2: controller-manager pods control-plane=kserve-controller-manager, webhook on 9443.
KSERVE_WEBHOOK = Endpoint(
    "kserve webhook",
    "10.30.0.82",
    KSERVE_NAMESPACE,
    {"control-plane": "kserve-controller-manager"},
    {"webhook-server": 9443},
    node="sys-3",
)
STRANGER = Endpoint("pod in default", "10.30.2.5", "default", {"app": "curious"}, node="sys-3")


def layer_setup(*plans: Plan) -> tuple[PolicySet, dict[str, Endpoint], Endpoint]:
    """The policies of `plans`, their model pods (on GPU_NODE) and the DCGM exporter pod."""
    policies = PolicySet.from_plans(*plans)
    models = {
        name: pod for plan in plans for name, pod in pods_in(plan, ip="10.30.1.50", node=GPU_NODE).items()
    }
    gpu_ns = next(
        r.inputs["metadata"]["name"]
        for plan in plans
        for r in plan.of_type("kubernetes:core/v1:Namespace")
        if "GpuEnablement" in r.urn
    )
    dcgm = Endpoint(
        "dcgm-exporter",
        "10.30.1.51",
        gpu_ns,
        # NVIDIA/dcgm-exporter 4.5.3-4.8.2 deployment/templates/_helpers.tpl selectorLabels
        {"app.kubernetes.io/name": "dcgm-exporter", "app.kubernetes.io/instance": "dcgm-exporter"},
        {"metrics": DCGM_EXPORTER_PORT},
        node=GPU_NODE,
    )
    return policies, models, dcgm
