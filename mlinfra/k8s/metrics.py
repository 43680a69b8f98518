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
every scraped series (as `mlinfra_io_model`), and the Service's `mlinfra.io/track` (stable |
canary) as `mlinfra_io_track`: KEDA sums a model revision's load by these two labels.
"""

from __future__ import annotations

import re

# --------------------------------------------------------------------------- scrape contract

MODEL_SERVER_LABEL = "mlinfra.io/model-server"
MODEL_SERVER_LABEL_VALUE = "true"
MODEL_NAME_LABEL = "mlinfra.io/model"
TRACK_LABEL = "mlinfra.io/track"
METRICS_PORT_NAME = "metrics"
METRICS_PATH = "/metrics"
# Prometheus sanitises the Service labels a ServiceMonitor copies (`targetLabels`) into these.
MODEL_SERIES_LABEL = "mlinfra_io_model"
TRACK_SERIES_LABEL = "mlinfra_io_track"

# kube-prometheus-stack's Helm release name. Its Prometheus selects ServiceMonitors and rules
# labelled `release: <name>` when the *SelectorNilUsesHelmValues flags are true (the chart's
# default); MonitoringStack turns those flags off, and every monitor still carries the label
# so selection keeps working if someone turns them back on.
MONITORING_RELEASE_NAME = "kube-prometheus-stack"
RELEASE_LABEL = "release"
# The chart's Prometheus Service: `<fullname>-prometheus` on `prometheus.service.port` (9090 in
# kube-prometheus-stack 81.4.3 values.yaml); the fullname is the release name (it contains the
# chart name). KEDA's Prometheus triggers query it.
PROMETHEUS_SERVICE = f"{MONITORING_RELEASE_NAME}-prometheus"
PROMETHEUS_PORT = 9090


def prometheus_url(monitoring_namespace: str) -> str:
    return f"http://{PROMETHEUS_SERVICE}.{monitoring_namespace}.svc:{PROMETHEUS_PORT}"


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
# ... and pod labels on `kube_pod_labels`: GPU series (which carry the pod and namespace of the
# GPU's user, see the DCGM section) join on (namespace, pod) to get the model.
KSM_POD_LABELS_ALLOWLIST = ("mlinfra.io/model", "mlinfra.io/track")
POD_MODEL_SERIES_LABEL = "label_mlinfra_io_model"

# --------------------------------------------------------------------------- NVIDIA DCGM exporter
# Source: NVIDIA/dcgm-exporter@4.5.3-4.8.2 etc/default-counters.csv. The Helm chart renders its own
# list into the ConfigMap exporter-metrics-config-map (deployment/templates/metrics-configmap.yaml),
# which its default values mount over the image's file (values.yaml extraConfigMapVolumes +
# extraVolumeMounts: /etc/dcgm-exporter/default-counters.csv, which `arguments: -f` reads). That list
# lacks DCGM_FI_DEV_FB_RESERVED and the XID counter, so GpuEnablement passes `customMetrics` =
# DCGM_COUNTERS below and keeps that mount whatever a cloud's `dcgm_values` add.
# A GPU used by a pod carries that pod's `pod`, `namespace` and `container` labels (the exporter
# reads the kubelet's pod-resources API); the ServiceMonitor keeps them (honorLabels).

DCGM_GPU_UTIL = "DCGM_FI_DEV_GPU_UTIL"  # gauge, GPU utilisation (%)
DCGM_MEM_COPY_UTIL = "DCGM_FI_DEV_MEM_COPY_UTIL"  # gauge, memory-bandwidth utilisation (%)
DCGM_FB_USED = "DCGM_FI_DEV_FB_USED"  # gauge, framebuffer memory used (MiB)
DCGM_FB_FREE = "DCGM_FI_DEV_FB_FREE"  # gauge, framebuffer memory free (MiB)
DCGM_FB_RESERVED = "DCGM_FI_DEV_FB_RESERVED"  # gauge, framebuffer memory reserved by the driver (MiB)
DCGM_GPU_TEMP = "DCGM_FI_DEV_GPU_TEMP"  # gauge, GPU temperature (C)
DCGM_POWER_USAGE = "DCGM_FI_DEV_POWER_USAGE"  # gauge, power draw (W)
DCGM_XID_ERRORS = "DCGM_FI_DEV_XID_ERRORS"  # gauge, value of the last XID error (sticky: it keeps
# that value until the exporter restarts, NVIDIA/dcgm-exporter#500, NVIDIA/DCGM#277)
# The exporter's own counter (internal/pkg/collector/xid_collector.go): per GPU and label `xid`, the
# XIDs reported within the last --xid-count-window-size ms (default 300000, pkg/cmd/app.go), then 0.
DCGM_XID_COUNT = "DCGM_EXP_XID_ERRORS_COUNT"
DCGM_XID_WINDOW = "5m"

# Total framebuffer = used + free + reserved (DCGM field docs: FB_TOTAL); an allocation fails when
# `free` runs out, so "memory full" is (used + reserved) / total, not used / (used + free).
GPU_MEMORY_FULL_RATIO = (
    f"(({DCGM_FB_USED} + {DCGM_FB_RESERVED}) / ({DCGM_FB_USED} + {DCGM_FB_FREE} + {DCGM_FB_RESERVED}))"
)

# The exporter's counters (the chart's own list at 4.5.3-4.8.2, plus FB_RESERVED from
# etc/default-counters.csv): field, Prometheus type, help.
DCGM_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz)."),
    ("DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz)."),
    ("DCGM_FI_DEV_MEMORY_TEMP", "gauge", "Memory temperature (in C)."),
    (DCGM_GPU_TEMP, "gauge", "GPU temperature (in C)."),
    (DCGM_POWER_USAGE, "gauge", "Power draw (in W)."),
    ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter", "Total energy consumption since boot (in mJ)."),
    ("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "counter", "Total number of PCIe retries."),
    (DCGM_GPU_UTIL, "gauge", "GPU utilization (in %)."),
    (DCGM_MEM_COPY_UTIL, "gauge", "Memory utilization (in %)."),
    ("DCGM_FI_DEV_ENC_UTIL", "gauge", "Encoder utilization (in %)."),
    ("DCGM_FI_DEV_DEC_UTIL", "gauge", "Decoder utilization (in %)."),
    (DCGM_XID_ERRORS, "gauge", "Value of the last XID error encountered."),
    (DCGM_XID_COUNT, "gauge", "Count of XID errors within the xid-count-window-size window."),
    (DCGM_FB_FREE, "gauge", "Framebuffer memory free (in MiB)."),
    (DCGM_FB_USED, "gauge", "Framebuffer memory used (in MiB)."),
    (DCGM_FB_RESERVED, "gauge", "Framebuffer memory reserved (in MiB)."),
    (
        "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL",
        "counter",
        "Total number of NVLink bandwidth counters for all lanes.",
    ),
    ("DCGM_FI_DEV_VGPU_LICENSE_STATUS", "gauge", "vGPU License status"),
    (
        "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
        "counter",
        "Number of remapped rows for uncorrectable errors",
    ),
    ("DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "counter", "Number of remapped rows for correctable errors"),
    ("DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", "Whether remapping of rows has failed"),
    ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "gauge", "Ratio of time the graphics engine is active."),
    ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "gauge", "Ratio of cycles the tensor (HMMA) pipe is active."),
    (
        "DCGM_FI_PROF_DRAM_ACTIVE",
        "gauge",
        "Ratio of cycles the device memory interface is active sending or receiving data.",
    ),
    (
        "DCGM_FI_PROF_PCIE_TX_BYTES",
        "gauge",
        "The rate of data transmitted over the PCIe bus in bytes per second.",
    ),
    (
        "DCGM_FI_PROF_PCIE_RX_BYTES",
        "gauge",
        "The rate of data received over the PCIe bus in bytes per second.",
    ),
)


def dcgm_counters_csv() -> str:
    """The chart's `customMetrics` value: the exporter's counters file format (field, type, help)."""
    return "".join(f"{field}, {kind}, {text}\n" for field, kind, text in DCGM_COUNTERS)


# XID classes (NVIDIA Xid catalog, docs.nvidia.com/deploy/xid-errors/analyzing-xid-catalog.html,
# and "Dynamic Page Retirement"): hardware / driver faults that need the node drained or the GPU
# reset (resolution RESET_GPU / RESTART_BM / CONTACT_SUPPORT) page; the rest (13 graphics engine
# exception, 31 memory page fault, 43 GPU stopped processing, 45 preemptive cleanup: the
# application's own fault, resolution RESTART_APP) only warn.
HARDWARE_XIDS: dict[int, str] = {
    48: "double-bit ECC error",
    63: "ECC page retirement / row remapping recorded",
    64: "ECC page retirement / row remapping failed",
    74: "NVLink error",
    79: "GPU has fallen off the bus",
    92: "high single-bit ECC error rate",
    94: "contained ECC error",
    95: "uncontained ECC error",
}

# --------------------------------------------------------------------------- Prometheus itself
# Source: Prometheus, synthetic per-target series (prometheus.io/docs/concepts/jobs_instances).

UP = "up"

# --------------------------------------------------------------------------- kube-state-metrics
# Source: kubernetes/kube-state-metrics docs/metrics (pod-metrics.md, node-metrics.md,
# deployment-metrics.md). Extended resources appear with a sanitised `resource` label:
# `nvidia.com/gpu` -> `nvidia_com_gpu`.

KUBE_POD_STATUS_PHASE = "kube_pod_status_phase"
KUBE_POD_LABELS = "kube_pod_labels"
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
# Sum of request durations (seconds): its rate is the mean number of requests in flight (Little's law).
NGINX_REQUEST_DURATION_SUM = "nginx_ingress_controller_request_duration_seconds_sum"  # histogram sum
# `canary` is the alternative (canary) upstream a request went to, "" for the main backend
# (controller-v1.14.3 rootfs/etc/nginx/lua/monitor.lua: ngx.var.proxy_alternative_upstream_name,
# set to "" in every location by nginx.tmpl): it tells a model's stable and canary revisions apart.
NGINX_CANARY_LABEL = "canary"
# ingress-nginx 4.14.3's ServiceMonitor scrapes every 30s (values.yaml
# controller.metrics.serviceMonitor.scrapeInterval): a rate window of four scrapes.
NGINX_RATE_WINDOW = "2m"

# --------------------------------------------------------------------------- Alertmanager
# kube-prometheus-stack's always-firing rule (its general.rules group): proves the whole alerting
# pipeline works; routed to a dead man's switch when one is configured.
WATCHDOG_ALERT = "Watchdog"

# --------------------------------------------------------------------------- vLLM
# Source: vLLM docs "Production Metrics" (vllm/v1/metrics/loggers.py); label `model_name`. Also
# exported by KServe's Hugging Face server on its vLLM backend (one prometheus_client registry).

VLLM_E2E_LATENCY_BUCKET = "vllm:e2e_request_latency_seconds_bucket"  # histogram
VLLM_REQUESTS_RUNNING = "vllm:num_requests_running"  # gauge, requests in model execution batches
VLLM_REQUESTS_WAITING = "vllm:num_requests_waiting"  # gauge, requests waiting to be processed

# --------------------------------------------------------------------------- NVIDIA Triton
# Source: triton-inference-server/server@v2.61.0 docs/user_guide/metrics.md; label `model`.

TRITON_PENDING_REQUESTS = "nv_inference_pending_request_count"  # gauge, requests awaiting a backend

KNOWN_METRICS: frozenset[str] = frozenset(
    {
        DCGM_GPU_UTIL,
        DCGM_MEM_COPY_UTIL,
        DCGM_FB_USED,
        DCGM_FB_FREE,
        DCGM_GPU_TEMP,
        DCGM_POWER_USAGE,
        DCGM_XID_ERRORS,
        DCGM_XID_COUNT,
        UP,
        KUBE_POD_STATUS_PHASE,
        KUBE_POD_CONTAINER_RESOURCE_REQUESTS,
        KUBE_NODE_LABELS,
        KUBE_DEPLOYMENT_STATUS_REPLICAS_AVAILABLE,
        NGINX_REQUESTS,
        NGINX_REQUEST_DURATION_BUCKET,
        NGINX_REQUEST_DURATION_SUM,
        VLLM_E2E_LATENCY_BUCKET,
        VLLM_REQUESTS_RUNNING,
        VLLM_REQUESTS_WAITING,
        TRITON_PENDING_REQUESTS,
        DCGM_FB_RESERVED,
        KUBE_POD_LABELS,
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
