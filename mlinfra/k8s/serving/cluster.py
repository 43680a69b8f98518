"""ServingCluster: the shared serving stack, installed once per cluster.

- ingress-nginx (pinned) behind an internal load balancer when the spec asks for one, with
  request metrics (the per-model request-rate / latency / 5xx signals and the scale-from-zero
  wake-up);
- cert-manager (pinned, CRDs through `crds.enabled`) and one `ClusterIssuer`;
- KServe in raw-deployment mode (`kserve-crd` + `kserve`, same pinned version) with its own
  Ingress creation disabled, and the one ServingRuntime our `kserve` models use;
- KEDA (load-based autoscaling from Prometheus) and metrics-server (the resource metrics every
  CPU HPA reads; skipped where the cloud runs one: GKE, AKS);
- the serving namespace: Pod Security `restricted`, quota, limits and NetworkPolicies (guardrails.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from mlinfra.catalog import DEFAULT_KUBERNETES_VERSION, ENVIRONMENTS, SUPPORTED_KUBERNETES_VERSIONS
from mlinfra.components import child
from mlinfra.k8s.charts import (
    CERT_MANAGER,
    INGRESS_NGINX,
    KEDA,
    KSERVE,
    KSERVE_CRD,
    METRICS_SERVER,
    ChartPin,
)
from mlinfra.k8s.objects import helm_release, name_of, namespace, object_labels, pod_security_labels
from mlinfra.k8s.scheduling import Scheduling
from mlinfra.k8s.serving import controllers as values
from mlinfra.k8s.serving.common import (
    CERT_MANAGER_NAMESPACE,
    INGRESS_CLASS,
    INGRESS_NAMESPACE,
    KEDA_NAMESPACE,
    KSERVE_NAMESPACE,
    KSERVE_RUNTIME_NAME,
    METRICS_SERVER_NAMESPACE,
    PRIVATE_CA_SECRET,
    PSA_LEVEL,
    SERVING_CLOUDS,
)
from mlinfra.k8s.serving.guardrails import LETSENCRYPT_SERVERS, network_policies, quota_and_limits
from mlinfra.k8s.serving.model import ModelDeploymentArgs
from mlinfra.k8s.serving.runtimes import RUNTIME_TABLE
from mlinfra.spec import ModelSpec, ServingSpec, SpecError

# Controllers and their webhooks: a failed install must not be rolled back (`atomic`), see
# `_kserve`; large charts with CRDs take minutes on a fresh cluster.
RELEASE_OPTIONS: dict[str, Any] = {"timeout": 600, "max_history": 10}


@dataclass
class ServingClusterArgs:
    """Inputs of `ServingCluster`.

    spec: the serving section of the platform spec (namespace, domain, TLS issuer, quota, LB).
    cloud: picks the internal load-balancer annotations, workload-identity egress and the model
        download tool.
    environment: dev | staging | prod (dev runs single replicas of the controllers).
    labels: must carry `owner` and `cost-center`; put on every object.
    node_selector: where the controllers run (the system pool).
    kubernetes_version: the cluster's pinned minor version; pins Pod Security `enforce-version`.
    monitoring_namespace: namespace whose Prometheus may scrape model pods (None: nobody).
    service_monitor: render ServiceMonitors (needs the Prometheus Operator CRDs installed first).
    load_balancer_annotations: replaces the computed ingress Service annotations (required for an
        internal load balancer on cloud "kubernetes", which has no standard annotation).
    prometheus_url: the Prometheus KEDA reads model load from; None: no KEDA, models scale on CPU.
    install_metrics_server: False where the cloud runs metrics-server itself (GKE, AKS).
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
    prometheus_url: str | None = None
    install_metrics_server: bool = True


class ServingCluster(pulumi.ComponentResource):
    """ingress-nginx + cert-manager + KServe (raw mode) + KEDA + metrics-server + the serving namespace."""

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
        if args.prometheus_url is not None and not args.prometheus_url.startswith(("http://", "https://")):
            raise SpecError(f"{args.prometheus_url!r} is not an http(s) URL", "prometheus_url")
        base_labels = {**args.labels, "environment": args.environment}
        object_labels("serving", base_labels)  # validates before the first child
        lb_annotations = self._lb_annotations(args)

        super().__init__("mlinfra:k8s:ServingCluster", name, None, opts)

        self.ingress_class = INGRESS_CLASS
        self.cluster_issuer = f"mlinfra-{spec.tls_issuer}"
        self._args = args
        self._labels = dict(args.labels)
        self._environment = args.environment
        self._spec = spec
        self._name = name
        self._base_labels = base_labels
        self._replicas = values.replicas_for(args.environment)
        self._node_selector = {"kubernetes.io/os": "linux", **dict(args.node_selector)}

        serving_ns = namespace(
            self,
            f"{name}-namespace",
            spec.namespace,
            self._labels_for("serving"),
            pod_security_labels(
                PSA_LEVEL,
                audit=PSA_LEVEL,
                enforce_version=f"v{args.kubernetes_version}",
                audit_warn_version="latest",
            ),
        )
        ns_name = name_of(serving_ns)

        ingress_release = self._ingress_nginx(lb_annotations)
        cert_release, issuer = self._cert_manager()
        kserve_release, kserve_runtime = self._kserve(ns_name, cert_release)
        ready: list[pulumi.Resource] = [ingress_release, cert_release, issuer, kserve_release, kserve_runtime]
        if args.install_metrics_server:
            ready.append(self._metrics_server())
        if args.prometheus_url is not None:
            ready.append(self._keda())

        quota_and_limits(self, name, ns_name, spec.quota, self._labels_for("serving"))
        network_policies(
            self,
            name,
            ns_name,
            self._labels_for("serving"),
            cloud=args.cloud,
            monitoring_namespace=args.monitoring_namespace,
            acme=spec.tls_issuer in LETSENCRYPT_SERVERS,
        )

        # Model components consume `namespace`: resolving it only once the controllers, their
        # CRDs/webhooks, the issuer and the runtime exist orders every model after them.
        self.namespace = pulumi.Output.all(ns_name, *[r.id for r in ready]).apply(lambda v: v[0])
        self.ingress_namespace = INGRESS_NAMESPACE
        self.register_outputs(
            {
                "namespace": self.namespace,
                "ingress_class": self.ingress_class,
                "cluster_issuer": self.cluster_issuer,
            }
        )

    # ------------------------------------------------------------------ controllers

    def _labels_for(self, component: str) -> dict[str, str]:
        return object_labels(component, self._base_labels)

    def _system_namespace(self, role: str, ns_name: str) -> k8s.core.v1.Namespace:
        """Controllers' namespaces: enforce baseline (third-party charts), audit/warn restricted."""
        return namespace(
            self,
            f"{self._name}-{role}-namespace",
            ns_name,
            self._labels_for(role),
            pod_security_labels(
                "baseline", audit=PSA_LEVEL, enforce_version=f"v{self._args.kubernetes_version}"
            ),
        )

    def _release(
        self,
        pin: ChartPin,
        namespace: pulumi.Input[str],
        values: dict[str, Any] | None,
        depends_on: list[pulumi.Resource] | None = None,
        atomic: bool = True,
    ) -> k8s.helm.v3.Release:
        """A pinned controller chart, released under the chart's name (resource `<name>-<chart>`)."""
        extra = {} if atomic else {"cleanup_on_fail": False}
        return helm_release(
            self,
            f"{self._name}-{pin.name}",
            release_name=pin.name,
            pin=pin,
            namespace=namespace,
            values=values,
            depends_on=depends_on,
            atomic=atomic,
            **extra,
            **RELEASE_OPTIONS,
        )

    def _ingress_nginx(self, lb_annotations: dict[str, str]) -> k8s.helm.v3.Release:
        ns = self._system_namespace("ingress", INGRESS_NAMESPACE)
        chart_values = values.ingress_nginx_values(
            self._replicas,
            self._node_selector,
            lb_annotations,
            self._args.service_monitor,
            self._labels_for("ingress"),
        )
        return self._release(INGRESS_NGINX, name_of(ns), chart_values, [ns])

    def _cert_manager(self) -> tuple[k8s.helm.v3.Release, pulumi.Resource]:
        ns = self._system_namespace("cert-manager", CERT_MANAGER_NAMESPACE)
        labels = self._labels_for("cert-manager")
        chart_values = values.cert_manager_values(
            self._replicas, self._node_selector, self._args.service_monitor, labels
        )
        release = self._release(CERT_MANAGER, name_of(ns), chart_values, [ns])
        issuer_deps: list[pulumi.Resource] = [release]
        if self._spec.tls_issuer == "private-ca":
            issuer_deps.append(self._private_ca(ns, release, labels))
        issuer = k8s.apiextensions.CustomResource(
            f"{self._name}-cluster-issuer",
            api_version="cert-manager.io/v1",
            kind="ClusterIssuer",
            metadata={"name": self.cluster_issuer, "labels": labels},
            spec=self._issuer_spec(self._spec),
            opts=child(self, depends_on=issuer_deps),
        )
        return release, issuer

    def _kserve(
        self, serving_ns: pulumi.Output[str], cert_release: pulumi.Resource
    ) -> tuple[k8s.helm.v3.Release, pulumi.Resource]:
        """KServe (raw deployment: plain Deployments/Services, no Knative or Istio) and our runtime.

        Convergence on a fresh cluster (kserve/kserve#5037, #4844): the v0.15.2 chart always
        renders its ClusterServingRuntimes next to their validating webhook (failurePolicy: Fail)
        served by the controller the same release starts. Helm v3 - what Pulumi's
        helm.v3.Release embeds (pulumi-kubernetes provider/go.mod: helm.sh/helm/v3 v3.20) -
        creates kinds it does not know (custom resources, webhook configurations) after the known
        ones, sorted by kind name, so on a fresh cluster the runtimes exist before the webhook
        does and are admitted (Helm v4 orders webhook configurations first: that is the failure
        in #4844 and #5037). A release that fails anyway (controller not Ready within the timeout
        while cert-manager issues its serving certificate) must not be `atomic`: atomic uninstalls
        it, so every retry starts from scratch with the webhook again unserved; kept, the
        controller, its certificate and the webhooks stay, and the next `pulumi up` upgrades the
        release against a serving webhook. The release waits for the controller (Helm --wait on
        its Deployment, which cannot start before its certificate Secret exists), and only then is
        the one runtime our models use created, as our own ServingRuntime: so no model depends on
        the chart's runtimes, and ours is admitted by a webhook that is up.
        """
        ns = self._system_namespace("kserve", KSERVE_NAMESPACE)
        crds = self._release(KSERVE_CRD, name_of(ns), None, [ns])  # CRDs only: no webhook involved
        release = self._release(
            KSERVE,
            name_of(ns),
            values.kserve_values(self._spec, self._node_selector),
            # KServe's webhooks get their serving certificates from cert-manager.
            depends_on=[ns, crds, cert_release],
            atomic=False,
        )
        return release, self._kserve_runtime(serving_ns, release)

    def _kserve_runtime(self, serving_ns: pulumi.Output[str], release: pulumi.Resource) -> pulumi.Resource:
        """The ServingRuntime of runtime `kserve`: KServe's Hugging Face server image, selected by name.

        Models add their arguments, probes, resources and volumes (KServe merges the
        InferenceService's container over this one and appends its args, kserve@v0.15.2
        pkg/controller/v1beta1/inferenceservice/utils/utils.go MergeRuntimeContainers). The
        storage helper is off: models sync their files with their own init container.
        """
        row = RUNTIME_TABLE["kserve"]
        return k8s.apiextensions.CustomResource(
            f"{self._name}-kserve-runtime",
            api_version="serving.kserve.io/v1alpha1",
            kind="ServingRuntime",
            metadata={
                "name": KSERVE_RUNTIME_NAME,
                "namespace": serving_ns,
                "labels": self._labels_for("serving"),
            },
            spec={
                "supportedModelFormats": [{"name": "huggingface", "version": "1", "autoSelect": False}],
                "protocolVersions": ["v1", "v2"],
                "multiModel": False,
                "storageHelper": {"disabled": True},
                "containers": [{"name": "kserve-container", "image": row.image}],
            },
            opts=child(self, depends_on=[release]),
        )

    def _keda(self) -> k8s.helm.v3.Release:
        ns = self._system_namespace("keda", KEDA_NAMESPACE)
        chart_values = values.keda_values(self._replicas, self._node_selector, self._labels_for("keda"))
        return self._release(KEDA, name_of(ns), chart_values, [ns])

    def _metrics_server(self) -> k8s.helm.v3.Release:
        chart_values = values.metrics_server_values(
            self._replicas, self._node_selector, self._labels_for("metrics-server")
        )
        return self._release(METRICS_SERVER, METRICS_SERVER_NAMESPACE, chart_values)

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _lb_annotations(args: ServingClusterArgs) -> dict[str, str]:
        if args.load_balancer_annotations is not None:
            return dict(args.load_balancer_annotations)
        if not args.spec.internal_load_balancer:
            return dict(values.PUBLIC_LB_ANNOTATIONS[args.cloud])
        if args.cloud not in values.INTERNAL_LB_ANNOTATIONS:
            raise ValueError(
                "load_balancer_annotations: spec.internal_load_balancer is on but cloud 'kubernetes' has "
                "no standard internal load-balancer annotation; pass the annotations your load balancer "
                "implementation uses"
            )
        return dict(values.INTERNAL_LB_ANNOTATIONS[args.cloud])

    def _private_ca(
        self, cert_ns: k8s.core.v1.Namespace, cert_release: pulumi.Resource, labels: dict[str, str]
    ) -> pulumi.Resource:
        """A private CA for internal endpoints: a self-signed root whose key stays in the cluster.

        Models behind an internal load balancer cannot answer Let's Encrypt's HTTP-01 challenge;
        the `private-ca` issuer signs their certificates with this root instead, and clients
        trust it by importing the `PRIVATE_CA_SECRET` certificate (ca.crt).
        """
        root = k8s.apiextensions.CustomResource(
            f"{self._name}-selfsigned-root",
            api_version="cert-manager.io/v1",
            kind="ClusterIssuer",
            metadata={"name": "mlinfra-selfsigned-root", "labels": labels},
            spec={"selfSigned": {}},
            opts=child(self, depends_on=[cert_release]),
        )
        return k8s.apiextensions.CustomResource(
            f"{self._name}-private-ca-cert",
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

    def model_args(
        self,
        model: ModelSpec,
        *,
        storage_uri: pulumi.Input[str] | None = None,
        canary_storage_uri: pulumi.Input[str] | None = None,
        service_account_annotations: pulumi.Input[Mapping[str, str]] | None = None,
        scheduling: Scheduling | None = None,
        pod_labels: Mapping[str, str] | None = None,
        startup_budget_s: int | None = None,
    ) -> ModelDeploymentArgs:
        """`ModelDeploymentArgs` wired to this serving cluster (namespace, domain, class, issuer,
        labels, the download tool of its cloud and the Prometheus KEDA reads)."""
        extra: dict[str, Any] = {} if startup_budget_s is None else {"startup_budget_s": startup_budget_s}
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
            cloud=self._args.cloud,
            prometheus_url=self._args.prometheus_url,
            **extra,
        )
