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

from mlinfra.catalog import DEFAULT_KUBERNETES_VERSION, ENVIRONMENTS, SUPPORTED_KUBERNETES_VERSIONS
from mlinfra.components import child
from mlinfra.k8s import metrics as m
from mlinfra.k8s.alerts import ALERT_RECEIVERS, alert_rules, alertmanager_config, enabled_receivers
from mlinfra.k8s.charts import KUBE_PROMETHEUS_STACK
from mlinfra.k8s.objects import (
    chart_labels,
    check_dns_label,
    container_resources,
    helm_release,
    name_of,
    namespace,
    object_labels,
    pod_security_labels,
    unique_names,
)
from mlinfra.spec import RECEIVER_SECRET_KEYS, ModelSpec, MonitoringSpec, SpecError

__all__ = ["MonitoringStack", "MonitoringStackArgs", "alert_rules", "alertmanager_config", "dashboard_files"]
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
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    """The cluster's minor version: picks the kubectl image of the CRD upgrade job."""
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
        meta_labels, dashboards = _validate(args)

        super().__init__("mlinfra:k8s:MonitoringStack", name, None, opts)
        self._name = name
        self._labels = meta_labels
        self.release_name = m.MONITORING_RELEASE_NAME
        spec = args.spec
        node_exporter_ns_name = f"{spec.namespace}-node-exporter"[:63]

        # Operator, Prometheus, Alertmanager, Grafana and kube-state-metrics need no host access;
        # `restricted` violations are reported before the level is tightened.
        ns = namespace(
            self, f"{name}-namespace", spec.namespace, meta_labels, pod_security_labels("baseline")
        )
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

        grafana_secret, am_secret = self._secrets(args)
        self.release = helm_release(
            self,
            f"{name}-kube-prometheus-stack",
            release_name=self.release_name,
            pin=KUBE_PROMETHEUS_STACK,
            namespace=self.namespace,
            values=chart_values(args, meta_labels, node_exporter_ns_name),
            depends_on=[grafana_secret, am_secret, node_ns],
            timeout=900,
            max_history=10,
            cleanup_on_fail=True,
        )
        self._scraping_and_rules(args)
        self._dashboards(args, dashboards)

        self.register_outputs(
            {
                "namespace": self.namespace,
                "grafana_admin_password": self.grafana_admin_password,
                "release_name": self.release_name,
            }
        )

    def _secret(
        self, role: str, secret_name: str, data: Mapping[str, pulumi.Input[str]]
    ) -> k8s.core.v1.Secret:
        return k8s.core.v1.Secret(
            f"{self._name}-{role}",
            metadata={"name": secret_name, "namespace": self.namespace, "labels": self._labels},
            type="Opaque",
            string_data=dict(data),
            opts=child(self),
        )

    def _secrets(self, args: MonitoringStackArgs) -> tuple[k8s.core.v1.Secret, k8s.core.v1.Secret]:
        """Grafana's admin login and Alertmanager's configuration (receiver URLs/keys are credentials)."""
        if args.grafana_admin_password is None:
            generated = random.RandomPassword(
                f"{self._name}-grafana-admin-password", length=32, special=False, opts=child(self)
            )
            password: pulumi.Output[str] = generated.result
        else:
            password = pulumi.Output.from_input(args.grafana_admin_password)
        self.grafana_admin_password = pulumi.Output.secret(password)
        grafana_secret = self._secret(
            "grafana-admin",
            grafana_secret_name(),
            {GRAFANA_USER_KEY: GRAFANA_ADMIN_USER, GRAFANA_PASSWORD_KEY: self.grafana_admin_password},
        )
        spec = args.spec
        receivers = {k: pulumi.Output.from_input(v) for k, v in args.alert_receivers.items()}
        am_yaml = pulumi.Output.all(**receivers).apply(
            lambda r: yaml.safe_dump(alertmanager_config(spec, r), sort_keys=False)
        )
        am_secret = self._secret(
            "alertmanager-config",
            alertmanager_secret_name(),
            {ALERTMANAGER_CONFIG_KEY: pulumi.Output.secret(am_yaml)},
        )
        return grafana_secret, am_secret

    def _scraping_and_rules(self, args: MonitoringStackArgs) -> None:
        """The model-server ServiceMonitor (contract in mlinfra.k8s.metrics) and the alert rules."""
        monitor_labels = {**self._labels, m.RELEASE_LABEL: self.release_name}

        def operator_object(role: str, kind: str, object_name: str, spec: dict[str, Any]) -> None:
            # Prometheus Operator CRDs come with the chart: create these after it.
            k8s.apiextensions.CustomResource(
                f"{self._name}-{role}",
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
                # model and revision on every series: KEDA sums a revision's load by them
                "targetLabels": [m.MODEL_NAME_LABEL, m.TRACK_LABEL],
                "endpoints": [
                    {"port": m.METRICS_PORT_NAME, "path": m.METRICS_PATH, "interval": "30s", "scheme": "http"}
                ],
            },
        )
        operator_object(
            "alert-rules",
            "PrometheusRule",
            "mlinfra-alerts",
            {"groups": alert_rules(args.spec, args.models, args.environment, args.serving_namespace)},
        )

    def _dashboards(self, args: MonitoringStackArgs, dashboards: Mapping[str, str]) -> None:
        """Dashboards (package data) as ConfigMaps the Grafana sidecar loads."""
        for fname, text in dashboards.items():
            stem = fname.removesuffix(".json")
            k8s.core.v1.ConfigMap(
                f"{self._name}-dashboard-{stem}",
                metadata={
                    "name": f"mlinfra-dashboard-{stem}",
                    "namespace": self.namespace,
                    "labels": {**self._labels, m.DASHBOARD_LABEL: m.DASHBOARD_LABEL_VALUE},
                    "annotations": {DASHBOARD_FOLDER_ANNOTATION: DASHBOARD_FOLDER},
                },
                data={fname: render_dashboard(text, args.serving_namespace)},
                opts=child(self),
            )


def grafana_secret_name() -> str:
    return f"{m.MONITORING_RELEASE_NAME}-grafana-admin"


def alertmanager_secret_name() -> str:
    return f"{m.MONITORING_RELEASE_NAME}-alertmanager-config"


def _validate(args: MonitoringStackArgs) -> tuple[dict[str, str], dict[str, str]]:
    """Everything that can be refused, before any registration; returns (labels, dashboards)."""
    spec = args.spec
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
    if args.kubernetes_version not in SUPPORTED_KUBERNETES_VERSIONS:
        raise SpecError(
            f"{args.kubernetes_version!r}; allowed: {', '.join(SUPPORTED_KUBERNETES_VERSIONS)}",
            "kubernetes_version",
        )
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
    wanted = enabled_receivers(spec)
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
            "(slack_channel / pagerduty / webhook / dead_mans_switch)",
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
    return meta_labels, dashboards


# Requests and limits of every container the chart renders (the kubernetes policy pack's
# resource-requests-limits rule; kube-prometheus-stack 81.4.3 and its subcharts default them all to
# `{}`). The values paths are where the pinned templates read them:
# - crds.upgradeJob.resources: charts/crds/templates/upgrade/job.yaml (busybox init + kubectl, which
#   applies the multi-megabyte CRDs server-side);
# - prometheusOperator.resources: templates/prometheus-operator/deployment.yaml;
# - prometheusOperator.admissionWebhooks.patch.resources: job-patch/job-createSecret.yaml and
#   job-patchWebhook.yaml (kube-webhook-certgen, both jobs);
# - prometheusOperator.prometheusConfigReloader.resources: the operator's --config-reloader-* flags,
#   the sidecar of the Prometheus and Alertmanager pods the operator creates;
# - alertmanager.alertmanagerSpec.resources: the Alertmanager CR;
# - grafana.resources / grafana.sidecar.resources: grafana 10.5.15 templates/_pod.tpl;
# - kube-state-metrics.resources (7.1.0 templates/deployment.yaml), prometheus-node-exporter.resources
#   (4.51.0 templates/daemonset.yaml).
# kube-state-metrics and the operator grow with the number of objects they watch; the limits leave
# room for a few thousand pods.
CHART_RESOURCES: dict[str, dict[str, Any]] = {
    "crds-upgrade-job": container_resources("50m", "128Mi", "500m", "512Mi"),
    "operator": container_resources("100m", "128Mi", "500m", "512Mi"),
    "admission-jobs": container_resources("10m", "32Mi", "100m", "128Mi"),
    "config-reloader": container_resources("10m", "32Mi", "100m", "64Mi"),
    "alertmanager": container_resources("50m", "64Mi", "200m", "256Mi"),
    "grafana": container_resources("100m", "256Mi", "1", "1Gi"),
    "grafana-sidecar": container_resources("20m", "64Mi", "200m", "256Mi"),
    "kube-state-metrics": container_resources("50m", "128Mi", "500m", "512Mi"),
    "node-exporter": container_resources("50m", "32Mi", "250m", "128Mi"),
}
# Grafana on a read-only root filesystem (grafana-community/helm-charts#729): its data is on the
# persistent volume (/var/lib/grafana), its search index on the chart's own emptyDir
# (/var/lib/grafana-search), logs go to the console (the subchart's default `grafana.ini` log.mode);
# what is left is /tmp (plugin downloads, the image renderer's scratch files): an emptyDir. The
# dashboard/datasource sidecars write only into their own emptyDirs.
GRAFANA_TMP = {"name": "tmp", "mountPath": "/tmp"}

# The CRD upgrade job's images. busybox: the chart's default tag is `latest` (values.yaml
# crds.upgradeJob.image.busybox), a drifting default; 1.37.0 is busybox's current release tag on
# Docker Hub. kubectl: the chart takes the API server's version string, which on managed clusters
# carries a vendor suffix (EKS: v1.33.5-eks-...) that registry.k8s.io/kubectl has no tag for; the
# cluster's minor `.0` release is (registry.k8s.io publishes kubectl per Kubernetes release).
CRD_UPGRADE_BUSYBOX_TAG = "1.37.0"


def kubectl_tag(kubernetes_version: str) -> str:
    return f"v{kubernetes_version}.0"


def chart_values(
    args: MonitoringStackArgs, meta_labels: Mapping[str, str], node_exporter_ns: str
) -> dict[str, Any]:
    """kube-prometheus-stack values: storage, retention, selectors, secrets by name, system pool."""
    spec = args.spec
    node_selector = dict(args.node_selector)

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
    off = {c: {"enabled": False} for c in MANAGED_CONTROL_PLANE_OFF} if args.managed_control_plane else {}
    return {
        **off,
        "commonLabels": chart_labels(meta_labels),
        "crds": {
            "enabled": True,
            # Helm installs a chart's CRDs once and never upgrades them; the chart's upgrade job
            # (a Helm hook, "preview" in 81.4.3) applies the CRDs of the new version first, so a
            # chart bump does not leave the operator reading objects of an older schema.
            "upgradeJob": {
                "enabled": True,
                "image": {
                    "busybox": {"tag": CRD_UPGRADE_BUSYBOX_TAG},
                    "kubectl": {"tag": kubectl_tag(args.kubernetes_version)},
                },
                "nodeSelector": node_selector,
                "resources": CHART_RESOURCES["crds-upgrade-job"],
            },
        },
        "prometheusOperator": {
            "nodeSelector": node_selector,
            "resources": CHART_RESOURCES["operator"],
            "admissionWebhooks": {
                "patch": {"nodeSelector": node_selector, "resources": CHART_RESOURCES["admission-jobs"]}
            },
            "prometheusConfigReloader": {"resources": CHART_RESOURCES["config-reloader"]},
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
                "configSecret": alertmanager_secret_name(),
                "replicas": ALERTMANAGER_REPLICAS[env],
                "storage": volume(ALERTMANAGER_STORAGE_GB),
                "nodeSelector": node_selector,
                "resources": CHART_RESOURCES["alertmanager"],
            },
        },
        "grafana": {
            "admin": {
                "existingSecret": grafana_secret_name(),
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
            "resources": CHART_RESOURCES["grafana"],
            # merged over the chart's restricted defaults (values.yaml containerSecurityContext)
            "containerSecurityContext": {"readOnlyRootFilesystem": True},
            "extraEmptyDirMounts": [dict(GRAFANA_TMP)],
            "sidecar": {
                "resources": CHART_RESOURCES["grafana-sidecar"],
                "securityContext": {"readOnlyRootFilesystem": True},
                "dashboards": {
                    "enabled": True,
                    "label": m.DASHBOARD_LABEL,
                    "labelValue": m.DASHBOARD_LABEL_VALUE,
                    "searchNamespace": spec.namespace,
                    "resource": "configmap",
                    "folderAnnotation": DASHBOARD_FOLDER_ANNOTATION,
                    "provider": {"foldersFromFilesStructure": True},
                },
            },
        },
        "kube-state-metrics": {
            "nodeSelector": node_selector,
            "resources": CHART_RESOURCES["kube-state-metrics"],
            # Export the pool labels of nodes (GPU series per pool) and the model labels of pods
            # (GPU series per model) as label_* on kube_node_labels / kube_pod_labels.
            "metricLabelsAllowlist": [
                f"nodes=[{','.join(m.KSM_NODE_LABELS_ALLOWLIST)}]",
                f"pods=[{','.join(m.KSM_POD_LABELS_ALLOWLIST)}]",
            ],
        },
        "prometheus-node-exporter": {
            "namespaceOverride": node_exporter_ns,
            "resources": CHART_RESOURCES["node-exporter"],
        },
    }
