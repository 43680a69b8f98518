"""Cross-object wiring: every reference between Kubernetes objects points at something that exists.

A ServiceMonitor whose selector matches no Service scrapes nothing and raises no error; an Ingress
backend naming a missing Service answers 503; a NetworkPolicy selecting no pod protects nothing;
a PDB, HPA or KEDA ScaledObject aimed at a workload that is not there does nothing; a pod naming a missing
ServiceAccount is never created. None of these fails `pulumi up`. `check_wiring` finds them over a
set of objects:

- the plan's own Kubernetes objects (`plan_objects`);
- what the charts create: their real output when rendered (`mlinfra render`), otherwise the pods
  of the charts whose labels are modelled here from their values (`modelled_chart_objects`);
- what controllers create from custom resources at run time (`implied_objects`): KServe's raw
  deployment Deployment/Service/HPA for an InferenceService, cert-manager's HTTP-01 solver pod.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Namespaces every cluster has.
BUILTIN_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "StorageClass",
        "PriorityClass",
        "IngressClass",
        "ClusterIssuer",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "APIService",
        "PersistentVolume",
        "RuntimeClass",
        "ClusterServingRuntime",
        "ClusterStorageContainer",
        "NodePool",
        "EC2NodeClass",
        "ClusterTriggerAuthentication",
        "PodSecurityPolicy",
        "VolumeAttachment",
        "CSIDriver",
    }
)
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")


@dataclass(frozen=True)
class Problem:
    check: str
    subject: str  # "<Kind> <namespace>/<name>"
    message: str

    def __str__(self) -> str:
        return f"{self.check}: {self.subject}: {self.message}"


@dataclass(frozen=True)
class PodShape:
    """A pod some object creates: where, with which labels, under which account and ports."""

    namespace: str
    labels: Mapping[str, str]
    service_account: str | None
    port_names: frozenset[str]
    owner: str  # subject of the object that creates it


# --------------------------------------------------------------------------- objects


def kubernetes_type(api_version: str, kind: str) -> str:
    """The Pulumi type token of an object (`v1` -> `core/v1`)."""
    gv = api_version if "/" in api_version else f"core/{api_version}"
    return f"kubernetes:{gv}:{kind}"


def plan_objects(resources: Iterable[Any]) -> list[dict[str, Any]]:
    """Kubernetes objects of a plan's resource records (Helm releases and components excluded)."""
    out = []
    for r in resources:
        if not r.type.startswith("kubernetes:") or r.type.startswith("kubernetes:helm.sh/"):
            continue
        _, gv, kind = r.type.split(":", 2)
        group, _, version = gv.rpartition("/")
        obj = {k: v for k, v in r.inputs.items() if not k.startswith("__")}
        obj.setdefault("apiVersion", version if group == "core" else gv)
        obj.setdefault("kind", kind)
        out.append(obj)
    return out


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def namespace_of(obj: Mapping[str, Any], default: str = "default") -> str:
    return str(_meta(obj).get("namespace") or default)


def subject(obj: Mapping[str, Any]) -> str:
    name = _meta(obj).get("name", "?")
    if obj.get("kind") in CLUSTER_SCOPED:
        return f"{obj.get('kind')} {name}"
    return f"{obj.get('kind')} {namespace_of(obj)}/{name}"


def _labels(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}


def _port_names(spec: Mapping[str, Any]) -> frozenset[str]:
    names = set()
    for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        for p in (c or {}).get("ports") or []:
            if isinstance(p, Mapping) and p.get("name"):
                names.add(str(p["name"]))
    return frozenset(names)


def pod_template(obj: Mapping[str, Any]) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
    """(pod metadata, pod spec) of a workload object; None for other kinds."""
    kind, spec = obj.get("kind"), obj.get("spec") or {}
    if kind == "Pod":
        return _meta(obj), spec
    if kind == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    elif kind not in WORKLOAD_KINDS:
        return None
    template = spec.get("template") or {}
    return template.get("metadata") or {}, template.get("spec") or {}


def pods_of(objects: Iterable[Mapping[str, Any]]) -> list[PodShape]:
    pods = []
    for obj in objects:
        tpl = pod_template(obj)
        if tpl is None:
            continue
        meta, spec = tpl
        pods.append(
            PodShape(
                namespace=namespace_of(obj),
                labels=_labels(meta.get("labels")),
                service_account=spec.get("serviceAccountName"),
                port_names=_port_names(spec),
                owner=subject(obj),
            )
        )
    return pods


# --------------------------------------------------------------------------- what controllers create

KSERVE_ISVC_LABEL = "serving.kserve.io/inferenceservice"
KSERVE_HTTP_PORT = 80  # kserve pkg/constants CommonDefaultHttpPort (v0.15.2)
ACME_SOLVER_LABEL = "acme.cert-manager.io/http01-solver"


# What every conformant cluster runs whatever the stack installs: the API server's Service
# (`default/kubernetes`, labelled by the API server itself) and cluster DNS pods labelled
# `k8s-app: kube-dns` (kubeadm, EKS and AKS CoreDNS, GKE kube-dns).
BUILTIN_OBJECTS: tuple[dict[str, Any], ...] = (
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {"ports": [{"name": "https", "port": 443}]},
    },
    {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "cluster-dns (built in)",
            "namespace": "kube-system",
            "labels": {"k8s-app": "kube-dns"},
        },
        "spec": {"containers": [{"name": "dns", "ports": [{"name": "metrics", "containerPort": 9153}]}]},
    },
)

# Prometheus Operator v0.88.1 (kube-prometheus-stack 81.4.3's appVersion): pods of a Prometheus /
# Alertmanager carry the CR's spec.podMetadata.labels and makeSelectorLabels (pkg/prometheus/server/
# operator.go, pkg/alertmanager/operator.go); `--kubelet-service=<ns>/<name>` makes it maintain a
# kubelet Service with ports https-metrics, http-metrics, cadvisor (pkg/kubelet/controller.go).
_OPERATOR = "prometheus-operator"
_KUBELET_SERVICE_ARG = "--kubelet-service="


def _operator_pods(cr: Mapping[str, Any]) -> dict[str, Any]:
    meta, spec = _meta(cr), cr.get("spec") or {}
    name, kind = str(meta.get("name")), cr.get("kind")
    app = "prometheus" if kind == "Prometheus" else "alertmanager"
    selector = {
        "app.kubernetes.io/managed-by": _OPERATOR,
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/instance": name,
        **(
            {"operator.prometheus.io/name": name, "prometheus": name}
            if kind == "Prometheus"
            else {"alertmanager": name}
        ),
    }
    labels = {**_labels((spec.get("podMetadata") or {}).get("labels")), **selector}
    pod_spec: dict[str, Any] = {
        "containers": [{"name": app, "ports": [{"name": "http-web", "containerPort": 9090}]}]
    }
    if spec.get("serviceAccountName"):
        pod_spec["serviceAccountName"] = spec["serviceAccountName"]
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": f"{app}-{name}", "namespace": namespace_of(cr), "labels": selector},
        "spec": {
            "selector": {"matchLabels": selector},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def _kubelet_service(arg: str) -> dict[str, Any]:
    ns, _, name = arg.removeprefix(_KUBELET_SERVICE_ARG).partition("/")
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {
                "k8s-app": "kubelet",
                "app.kubernetes.io/name": "kubelet",
                "app.kubernetes.io/managed-by": _OPERATOR,
            },
        },
        "spec": {
            "clusterIP": "None",
            "ports": [
                {"name": "https-metrics", "port": 10250},
                {"name": "http-metrics", "port": 10255},
                {"name": "cadvisor", "port": 4194},
            ],
        },
    }


def implied_objects(objects: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Objects controllers create at run time from the given custom resources.

    KServe v0.15.2, raw deployment mode (pkg/controller/v1beta1/inferenceservice): an
    InferenceService `<n>` gets a Deployment, a Service and an HPA named `<n>-predictor`
    (constants.PredictorServiceName); pod labels are the isvc's labels, the predictor's `labels`,
    `serving.kserve.io/inferenceservice: <n>`, `component: predictor` and `app: isvc.<n>-predictor`
    (components/predictor.go buildObjectMeta; the Service selects `app`, service_reconciler.go);
    the Service's first port is 80, named after the model container's first port.
    cert-manager: an Ingress whose certificate comes from an ACME issuer with an HTTP-01 solver
    gets a solver pod labelled `acme.cert-manager.io/http01-solver: "true"` in its namespace while
    the challenge runs (pkg/issuer/acme/http/pod.go).
    Prometheus Operator: the pods of every Prometheus and Alertmanager, and the kubelet Service.
    """
    out: list[dict[str, Any]] = []
    acme_issuers = {
        _meta(o).get("name")
        for o in objects
        if o.get("kind") == "ClusterIssuer"
        and any(
            "http01" in (s or {}) for s in (((o.get("spec") or {}).get("acme") or {}).get("solvers") or [])
        )
    }
    for obj in objects:
        kind, meta = obj.get("kind"), _meta(obj)
        if kind == "InferenceService" and str(obj.get("apiVersion", "")).startswith("serving.kserve.io/"):
            out.extend(_kserve_raw(obj))
        if (
            kind in ("Prometheus", "Alertmanager")
            and str(obj.get("apiVersion", "")) == "monitoring.coreos.com/v1"
        ):
            out.append(_operator_pods(obj))
        tpl = pod_template(obj)
        for container in (tpl[1].get("containers") or []) if tpl else []:
            for arg in container.get("args") or []:
                if isinstance(arg, str) and arg.startswith(_KUBELET_SERVICE_ARG):
                    out.append(_kubelet_service(arg))
        if (
            kind == "Ingress"
            and (meta.get("annotations") or {}).get("cert-manager.io/cluster-issuer") in acme_issuers
        ):
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": f"cm-acme-http-solver ({meta.get('name')})",
                        "namespace": namespace_of(obj),
                        "labels": {ACME_SOLVER_LABEL: "true"},
                    },
                    "spec": {"containers": [{"name": "acmesolver"}]},
                }
            )
    return out


def _kserve_raw(isvc: Mapping[str, Any]) -> list[dict[str, Any]]:
    meta = _meta(isvc)
    name, ns = str(meta.get("name")), namespace_of(isvc)
    predictor = (isvc.get("spec") or {}).get("predictor") or {}
    component = f"{name}-predictor"
    labels = {
        **_labels(meta.get("labels")),
        **_labels(predictor.get("labels")),
        KSERVE_ISVC_LABEL: name,
        "component": "predictor",
        "app": f"isvc.{component}",
    }
    model = predictor.get("model") or {}
    pod_spec = {k: v for k, v in predictor.items() if k not in ("model", "labels", "annotations")}
    pod_spec["containers"] = [
        {"name": "kserve-container", **{k: v for k, v in model.items() if k in ("ports",)}}
    ]
    ports = model.get("ports") or []
    first = ports[0] if ports else {}
    objs: list[dict[str, Any]] = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": component, "namespace": ns, "labels": labels},
            "spec": {
                "selector": {"matchLabels": {"app": labels["app"]}},
                "template": {"metadata": {"labels": labels}, "spec": pod_spec},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": component, "namespace": ns, "labels": labels},
            "spec": {
                "selector": {"app": labels["app"]},
                "ports": [
                    {
                        "name": first.get("name", component),
                        "port": KSERVE_HTTP_PORT,
                        "targetPort": first.get("containerPort", 8080),
                    }
                ],
            },
        },
    ]
    return objs


# Pods a chart creates, modelled from its values where the chart's label scheme was checked at the
# pinned tag (so a NetworkPolicy or monitor aimed at a chart's pods can be checked without rendering
# it). chart -> (values path of the name override, extra pod-label values paths). Both charts use
# Helm's standard selector labels `app.kubernetes.io/name: <nameOverride or chart name>` and
# `app.kubernetes.io/instance: <release>`:
# dcgm-exporter 4.8.2 deployment/templates/_helpers.tpl "dcgm-exporter.selectorLabels" (+ podLabels in
# templates/daemonset.yaml); nvidia-device-plugin 0.18.2 templates/_helpers.tpl "templateLabels".
CHART_PODS: dict[str, tuple[str, tuple[str, ...]]] = {
    "dcgm-exporter": ("nameOverride", ("podLabels",)),
    "nvidia-device-plugin": ("nameOverride", ()),
}


def _dig(values: Any, path: str) -> Any:
    for part in path.split("."):
        values = values.get(part) if isinstance(values, Mapping) else None
    return values


def modelled_chart_objects(releases: Iterable[Any]) -> list[dict[str, Any]]:
    """Pods of the releases whose charts are in `CHART_PODS` (`releases`: `checks.PlannedRelease`)."""
    out = []
    for rel in releases:
        model = CHART_PODS.get(rel.chart_name)
        if model is None:
            continue
        name_path, label_paths = model
        labels = {
            "app.kubernetes.io/name": str(_dig(rel.values, name_path) or rel.chart_name),
            "app.kubernetes.io/instance": rel.release_name,
        }
        for path in label_paths:
            labels.update(_labels(_dig(rel.values, path)))
        ns = str(_dig(rel.values, "namespaceOverride") or rel.namespace)
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{rel.release_name} (chart {rel.chart_name}, modelled)",
                    "namespace": ns,
                    "labels": labels,
                },
                "spec": {"containers": [{"name": rel.chart_name}]},
            }
        )
    return out


# --------------------------------------------------------------------------- selectors


def selects(selector: Any, labels: Mapping[str, str]) -> bool:
    """A LabelSelector (matchLabels + matchExpressions) against a label set; {} selects everything."""
    if not isinstance(selector, Mapping):
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != str(v):
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, vals = expr.get("key"), expr.get("operator"), [str(v) for v in expr.get("values") or []]
        if op == "In" and labels.get(key) not in vals:
            return False
        if op == "NotIn" and labels.get(key) in vals:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _service_selects(selector: Any, labels: Mapping[str, str]) -> bool:
    return (
        isinstance(selector, Mapping)
        and bool(selector)
        and all(labels.get(k) == str(v) for k, v in selector.items())
    )


def _namespaces(ns_selector: Any, own: str) -> set[str] | None:
    """Namespaces a monitor's namespaceSelector covers; None means all."""
    if isinstance(ns_selector, Mapping):
        if ns_selector.get("any"):
            return None
        if ns_selector.get("matchNames"):
            return {str(n) for n in ns_selector["matchNames"]}
    return {own}


# --------------------------------------------------------------------------- the checks


def _monitor_targets(
    kind: str,
    selector: Any,
    scope: set[str] | None,
    services: Sequence[Mapping[str, Any]],
    pods: Sequence[PodShape],
) -> list[set[str]]:
    """The port names of every Service (ServiceMonitor) or pod (PodMonitor) a monitor selects."""
    if kind == "ServiceMonitor":
        return [
            {str(p.get("name")) for p in (s.get("spec") or {}).get("ports") or [] if p.get("name")}
            for s in services
            if (scope is None or namespace_of(s) in scope)
            and selects(selector, _labels(_meta(s).get("labels")))
        ]
    return [
        set(p.port_names)
        for p in pods
        if (scope is None or p.namespace in scope) and selects(selector, p.labels)
    ]


def check_wiring(objects: Sequence[Mapping[str, Any]]) -> list[Problem]:
    """Every dangling reference among `objects` and what controllers create from them (`implied_objects`).

    Give it the chart objects too: rendered, or `modelled_chart_objects`.
    """
    objects = [*objects, *implied_objects(objects), *BUILTIN_OBJECTS]
    problems: list[Problem] = []
    pods = pods_of(objects)
    by_kind: dict[str, list[Mapping[str, Any]]] = {}
    for o in objects:
        by_kind.setdefault(str(o.get("kind")), []).append(o)
    services = by_kind.get("Service", [])
    namespaces = BUILTIN_NAMESPACES | {str(_meta(n).get("name")) for n in by_kind.get("Namespace", [])}
    accounts = {(namespace_of(a), str(_meta(a).get("name"))) for a in by_kind.get("ServiceAccount", [])}

    def add(check: str, obj: Mapping[str, Any], message: str) -> None:
        problems.append(Problem(check, subject(obj), message))

    def pods_in(ns: str) -> list[PodShape]:
        return [p for p in pods if p.namespace == ns]

    for obj in objects:
        if obj.get("kind") not in CLUSTER_SCOPED and namespace_of(obj) not in namespaces:
            add(
                "namespace",
                obj,
                f"namespace {namespace_of(obj)!r} is neither created by the stack nor built in",
            )

    for kind, endpoints_key in (("ServiceMonitor", "endpoints"), ("PodMonitor", "podMetricsEndpoints")):
        for mon in by_kind.get(kind, []):
            spec = mon.get("spec") or {}
            scope = _namespaces(spec.get("namespaceSelector"), namespace_of(mon))
            targets = _monitor_targets(kind, spec.get("selector"), scope, services, pods)
            what = "Service" if kind == "ServiceMonitor" else "pod"
            if not targets:
                where = sorted(scope) if scope else "every namespace"
                add("monitor-selects", mon, f"selector {spec.get('selector')} in {where} matches no {what}")
                continue
            ports = set().union(*targets)
            for ep in spec.get(endpoints_key) or []:
                if ep.get("port") and ep["port"] not in ports:
                    add(
                        "monitor-selects",
                        mon,
                        f"endpoint port {ep['port']!r} is not a port of the selected {what}s {sorted(ports)}",
                    )

    svc_by_name = {(namespace_of(s), str(_meta(s).get("name"))): s for s in services}
    for ing in by_kind.get("Ingress", []):
        spec = ing.get("spec") or {}
        backends = [spec.get("defaultBackend")] + [
            path.get("backend")
            for rule in spec.get("rules") or []
            for path in (rule.get("http") or {}).get("paths") or []
        ]
        for backend in backends:
            svc_ref = (backend or {}).get("service")
            if not svc_ref:
                continue
            svc = svc_by_name.get((namespace_of(ing), str(svc_ref.get("name"))))
            if svc is None:
                add(
                    "ingress-backend",
                    ing,
                    f"backend Service {svc_ref.get('name')!r} does not exist in {namespace_of(ing)!r}",
                )
                continue
            port = svc_ref.get("port") or {}
            svc_ports = (svc.get("spec") or {}).get("ports") or []
            if "number" in port and not any(_num(p.get("port")) == _num(port["number"]) for p in svc_ports):
                add(
                    "ingress-backend",
                    ing,
                    f"Service {svc_ref.get('name')!r} has no port {_num(port['number'])}",
                )
            if "name" in port and not any(p.get("name") == port["name"] for p in svc_ports):
                add(
                    "ingress-backend",
                    ing,
                    f"Service {svc_ref.get('name')!r} has no port named {port['name']!r}",
                )

    for svc in services:
        selector = (svc.get("spec") or {}).get("selector")
        if selector and not any(_service_selects(selector, p.labels) for p in pods_in(namespace_of(svc))):
            add("service-selects", svc, f"selector {selector} matches no pod")

    for np in by_kind.get("NetworkPolicy", []):
        selector = (np.get("spec") or {}).get("podSelector")
        if not any(selects(selector, p.labels) for p in pods_in(namespace_of(np))):
            add(
                "network-policy-selects", np, f"podSelector {selector} matches no pod in {namespace_of(np)!r}"
            )

    for pdb in by_kind.get("PodDisruptionBudget", []):
        selector = (pdb.get("spec") or {}).get("selector")
        if not any(selects(selector, p.labels) for p in pods_in(namespace_of(pdb))):
            add("pdb-selects", pdb, f"selector {selector} matches no pod in {namespace_of(pdb)!r}")

    workloads = {
        (namespace_of(o), str(o.get("kind")), str(_meta(o).get("name")))
        for o in objects
        if o.get("kind") in WORKLOAD_KINDS
    }
    # A KEDA ScaledObject creates and drives an HPA on its scaleTargetRef (keda.sh docs, "Scaling
    # Deployments"; kind defaults to Deployment): a missing target scales nothing, silently.
    scalers = [*by_kind.get("HorizontalPodAutoscaler", []), *by_kind.get("ScaledObject", [])]
    for hpa in scalers:
        ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        kind = str(ref.get("kind") or ("Deployment" if hpa.get("kind") == "ScaledObject" else None))
        if (namespace_of(hpa), kind, str(ref.get("name"))) not in workloads:
            add(
                "hpa-target",
                hpa,
                f"scaleTargetRef {kind} {ref.get('name')!r} does not exist in {namespace_of(hpa)!r}",
            )

    for pod in pods:
        sa = pod.service_account
        if sa and sa != "default" and (pod.namespace, sa) not in accounts:
            problems.append(
                Problem(
                    "service-account",
                    pod.owner,
                    f"pods run as ServiceAccount {sa!r}, which does not exist in {pod.namespace!r}",
                )
            )
    return problems


def _num(v: Any) -> Any:
    return int(v) if isinstance(v, float) and v.is_integer() else v
