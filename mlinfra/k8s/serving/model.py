"""ModelDeployment: one model behind TLS, served by its runtime (runtimes.py).

Runtime `kserve` becomes a KServe InferenceService (raw deployment) on our ServingRuntime; the
others a Deployment + Service. Every model gets its own ServiceAccount (the cloud identity the
download init container uses), a PodDisruptionBudget, an Ingress with TLS, autoscaling on its
load (autoscaling.py) and a pod that passes Pod Security `restricted`. A canary is a second
revision with its own pods, weighted at the ingress.

The workload waits for its pods to be Ready (`pulumi up` blocks on a Deployment's rollout, and on
an InferenceService's Ready condition through `pulumi.com/waitFor`), with custom timeouts that
cover the startup budget: a GPU node scale-up, the image pull, the model download and the
startup probe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlinfra.components import child
from mlinfra.k8s.metrics import (
    METRICS_PORT_NAME,
    MODEL_SERIES_LABEL,
    MODEL_SERVER_LABEL,
    MODEL_SERVER_LABEL_VALUE,
    NGINX_CANARY_LABEL,
    TRACK_SERIES_LABEL,
)
from mlinfra.k8s.metrics import MODEL_NAME_LABEL as MODEL_LABEL
from mlinfra.k8s.objects import object_labels
from mlinfra.k8s.scheduling import Scheduling
from mlinfra.k8s.serving import autoscaling as scaling
from mlinfra.k8s.serving.common import (
    HTTP_PORT_NAME,
    KSERVE_DEPLOYMENT_MODE,
    KSERVE_RUNTIME_NAME,
    SERVICE_HTTP_PORT,
    SERVICE_METRICS_PORT,
    check_image_pinned,
)
from mlinfra.k8s.serving.download import sync_tool
from mlinfra.k8s.serving.pod import STARTUP_PROBE_MAX_SECONDS, pod_fields, server_container
from mlinfra.k8s.serving.runtimes import LoadMetric, Runtime, runtime_of
from mlinfra.spec import ModelSpec, SpecError, check_model_autoscaling

STABLE, CANARY = "stable", "canary"
TRACK_LABEL = "mlinfra.io/track"  # stable | canary: keeps each revision's Service on its own pods

# The startup budget of a model pod, end to end (seconds):
NODE_SCALE_UP_S = 15 * 60  # cluster-autoscaler --max-node-provision-time default (FAQ): a new GPU node
IMAGE_PULL_S = 15 * 60  # multi-GB server images (vLLM, Triton) onto an empty node
MODEL_DOWNLOAD_S = 20 * 60  # tens of GB of weights from object storage
STARTUP_BUDGET_S = NODE_SCALE_UP_S + IMAGE_PULL_S + MODEL_DOWNLOAD_S + STARTUP_PROBE_MAX_SECONDS
DELETE_TIMEOUT = "10m"
# pulumi-kubernetes: await any resource on a condition (CHANGELOG, `pulumi.com/waitFor`; the
# provider does not otherwise wait for custom resources).
WAIT_FOR_ANNOTATION = "pulumi.com/waitFor"

# Runtimes whose model files must come from the artifact store (image may bake them in).
NEEDS_MODEL_FILES = ("kserve", "vllm", "triton")


@dataclass(frozen=True)
class _Track:
    workload: pulumi.Resource
    service: str  # the Service the Ingress routes to


@dataclass(frozen=True)
class _Revision:
    """What differs between the stable revision and the canary."""

    track: str  # stable | canary
    rname: str  # Pulumi resource-name prefix
    name: str  # object name: <model> | <model>-canary
    labels: dict[str, str]
    pod_labels: dict[str, str]
    selector: dict[str, str]
    min_replicas: int
    max_replicas: int
    image: str
    storage_uri: Any


def sa_name(model: ModelSpec) -> str:
    """The model's ServiceAccount: one identity for both revisions (the canary reads under its prefix)."""
    return model.name


def _minutes(seconds: int) -> str:
    return f"{-(-seconds // 60)}m"


@dataclass
class ModelDeploymentArgs:
    """Inputs of `ModelDeployment`.

    model: the model's spec (runtime, image, resources, replicas, load target, canary).
    namespace: the serving namespace (`ServingCluster.namespace` orders the model after the controllers).
    domain / ingress_class / cluster_issuer: the host is `<model.name>.<domain>`, TLS from the issuer.
    storage_uri: where the model's files live (`<bucket>/models/<name>/<version>/`); the init
        container syncs them into the model directory. Required except for runtime image.
    canary_storage_uri: where the canary's files live (model.canary_storage_path); else storage_uri.
    service_account_annotations: cloud identity binding (IRSA role-arn, GKE WI, Azure WI client-id).
    pod_labels: extra pod labels (e.g. `azure.workload.identity/use: "true"`).
    scheduling: tolerations + affinity of the GPU pools (`accelerator_scheduling`); required with GPUs.
    labels: must carry `owner`, `cost-center` and `environment`.
    cloud: picks the download tool (download.SYNC_TOOLS); "kubernetes": by the URI's scheme.
    prometheus_url: where KEDA reads the load metric; None: CPU autoscaling.
    startup_budget_s: custom create/update timeout of the workload (>= the startup budget).
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
    cloud: str = "kubernetes"
    prometheus_url: str | None = None
    startup_budget_s: int = STARTUP_BUDGET_S


class ModelDeployment(pulumi.ComponentResource):
    """One model behind TLS: KServe InferenceService or Deployment + Service, autoscaled on load."""

    host: str
    url: str
    service_account_name: str

    def __init__(self, name: str, args: ModelDeploymentArgs, opts: pulumi.ResourceOptions | None = None):
        m = args.model
        runtime = runtime_of(m)
        self._load = self._check(args, runtime)
        labels = object_labels("model-server", args.labels, **{MODEL_LABEL: m.name})
        self._tool = (
            sync_tool(args.cloud, args.storage_uri)
            if args.storage_uri is not None or args.canary_storage_uri is not None
            else None
        )

        super().__init__("mlinfra:k8s:ModelDeployment", name, None, opts)

        self.host = f"{m.name}.{args.domain}"
        self.url = f"https://{self.host}"
        self.service_account_name = sa_name(m)
        self._runtime = runtime
        pod_labels = {
            **labels,
            **dict(args.pod_labels),
            MODEL_SERVER_LABEL: MODEL_SERVER_LABEL_VALUE,
            MODEL_LABEL: m.name,
        }
        timeout = _minutes(args.startup_budget_s)
        self._timeouts = pulumi.CustomTimeouts(create=timeout, update=timeout, delete=DELETE_TIMEOUT)

        sa = k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=self._meta(
                self.service_account_name, args, labels, annotations=args.service_account_annotations
            ),
            # No API token in the pod: model servers never talk to the Kubernetes API. Cloud
            # identity still works: the IRSA / EKS Pod Identity and Azure WI webhooks inject their
            # own projected token volume, and GKE WI uses the metadata server.
            automount_service_account_token=False,
            opts=child(self),
        )

        stable = self._track(name, args, labels, pod_labels, sa, track=STABLE)
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
            canary = self._track(name, args, labels, pod_labels, sa, track=CANARY)
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

    # ------------------------------------------------------------------ validation

    @staticmethod
    def _check(args: ModelDeploymentArgs, runtime: Runtime) -> LoadMetric | None:
        """Everything that can be refused, before the first child. Returns the load metric in use."""
        m = args.model
        if m.gpus > 0 and args.scheduling is None:
            raise ValueError(
                f"scheduling: model {m.name!r} requests {m.gpus} GPU(s) but no scheduling was given; "
                "pass accelerator_scheduling(...) so the pod tolerates the GPU taint and lands on a GPU pool"
            )
        check_image_pinned(runtime.image_for(m), "model.image")
        if m.runtime in NEEDS_MODEL_FILES and args.storage_uri is None:
            raise ValueError(
                f"storage_uri: runtime {m.runtime!r} loads the model from the artifact store; pass the URI "
                f"of model {m.name!r}"
            )
        if m.canary is not None and m.canary.version is not None and args.canary_storage_uri is None:
            raise ValueError(
                f"canary_storage_uri: model {m.name!r} has a canary with a new version; pass its URI"
            )
        if not args.domain:
            raise ValueError("domain: must not be empty")
        if not args.ingress_class or not args.cluster_issuer:
            raise ValueError("ingress_class / cluster_issuer: must not be empty")
        if args.startup_budget_s < STARTUP_PROBE_MAX_SECONDS:
            raise SpecError(
                f"{args.startup_budget_s}s is shorter than the startup probe alone ({STARTUP_PROBE_MAX_SECONDS}s)",
                "startup_budget_s",
            )
        load = runtime.load_for(m) if args.prometheus_url else None
        if m.min_replicas == 0:
            env = args.labels.get("environment")
            if env != "dev":
                raise SpecError(f"scale to zero is for dev only (environment is {env})", "model.min_replicas")
        # the spec's rule (PlatformSpec and the layer make it too): load_target vs CPU target, scale to zero
        check_model_autoscaling(m, bool(args.prometheus_url), meaning=load.meaning if load else None)
        return load

    # ------------------------------------------------------------------ one revision

    def _revision(self, name: str, args: ModelDeploymentArgs, labels, pod_labels, track: str) -> _Revision:
        m = args.model
        canary = track == CANARY
        if canary:
            assert m.canary is not None
        return _Revision(
            track=track,
            # the stable revision keeps the component's resource names (and URNs)
            rname=f"{name}-canary" if canary else name,
            name=f"{m.name}-canary" if canary else m.name,
            labels={**labels, TRACK_LABEL: track},
            pod_labels={**pod_labels, TRACK_LABEL: track},
            selector={MODEL_LABEL: m.name, TRACK_LABEL: track},
            min_replicas=1 if canary else m.min_replicas,
            max_replicas=m.canary.max_replicas if canary and m.canary else m.max_replicas,
            image=(m.canary.image if canary and m.canary and m.canary.image else self._runtime.image_for(m)),
            storage_uri=(
                args.canary_storage_uri
                if canary and args.canary_storage_uri is not None
                else args.storage_uri
            ),
        )

    def _track(
        self,
        name: str,
        args: ModelDeploymentArgs,
        labels: dict[str, str],
        pod_labels: dict[str, str],
        sa: k8s.core.v1.ServiceAccount,
        track: str,
    ) -> _Track:
        """One revision of the model: its workload, Services, autoscaler and PDB (stable, or the canary)."""
        m = args.model
        rev = self._revision(name, args, labels, pod_labels, track)
        download = (
            (self._tool, rev.storage_uri) if self._tool is not None and rev.storage_uri is not None else None
        )
        pod = pod_fields(rev.selector, sa_name(m), args.scheduling, download)
        container = server_container(m, self._runtime, rev.image)
        metrics_target = METRICS_PORT_NAME if self._runtime.metrics_port is not None else HTTP_PORT_NAME

        if m.runtime == "kserve":
            workload = self._inference_service(rev, args, pod, container, sa)
            # KServe raw mode names the Deployment and the Service `<isvc>-predictor`
            deployment = backend_service = f"{rev.name}-predictor"
            workload_selector = {"serving.kserve.io/inferenceservice": rev.name}
            self._service(
                f"{rev.rname}-metrics",
                f"{rev.name}-metrics",
                args,
                rev.labels,
                workload_selector,
                [(METRICS_PORT_NAME, SERVICE_METRICS_PORT, metrics_target)],
                depends_on=[workload],
            )
        else:
            workload = self._deployment(rev, args, pod, container, sa)
            deployment = backend_service = rev.name
            workload_selector = rev.selector
            self._service(
                f"{rev.rname}-service",
                rev.name,
                args,
                rev.labels,
                rev.selector,
                [
                    (HTTP_PORT_NAME, SERVICE_HTTP_PORT, HTTP_PORT_NAME),
                    (METRICS_PORT_NAME, SERVICE_METRICS_PORT, metrics_target),
                ],
            )
        self._autoscaler(rev, deployment, args, workload)

        k8s.policy.v1.PodDisruptionBudget(
            f"{rev.rname}-pdb",
            metadata=self._meta(rev.name, args, rev.labels),
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

    def _inference_service(
        self,
        rev: _Revision,
        args: ModelDeploymentArgs,
        pod: dict[str, Any],
        container: dict[str, Any],
        sa: k8s.core.v1.ServiceAccount,
    ) -> k8s.apiextensions.CustomResource:
        # v1beta1 PredictorSpec inlines the PodSpec (serviceAccountName, securityContext, volumes,
        # initContainers, tolerations, affinity, ...) and the ComponentExtensionSpec (replicas,
        # scaling, labels); `model` inlines a Container merged over our ServingRuntime's.
        m = args.model
        predictor: dict[str, Any] = {
            **pod,
            # KEDA may take the Deployment to zero; KServe's own count starts at one replica.
            "minReplicas": max(rev.min_replicas, 1),
            "maxReplicas": rev.max_replicas,
            "labels": rev.pod_labels,
            "model": {"modelFormat": {"name": m.model_format}, "runtime": KSERVE_RUNTIME_NAME, **container},
        }
        annotations = {
            "serving.kserve.io/deploymentMode": KSERVE_DEPLOYMENT_MODE,
            WAIT_FOR_ANNOTATION: "condition=Ready",
        }
        if self._load is not None:
            # KEDA owns the replica count: KServe creates no HPA for class `external` and ignores
            # the Deployment's replicas (kserve@v0.15.2 reconcilers/hpa + deployment_reconciler).
            annotations["serving.kserve.io/autoscalerClass"] = "external"
        else:
            annotations["serving.kserve.io/autoscalerClass"] = "hpa"
            predictor.update(
                {"scaleMetric": "cpu", "scaleTarget": scaling.cpu_target(m.target_utilization_percent)}
            )
        # No `canaryTrafficPercent`: KServe's raw mode does not split traffic by it (it does only
        # with Knative). A canary is a second InferenceService weighted at the ingress instead.
        return k8s.apiextensions.CustomResource(
            f"{rev.rname}-inference-service",
            api_version="serving.kserve.io/v1beta1",
            kind="InferenceService",
            metadata=self._meta(rev.name, args, rev.labels, annotations=annotations),
            spec={"predictor": predictor},
            opts=child(self, depends_on=[sa], custom_timeouts=self._timeouts),
        )

    def _deployment(
        self,
        rev: _Revision,
        args: ModelDeploymentArgs,
        pod: dict[str, Any],
        container: dict[str, Any],
        sa: k8s.core.v1.ServiceAccount,
    ) -> k8s.apps.v1.Deployment:
        main = {"name": "model-server", **container}
        return k8s.apps.v1.Deployment(
            f"{rev.rname}-deployment",
            metadata=self._meta(rev.name, args, rev.labels),
            spec={
                # no `replicas`: the autoscaler owns the count, and a re-apply must not reset it
                "selector": {"matchLabels": rev.selector},
                "revisionHistoryLimit": 5,
                # surge first: never drop below the current capacity while a new replica loads
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                "template": {
                    "metadata": {"labels": rev.pod_labels},
                    "spec": {**pod, "terminationGracePeriodSeconds": 60, "containers": [main]},
                },
            },
            opts=child(self, depends_on=[sa], custom_timeouts=self._timeouts),
        )

    def _autoscaler(
        self, rev: _Revision, deployment: str, args: ModelDeploymentArgs, workload: pulumi.Resource
    ) -> None:
        """KEDA on the runtime's load metric; a CPU HPA where there is none (KServe: its own HPA)."""
        m = args.model
        if self._load is None:
            if m.runtime != "kserve":
                k8s.autoscaling.v2.HorizontalPodAutoscaler(
                    f"{rev.rname}-hpa",
                    metadata=self._meta(rev.name, args, rev.labels),
                    spec=scaling.cpu_hpa_spec(
                        deployment,
                        rev.min_replicas,
                        rev.max_replicas,
                        scaling.cpu_target(m.target_utilization_percent),
                    ),
                    opts=child(self, depends_on=[workload]),
                )
            return
        assert args.prometheus_url is not None
        load, server = self._load, args.prometheus_url
        target = m.load_target or load.default_target

        # the revision's requests at the ingress: the host, and the canary upstream or not
        ingress = f'host="{self.host}", {NGINX_CANARY_LABEL}{"!=" if rev.track == CANARY else "="}""'

        def triggers(namespace: str) -> list[dict[str, Any]]:
            selector = f'namespace="{namespace}", {MODEL_SERIES_LABEL}="{m.name}", {TRACK_SERIES_LABEL}="{rev.track}"'
            out = [scaling.prometheus_trigger(server, load.query(selector, ingress), target)]
            if rev.min_replicas == 0:
                out.append(scaling.wake_up_trigger(server, self.host))
            return out

        k8s.apiextensions.CustomResource(
            f"{rev.rname}-scaled-object",
            api_version=scaling.KEDA_API_VERSION,
            kind="ScaledObject",
            metadata=self._meta(rev.name, args, rev.labels),
            spec=pulumi.Output.from_input(args.namespace).apply(
                lambda ns: scaling.scaled_object_spec(
                    deployment, rev.min_replicas, rev.max_replicas, triggers(ns)
                )
            ),
            opts=child(self, depends_on=[workload]),
        )

    # ------------------------------------------------------------------ Services, Ingress

    @staticmethod
    def _meta(name: str, args: ModelDeploymentArgs, labels: dict[str, str], **extra: Any) -> dict[str, Any]:
        """Object metadata in the serving namespace (`extra`: annotations)."""
        return {"name": name, "namespace": args.namespace, "labels": labels, **extra}

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
            metadata=self._meta(service_name, args, {**labels, MODEL_SERVER_LABEL: MODEL_SERVER_LABEL_VALUE}),
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
        backend = {"service": {"name": track.service, "port": {"number": SERVICE_HTTP_PORT}}}
        k8s.networking.v1.Ingress(
            resource_name,
            metadata=self._meta(ingress_name, args, labels, annotations=annotations),
            spec={
                "ingressClassName": args.ingress_class,
                "tls": [{"hosts": [self.host], "secretName": f"{args.model.name}-tls"}],
                "rules": [
                    {
                        "host": self.host,
                        "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
                    }
                ],
            },
            opts=child(self, depends_on=[track.workload]),
        )
