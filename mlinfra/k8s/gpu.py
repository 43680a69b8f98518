"""GPU enablement inside any Kubernetes cluster: NVIDIA device plugin (+ time-slicing) and DCGM exporter.

The device plugin advertises `nvidia.com/gpu` to the kubelet; without it no pod can request a
GPU. On GKE with Google-managed drivers the platform installs its own plugin and implements
GPU sharing itself (the node pool's `gpu_sharing_config`): set `install_device_plugin=False`
there, and this component installs no plugin and writes no time-slicing config. The DCGM exporter publishes per-GPU telemetry
(utilisation, memory, temperature, power, XID errors) that the monitoring stack alerts on.

Both are node daemons that need host access (the kubelet's device-plugin socket directory,
/var/lib/kubelet/pod-resources, SYS_ADMIN for DCGM), so their namespace is the one namespace
labelled Pod Security `privileged`; nothing else runs there, and ingress to it is denied
except Prometheus scraping the exporter from the monitoring namespace.

Time-slicing: the device plugin chart builds a ConfigMap from `config.map`; a config-manager
sidecar picks the entry named by the node label `nvidia.com/device-plugin.config` and falls
back to `config.default`. Each pool with `time_slicing_replicas > 1` gets an entry
`pool-<name>`; node pools put `device_plugin_node_labels(pool)` on their nodes to select it.
Nodes without the label get the `default` entry: no sharing. On an existing cluster nothing
creates the nodes with that label: `pool_nodes` lists them and each gets a NodePatch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from mlinfra.components import child
from mlinfra.k8s.charts import DCGM_EXPORTER, NVIDIA_DEVICE_PLUGIN
from mlinfra.k8s.metrics import MONITORING_RELEASE_NAME, NODE_LABEL, RELEASE_LABEL, dcgm_counters_csv
from mlinfra.k8s.objects import (
    chart_labels,
    check_dns_label,
    check_node_name,
    check_pool_keys,
    check_tolerations,
    container_resources,
    deep_merge,
    from_namespace,
    helm_release,
    name_of,
    namespace,
    network_policy,
    object_labels,
    pod_security_labels,
    unique_names,
)
from mlinfra.k8s.scheduling import GPU_NODE_LABEL, GPU_RESOURCE, gpu_toleration
from mlinfra.spec import GpuPoolSpec, SpecError

# Pinned charts: mlinfra/k8s/charts.py (NVIDIA_DEVICE_PLUGIN, DCGM_EXPORTER).
DEVICE_PLUGIN_RELEASE_NAME = "nvidia-device-plugin"

DCGM_EXPORTER_RELEASE_NAME = "dcgm-exporter"
DCGM_EXPORTER_PORT = 9400  # the chart's service.port / containerPort "metrics"

# The device plugin's config-manager reads this node label to pick a config from `config.map`.
DEVICE_PLUGIN_CONFIG_LABEL = "nvidia.com/device-plugin.config"
DEFAULT_DEVICE_PLUGIN_CONFIG = "default"

# Requests and limits of the GPU daemons (the kubernetes pack's resource-requests-limits rule).
# dcgm-exporter 4.8.2 values.yaml defaults: requests 100m/128Mi, limits 200m/512Mi; DCGM's host
# engine runs in the exporter's container, so requests are raised to 256Mi.
DEVICE_PLUGIN_RESOURCES = container_resources("50m", "64Mi", "200m", "256Mi")
DCGM_RESOURCES = container_resources("100m", "256Mi", "500m", "512Mi")
# LimitRange defaults in the GPU namespace for the chart containers that carry no resources.
_CONFIG_MANAGER = container_resources("10m", "32Mi", "100m", "64Mi")
CONFIG_MANAGER_DEFAULTS = {
    "defaultRequest": _CONFIG_MANAGER["requests"],
    "default": _CONFIG_MANAGER["limits"],
}

# Built-in class (highest node-level priority): a GPU node without its device plugin cannot
# run a single GPU pod, and a node without DCGM is invisible to the XID/idle alerts.
GPU_DAEMON_PRIORITY_CLASS = "system-node-critical"
# Keep a bounded history, and roll back a failed upgrade's leftovers.
RELEASE_OPTIONS: dict[str, Any] = {"max_history": 10, "cleanup_on_fail": True}

# The chart's default mount of its counters ConfigMap over the file the exporter reads
# (dcgm-exporter 4.8.2 values.yaml extraConfigMapVolumes / extraVolumeMounts, lines 171-182).
DCGM_COUNTERS_MOUNT: dict[str, list[dict[str, Any]]] = {
    "extraConfigMapVolumes": [
        {
            "name": "exporter-metrics-volume",
            "configMap": {
                "name": "exporter-metrics-config-map",
                "items": [{"key": "metrics", "path": "default-counters.csv"}],
            },
        }
    ],
    "extraVolumeMounts": [
        {
            "name": "exporter-metrics-volume",
            "mountPath": "/etc/dcgm-exporter/default-counters.csv",
            "subPath": "default-counters.csv",
        }
    ],
}


def _merge_dcgm_values(ours: Mapping[str, Any], cloud: Mapping[str, Any]) -> dict[str, Any]:
    """The cloud's `dcgm_values` deep-merged over ours, except that the volume lists add up: a cloud
    that mounts its driver (GKE) must not replace the counters mount (Helm replaces lists)."""
    merged = deep_merge(ours, cloud)
    for key, entries in DCGM_COUNTERS_MOUNT.items():
        extra = cloud.get(key)
        if isinstance(extra, Sequence) and not isinstance(extra, str):
            merged[key] = [dict(e) for e in entries] + [dict(e) for e in extra if e not in entries]
    return merged


# --------------------------------------------------------------------------- time-slicing


def device_plugin_config_name(pool: GpuPoolSpec) -> str:
    """Name of the pool's entry in the device plugin's config map (prefixed: never 'default')."""
    return f"pool-{pool.name}"


def device_plugin_node_labels(pool: GpuPoolSpec) -> dict[str, str]:
    """Node labels a GPU pool must carry so the device plugin applies its time-slicing config.

    Empty for pools without sharing (they get the default config). Cloud node pools merge this
    into their node labels.
    """
    if pool.time_slicing_replicas <= 1:
        return {}
    return {DEVICE_PLUGIN_CONFIG_LABEL: device_plugin_config_name(pool)}


def _plugin_config(replicas: int | None) -> str:
    doc: dict[str, Any] = {"version": "v1", "flags": {"migStrategy": "none"}}
    if replicas is not None:
        doc["sharing"] = {
            "timeSlicing": {
                # Keep the resource name `nvidia.com/gpu` so workloads need no change; allow
                # requests > 1 because the spec sizes models in GPU shares (gpus <= gpus x replicas).
                "renameByDefault": False,
                "failRequestsGreaterThanOne": False,
                "resources": [{"name": GPU_RESOURCE, "replicas": replicas}],
            }
        }
    return yaml.safe_dump(doc, sort_keys=False)


def time_slicing_config(pools: Sequence[GpuPoolSpec]) -> dict[str, Any] | None:
    """The device plugin chart's `config` value; None when no pool shares its GPUs."""
    sharing = [p for p in pools if p.time_slicing_replicas > 1]
    if not sharing:
        return None
    entries = {DEFAULT_DEVICE_PLUGIN_CONFIG: _plugin_config(None)}
    for p in sharing:
        entries[device_plugin_config_name(p)] = _plugin_config(p.time_slicing_replicas)
    return {"map": entries, "default": DEFAULT_DEVICE_PLUGIN_CONFIG}


def gpu_node_affinity() -> dict[str, Any]:
    """Required node affinity on `mlinfra.io/gpu-node=true` (replaces the chart's NFD-based terms)."""
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": GPU_NODE_LABEL, "operator": "In", "values": ["true"]}]}
                ]
            }
        }
    }


def _node_labels(
    pools: Sequence[GpuPoolSpec], pool_nodes: Mapping[str, Sequence[str]], install_device_plugin: bool
) -> dict[str, dict[str, str]]:
    """Node name -> the device-plugin config label of its pool (shared pools only)."""
    out: dict[str, dict[str, str]] = {}
    by_name = {p.name: p for p in pools}
    for pool_name, nodes in pool_nodes.items():
        if isinstance(nodes, str) or not isinstance(nodes, Sequence):
            raise SpecError(f"pool {pool_name!r}: expected a list of node names", "pool_nodes")
        labels = device_plugin_node_labels(by_name[pool_name]) if install_device_plugin else {}
        for node in nodes:
            check_node_name(node, f"pool_nodes.{pool_name}")
            if node in out:
                raise SpecError(f"node {node!r} is listed under two pools", "pool_nodes")
            if labels:
                out[node] = labels
    return out


# --------------------------------------------------------------------------- component


@dataclass
class GpuEnablementArgs:
    pools: Sequence[GpuPoolSpec]
    """GPU pools of the cluster; `time_slicing_replicas > 1` turns on sharing for that pool."""
    install_device_plugin: bool = True
    """False on GKE with Google-managed drivers (GKE installs its own plugin)."""
    namespace: str = "gpu-system"
    """Namespace of the GPU daemons (the only Pod Security `privileged` namespace)."""
    monitoring_namespace: str = "monitoring"
    """Namespace of Prometheus: the only source allowed to reach the exporter."""
    service_monitor: bool = True
    """Let the DCGM chart create a ServiceMonitor (needs the Prometheus Operator CRDs)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Must carry owner, cost-center, environment; extra labels are added to every object."""
    pool_tolerations: Mapping[str, Sequence[Mapping[str, str]]] = field(default_factory=dict)
    """Pool name -> tolerations for taints that pool carries besides `nvidia.com/gpu` (AKS spot:
    `kubernetes.azure.com/scalesetpriority=spot:NoSchedule`); the GPU daemons tolerate all of them."""
    dcgm_values: Mapping[str, Any] = field(default_factory=dict)
    """Deep-merged over the DCGM exporter chart values (maps merge, anything else replaces), e.g.
    the driver's hostPath volume and `LD_LIBRARY_PATH` on GKE's Container-Optimized OS."""
    pool_nodes: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Pool name -> names of existing nodes to label with the pool's time-slicing config (clusters
    whose node pools mlinfra does not create); one NodePatch per node."""


class GpuEnablement(pulumi.ComponentResource):
    """NVIDIA device plugin (optional time-slicing) and DCGM exporter on the GPU nodes."""

    namespace: pulumi.Output[str]
    dcgm_service_name: str
    device_plugin: k8s.helm.v3.Release | None
    dcgm_exporter: k8s.helm.v3.Release

    def __init__(self, name: str, args: GpuEnablementArgs, opts: pulumi.ResourceOptions | None = None):
        # Validate everything before the first registration.
        meta_labels = object_labels("gpu", args.labels)
        check_dns_label(args.namespace, "namespace")
        check_dns_label(args.monitoring_namespace, "monitoring_namespace")
        pools = list(args.pools)
        unique_names([p.name for p in pools], "pool", "pools")
        check_pool_keys(args.pool_tolerations, [p.name for p in pools], "pool_tolerations")
        extra_tolerations = check_tolerations(args.pool_tolerations, "pool_tolerations")
        if not isinstance(args.dcgm_values, Mapping):
            raise SpecError("must be a mapping of chart values", "dcgm_values")
        check_pool_keys(args.pool_nodes, [p.name for p in pools], "pool_nodes")
        node_labels = _node_labels(pools, args.pool_nodes, args.install_device_plugin)
        # Without our plugin the cloud shares GPUs itself (GKE: the node pool's gpu_sharing_config),
        # so `time_slicing_replicas > 1` is the cloud's business and no config is written here.
        sharing = time_slicing_config(pools) if args.install_device_plugin else None

        super().__init__("mlinfra:k8s:GpuEnablement", name, None, opts)

        # The device plugin mounts /var/lib/kubelet/device-plugins (hostPath) and DCGM needs
        # SYS_ADMIN and /var/lib/kubelet/pod-resources: both are forbidden by the baseline level.
        # Only this namespace, which holds nothing but these daemons, is privileged; audit/warn
        # still report what `restricted` would reject.
        ns = namespace(
            self, f"{name}-namespace", args.namespace, meta_labels, pod_security_labels("privileged")
        )
        self.namespace = name_of(ns)

        # The device plugin chart renders its config-manager init container and sidecar (time-slicing
        # configs, templates/daemonset-device-plugin.yml and daemonset-mps-control-daemon.yml at
        # v0.18.2) without `resources` and has no value for them: bounded here at admission.
        if args.install_device_plugin:
            k8s.core.v1.LimitRange(
                f"{name}-limits",
                metadata={"name": "gpu-daemon-defaults", "namespace": self.namespace, "labels": meta_labels},
                spec={"limits": [{"type": "Container", **CONFIG_MANAGER_DEFAULTS}]},
                opts=child(self),
            )

        # Deny all ingress to the GPU daemons except Prometheus scraping DCGM.
        network_policy(
            self,
            f"{name}-default-deny",
            "default-deny-ingress",
            self.namespace,
            meta_labels,
            {"podSelector": {}, "policyTypes": ["Ingress"]},
        )
        network_policy(
            self,
            f"{name}-allow-scrape",
            "allow-dcgm-scrape",
            self.namespace,
            meta_labels,
            {
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": DCGM_EXPORTER.name}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [from_namespace(args.monitoring_namespace)],
                        "ports": [{"port": DCGM_EXPORTER_PORT, "protocol": "TCP"}],
                    }
                ],
            },
        )

        scheduling = {
            "nodeSelector": {GPU_NODE_LABEL: "true"},
            "affinity": gpu_node_affinity(),
            "tolerations": [gpu_toleration(), *extra_tolerations],
            "priorityClassName": GPU_DAEMON_PRIORITY_CLASS,
        }

        self.device_plugin = None
        if args.install_device_plugin:
            values: dict[str, Any] = {
                "fullnameOverride": DEVICE_PLUGIN_RELEASE_NAME,
                **scheduling,
                # GPU feature discovery / NFD are not needed: node pools label their nodes.
                "gfd": {"enabled": False},
                "nfd": {"enabled": False},
                # templates/daemonset-device-plugin.yml (the plugin) and daemonset-mps-control-daemon.yml
                # read `resources`; the config-manager containers get none (LimitRange below).
                "resources": DEVICE_PLUGIN_RESOURCES,
            }
            if sharing:
                values["config"] = sharing
            self.device_plugin = helm_release(
                self,
                f"{name}-device-plugin",
                release_name=DEVICE_PLUGIN_RELEASE_NAME,
                pin=NVIDIA_DEVICE_PLUGIN,
                namespace=self.namespace,
                values=values,
                **RELEASE_OPTIONS,
            )

        self.dcgm_service_name = DCGM_EXPORTER_RELEASE_NAME
        dcgm_values: dict[str, Any] = {
            "fullnameOverride": DCGM_EXPORTER_RELEASE_NAME,
            **scheduling,
            "podLabels": chart_labels(meta_labels),
            "resources": DCGM_RESOURCES,
            # Pod *labels* on GPU series need cluster-wide pod read access: off (least privilege);
            # the pod name and namespace come without it (the kubelet's pod-resources API), and
            # kube-state-metrics' kube_pod_labels joins them to the model.
            "kubernetes": {"enablePodLabels": False},
            # The chart's own counter list lacks DCGM_FI_DEV_FB_RESERVED and the XID counter (metrics.py);
            # the chart's ConfigMap mount carries it to the exporter (kept by _merge_dcgm_values).
            "customMetrics": dcgm_counters_csv(),
            **{key: [dict(e) for e in entries] for key, entries in DCGM_COUNTERS_MOUNT.items()},
            "serviceMonitor": {
                "enabled": args.service_monitor,
                "interval": "15s",
                # Keep the exporter's `pod`, `namespace` and `container` labels (the GPU's user):
                # without honorLabels Prometheus renames them `exported_*` under the exporter
                # pod's own, and no GPU series names a model.
                "honorLabels": True,
                "additionalLabels": {RELEASE_LABEL: MONITORING_RELEASE_NAME, **chart_labels(meta_labels)},
                "relabelings": [
                    {
                        "sourceLabels": ["__meta_kubernetes_pod_node_name"],
                        "targetLabel": NODE_LABEL,
                        "action": "replace",
                    }
                ],
            },
        }
        self.dcgm_exporter = helm_release(
            self,
            f"{name}-dcgm-exporter",
            release_name=DCGM_EXPORTER_RELEASE_NAME,
            pin=DCGM_EXPORTER,
            namespace=self.namespace,
            values=_merge_dcgm_values(dcgm_values, args.dcgm_values),
            **RELEASE_OPTIONS,
        )

        for node, labels in node_labels.items():
            k8s.core.v1.NodePatch(
                f"{name}-node-{node}",
                metadata={"name": node, "labels": labels},
                opts=child(self),
            )

        self.register_outputs(
            {
                "namespace": self.namespace,
                "dcgm_service_name": self.dcgm_service_name,
                "device_plugin_installed": args.install_device_plugin,
            }
        )
