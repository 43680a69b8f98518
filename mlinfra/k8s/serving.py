"""Cloud-agnostic model serving: ingress, TLS, KServe, a locked-down namespace, one model per component.

`ServingCluster` installs the shared serving stack once per cluster:
- ingress-nginx (Helm, pinned) behind an internal load balancer when the spec asks for one,
  with request metrics and a ServiceMonitor (the model request-rate/latency signals
  `nginx_ingress_controller_requests` / `nginx_ingress_controller_request_duration_seconds_bucket`);
- cert-manager (Helm, pinned, CRDs through `crds.enabled`) and one `ClusterIssuer`;
- KServe in raw-deployment mode (`kserve-crd` + `kserve` charts, same pinned version) with its
  own Ingress creation disabled, so every model gets the same TLS Ingress from us;
- the serving namespace: Pod Security `restricted`, ResourceQuota (incl. GPUs), LimitRange,
  default-deny NetworkPolicies with narrow allowances.

`ModelDeployment` serves one model behind TLS, either as a KServe `InferenceService`
(runtime "kserve") or as a plain Deployment + Service + HPA for any model-server image
(runtime "deployment"), always with its own ServiceAccount, PodDisruptionBudget, Ingress and
a pod that passes Pod Security `restricted`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from mlinfra.catalog import DEFAULT_KUBERNETES_VERSION, ENVIRONMENTS, SUPPORTED_KUBERNETES_VERSIONS
from mlinfra.components import child
from mlinfra.k8s.charts import CERT_MANAGER, INGRESS_NGINX, KSERVE, KSERVE_CRD
from mlinfra.k8s.metrics import (  # the serving <-> monitoring contract lives in metrics.py
    METRICS_PORT_NAME,
    MODEL_SERVER_LABEL,
    MODEL_SERVER_LABEL_VALUE,
)
from mlinfra.k8s.metrics import MODEL_NAME_LABEL as MODEL_LABEL
from mlinfra.k8s.objects import (
    chart_labels,
    from_namespace,
    helm_release,
    name_of,
    namespace,
    network_policy,
    object_labels,
    pod_security_labels,
)
from mlinfra.k8s.scheduling import GPU_RESOURCE, Scheduling
from mlinfra.spec import ModelSpec, ServingSpec, SpecError, check_image_pinned

# --------------------------------------------------------------------------- shared names

# The monitoring stack's ServiceMonitor selects model-server Services by this label and
# scrapes their port named `metrics` (mlinfra/k8s/metrics.py defines the same names).
HTTP_PORT_NAME = "http"
PRIVATE_CA_SECRET = "mlinfra-private-ca"  # cert-manager namespace; ca.crt is what clients trust

SERVICE_HTTP_PORT = 80  # the Service port the Ingress targets (KServe raw mode uses 80 too)
SERVICE_METRICS_PORT = 9090

# --------------------------------------------------------------------------- pinned charts

# Pinned charts (ingress-nginx, cert-manager, kserve-crd, kserve): mlinfra/k8s/charts.py.

INGRESS_NAMESPACE = "ingress-nginx"
CERT_MANAGER_NAMESPACE = "cert-manager"
KSERVE_NAMESPACE = "kserve"
# Our own IngressClass and controller class, so an ingress-nginx that already runs on a
# bring-your-own cluster neither serves our Ingresses nor has its Ingresses served by ours.
INGRESS_CLASS = "mlinfra-nginx"
INGRESS_CONTROLLER_VALUE = "k8s.io/mlinfra-ingress-nginx"

KSERVE_DEPLOYMENT_MODE = "RawDeployment"

LETSENCRYPT_SERVERS = {
    "letsencrypt": "https://acme-v02.api.letsencrypt.org/directory",
    "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}
ACME_SOLVER_LABEL = "acme.cert-manager.io/http01-solver"
ACME_SOLVER_PORT = 8089

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

# Egress a pod needs to exchange its Kubernetes identity for a cloud token, per cloud.
# AWS IRSA and Azure Workload Identity use a projected token + HTTPS (covered by allow-egress-https);
# EKS Pod Identity asks the node agent at 169.254.170.23:80; GKE Workload Identity asks the
# GKE metadata server, which listens on port 988 (169.254.169.252 with Dataplane V2,
# 127.0.0.1 otherwise). The node's instance metadata (169.254.169.254) stays blocked on AWS.
WORKLOAD_IDENTITY_EGRESS: dict[str, list[tuple[str, int]]] = {
    "aws": [("169.254.170.23/32", 80)],
    "gcp": [("169.254.169.252/32", 988), ("127.0.0.1/32", 988)],
    "azure": [],
    "kubernetes": [],
}

# Pod Security admission: `restricted` is enforced at the cluster's pinned minor version, so a
# control-plane upgrade never tightens the rules under running pods by surprise (the pin moves
# with `kubernetes_version`, in the same change that upgrades the cluster); audit and warn use
# `latest` so upcoming tightenings show up as warnings before they bite.
PSA_LEVEL = "restricted"
# Controllers and their webhooks must come up whole or not at all (atomic rolls back a failed
# install); large charts with CRDs take minutes on a fresh cluster.
RELEASE_OPTIONS: dict[str, Any] = {"atomic": True, "timeout": 600}

# Restricted security context of every model-server pod.
RUN_AS_USER = 1000
RUN_AS_GROUP = 1000
FS_GROUP = 1000
TMP_DIR = "/tmp"
CACHE_DIR = "/model-cache"
TMP_SIZE_LIMIT = "2Gi"
CACHE_SIZE_LIMIT = "100Gi"  # weights + compiled kernels; emptyDir on the node's (encrypted) disk
SHM_SIZE_LIMIT = "1Gi"  # PyTorch/NCCL shared memory; counts against the memory limit

# LimitRange defaults for containers that omit resources (required: the quota has limits.*).
DEFAULT_CONTAINER_LIMITS = {"cpu": "500m", "memory": "512Mi"}
DEFAULT_CONTAINER_REQUESTS = {"cpu": "100m", "memory": "128Mi"}

STARTUP_PROBE_MAX_SECONDS = 1800  # large models take minutes to download and load


SERVING_CLOUDS = ("aws", "gcp", "azure", "kubernetes")


# check_image_pinned (mlinfra.spec): the one rule for model-server images, also used by ModelSpec.


# --------------------------------------------------------------------------- ServingCluster


@dataclass
class ServingClusterArgs:
    """Inputs of `ServingCluster`.

    spec: the serving section of the platform spec (namespace, domain, TLS issuer, quota, LB).
    cloud: picks the internal load-balancer annotations and workload-identity egress.
    environment: dev | staging | prod (dev runs single replicas of the controllers).
    labels: must carry `owner` and `cost-center`; put on every object.
    node_selector: where the controllers run (the system pool).
    kubernetes_version: the cluster's pinned minor version; pins Pod Security `enforce-version`.
    monitoring_namespace: namespace whose Prometheus may scrape model pods (None: nobody).
    service_monitor: render ServiceMonitors (needs the Prometheus Operator CRDs installed first).
    load_balancer_annotations: replaces the computed ingress Service annotations (required for an
        internal load balancer on cloud "kubernetes", which has no standard annotation).
    """

    spec: ServingSpec
    cloud: Literal["aws", "gcp", "azure", "kubernetes"]
    environment: str
    labels: Mapping[str, str] = field(default_factory=dict)
    node_selector: Mapping[str, str] = field(default_factory=dict)
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    monitoring_namespace: str | None = "monitoring"
    service_monitor: bool = True
    load_balancer_annotations: Mapping[str, str] | None = None


class ServingCluster(pulumi.ComponentResource):
    """ingress-nginx + cert-manager + KServe (raw mode) + the locked-down serving namespace."""

    namespace: pulumi.Output[str]
    ingress_class: str
    cluster_issuer: str

    def __init__(self, name: str, args: ServingClusterArgs, opts: pulumi.ResourceOptions | None = None):
        spec = args.spec
        # ---- validate everything before the first child
        if args.cloud not in SERVING_CLOUDS:
            raise ValueError(f"cloud: {args.cloud!r} is not supported; allowed: {', '.join(SERVING_CLOUDS)}")
        if not spec.enabled:
            raise ValueError("spec.enabled: serving is disabled in the spec; do not create a ServingCluster")
        if args.kubernetes_version not in SUPPORTED_KUBERNETES_VERSIONS:
            raise ValueError(
                f"kubernetes_version: {args.kubernetes_version!r} is not supported; "
                f"allowed: {', '.join(SUPPORTED_KUBERNETES_VERSIONS)}"
            )
        if args.environment not in ENVIRONMENTS:
            raise SpecError(f"{args.environment!r} is not one of {', '.join(ENVIRONMENTS)}", "environment")
        base_labels = {**args.labels, "environment": args.environment}
        object_labels("serving", base_labels)  # validates before the first child
        lb_annotations = self._lb_annotations(args)

        super().__init__("mlinfra:k8s:ServingCluster", name, None, opts)

        self.ingress_class = INGRESS_CLASS
        self.cluster_issuer = f"mlinfra-{spec.tls_issuer}"
        self._labels = dict(args.labels)
        self._environment = args.environment
        self._spec = spec
        replicas = 1 if args.environment == "dev" else 2
        node_selector = {"kubernetes.io/os": "linux", **dict(args.node_selector)}

        def labels(component: str) -> dict[str, str]:
            return object_labels(component, base_labels)

        # ---- namespaces. Controllers: enforce baseline (third-party charts), audit/warn restricted.
        k8s_version = f"v{args.kubernetes_version}"

        def system_namespace(role: str, ns_name: str) -> k8s.core.v1.Namespace:
            return namespace(
                self,
                f"{name}-{role}-namespace",
                ns_name,
                labels(role),
                pod_security_labels("baseline", audit=PSA_LEVEL, enforce_version=k8s_version),
            )

        ingress_ns = system_namespace("ingress", INGRESS_NAMESPACE)
        cert_ns = system_namespace("cert-manager", CERT_MANAGER_NAMESPACE)
        kserve_ns = system_namespace("kserve", KSERVE_NAMESPACE)
        serving_ns = namespace(
            self,
            f"{name}-namespace",
            spec.namespace,
            labels("serving"),
            pod_security_labels(
                PSA_LEVEL, audit=PSA_LEVEL, enforce_version=k8s_version, audit_warn_version="latest"
            ),
        )
        ns_name = name_of(serving_ns)

        # ---- ingress-nginx
        ingress_values: dict[str, Any] = {
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
                "nodeSelector": node_selector,
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
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
                "admissionWebhooks": {"patch": {"nodeSelector": node_selector}},
                "metrics": {
                    "enabled": True,
                    "portName": METRICS_PORT_NAME,
                    "serviceMonitor": {"enabled": args.service_monitor},
                },
                "service": {
                    "annotations": lb_annotations,
                    # keep the client source IP (rate limits, audit) and skip the extra node hop
                    "externalTrafficPolicy": "Local",
                },
                # The chart writes `controller.labels` onto the Deployment and its pods, next to
                # `commonLabels` and `podLabels`: a key given twice is a duplicate YAML key that
                # Helm refuses, so the ownership labels go through commonLabels + podLabels only.
                "podLabels": chart_labels(labels("ingress")),
            },
            "commonLabels": chart_labels(labels("ingress")),
        }
        ingress_release = helm_release(
            self,
            f"{name}-ingress-nginx",
            release_name="ingress-nginx",
            pin=INGRESS_NGINX,
            namespace=name_of(ingress_ns),
            values=ingress_values,
            depends_on=[ingress_ns],
            **RELEASE_OPTIONS,
        )

        # ---- cert-manager
        cert_values: dict[str, Any] = {
            "crds": {"enabled": True, "keep": True},  # keep: uninstalling must not delete every Certificate
            "replicaCount": replicas,
            "podDisruptionBudget": {"enabled": replicas > 1, "minAvailable": 1},
            "nodeSelector": node_selector,
            "webhook": {"replicaCount": replicas, "nodeSelector": node_selector},
            "cainjector": {"replicaCount": replicas, "nodeSelector": node_selector},
            "startupapicheck": {"nodeSelector": node_selector},
            "prometheus": {"enabled": True, "servicemonitor": {"enabled": args.service_monitor}},
            "podLabels": chart_labels(labels("cert-manager")),
        }
        cert_release = helm_release(
            self,
            f"{name}-cert-manager",
            release_name="cert-manager",
            pin=CERT_MANAGER,
            namespace=name_of(cert_ns),
            values=cert_values,
            depends_on=[cert_ns],
            **RELEASE_OPTIONS,
        )
        issuer_deps: list[pulumi.Resource] = [cert_release]
        if spec.tls_issuer == "private-ca":
            issuer_deps.append(self._private_ca(name, cert_ns, cert_release, labels("cert-manager")))
        issuer = k8s.apiextensions.CustomResource(
            f"{name}-cluster-issuer",
            api_version="cert-manager.io/v1",
            kind="ClusterIssuer",
            metadata={"name": self.cluster_issuer, "labels": labels("cert-manager")},
            spec=self._issuer_spec(spec),
            opts=child(self, depends_on=issuer_deps),
        )

        # ---- KServe (raw deployment: plain Deployments/Services/HPAs, no Knative or Istio)
        kserve_crds = helm_release(
            self,
            f"{name}-kserve-crd",
            release_name="kserve-crd",
            pin=KSERVE_CRD,
            namespace=name_of(kserve_ns),
            depends_on=[kserve_ns],
            **RELEASE_OPTIONS,
        )
        kserve_values: dict[str, Any] = {
            "kserve": {
                "controller": {
                    "deploymentMode": KSERVE_DEPLOYMENT_MODE,
                    "nodeSelector": node_selector,
                    "gateway": {
                        "domain": spec.domain,
                        # We render one TLS Ingress per model (ModelDeployment) so every runtime
                        # gets the same class, issuer annotation and certificate handling.
                        "disableIngressCreation": True,
                        "ingressGateway": {"className": INGRESS_CLASS},
                    },
                    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containerSecurityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                        "privileged": False,
                        "readOnlyRootFilesystem": True,
                        "runAsNonRoot": True,
                    },
                },
                # The storage-initializer is injected into model pods in the `restricted`
                # serving namespace: its container must pass Pod Security too.
                "storage": {
                    "containerSecurityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                        "privileged": False,
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    }
                },
            }
        }
        kserve_release = helm_release(
            self,
            f"{name}-kserve",
            release_name="kserve",
            pin=KSERVE,
            namespace=name_of(kserve_ns),
            values=kserve_values,
            # KServe's webhooks get their serving certificates from cert-manager.
            depends_on=[kserve_ns, kserve_crds, cert_release],
            **RELEASE_OPTIONS,
        )

        # ---- serving namespace guardrails
        q = spec.quota
        k8s.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata={"name": "serving-quota", "namespace": ns_name, "labels": labels("serving")},
            spec={
                "hard": {
                    "requests.cpu": q.cpu,
                    "requests.memory": q.memory,
                    "limits.cpu": q.cpu,
                    "limits.memory": q.memory,
                    "pods": str(q.pods),
                    f"requests.{GPU_RESOURCE}": str(q.gpus),
                }
            },
            opts=child(self),
        )
        k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata={"name": "serving-limits", "namespace": ns_name, "labels": labels("serving")},
            spec={
                "limits": [
                    {
                        "type": "Container",
                        "default": dict(DEFAULT_CONTAINER_LIMITS),
                        "defaultRequest": dict(DEFAULT_CONTAINER_REQUESTS),
                        # no single container may claim more than the namespace's whole budget
                        "max": {"cpu": q.cpu, "memory": q.memory},
                    }
                ]
            },
            opts=child(self),
        )
        self._network_policies(name, args, ns_name, labels("serving"))

        # Model components consume `namespace`: resolving it only once the controllers, their
        # CRDs/webhooks and the issuer exist orders every model after them without depends_on.
        ready = [ingress_release.id, cert_release.id, issuer.id, kserve_release.id]
        self.namespace = pulumi.Output.all(ns_name, *ready).apply(lambda v: v[0])
        self.ingress_namespace = INGRESS_NAMESPACE
        self.register_outputs(
            {
                "namespace": self.namespace,
                "ingress_class": self.ingress_class,
                "cluster_issuer": self.cluster_issuer,
            }
        )

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _lb_annotations(args: ServingClusterArgs) -> dict[str, str]:
        if args.load_balancer_annotations is not None:
            return dict(args.load_balancer_annotations)
        if not args.spec.internal_load_balancer:
            return dict(PUBLIC_LB_ANNOTATIONS[args.cloud])
        if args.cloud not in INTERNAL_LB_ANNOTATIONS:
            raise ValueError(
                "load_balancer_annotations: spec.internal_load_balancer is on but cloud 'kubernetes' has "
                "no standard internal load-balancer annotation; pass the annotations your load balancer "
                "implementation uses"
            )
        return dict(INTERNAL_LB_ANNOTATIONS[args.cloud])

    def _private_ca(
        self, name: str, cert_ns: k8s.core.v1.Namespace, cert_release: pulumi.Resource, labels: dict[str, str]
    ) -> pulumi.Resource:
        """A private CA for internal endpoints: a self-signed root whose key stays in the cluster.

        Models behind an internal load balancer cannot answer Let's Encrypt's HTTP-01 challenge;
        the `private-ca` issuer signs their certificates with this root instead, and clients
        trust it by importing the `PRIVATE_CA_SECRET` certificate (ca.crt).
        """
        root = k8s.apiextensions.CustomResource(
            f"{name}-selfsigned-root",
            api_version="cert-manager.io/v1",
            kind="ClusterIssuer",
            metadata={"name": "mlinfra-selfsigned-root", "labels": labels},
            spec={"selfSigned": {}},
            opts=child(self, depends_on=[cert_release]),
        )
        return k8s.apiextensions.CustomResource(
            f"{name}-private-ca-cert",
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata={"name": PRIVATE_CA_SECRET, "namespace": cert_ns.metadata.name, "labels": labels},
            spec={
                "isCA": True,
                "commonName": "mlinfra serving private CA",
                "secretName": PRIVATE_CA_SECRET,
                "duration": "87600h",  # 10 years: the root; leaf certificates renew every 60 days
                "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Never"},
                "issuerRef": {
                    "name": "mlinfra-selfsigned-root",
                    "kind": "ClusterIssuer",
                    "group": "cert-manager.io",
                },
            },
            opts=child(self, depends_on=[root]),
        )

    @staticmethod
    def _issuer_spec(spec: ServingSpec) -> dict[str, Any]:
        if spec.tls_issuer == "selfsigned":
            return {"selfSigned": {}}
        if spec.tls_issuer == "private-ca":
            # The CA secret lives in cert-manager's cluster resource namespace (its own namespace).
            return {"ca": {"secretName": PRIVATE_CA_SECRET}}
        # HTTP-01 through our ingress class: the solver's temporary Ingress uses the same controller.
        # It needs the ingress reachable from Let's Encrypt on port 80, so the spec refuses
        # Let's Encrypt behind an internal load balancer (use private-ca there).
        return {
            "acme": {
                "server": LETSENCRYPT_SERVERS[spec.tls_issuer],
                "email": spec.acme_email,
                "privateKeySecretRef": {"name": f"mlinfra-{spec.tls_issuer}-account-key"},
                "solvers": [{"http01": {"ingress": {"ingressClassName": INGRESS_CLASS}}}],
            }
        }

    def _network_policies(
        self, name: str, args: ServingClusterArgs, namespace: pulumi.Input[str], labels: dict[str, str]
    ) -> None:
        def policy(role: str, spec: dict[str, Any]) -> None:
            network_policy(self, f"{name}-{role}", role, namespace, labels, spec)

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
        identity = WORKLOAD_IDENTITY_EGRESS[args.cloud]
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
        if args.monitoring_namespace:
            policy(
                "allow-from-monitoring",
                {
                    "podSelector": model_pods,
                    "policyTypes": ["Ingress"],
                    "ingress": [{"from": [from_namespace(args.monitoring_namespace)], "ports": http_port}],
                },
            )
        if args.spec.tls_issuer in LETSENCRYPT_SERVERS:
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

    def model_args(
        self,
        model: ModelSpec,
        *,
        storage_uri: pulumi.Input[str] | None = None,
        canary_storage_uri: pulumi.Input[str] | None = None,
        service_account_annotations: pulumi.Input[Mapping[str, str]] | None = None,
        scheduling: Scheduling | None = None,
        pod_labels: Mapping[str, str] | None = None,
    ) -> ModelDeploymentArgs:
        """`ModelDeploymentArgs` wired to this serving cluster (namespace, domain, class, issuer, labels)."""
        return ModelDeploymentArgs(
            model=model,
            namespace=self.namespace,
            domain=self._spec.domain,
            ingress_class=self.ingress_class,
            cluster_issuer=self.cluster_issuer,
            storage_uri=storage_uri,
            canary_storage_uri=canary_storage_uri,
            service_account_annotations=service_account_annotations or {},
            pod_labels=dict(pod_labels or {}),
            scheduling=scheduling,
            labels={**self._labels, "environment": self._environment},
        )


# --------------------------------------------------------------------------- ModelDeployment

STABLE, CANARY = "stable", "canary"
TRACK_LABEL = "mlinfra.io/track"  # stable | canary: keeps each revision's Service on its own pods


@dataclass(frozen=True)
class _Track:
    workload: pulumi.Resource
    service: str  # the Service the Ingress routes to


def sa_name(model: ModelSpec) -> str:
    """The model's ServiceAccount: one identity for both revisions (the canary reads under its prefix)."""
    return model.name


def _meta(name: str, args: ModelDeploymentArgs, labels: dict[str, str], **extra: Any) -> dict[str, Any]:
    """Object metadata in the serving namespace (`extra`: annotations)."""
    return {"name": name, "namespace": args.namespace, "labels": labels, **extra}


def _ingress_rule(host: str, service: str) -> dict[str, Any]:
    backend = {"service": {"name": service, "port": {"number": SERVICE_HTTP_PORT}}}
    return {"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}


@dataclass
class ModelDeploymentArgs:
    """Inputs of `ModelDeployment`.

    model: the model's spec (runtime, image, resources, replicas, probes path, canary).
    namespace: the serving namespace (`ServingCluster.namespace` orders the model after the controllers).
    domain / ingress_class / cluster_issuer: the host is `<model.name>.<domain>`, TLS from the issuer.
    storage_uri: where the weights live (KServe `storageUri`; `MODEL_STORAGE_URI` for plain images).
    canary_storage_uri: where the canary's weights live (model.canary_storage_path); else storage_uri.
    service_account_annotations: cloud identity binding (IRSA role-arn, GKE WI, Azure WI client-id).
    pod_labels: extra pod labels (e.g. `azure.workload.identity/use: "true"`).
    scheduling: tolerations + node selector of the GPU pool (`gpu_scheduling(pool)`); required with GPUs.
    labels: must carry `owner`, `cost-center` and `environment`.
    """

    model: ModelSpec
    namespace: pulumi.Input[str]
    domain: str
    ingress_class: str
    cluster_issuer: str
    storage_uri: pulumi.Input[str] | None = None
    canary_storage_uri: pulumi.Input[str] | None = None
    service_account_annotations: pulumi.Input[Mapping[str, str]] = field(default_factory=dict)
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    scheduling: Scheduling | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


class ModelDeployment(pulumi.ComponentResource):
    """One model behind TLS: KServe InferenceService or Deployment + Service + HPA."""

    host: str
    url: str
    service_account_name: str

    def __init__(self, name: str, args: ModelDeploymentArgs, opts: pulumi.ResourceOptions | None = None):
        m = args.model
        # ---- validate everything before the first child
        if m.gpus > 0 and args.scheduling is None:
            raise ValueError(
                f"scheduling: model {m.name!r} requests {m.gpus} GPU(s) but no scheduling was given; "
                "pass gpu_scheduling(<pool>) so the pod tolerates the GPU taint and lands on a GPU pool"
            )
        if m.min_replicas < 1:
            raise ValueError(
                f"model.min_replicas: {m.min_replicas} is not supported; the HPA (and KServe raw mode) "
                "needs at least 1 replica"
            )
        if m.runtime == "deployment" or m.image is not None:
            check_image_pinned(m.image, "model.image")
        if m.runtime == "kserve" and args.storage_uri is None:
            raise ValueError(
                f"storage_uri: runtime 'kserve' needs the model's storage URI (model {m.name!r})"
            )
        if m.canary is not None and m.canary.version is not None and args.canary_storage_uri is None:
            raise ValueError(
                f"canary_storage_uri: model {m.name!r} has a canary with a new version; pass its URI"
            )
        if not args.domain:
            raise ValueError("domain: must not be empty")
        if not args.ingress_class or not args.cluster_issuer:
            raise ValueError("ingress_class / cluster_issuer: must not be empty")
        labels = object_labels("model-server", args.labels, **{MODEL_LABEL: m.name})

        super().__init__("mlinfra:k8s:ModelDeployment", name, None, opts)

        self.host = f"{m.name}.{args.domain}"
        self.url = f"https://{self.host}"
        self.service_account_name = sa_name(m)
        selector = {MODEL_LABEL: m.name}
        pod_labels = {
            **labels,
            **dict(args.pod_labels),
            MODEL_SERVER_LABEL: MODEL_SERVER_LABEL_VALUE,
            **selector,
        }

        sa = k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=_meta(
                self.service_account_name, args, labels, annotations=args.service_account_annotations
            ),
            # No API token in the pod: model servers never talk to the Kubernetes API. Cloud
            # identity still works: the IRSA and Azure WI webhooks inject their own projected
            # token volume, and GKE WI uses the metadata server.
            automount_service_account_token=False,
            opts=child(self),
        )

        stable = self._track(name, m, args, labels, pod_labels, sa, track=STABLE)
        self._ingress(
            f"{name}-ingress",
            m.name,
            args,
            labels,
            {
                "cert-manager.io/cluster-issuer": args.cluster_issuer,
                "nginx.ingress.kubernetes.io/force-ssl-redirect": "true",
                # generation requests stream for minutes and carry large prompts
                "nginx.ingress.kubernetes.io/proxy-read-timeout": "300",
                "nginx.ingress.kubernetes.io/proxy-send-timeout": "300",
                "nginx.ingress.kubernetes.io/proxy-body-size": "16m",
            },
            stable,
        )
        if m.canary is not None:
            canary = self._track(name, m, args, labels, pod_labels, sa, track=CANARY)
            # ingress-nginx canary: a second Ingress for the same host that takes `canary-weight`
            # percent of the requests. It repeats the TLS block (every Ingress has TLS) but not
            # the issuer annotation, so cert-manager keeps one Certificate for the host.
            self._ingress(
                f"{name}-canary-ingress",
                f"{m.name}-canary",
                args,
                {**labels, TRACK_LABEL: CANARY},
                {
                    "nginx.ingress.kubernetes.io/canary": "true",
                    "nginx.ingress.kubernetes.io/canary-weight": str(m.canary.traffic_percent),
                },
                canary,
            )

        self.register_outputs(
            {"host": self.host, "url": self.url, "service_account_name": self.service_account_name}
        )

    def _ingress(
        self,
        resource_name: str,
        ingress_name: str,
        args: ModelDeploymentArgs,
        labels: dict[str, str],
        annotations: dict[str, str],
        track: _Track,
    ) -> None:
        """A TLS Ingress for the model's host, routing to one revision's Service."""
        k8s.networking.v1.Ingress(
            resource_name,
            metadata=_meta(ingress_name, args, labels, annotations=annotations),
            spec={
                "ingressClassName": args.ingress_class,
                "tls": [{"hosts": [self.host], "secretName": f"{args.model.name}-tls"}],
                "rules": [_ingress_rule(self.host, track.service)],
            },
            opts=child(self, depends_on=[track.workload]),
        )

    def _service(
        self,
        resource_name: str,
        service_name: str,
        args: ModelDeploymentArgs,
        labels: dict[str, str],
        selector: dict[str, str],
        ports: list[tuple[str, int, int | str]],
        depends_on: list[pulumi.Resource] | None = None,
    ) -> None:
        """A ClusterIP Service the model-server ServiceMonitor selects (its `metrics` port)."""
        k8s.core.v1.Service(
            resource_name,
            metadata=_meta(service_name, args, {**labels, MODEL_SERVER_LABEL: MODEL_SERVER_LABEL_VALUE}),
            spec={
                "type": "ClusterIP",
                "selector": selector,
                "ports": [
                    {"name": port_name, "port": port, "targetPort": target, "protocol": "TCP"}
                    for port_name, port, target in ports
                ],
            },
            opts=child(self, depends_on=depends_on) if depends_on else child(self),
        )

    def _track(
        self,
        name: str,
        m: ModelSpec,
        args: ModelDeploymentArgs,
        labels: dict[str, str],
        pod_labels: dict[str, str],
        sa: k8s.core.v1.ServiceAccount,
        track: str,
    ) -> _Track:
        """One revision of the model: its workload, Services and PDB (stable, or the canary)."""
        if track == CANARY:
            assert m.canary is not None
            m = m.model_copy(
                update={
                    "name": f"{m.name}-canary",
                    "image": m.canary.image or m.image,
                    "min_replicas": 1,
                    "max_replicas": m.canary.max_replicas,
                    "canary": None,
                }
            )
            storage_uri = args.canary_storage_uri if args.canary_storage_uri is not None else args.storage_uri
        else:
            storage_uri = args.storage_uri
        labels = {**labels, TRACK_LABEL: track}
        pod_labels = {**pod_labels, TRACK_LABEL: track}
        selector = {MODEL_LABEL: args.model.name, TRACK_LABEL: track}
        rname = f"{name}-canary" if track == CANARY else name  # the stable revision keeps its URNs
        pod = self._pod_fields(m, args, selector, service_account=sa_name(args.model))
        container = self._container_fields(m, args)
        if m.runtime == "kserve":
            workload = self._inference_service(
                rname, m, args, labels, pod_labels, pod, container, sa, storage_uri
            )
            backend_service = f"{m.name}-predictor"  # KServe raw mode: Service `<isvc>-predictor`, port 80
            workload_selector = {"serving.kserve.io/inferenceservice": m.name}
            self._service(
                f"{rname}-metrics",
                f"{m.name}-metrics",
                args,
                labels,
                workload_selector,
                [(METRICS_PORT_NAME, SERVICE_METRICS_PORT, m.port)],
                depends_on=[workload],
            )
        else:
            workload = self._deployment(
                rname, m, args, labels, pod_labels, selector, pod, container, sa, storage_uri
            )
            backend_service = m.name
            workload_selector = selector

        k8s.policy.v1.PodDisruptionBudget(
            f"{rname}-pdb",
            metadata=_meta(m.name, args, labels),
            spec={
                # maxUnavailable, not minAvailable: with one replica, minAvailable=1 would block
                # every node drain (cluster upgrades, scale-down of the GPU pool) forever.
                "maxUnavailable": 1,
                "selector": {"matchLabels": workload_selector},
                # a crash-looping pod must not block a drain either
                "unhealthyPodEvictionPolicy": "AlwaysAllow",
            },
            opts=child(self, depends_on=[workload]),
        )
        return _Track(workload=workload, service=backend_service)

    # ------------------------------------------------------------------ pod building blocks

    @staticmethod
    def _pod_fields(
        m: ModelSpec, args: ModelDeploymentArgs, selector: dict[str, str], service_account: str
    ) -> dict[str, Any]:
        pod: dict[str, Any] = {
            "serviceAccountName": service_account,
            "automountServiceAccountToken": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": RUN_AS_USER,
                "runAsGroup": RUN_AS_GROUP,
                "fsGroup": FS_GROUP,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "volumes": [
                {"name": "tmp", "emptyDir": {"sizeLimit": TMP_SIZE_LIMIT}},
                {"name": "model-cache", "emptyDir": {"sizeLimit": CACHE_SIZE_LIMIT}},
                {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": SHM_SIZE_LIMIT}},
            ],
            # Spread replicas over zones and nodes, but never leave a replica pending for it:
            # a GPU pool may have capacity in one zone only.
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": key,
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": dict(selector)},
                }
                for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
            ],
        }
        if args.scheduling is not None:
            pod.update(args.scheduling.pod_spec_fields())
        return pod

    @staticmethod
    def _container_fields(m: ModelSpec, args: ModelDeploymentArgs) -> dict[str, Any]:
        amounts = {"cpu": m.cpu, "memory": m.memory}
        if m.gpus > 0:
            amounts[GPU_RESOURCE] = str(m.gpus)
        probe = {"httpGet": {"path": m.health_path, "port": HTTP_PORT_NAME}}
        env = [
            {"name": "HF_HOME", "value": f"{CACHE_DIR}/huggingface"},
            {"name": "XDG_CACHE_HOME", "value": CACHE_DIR},
            {"name": "TMPDIR", "value": TMP_DIR},
        ]
        return {
            "ports": [{"name": HTTP_PORT_NAME, "containerPort": m.port, "protocol": "TCP"}],
            "env": env,
            # requests == limits: Guaranteed QoS, and GPUs must be equal anyway
            "resources": {"requests": dict(amounts), "limits": dict(amounts)},
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
                "readOnlyRootFilesystem": True,
                "privileged": False,
                "runAsNonRoot": True,
            },
            "volumeMounts": [
                {"name": "tmp", "mountPath": TMP_DIR},
                {"name": "model-cache", "mountPath": CACHE_DIR},
                {"name": "dshm", "mountPath": "/dev/shm"},
            ],
            "startupProbe": {
                **probe,
                "periodSeconds": 10,
                "timeoutSeconds": 5,
                "failureThreshold": STARTUP_PROBE_MAX_SECONDS // 10,
            },
            "readinessProbe": {**probe, "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3},
            "livenessProbe": {**probe, "periodSeconds": 20, "timeoutSeconds": 5, "failureThreshold": 3},
        }

    def _inference_service(
        self,
        name: str,
        m: ModelSpec,
        args: ModelDeploymentArgs,
        labels: dict[str, str],
        pod_labels: dict[str, str],
        pod: dict[str, Any],
        container: dict[str, Any],
        sa: k8s.core.v1.ServiceAccount,
        storage_uri: pulumi.Input[str] | None,
    ) -> k8s.apiextensions.CustomResource:
        # v1beta1 PredictorSpec inlines the PodSpec (serviceAccountName, securityContext, volumes,
        # tolerations, nodeSelector, ...) and the ComponentExtensionSpec (replicas, scaling,
        # labels); `model` inlines a Container merged over the ServingRuntime's container.
        # The image comes from the ServingRuntime selected by modelFormat.
        model: dict[str, Any] = {
            "modelFormat": {"name": m.model_format},
            "storageUri": storage_uri,
            **container,
        }
        predictor: dict[str, Any] = {
            **pod,
            "minReplicas": m.min_replicas,
            "maxReplicas": m.max_replicas,
            "scaleMetric": "cpu",
            "scaleTarget": m.target_utilization_percent,
            "labels": pod_labels,
            "model": model,
        }
        # No `canaryTrafficPercent`: KServe's raw mode does not split traffic by it (it does only
        # with Knative). A canary is a second InferenceService weighted at the ingress instead.
        return k8s.apiextensions.CustomResource(
            f"{name}-inference-service",
            api_version="serving.kserve.io/v1beta1",
            kind="InferenceService",
            metadata=_meta(
                m.name,
                args,
                labels,
                annotations={
                    "serving.kserve.io/deploymentMode": KSERVE_DEPLOYMENT_MODE,
                    "serving.kserve.io/autoscalerClass": "hpa",
                },
            ),
            spec={"predictor": predictor},
            opts=child(self, depends_on=[sa]),
        )

    def _deployment(
        self,
        name: str,
        m: ModelSpec,
        args: ModelDeploymentArgs,
        labels: dict[str, str],
        pod_labels: dict[str, str],
        selector: dict[str, str],
        pod: dict[str, Any],
        container: dict[str, Any],
        sa: k8s.core.v1.ServiceAccount,
        storage_uri: pulumi.Input[str] | None,
    ) -> k8s.apps.v1.Deployment:
        main = {"name": "model-server", "image": m.image, "imagePullPolicy": "IfNotPresent", **container}
        if storage_uri is not None:
            main["env"] = [*main["env"], {"name": "MODEL_STORAGE_URI", "value": storage_uri}]
        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=_meta(m.name, args, labels),
            spec={
                # no `replicas`: the HPA owns the count, and a re-apply must not reset it
                "selector": {"matchLabels": selector},
                "revisionHistoryLimit": 5,
                # surge first: never drop below the current capacity while a new replica loads
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                "template": {
                    "metadata": {"labels": pod_labels},
                    "spec": {**pod, "terminationGracePeriodSeconds": 60, "containers": [main]},
                },
            },
            opts=child(self, depends_on=[sa]),
        )
        self._service(
            f"{name}-service",
            m.name,
            args,
            labels,
            selector,
            [
                (HTTP_PORT_NAME, SERVICE_HTTP_PORT, HTTP_PORT_NAME),
                (METRICS_PORT_NAME, SERVICE_METRICS_PORT, HTTP_PORT_NAME),
            ],
        )
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-hpa",
            metadata=_meta(m.name, args, labels),
            spec={
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": m.name},
                "minReplicas": m.min_replicas,
                "maxReplicas": m.max_replicas,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {
                                "type": "Utilization",
                                "averageUtilization": m.target_utilization_percent,
                            },
                        },
                    }
                ],
                # a model replica is expensive to start: scale down slowly
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
            },
            opts=child(self, depends_on=[deployment]),
        )
        return deployment
