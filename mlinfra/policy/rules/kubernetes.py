"""Kubernetes pack: restricted pods, sized pods, GPU scheduling, private load balancers, TLS, pinned images."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlinfra.k8s.scheduling import GPU_RESOURCE, GPU_TAINT_EFFECT, GPU_TAINT_KEY, GPU_TAINT_VALUE
from mlinfra.policy.model import Ctx, Res, rule
from mlinfra.policy.props import UNKNOWN, as_bool, elements, get, is_map, items, not_true

PACK = "kubernetes"

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
JOB = "kubernetes:batch/v1:Job"
CRONJOB = "kubernetes:batch/v1:CronJob"
POD = "kubernetes:core/v1:Pod"
INFERENCE_SERVICE = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
SERVICE = "kubernetes:core/v1:Service"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
WORKLOADS = [DEPLOYMENT, STATEFULSET, DAEMONSET, JOB, CRONJOB, POD, INFERENCE_SERVICE]

# Namespaces of the Kubernetes control plane and add-ons that the cloud manages.
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})
# A workload that needs privilege (a device plugin, a node exporter) carries its reason here; the
# reason is printed with the report, and an empty reason exempts nothing.
POD_SECURITY_EXEMPT_ANNOTATION = "policy.mlinfra.io/pod-security-exempt"


def pod_spec(res: Res) -> Any:
    """The pod spec of a workload (KServe: the predictor, which inlines pod-spec fields)."""
    p = res.props
    if res.type == POD:
        return get(p, "spec")
    if res.type == CRONJOB:
        return get(p, "spec", "jobTemplate", "spec", "template", "spec")
    if res.type == INFERENCE_SERVICE:
        return get(p, "spec", "predictor")
    return get(p, "spec", "template", "spec")


def containers(res: Res) -> list[tuple[str, Any]]:
    """(label, container) for every container and init container of the workload."""
    spec = pod_spec(res)
    out: list[tuple[str, Any]] = []
    for field in ("initContainers", "containers"):
        for c in elements(get(spec, field)):
            if c is not UNKNOWN:
                out.append((f"{field}/{get(c, 'name')}", c))
    if res.type == INFERENCE_SERVICE:
        model = get(spec, "model")
        if is_map(model):
            out.append(("predictor.model", model))
    return out


def _namespace(res: Res) -> Any:
    return get(res.props, "metadata", "namespace", default="default")


def _is_root(uid: Any) -> bool:
    return isinstance(uid, int | float) and not isinstance(uid, bool) and uid == 0


# Volume types the `restricted` Pod Security Standard admits (hostPath and the rest are node access).
RESTRICTED_VOLUME_TYPES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)


def _pod_security_exemption(res: Res) -> str | None:
    ns = _namespace(res)
    if ns in SYSTEM_NAMESPACES:
        return f"system namespace {ns!r} is managed by the cloud provider"
    reason = get(res.props, "metadata", "annotations", POD_SECURITY_EXEMPT_ANNOTATION)
    if isinstance(reason, str) and reason.strip():
        return f"annotation {POD_SECURITY_EXEMPT_ANNOTATION}: {reason.strip()}"
    return None


@rule(
    "pod-security-restricted",
    pack=PACK,
    types=WORKLOADS,
    self_exemption=_pod_security_exemption,
    severity="high",
    description="Workload pods meet the Kubernetes 'restricted' Pod Security Standard plus a read-only root filesystem.",
    remediation=(
        "Set pod securityContext {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}} and on every container "
        "{allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}, readOnlyRootFilesystem: true}; no host "
        f"namespaces. A node agent that needs privilege carries the annotation {POD_SECURITY_EXEMPT_ANNOTATION}: <reason>."
    ),
)
def pod_security_restricted(res: Res, ctx: Ctx) -> Iterator[str]:
    spec = pod_spec(res)
    if spec is UNKNOWN:
        return
    pod_sc = get(spec, "securityContext", default={})
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if as_bool(get(spec, host)) is True:
            yield f"{host} is true"
    pod_nonroot = as_bool(get(pod_sc, "runAsNonRoot"))
    # The pod's own field is checked too (k8s.io/pod-security-admission policy/check_runAsNonRoot.go):
    # `false` at pod level is a violation even when every container sets true.
    if pod_nonroot is False:
        yield "securityContext.runAsNonRoot is false (pod level)"
    pod_seccomp = get(pod_sc, "seccompProfile", "type")
    if _is_root(get(pod_sc, "runAsUser")):
        yield "securityContext.runAsUser is 0"
    for v in elements(get(spec, "volumes")):
        kinds = [k for k, _ in items(v) if k != "name"]
        bad = [k for k in kinds if k not in RESTRICTED_VOLUME_TYPES]
        if bad:
            yield f"volume {get(v, 'name')!r} is of type {bad[0]} (restricted admits {', '.join(sorted(RESTRICTED_VOLUME_TYPES))})"
    for label, c in containers(res):
        for port in elements(get(c, "ports")):
            host_port = get(port, "hostPort")
            if isinstance(host_port, int | float) and not isinstance(host_port, bool) and host_port != 0:
                yield f"{label}: hostPort {int(host_port)} (binds the node's network)"
        sc = get(c, "securityContext", default={})
        if sc is UNKNOWN:
            continue
        nonroot = as_bool(get(sc, "runAsNonRoot"))
        if (
            nonroot is not UNKNOWN
            and nonroot is not True
            and not (nonroot is None and pod_nonroot in (True, UNKNOWN))
        ):
            yield f"{label}: runAsNonRoot is not true (pod or container)"
        if _is_root(get(sc, "runAsUser")):
            yield f"{label}: runAsUser is 0"
        seccomp = get(sc, "seccompProfile", "type", default=pod_seccomp)
        if seccomp is not UNKNOWN and seccomp not in ("RuntimeDefault", "Localhost"):
            yield f"{label}: seccompProfile.type is {seccomp!r}; it must be 'RuntimeDefault'"
        ape = as_bool(get(sc, "allowPrivilegeEscalation"))
        if ape is not UNKNOWN and ape is not False:
            yield f"{label}: allowPrivilegeEscalation is not false"
        if as_bool(get(sc, "privileged")) is True:
            yield f"{label}: privileged is true"
        drop = elements(get(sc, "capabilities", "drop"))
        if UNKNOWN not in drop and "ALL" not in drop:
            yield f"{label}: capabilities.drop does not include ALL"
        adds = [a for a in elements(get(sc, "capabilities", "add")) if a not in (UNKNOWN, "NET_BIND_SERVICE")]
        if adds:
            yield f"{label}: capabilities.add {adds} (only NET_BIND_SERVICE is allowed)"
        if not_true(get(sc, "readOnlyRootFilesystem")):
            yield f"{label}: readOnlyRootFilesystem is not true"


@rule(
    "resource-requests-limits",
    pack=PACK,
    types=WORKLOADS,
    severity="medium",
    description="Every container declares CPU and memory requests and limits.",
    remediation="Set resources.requests {cpu, memory} and resources.limits {cpu, memory} on every container.",
)
def resource_requests_limits(res: Res, ctx: Ctx) -> Iterator[str]:
    for label, c in containers(res):
        resources = get(c, "resources")
        if resources is UNKNOWN:
            continue
        missing = [
            f"{kind}.{r}"
            for kind in ("requests", "limits")
            for r in ("cpu", "memory")
            if get(resources, kind, r) is None
        ]
        if missing:
            yield f"{label}: resources {', '.join(missing)} not set"


def _gpu_count(c: Any) -> Any:
    lim = get(c, "resources", "limits", GPU_RESOURCE)
    return lim if lim is not None else get(c, "resources", "requests", GPU_RESOURCE)


def _tolerates_gpu_taint(spec: Any) -> bool | Any:
    tols = elements(get(spec, "tolerations"))
    if UNKNOWN in tols:
        return UNKNOWN
    for t in tols:
        key, op, effect = get(t, "key"), get(t, "operator", default="Equal"), get(t, "effect")
        if effect not in (None, "", GPU_TAINT_EFFECT):
            continue
        if key is None and op == "Exists":
            return True
        if key == GPU_TAINT_KEY and (op == "Exists" or get(t, "value") == GPU_TAINT_VALUE):
            return True
    return False


@rule(
    "gpu-pod-scheduling",
    pack=PACK,
    types=WORKLOADS,
    severity="medium",
    description="GPU pods request nvidia.com/gpu and tolerate the GPU taint; pods that tolerate it request GPUs.",
    remediation=(
        f"Set resources.limits['{GPU_RESOURCE}'] and add the toleration from mlinfra.k8s.scheduling.gpu_scheduling(); "
        "pods that need no GPU must not tolerate the GPU taint (they would hold GPU nodes up)."
    ),
)
def gpu_pod_scheduling(res: Res, ctx: Ctx) -> Iterator[str]:
    spec = pod_spec(res)
    if spec is UNKNOWN:
        return
    gpus = [_gpu_count(c) for _, c in containers(res)]
    wants_gpu = any(g not in (None, 0, "0", UNKNOWN) for g in gpus)
    tolerates = _tolerates_gpu_taint(spec)
    if tolerates is UNKNOWN:
        return
    if wants_gpu and not tolerates:
        yield f"requests {GPU_RESOURCE} but does not tolerate the {GPU_TAINT_KEY}={GPU_TAINT_VALUE}:{GPU_TAINT_EFFECT} taint"
    # Node agents (DaemonSets: device plugin, DCGM exporter) run on GPU nodes without claiming GPUs.
    if tolerates and not wants_gpu and UNKNOWN not in gpus and res.type != DAEMONSET:
        yield f"tolerates the GPU taint but requests no {GPU_RESOURCE}"


# Annotations that make a cloud load balancer internal, by cloud.
INTERNAL_LB_ANNOTATIONS: dict[str, tuple[str, ...]] = {
    "service.beta.kubernetes.io/aws-load-balancer-scheme": ("internal",),
    "service.beta.kubernetes.io/aws-load-balancer-internal": ("true", "0.0.0.0/0"),
    "networking.gke.io/load-balancer-type": ("Internal",),
    "cloud.google.com/load-balancer-type": ("Internal",),
    "service.beta.kubernetes.io/azure-load-balancer-internal": ("true",),
}


def _internal(annotations: Any) -> bool | Any:
    if annotations is UNKNOWN:
        return UNKNOWN
    for k, v in items(annotations):
        if v is UNKNOWN and k in INTERNAL_LB_ANNOTATIONS:
            return UNKNOWN
        if k in INTERNAL_LB_ANNOTATIONS and str(v) in INTERNAL_LB_ANNOTATIONS[k]:
            return True
    return False


# Where ingress-controller charts keep their Service (values path), by chart name.
INGRESS_CHARTS: dict[str, tuple[str, ...]] = {
    "ingress-nginx": ("controller", "service"),
    "traefik": ("service",),
    "haproxy-ingress": ("controller", "service"),
    "kong": ("proxy",),
    "contour": ("envoy", "service"),
}


@rule(
    "no-public-load-balancer",
    pack=PACK,
    types=[SERVICE, HELM_RELEASE],
    severity="critical",
    description="In prod, LoadBalancer Services and ingress controllers get internal load balancers only.",
    remediation=(
        "Annotate the Service (or the chart's service.annotations) with the cloud's internal annotation, e.g. "
        "service.beta.kubernetes.io/aws-load-balancer-scheme: internal; publish externally through a reviewed edge."
    ),
)
def no_public_load_balancer(res: Res, ctx: Ctx) -> Iterator[str]:
    if not ctx.prod:
        return
    if res.type == SERVICE:
        if get(res.props, "spec", "type") != "LoadBalancer":
            return
        internal = _internal(get(res.props, "metadata", "annotations"))
        if internal is False:
            yield "type LoadBalancer without an internal load-balancer annotation (internet-facing)"
        return
    chart = get(res.props, "chart")
    if not isinstance(chart, str):
        return
    chart_name = chart.rsplit("/", 1)[-1]
    path = INGRESS_CHARTS.get(chart_name)
    if path is None:
        return
    svc = get(res.props, "values", *path, default={})
    if svc is UNKNOWN:
        return
    svc_type = get(svc, "type", default="LoadBalancer")
    if svc_type not in ("LoadBalancer", UNKNOWN):
        return
    if chart_name == "ingress-nginx" and as_bool(get(svc, "external", "enabled")) is False:
        return  # only the chart's separate internal Service is rendered
    if _internal(get(svc, "annotations")) is False:
        yield f"chart {chart_name!r}: values {'.'.join(path)}.annotations set no internal load-balancer annotation"


@rule(
    "ingress-tls",
    pack=PACK,
    types=[INGRESS],
    severity="high",
    description="Every Ingress terminates TLS for every host it serves.",
    remediation="Add spec.tls entries (hosts + secretName, e.g. from cert-manager) covering every rule host.",
)
def ingress_tls(res: Res, ctx: Ctx) -> Iterator[str]:
    tls = elements(get(res.props, "spec", "tls"))
    if UNKNOWN in tls:
        return
    if not tls:
        yield "spec.tls is empty"
        return
    covered = {h for t in tls for h in elements(get(t, "hosts"))}
    if UNKNOWN in covered:
        return
    for r in elements(get(res.props, "spec", "rules")):
        host = get(r, "host")
        if isinstance(host, str) and not _tls_covers(covered, host):
            yield f"host {host!r} has no spec.tls entry"


def _tls_covers(tls_hosts: set[Any], host: str) -> bool:
    """An exact TLS host, or a wildcard `*.<parent>` for a host exactly one label below it (RFC 6125)."""
    if host in tls_hosts:
        return True
    _, _, parent = host.partition(".")
    return bool(parent) and f"*.{parent}" in tls_hosts


def image_pinned(image: str) -> bool:
    """Pinned by digest, or by a tag other than 'latest' (a ':' after the last '/' is a tag, not a port)."""
    if "@sha256:" in image:
        return True
    tail = image.rsplit("/", 1)[-1]
    return ":" in tail and not tail.endswith(":latest")


@rule(
    "no-latest-image",
    pack=PACK,
    types=WORKLOADS,
    severity="medium",
    description="Every container image is pinned by a tag other than 'latest' or by digest.",
    remediation="Use image:tag (never latest) or image@sha256:<digest>, so a rollout is reproducible.",
)
def no_latest_image(res: Res, ctx: Ctx) -> Iterator[str]:
    for label, c in containers(res):
        image = get(c, "image")
        if isinstance(image, str) and not image_pinned(image):
            yield f"{label}: image {image!r} is untagged or tagged 'latest'"
