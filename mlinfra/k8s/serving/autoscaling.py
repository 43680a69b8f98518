"""Autoscaling of model workloads: KEDA on the server's own load metric, CPU only where none exists.

CPU is the wrong signal for a GPU-bound server (it idles while the GPU is saturated), so each
model scales on its runtime's load metric (runtimes.py), read from Prometheus by a KEDA
ScaledObject with a Prometheus trigger: replicas = ceil(sum over the model's pods / per-replica
target). KEDA creates and owns the HPA behind it (keda.sh docs, "Scaling Deployments").

Scale to zero (min_replicas 0, dev only): with no pod left there is no server metric, so a
second trigger watches the model's host at the ingress (ingress-nginx request counter) and
wakes the model on the first request; that request and the ones behind it get 503 from the
ingress until a replica is ready (cold start: a GPU node, the image pull, the model download
and load — minutes; README "Serving models").

Without a load metric (runtime image without `load_metric`, or no Prometheus) a CPU HPA
remains, which needs metrics-server (ServingCluster installs it unless the cloud has one).
"""

from __future__ import annotations

from typing import Any

from mlinfra.k8s import metrics as mt

KEDA_API_VERSION = "keda.sh/v1alpha1"
# keda.sh docs, ScaledObject spec: how often triggers are read (s), and how long after the last
# active trigger a scaled-to-zero target goes back to zero (s).
POLLING_INTERVAL_S = 15
COOLDOWN_PERIOD_S = 300
# A replica takes minutes to start: scale in only after five quiet minutes (HPA behavior).
SCALE_DOWN_STABILIZATION_S = 300
# CPU utilisation target of models that scale on CPU when the spec leaves
# `target_utilization_percent` empty (the field is refused where a load metric drives the model).
DEFAULT_CPU_UTILIZATION_PERCENT = 70
# The wake-up trigger is only for activation (0 -> 1): its threshold is far above any real request
# rate per replica, so it never drives the replica count beyond what the load metric asks for.
WAKE_UP_THRESHOLD = "1000000"


def scale_down_behavior() -> dict[str, Any]:
    return {"scaleDown": {"stabilizationWindowSeconds": SCALE_DOWN_STABILIZATION_S}}


def prometheus_trigger(
    server: str, query: str, threshold: float | str, activation: str | None = None
) -> dict[str, Any]:
    """A KEDA `prometheus` trigger (keda.sh docs, Scalers > Prometheus: serverAddress, query,
    threshold, activationThreshold); `AverageValue`: the threshold is per replica."""
    metadata = {"serverAddress": server, "query": query, "threshold": _number(threshold)}
    if activation is not None:
        metadata["activationThreshold"] = activation
    return {"type": "prometheus", "metricType": "AverageValue", "metadata": metadata}


def wake_up_trigger(server: str, host: str) -> dict[str, Any]:
    """Any request to the model's host at the ingress activates a scaled-to-zero model."""
    query = f'sum(rate({mt.NGINX_REQUESTS}{{host="{host}"}}[{mt.NGINX_RATE_WINDOW}]))'
    return prometheus_trigger(server, query, WAKE_UP_THRESHOLD, activation="0")


def scaled_object_spec(
    deployment: str, min_replicas: int, max_replicas: int, triggers: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
        "minReplicaCount": min_replicas,
        "maxReplicaCount": max_replicas,
        "pollingInterval": POLLING_INTERVAL_S,
        "cooldownPeriod": COOLDOWN_PERIOD_S,
        "advanced": {"horizontalPodAutoscalerConfig": {"behavior": scale_down_behavior()}},
        "triggers": triggers,
    }


def cpu_target(utilization: int | None) -> int:
    """The model's CPU utilisation target: the spec's, else the default."""
    return utilization if utilization is not None else DEFAULT_CPU_UTILIZATION_PERCENT


def cpu_hpa_spec(deployment: str, min_replicas: int, max_replicas: int, utilization: int) -> dict[str, Any]:
    """autoscaling/v2 HPA on CPU utilisation (reads metrics.k8s.io, i.e. metrics-server)."""
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
        "minReplicas": min_replicas,
        "maxReplicas": max_replicas,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": utilization},
                },
            }
        ],
        "behavior": scale_down_behavior(),
    }


def _number(value: float | str) -> str:
    """KEDA reads thresholds as strings; 16.0 -> "16"."""
    if isinstance(value, str):
        return value
    return f"{value:g}"
