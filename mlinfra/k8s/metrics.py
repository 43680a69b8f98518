"""Metric names, scrape labels and selector constants shared by monitoring, GPU and serving.

Every alert rule and dashboard query uses only names from this module, and every name says
where it comes from, so a rule never silently watches a metric nobody exports (a typo in a
PromQL metric name does not fail: it just never fires). `metric_names(expr)` extracts the
metric names of a PromQL expression; the tests check each expression against `KNOWN_METRICS`.

Contract with the serving layer (mlinfra/k8s/serving.py): a model Service that exposes
Prometheus metrics carries the label `MODEL_SERVER_LABEL: MODEL_SERVER_LABEL_VALUE`
(`mlinfra.io/model-server: "true"`), names its metrics port `METRICS_PORT_NAME` (`metrics`),
serves them on `METRICS_PATH`, and carries `MODEL_NAME_LABEL` (`mlinfra.io/model: <model>`).
The model-server ServiceMonitor selects on the first label and copies the model label onto
every scraped series (as `mlinfra_io_model`).
"""

from __future__ import annotations

import re

# --------------------------------------------------------------------------- scrape contract

MODEL_SERVER_LABEL = "mlinfra.io/model-server"
MODEL_SERVER_LABEL_VALUE = "true"
MODEL_NAME_LABEL = "mlinfra.io/model"
METRICS_PORT_NAME = "metrics"
METRICS_PATH = "/metrics"

# kube-prometheus-stack's Helm release name. Its Prometheus selects ServiceMonitors and rules
# labelled `release: <name>` when the *SelectorNilUsesHelmValues flags are true (the chart's
# default); MonitoringStack turns those flags off, and every monitor still carries the label
# so selection keeps working if someone turns them back on.
MONITORING_RELEASE_NAME = "kube-prometheus-stack"
RELEASE_LABEL = "release"

# Grafana's dashboard sidecar loads ConfigMaps carrying this label.
DASHBOARD_LABEL = "grafana_dashboard"
DASHBOARD_LABEL_VALUE = "1"

# Label the DCGM ServiceMonitor relabels from `__meta_kubernetes_pod_node_name`, so GPU series
# carry the Kubernetes node name and join with kube-state-metrics' `kube_node_labels`.
NODE_LABEL = "node"
# kube-state-metrics exports node labels listed in `--metric-labels-allowlist` as
# `label_<sanitised name>` on `kube_node_labels`; MonitoringStack allowlists these.
KSM_NODE_LABELS_ALLOWLIST = ("mlinfra.io/pool", "mlinfra.io/gpu-node", "mlinfra.io/accelerator")
POOL_SERIES_LABEL = "label_mlinfra_io_pool"
GPU_NODE_SERIES_LABEL = "label_mlinfra_io_gpu_node"

# --------------------------------------------------------------------------- NVIDIA DCGM exporter
# Source: NVIDIA/dcgm-exporter etc/default-counters.csv (also the Helm chart's
# exporter-metrics-config-map, which the chart mounts as default-counters.csv).

DCGM_GPU_UTIL = "DCGM_FI_DEV_GPU_UTIL"  # gauge, GPU utilisation (%)
DCGM_MEM_COPY_UTIL = "DCGM_FI_DEV_MEM_COPY_UTIL"  # gauge, memory-bandwidth utilisation (%)
DCGM_FB_USED = "DCGM_FI_DEV_FB_USED"  # gauge, framebuffer memory used (MiB)
DCGM_FB_FREE = "DCGM_FI_DEV_FB_FREE"  # gauge, framebuffer memory free (MiB)
DCGM_GPU_TEMP = "DCGM_FI_DEV_GPU_TEMP"  # gauge, GPU temperature (C)
DCGM_POWER_USAGE = "DCGM_FI_DEV_POWER_USAGE"  # gauge, power draw (W)
DCGM_XID_ERRORS = "DCGM_FI_DEV_XID_ERRORS"  # gauge, value of the last XID error

# --------------------------------------------------------------------------- Prometheus itself
# Source: Prometheus, synthetic per-target series (prometheus.io/docs/concepts/jobs_instances).

UP = "up"

# --------------------------------------------------------------------------- kube-state-metrics
# Source: kubernetes/kube-state-metrics docs/metrics (pod-metrics.md, node-metrics.md,
# deployment-metrics.md). Extended resources appear with a sanitised `resource` label:
# `nvidia.com/gpu` -> `nvidia_com_gpu`.

KUBE_POD_STATUS_PHASE = "kube_pod_status_phase"
KUBE_POD_CONTAINER_RESOURCE_REQUESTS = "kube_pod_container_resource_requests"
KUBE_NODE_LABELS = "kube_node_labels"
KUBE_DEPLOYMENT_STATUS_REPLICAS_AVAILABLE = "kube_deployment_status_replicas_available"
KSM_GPU_RESOURCE = "nvidia_com_gpu"

# --------------------------------------------------------------------------- ingress-nginx
# Source: kubernetes/ingress-nginx docs/user-guide/monitoring.md (controller metrics). Every
# model behind the Ingress is covered whatever its server; `host` (per-host metrics are on by
# default) identifies the model: <model>.<serving domain>; `status` is the HTTP status code.

NGINX_REQUESTS = "nginx_ingress_controller_requests"  # counter
NGINX_REQUEST_DURATION_BUCKET = "nginx_ingress_controller_request_duration_seconds_bucket"  # histogram

# --------------------------------------------------------------------------- vLLM (optional)
# Source: vLLM docs "Production Metrics" (vllm/engine/metrics.py); label `model_name`.

VLLM_E2E_LATENCY_BUCKET = "vllm:e2e_request_latency_seconds_bucket"  # histogram

KNOWN_METRICS: frozenset[str] = frozenset(
    {
        DCGM_GPU_UTIL,
        DCGM_MEM_COPY_UTIL,
        DCGM_FB_USED,
        DCGM_FB_FREE,
        DCGM_GPU_TEMP,
        DCGM_POWER_USAGE,
        DCGM_XID_ERRORS,
        UP,
        KUBE_POD_STATUS_PHASE,
        KUBE_POD_CONTAINER_RESOURCE_REQUESTS,
        KUBE_NODE_LABELS,
        KUBE_DEPLOYMENT_STATUS_REPLICAS_AVAILABLE,
        NGINX_REQUESTS,
        NGINX_REQUEST_DURATION_BUCKET,
        VLLM_E2E_LATENCY_BUCKET,
    }
)

# --------------------------------------------------------------------------- PromQL parsing

_PROMQL_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "inf",
        "nan",
        "atan2",
    }
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_TEMPLATE_VAR = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")
_IDENT = re.compile(r"(?<![A-Za-z0-9_:.])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?")


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (functions, keywords and labels excluded).

    Handles the subset the platform writes: selectors with matchers and ranges, aggregations
    with by/without, vector matching with on/ignoring/group_left, functions, binary operators,
    and Grafana template variables (`$node`, `$__rate_interval`).
    """
    text = _STRING.sub('""', expr)
    text = _TEMPLATE_VAR.sub("", text)
    text = _MATCHERS.sub("", text)
    text = _RANGE.sub("", text)
    text = _GROUPING.sub(" ", text)
    names: set[str] = set()
    for m in _IDENT.finditer(text):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in _PROMQL_KEYWORDS:
            continue
        names.add(word)
    return names


def unknown_metrics(expr: str) -> set[str]:
    """Names in `expr` that are not in `KNOWN_METRICS` (empty when the expression is sound)."""
    return metric_names(expr) - KNOWN_METRICS
