"""Monitoring stack: kube-prometheus-stack, model-server scraping, GPU/model alerts, Grafana dashboards.

Secrets never enter the Helm release's values (they would be stored in plain text in the
release object and the Pulumi state's inputs): the Grafana admin password and the
Alertmanager configuration (Slack/PagerDuty/webhook URLs) live in Kubernetes Secrets built
from Pulumi secrets, and the chart only references them by name
(`grafana.admin.existingSecret`, `alertmanager.alertmanagerSpec.configSecret`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import yaml

from mlinfra.catalog import ENVIRONMENTS
from mlinfra.components import child
from mlinfra.k8s import metrics as m
from mlinfra.k8s.charts import KUBE_PROMETHEUS_STACK
from mlinfra.k8s.objects import (
    chart_labels,
    check_dns_label,
    helm_release,
    name_of,
    namespace,
    object_labels,
    pod_security_labels,
    unique_names,
)
from mlinfra.spec import RECEIVER_SECRET_KEYS, ModelSpec, MonitoringSpec, SpecError

ALERT_RECEIVERS = ("slack", "pagerduty", "webhook")
GRAFANA_ADMIN_USER = "admin"
GRAFANA_USER_KEY = "admin-user"
GRAFANA_PASSWORD_KEY = "admin-password"
ALERTMANAGER_CONFIG_KEY = "alertmanager.yaml"  # the key the Prometheus Operator reads
DASHBOARD_FOLDER_ANNOTATION = "grafana_folder"
DASHBOARD_FOLDER = "mlinfra"
ALERTMANAGER_STORAGE_GB = 5  # silences + notification log: small, but must survive restarts

# Prometheus requests per environment (memory grows with series count and retention).
PROMETHEUS_RESOURCES: dict[str, dict[str, Any]] = {
    "dev": {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
    "staging": {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
    "prod": {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"memory": "8Gi"}},
}
ALERTMANAGER_REPLICAS = {"dev": 1, "staging": 1, "prod": 2}  # prod: no single point of notification

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def dashboard_files() -> dict[str, str]:
    """{file name: JSON text} of the Grafana dashboards shipped as package data."""
    folder = resources.files("mlinfra.k8s") / "dashboards"
    return {
        f.name: f.read_text(encoding="utf-8")
        for f in sorted(folder.iterdir(), key=lambda f: f.name)
        if f.name.endswith(".json")
    }


def render_dashboard(text: str, serving_namespace: str) -> str:
    """Point a dashboard's `namespace` variable (if any) at the serving namespace."""
    doc = json.loads(text)
    for var in doc.get("templating", {}).get("list", []):
        if var.get("name") == "namespace" and var.get("type") == "custom":
            var["query"] = serving_namespace
            var["current"] = {"text": serving_namespace, "value": serving_namespace}
            var["options"] = [{"text": serving_namespace, "value": serving_namespace, "selected": True}]
    return json.dumps(doc, indent=2)


# --------------------------------------------------------------------------- alert rules


def _host_matcher(model: str) -> str:
    # Models are served at <name>.<serving domain>; PromQL regexes are fully anchored.
    return f'host=~"{model}\\\\..+"'


def alert_rules(spec: MonitoringSpec, models: Sequence[ModelSpec], environment: str) -> list[dict[str, Any]]:
    """PrometheusRule groups: GPU health and cost, GPU capacity, per-model latency SLO, 5xx ratio."""
    # Service-level alerts page in prod; elsewhere they go to chat.
    slo_severity = "critical" if environment == "prod" else "warning"
    dcgm_job = 'job=~".*dcgm.*"'
    gpu_nodes = f'{m.KUBE_NODE_LABELS}{{{m.GPU_NODE_SERIES_LABEL}="true"}}'
    sat = spec.gpu_memory_saturation
    gpu = [
        {
            "alert": "GpuXidError",
            "expr": f"max by ({m.NODE_LABEL}, gpu) ({m.DCGM_XID_ERRORS}) > 0",
            "for": "1m",
            "labels": {"severity": "critical", "category": "gpu-health"},
            "annotations": {
                "summary": "GPU {{ $labels.gpu }} on {{ $labels.node }} reported XID error {{ $value }}",
                "description": "An XID error means a driver or hardware fault (e.g. 48 double-bit ECC, 79 fell "
                "off the bus). Drain the node and check `dmesg`; replace it if the error repeats.",
                "runbook_url": "https://docs.nvidia.com/deploy/xid-errors/index.html",
            },
        },
        {
            "alert": "DcgmExporterDown",
            "expr": f"{m.UP}{{{dcgm_job}}} == 0",
            "for": "10m",
            "labels": {"severity": "warning", "category": "gpu-health"},
            "annotations": {
                "summary": "DCGM exporter {{ $labels.instance }} is down",
                "description": "GPU telemetry of this node is missing: XID, idle and memory alerts cannot fire for it.",
            },
        },
        {
            # Not `absent(up{...})`: GPU pools scale to zero, and no exporter is expected then.
            "alert": "DcgmExporterMissing",
            "expr": f"(count({gpu_nodes}) or on() vector(0)) > (count({m.UP}{{{dcgm_job}}} == 1) or on() vector(0))",
            "for": "15m",
            "labels": {"severity": "warning", "category": "gpu-health"},
            "annotations": {
                "summary": "Fewer healthy DCGM exporters than GPU nodes",
                "description": "Some GPU nodes run no DCGM exporter (scheduling, taints or image pull).",
            },
        },
        {
            "alert": "GpuNodeIdle",
            "expr": f"avg by ({m.NODE_LABEL}) ({m.DCGM_GPU_UTIL}) == 0",
            "for": f"{spec.gpu_idle_minutes}m",
            "labels": {"severity": "warning", "category": "cost"},
            "annotations": {
                "summary": "GPU node {{ $labels.node }} idle for " + f"{spec.gpu_idle_minutes} minutes",
                "description": "All GPUs of the node were at 0% utilisation; the node is paid for but unused. "
                "Scale the workload or pool down.",
            },
        },
        {
            "alert": "GpuMemorySaturation",
            "expr": f"max by ({m.NODE_LABEL}, gpu) ({m.DCGM_FB_USED} / ({m.DCGM_FB_USED} + {m.DCGM_FB_FREE})) > {sat}",
            "for": "10m",
            "labels": {"severity": "warning", "category": "gpu-capacity"},
            "annotations": {
                "summary": "GPU {{ $labels.gpu }} on {{ $labels.node }} memory above " + f"{sat:.0%}",
                "description": "Framebuffer nearly full: the next allocation fails with CUDA out-of-memory.",
            },
        },
        {
            "alert": "GpuPodsPending",
            "expr": (
                f'sum by (namespace, pod) ({m.KUBE_POD_STATUS_PHASE}{{phase="Pending"}}) > 0 '
                f"and on (namespace, pod) sum by (namespace, pod) "
                f'({m.KUBE_POD_CONTAINER_RESOURCE_REQUESTS}{{resource="{m.KSM_GPU_RESOURCE}"}}) > 0'
            ),
            "for": "15m",
            "labels": {"severity": "warning", "category": "gpu-capacity"},
            "annotations": {
                "summary": "Pod {{ $labels.namespace }}/{{ $labels.pod }} waits for a GPU",
                "description": "A GPU pod has been Pending for 15 minutes: the pool is at max_nodes, the "
                "cloud has no capacity (spot) or the quota is exhausted.",
            },
        },
    ]
    model_rules: list[dict[str, Any]] = []
    for model in models:
        slo_s = model.latency_slo_ms / 1000
        model_rules.append(
            {
                "alert": "ModelLatencySloBreached",
                "expr": (
                    f"histogram_quantile(0.99, sum by (le) (rate({m.NGINX_REQUEST_DURATION_BUCKET}"
                    f"{{{_host_matcher(model.name)}}}[5m]))) > {slo_s:g}"
                ),
                "for": "10m",
                "labels": {"severity": slo_severity, "category": "slo", "model": model.name},
                "annotations": {
                    "summary": f"Model {model.name} p99 latency above its {model.latency_slo_ms} ms SLO",
                    "description": "p99 over 5 minutes is {{ $value | humanizeDuration }} at the ingress.",
                },
            }
        )
    requests_5m = f"sum by (host) (rate({m.NGINX_REQUESTS}[5m]))"
    model_rules.append(
        {
            "alert": "ModelHighErrorRatio",
            "expr": (
                f'sum by (host) (rate({m.NGINX_REQUESTS}{{status=~"5.."}}[5m])) / {requests_5m} '
                f"> {spec.error_ratio_threshold:g} and on (host) {requests_5m} > 0.0167"
            ),
            "for": "5m",
            "labels": {"severity": slo_severity, "category": "slo"},
            "annotations": {
                "summary": "{{ $labels.host }} returns 5xx for {{ $value | humanizePercentage }} of requests",
                "description": f"More than {spec.error_ratio_threshold:.0%} of requests failed over 5 minutes "
                "(alerting only above one request per minute).",
            },
        }
    )
    return [{"name": "mlinfra-gpu", "rules": gpu}, {"name": "mlinfra-models", "rules": model_rules}]


# --------------------------------------------------------------------------- alertmanager


def alertmanager_config(spec: MonitoringSpec, receivers: Mapping[str, str]) -> dict[str, Any]:
    """Routing by severity: critical -> PagerDuty (+ Slack), warning -> Slack; webhook gets both.

    The default receiver is `null`, so unrouted alerts (and the Watchdog) are dropped, not lost
    in a misconfigured channel.
    """
    receiver_list: list[dict[str, Any]] = [{"name": "null"}]
    routes: list[dict[str, Any]] = [{"receiver": "null", "matchers": ['alertname = "Watchdog"']}]
    if "pagerduty" in receivers:
        receiver_list.append(
            {
                "name": "pagerduty",
                "pagerduty_configs": [{"routing_key": receivers["pagerduty"], "send_resolved": True}],
            }
        )
        routes.append({"receiver": "pagerduty", "matchers": ['severity = "critical"'], "continue": True})
    if "slack" in receivers:
        slack: dict[str, Any] = {
            "api_url": receivers["slack"],
            "send_resolved": True,
            "title": "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}",
            "text": "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ end }}",
        }
        if spec.alerting.slack_channel:
            slack["channel"] = spec.alerting.slack_channel
        receiver_list.append({"name": "slack", "slack_configs": [slack]})
        routes.append({"receiver": "slack", "matchers": ['severity =~ "critical|warning"'], "continue": True})
    if "webhook" in receivers:
        receiver_list.append(
            {"name": "webhook", "webhook_configs": [{"url": receivers["webhook"], "send_resolved": True}]}
        )
        routes.append(
            {"receiver": "webhook", "matchers": ['severity =~ "critical|warning"'], "continue": True}
        )
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": "null",
            "group_by": ["alertname", "namespace"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": routes,
        },
        "inhibit_rules": [
            {
                "source_matchers": ['severity = "critical"'],
                "target_matchers": ['severity = "warning"'],
                "equal": ["alertname", "namespace"],
            }
        ],
        "receivers": receiver_list,
    }


def _enabled_receivers(spec: MonitoringSpec) -> set[str]:
    wanted = set()
    if spec.alerting.slack_channel:
        wanted.add("slack")
    if spec.alerting.pagerduty:
        wanted.add("pagerduty")
    if spec.alerting.webhook:
        wanted.add("webhook")
    return wanted


# --------------------------------------------------------------------------- component


@dataclass
class MonitoringStackArgs:
    spec: MonitoringSpec
    """Retention, storage sizes, alert thresholds and receivers to enable."""
    environment: str
    """dev, staging or prod: sizes Prometheus and Alertmanager, and the severity of SLO alerts."""
    models: Sequence[ModelSpec] = ()
    """Models whose p99 latency SLO gets an alert."""
    serving_namespace: str = "serving"
    """Namespace of the model Services the model-server ServiceMonitor scrapes."""
    storage_class: str | None = None
    """StorageClass of the Prometheus/Alertmanager/Grafana volumes (cluster default when None)."""
    grafana_admin_password: pulumi.Input[str] | None = None
    """Secret; a 32-character random password is generated when None."""
    alert_receivers: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """{"slack": webhook URL, "pagerduty": routing key, "webhook": URL} (secrets)."""
    node_selector: Mapping[str, str] = field(default_factory=dict)
    """Node selector of the stack's pods (e.g. the system pool)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Must carry owner and cost-center; extra labels go on every object."""
    managed_control_plane: bool = True
    """EKS/GKE/AKS: no controller-manager, scheduler or etcd pod to scrape, kube-proxy metrics only on
    127.0.0.1: the chart's monitors (and their always-firing *Down alerts) are turned off."""


# Control-plane components a managed cluster does not expose (kube-prometheus-stack 81.4.3 values.yaml
# lines 1868, 2169, 2283, 2393; each also gates its default alert rules, templates/prometheus/rules-1.14).
MANAGED_CONTROL_PLANE_OFF = ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy")


class MonitoringStack(pulumi.ComponentResource):
    """kube-prometheus-stack with persistent storage, GPU/model alerts and dashboards."""

    namespace: pulumi.Output[str]
    grafana_admin_password: pulumi.Output[str]
    release_name: str
    release: k8s.helm.v3.Release

    def __init__(self, name: str, args: MonitoringStackArgs, opts: pulumi.ResourceOptions | None = None):
        spec = args.spec
        # ---- validation (before any registration)
        if not spec.enabled:
            raise SpecError("monitoring is disabled; do not create a MonitoringStack", "spec.enabled")
        if args.environment not in ENVIRONMENTS:
            raise SpecError(f"{args.environment!r} is not one of {', '.join(ENVIRONMENTS)}", "environment")
        labels_in = dict(args.labels)
        if labels_in.get("environment", args.environment) != args.environment:
            raise SpecError(
                f"labels.environment {labels_in['environment']!r} differs from {args.environment!r}", "labels"
            )
        labels_in["environment"] = args.environment
        meta_labels = object_labels("monitoring", labels_in)
        check_dns_label(spec.namespace, "spec.namespace")
        check_dns_label(args.serving_namespace, "serving_namespace")
        if args.storage_class is not None and (
            not _SUBDOMAIN.match(args.storage_class) or len(args.storage_class) > 253
        ):
            raise SpecError(f"{args.storage_class!r} is not a valid StorageClass name", "storage_class")
        unknown = sorted(set(args.alert_receivers) - set(ALERT_RECEIVERS))
        if unknown:
            raise SpecError(
                f"unknown receivers {unknown}; allowed: {', '.join(ALERT_RECEIVERS)}", "alert_receivers"
            )
        wanted = _enabled_receivers(spec)
        for receiver in sorted(wanted - set(args.alert_receivers)):
            # A receiver asked for but without its secret is a deploy-time gap, not a bad spec:
            # the stack still builds (offline plans have no secrets) and says how to close it.
            key = RECEIVER_SECRET_KEYS[receiver]
            pulumi.log.warn(
                f"monitoring.alerting enables {receiver} but the secret config mlinfra:{key} is not set; "
                f"alerts will not reach {receiver} until `pulumi config set --secret mlinfra:{key} ...`"
            )
        extra = sorted(set(args.alert_receivers) - wanted)
        if extra:
            raise SpecError(
                f"receivers {extra} were given but are not enabled in monitoring.alerting "
                "(slack_channel / pagerduty / webhook)",
                "alert_receivers",
            )
        for k, v in args.node_selector.items():
            if not k or not isinstance(v, str):
                raise SpecError(
                    f"node selector entry {k!r}: {v!r} must map a label key to a string", "node_selector"
                )
        unique_names([mdl.name for mdl in args.models], "model", "models")
        dashboards = dashboard_files()
        for fname, text in dashboards.items():
            try:
                json.loads(text)  # a broken package-data file fails here, not in Grafana
            except ValueError as e:
                raise SpecError(f"dashboard {fname} is not valid JSON: {e}", "dashboards") from None

        super().__init__("mlinfra:k8s:MonitoringStack", name, None, opts)
        self.release_name = m.MONITORING_RELEASE_NAME
        node_selector = dict(args.node_selector)
        ns_name = spec.namespace
        node_exporter_ns_name = f"{ns_name}-node-exporter"[:63]

        # Operator, Prometheus, Alertmanager, Grafana and kube-state-metrics need no host access;
        # `restricted` violations are reported before the level is tightened.
        ns = namespace(self, f"{name}-namespace", ns_name, meta_labels, pod_security_labels("baseline"))
        self.namespace = name_of(ns)
        # node-exporter reads the host's /proc, /sys and root filesystem with hostPID and
        # hostNetwork: it is isolated here so the main monitoring namespace stays baseline.
        node_ns = namespace(
            self,
            f"{name}-node-exporter-namespace",
            node_exporter_ns_name,
            meta_labels,
            pod_security_labels("privileged"),
        )

        # ---- Grafana admin credentials: a Secret built from a Pulumi secret
        if args.grafana_admin_password is None:
            generated = random.RandomPassword(
                f"{name}-grafana-admin-password", length=32, special=False, opts=child(self)
            )
            password: pulumi.Output[str] = generated.result
        else:
            password = pulumi.Output.from_input(args.grafana_admin_password)
        self.grafana_admin_password = pulumi.Output.secret(password)
        grafana_secret_name = f"{self.release_name}-grafana-admin"

        def secret(role: str, secret_name: str, data: Mapping[str, pulumi.Input[str]]) -> k8s.core.v1.Secret:
            return k8s.core.v1.Secret(
                f"{name}-{role}",
                metadata={"name": secret_name, "namespace": self.namespace, "labels": meta_labels},
                type="Opaque",
                string_data=dict(data),
                opts=child(self),
            )

        grafana_secret = secret(
            "grafana-admin",
            grafana_secret_name,
            {GRAFANA_USER_KEY: GRAFANA_ADMIN_USER, GRAFANA_PASSWORD_KEY: self.grafana_admin_password},
        )

        # ---- Alertmanager configuration: a Secret (receiver URLs/keys are credentials)
        am_secret_name = f"{self.release_name}-alertmanager-config"
        receivers = {k: pulumi.Output.from_input(v) for k, v in args.alert_receivers.items()}
        am_yaml = pulumi.Output.all(**receivers).apply(
            lambda r: yaml.safe_dump(alertmanager_config(spec, r), sort_keys=False)
        )
        am_secret = secret(
            "alertmanager-config", am_secret_name, {ALERTMANAGER_CONFIG_KEY: pulumi.Output.secret(am_yaml)}
        )

        # ---- kube-prometheus-stack
        def volume(size_gb: int) -> dict[str, Any]:
            claim: dict[str, Any] = {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": f"{size_gb}Gi"}},
            }
            if args.storage_class:
                claim["storageClassName"] = args.storage_class
            return {"volumeClaimTemplate": {"spec": claim}}

        env = args.environment
        grafana_persistence: dict[str, Any] = {
            "enabled": True,
            "type": "pvc",
            "accessModes": ["ReadWriteOnce"],
            "size": f"{spec.grafana_storage_gb}Gi",
        }
        if args.storage_class:
            grafana_persistence["storageClassName"] = args.storage_class
        values: dict[str, Any] = {
            "commonLabels": chart_labels(meta_labels),
            "crds": {"enabled": True},
            "prometheusOperator": {
                "nodeSelector": node_selector,
                "admissionWebhooks": {"patch": {"nodeSelector": node_selector}},
            },
            "prometheus": {
                "prometheusSpec": {
                    "retention": f"{spec.retention_days}d",
                    # Prune by size before the volume fills: a full disk stops ingestion entirely.
                    "retentionSize": f"{int(spec.prometheus_storage_gb * 0.85)}GB",
                    "storageSpec": volume(spec.prometheus_storage_gb),
                    # Pick up ServiceMonitors/PodMonitors/rules from every namespace and release
                    # (DCGM in gpu-system, model servers, this stack's own rules).
                    "serviceMonitorSelectorNilUsesHelmValues": False,
                    "podMonitorSelectorNilUsesHelmValues": False,
                    "ruleSelectorNilUsesHelmValues": False,
                    "probeSelectorNilUsesHelmValues": False,
                    "scrapeConfigSelectorNilUsesHelmValues": False,
                    "resources": PROMETHEUS_RESOURCES[env],
                    "nodeSelector": node_selector,
                },
            },
            "alertmanager": {
                "alertmanagerSpec": {
                    # The chart must not render its own config Secret from values: ours holds the
                    # receiver credentials and is referenced by name only.
                    "useExistingSecret": True,
                    "configSecret": am_secret_name,
                    "replicas": ALERTMANAGER_REPLICAS[env],
                    "storage": volume(ALERTMANAGER_STORAGE_GB),
                    "nodeSelector": node_selector,
                },
            },
            "grafana": {
                "admin": {
                    "existingSecret": grafana_secret_name,
                    "userKey": GRAFANA_USER_KEY,
                    "passwordKey": GRAFANA_PASSWORD_KEY,
                },
                "persistence": grafana_persistence,
                # A ReadWriteOnce volume cannot be attached to the old and new pod at once.
                "deploymentStrategy": {"type": "Recreate"},
                # fsGroup owns the volume; the root chown init container would break `baseline`.
                "initChownData": {"enabled": False},
                # Namespaced RBAC: the sidecars must not read every Secret of the cluster.
                "rbac": {"namespaced": True},
                "nodeSelector": node_selector,
                "sidecar": {
                    "dashboards": {
                        "enabled": True,
                        "label": m.DASHBOARD_LABEL,
                        "labelValue": m.DASHBOARD_LABEL_VALUE,
                        "searchNamespace": ns_name,
                        "resource": "configmap",
                        "folderAnnotation": DASHBOARD_FOLDER_ANNOTATION,
                        "provider": {"foldersFromFilesStructure": True},
                    },
                },
            },
            "kube-state-metrics": {
                "nodeSelector": node_selector,
                # Export the pool labels so GPU series can be grouped per pool (kube_node_labels).
                "metricLabelsAllowlist": [f"nodes=[{','.join(m.KSM_NODE_LABELS_ALLOWLIST)}]"],
            },
            "prometheus-node-exporter": {"namespaceOverride": node_exporter_ns_name},
        }
        if args.managed_control_plane:
            values.update({component: {"enabled": False} for component in MANAGED_CONTROL_PLANE_OFF})
        self.release = helm_release(
            self,
            f"{name}-kube-prometheus-stack",
            release_name=self.release_name,
            pin=KUBE_PROMETHEUS_STACK,
            namespace=self.namespace,
            values=values,
            depends_on=[grafana_secret, am_secret, node_ns],
            timeout=900,
            max_history=10,
            cleanup_on_fail=True,
        )

        # ---- scraping the model servers (contract documented in mlinfra.k8s.metrics), alert rules
        monitor_labels = {**meta_labels, m.RELEASE_LABEL: self.release_name}

        def operator_object(role: str, kind: str, object_name: str, spec: dict[str, Any]) -> None:
            # Prometheus Operator CRDs come with the chart: create these after it.
            k8s.apiextensions.CustomResource(
                f"{name}-{role}",
                api_version="monitoring.coreos.com/v1",
                kind=kind,
                metadata={"name": object_name, "namespace": self.namespace, "labels": monitor_labels},
                spec=spec,
                opts=child(self, depends_on=[self.release]),
            )

        operator_object(
            "model-servers",
            "ServiceMonitor",
            "model-servers",
            {
                "selector": {"matchLabels": {m.MODEL_SERVER_LABEL: m.MODEL_SERVER_LABEL_VALUE}},
                "namespaceSelector": {"matchNames": [args.serving_namespace]},
                "targetLabels": [m.MODEL_NAME_LABEL],
                "endpoints": [
                    {"port": m.METRICS_PORT_NAME, "path": m.METRICS_PATH, "interval": "30s", "scheme": "http"}
                ],
            },
        )
        operator_object(
            "alert-rules", "PrometheusRule", "mlinfra-alerts", {"groups": alert_rules(spec, args.models, env)}
        )

        # ---- dashboards (package data) for the Grafana sidecar
        for fname, text in dashboards.items():
            stem = fname.removesuffix(".json")
            text = render_dashboard(text, args.serving_namespace)
            k8s.core.v1.ConfigMap(
                f"{name}-dashboard-{stem}",
                metadata={
                    "name": f"mlinfra-dashboard-{stem}",
                    "namespace": self.namespace,
                    "labels": {**meta_labels, m.DASHBOARD_LABEL: m.DASHBOARD_LABEL_VALUE},
                    "annotations": {DASHBOARD_FOLDER_ANNOTATION: DASHBOARD_FOLDER},
                },
                data={fname: text},
                opts=child(self),
            )

        self.register_outputs(
            {
                "namespace": self.namespace,
                "grafana_admin_password": self.grafana_admin_password,
                "release_name": self.release_name,
            }
        )
