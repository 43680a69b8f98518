"""What alerts fire, and where they go: the PrometheusRule groups and the Alertmanager routing.

Every metric name comes from mlinfra/k8s/metrics.py (with its upstream source); the tests check
each expression against that list, so a rule never watches a metric nobody exports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mlinfra.k8s import metrics as m
from mlinfra.spec import ModelSpec, MonitoringSpec

# Receivers the Alertmanager configuration knows; each one's secret comes from the stack's config
# key in `RECEIVER_SECRET_KEYS` (mlinfra/spec.py).
ALERT_RECEIVERS = ("slack", "pagerduty", "webhook", "deadmansswitch")
# How often the always-firing Watchdog is re-sent to the dead man's switch: the switch pages when
# no ping arrived for longer than its own grace period (set it to a few minutes).
DEADMANS_SWITCH_INTERVAL = "1m"


def _host_matcher(model: str) -> str:
    # Models are served at <name>.<serving domain>; PromQL regexes are fully anchored.
    return f'host=~"{model}\\\\..+"'


def _xid_is(value: str, xids: Sequence[int]) -> str:
    return " or ".join(f"{value} == {x}" for x in xids)


def gpu_rules(spec: MonitoringSpec, serving_namespace: str) -> list[dict[str, Any]]:
    """GPU health (XIDs, exporters), cost (idle nodes and models) and capacity (memory, pending)."""
    dcgm_job = 'job=~".*dcgm.*"'
    gpu_nodes = f'{m.KUBE_NODE_LABELS}{{{m.GPU_NODE_SERIES_LABEL}="true"}}'
    sat = spec.gpu_memory_saturation
    last_xid = f"max by ({m.NODE_LABEL}, gpu) ({m.DCGM_XID_ERRORS})"
    hardware = sorted(m.HARDWARE_XIDS)
    # Per-model GPU series: the exporter's pod/namespace labels joined to the pod's model label.
    model_gpu_util = (
        f'{m.DCGM_GPU_UTIL}{{namespace="{serving_namespace}"}} * on (namespace, pod) group_left '
        f'({m.POD_MODEL_SERIES_LABEL}) {m.KUBE_POD_LABELS}{{{m.POD_MODEL_SERIES_LABEL}!=""}}'
    )
    return [
        {
            "alert": "GpuXidError",
            "expr": _xid_is(last_xid, hardware),
            "for": "1m",
            "labels": {"severity": "critical", "category": "gpu-health"},
            "annotations": {
                "summary": "GPU {{ $labels.gpu }} on {{ $labels.node }} reported hardware/driver XID {{ $value }}",
                "description": "XIDs "
                + ", ".join(f"{x} ({m.HARDWARE_XIDS[x]})" for x in hardware)
                + " mean the GPU or its driver failed (NVIDIA Xid catalog: reset the GPU or replace the "
                "node). Cordon and drain the node, check `dmesg`; replace it if the error repeats.",
                "runbook_url": "https://docs.nvidia.com/deploy/xid-errors/analyzing-xid-catalog.html",
            },
        },
        {
            # Not the sticky last-XID gauge: one XID 31 from a model's bug would warn until the
            # exporter restarts, and hide the next one. The exporter's windowed counter reports each
            # XID for its window, with the XID as a label (0 and the unlabelled idle series excluded).
            "alert": "GpuXidApplicationError",
            "expr": (
                f"max by ({m.NODE_LABEL}, gpu, xid) ({m.DCGM_XID_COUNT}"
                f'{{xid!="", xid!="0", xid!~"{"|".join(str(x) for x in hardware)}"}}) > 0'
            ),
            "for": "0m",
            "labels": {"severity": "warning", "category": "gpu-health"},
            "annotations": {
                "summary": "GPU {{ $labels.gpu }} on {{ $labels.node }} reported XID {{ $labels.xid }} "
                + "({{ $value }}x in the last "
                + f"{m.DCGM_XID_WINDOW})",
                "description": "An application-caused XID (e.g. 13 graphics engine exception, 31 memory page "
                "fault, 43 GPU stopped processing): the model server faulted, the GPU is fine (NVIDIA Xid "
                "catalog: restart the application). Check the server's logs; repeated XIDs point at a bug.",
                "runbook_url": "https://docs.nvidia.com/deploy/xid-errors/analyzing-xid-catalog.html",
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
            "alert": "ModelGpuIdle",
            "expr": f"avg by ({m.POD_MODEL_SERIES_LABEL}) ({model_gpu_util}) == 0",
            "for": f"{spec.gpu_idle_minutes}m",
            "labels": {"severity": "warning", "category": "cost"},
            "annotations": {
                "summary": "Model {{ $labels.label_mlinfra_io_model }} holds GPUs that were idle for "
                + f"{spec.gpu_idle_minutes} minutes",
                "description": "Every GPU the model's pods hold sat at 0% utilisation: lower min_replicas "
                "(or scale to zero in dev), or share the GPU (time-slicing).",
            },
        },
        {
            "alert": "GpuMemorySaturation",
            "expr": f"max by ({m.NODE_LABEL}, gpu) ({m.GPU_MEMORY_FULL_RATIO}) > {sat}",
            "for": "10m",
            "labels": {"severity": "warning", "category": "gpu-capacity"},
            "annotations": {
                "summary": "GPU {{ $labels.gpu }} on {{ $labels.node }} memory above " + f"{sat:.0%}",
                "description": "Framebuffer nearly full (used + driver-reserved of the total): the next "
                "allocation fails with CUDA out-of-memory.",
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


def model_rules(spec: MonitoringSpec, models: Sequence[ModelSpec], environment: str) -> list[dict[str, Any]]:
    """Per-model latency SLO and the 5xx ratio of every model host, at the ingress."""
    # Service-level alerts page in prod; elsewhere they go to chat.
    slo_severity = "critical" if environment == "prod" else "warning"
    rules: list[dict[str, Any]] = []
    for model in models:
        slo_s = model.latency_slo_ms / 1000
        rules.append(
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
    rules.append(
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
    return rules


def alert_rules(
    spec: MonitoringSpec, models: Sequence[ModelSpec], environment: str, serving_namespace: str = "serving"
) -> list[dict[str, Any]]:
    """PrometheusRule groups: GPU health, cost and capacity; per-model latency SLO and 5xx ratio."""
    return [
        {"name": "mlinfra-gpu", "rules": gpu_rules(spec, serving_namespace)},
        {"name": "mlinfra-models", "rules": model_rules(spec, models, environment)},
    ]


def enabled_receivers(spec: MonitoringSpec) -> set[str]:
    wanted = set()
    if spec.alerting.slack_channel:
        wanted.add("slack")
    if spec.alerting.pagerduty:
        wanted.add("pagerduty")
    if spec.alerting.webhook:
        wanted.add("webhook")
    if spec.alerting.dead_mans_switch:
        wanted.add("deadmansswitch")
    return wanted


def alertmanager_config(spec: MonitoringSpec, receivers: Mapping[str, str]) -> dict[str, Any]:
    """Routing by severity: critical -> PagerDuty (+ Slack), warning -> Slack; webhook gets both.

    The Watchdog (always firing) goes to the dead man's switch every minute when one is
    configured, so a dead Prometheus/Alertmanager pipeline pages; otherwise to `null`. Unrouted
    alerts go to `null` too, not to a misconfigured channel.
    """
    receiver_list: list[dict[str, Any]] = [{"name": "null"}]
    if "deadmansswitch" in receivers:
        receiver_list.append(
            {
                "name": "deadmansswitch",
                "webhook_configs": [{"url": receivers["deadmansswitch"], "send_resolved": False}],
            }
        )
        watchdog: dict[str, Any] = {
            "receiver": "deadmansswitch",
            "matchers": [f'alertname = "{m.WATCHDOG_ALERT}"'],
            "group_wait": "0s",
            "group_interval": DEADMANS_SWITCH_INTERVAL,
            "repeat_interval": DEADMANS_SWITCH_INTERVAL,
        }
    else:
        watchdog = {"receiver": "null", "matchers": [f'alertname = "{m.WATCHDOG_ALERT}"']}
    routes: list[dict[str, Any]] = [watchdog]
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
