"""The whole in-cluster layer in one call: monitoring, GPU enablement, serving and models.

Every cloud platform and the existing-cluster example compose it the same way, so the
order (monitoring first: its chart installs the Prometheus Operator CRDs the other charts'
ServiceMonitors need; models after serving and the GPU plugin) lives here once. What differs
per cloud comes in as arguments: where model weights live and how a model's ServiceAccount
gets its cloud identity.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi

from mlinfra.k8s.gpu import GpuEnablement, GpuEnablementArgs
from mlinfra.k8s.monitoring import MonitoringStack, MonitoringStackArgs
from mlinfra.k8s.scheduling import gpu_scheduling, standard_labels
from mlinfra.k8s.serving import ModelDeployment, ServingCluster, ServingClusterArgs
from mlinfra.spec import (
    GpuPoolSpec,
    ModelSpec,
    MonitoringSpec,
    ServingSpec,
    TagsSpec,
    check_in_cluster_layer,
)


@dataclass
class InClusterLayerArgs:
    """Inputs of `in_cluster_layer`.

    storage_uri: a model's storage path (`ModelSpec.storage_path`) -> its URI in the artifact store.
    identity: a model -> the annotations binding its ServiceAccount to a cloud identity.
    """

    environment: str
    tags: TagsSpec
    gpu_pools: Sequence[GpuPoolSpec]
    serving: ServingSpec
    monitoring: MonitoringSpec
    cloud: Literal["aws", "gcp", "azure", "kubernetes"]
    kubernetes_version: str
    storage_uri: Callable[[str], pulumi.Input[str]]
    identity: Callable[[ModelSpec], pulumi.Input[Mapping[str, str]]]
    storage_class: str | None = None
    install_device_plugin: bool = True
    system_node_selector: Mapping[str, str] = field(default_factory=dict)
    grafana_admin_password: pulumi.Input[str] | None = None
    alert_receivers: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


@dataclass
class InClusterLayer:
    monitoring: MonitoringStack | None
    gpu: GpuEnablement | None
    serving: ServingCluster | None
    models: list[ModelDeployment]


def in_cluster_layer(prefix: str, args: InClusterLayerArgs, opts: pulumi.ResourceOptions) -> InClusterLayer:
    """Register the layer; components are named `<prefix>monitoring`, `<prefix>gpu`, ...

    `opts` carries the Kubernetes provider (and a parent / dependencies on the cluster).
    """
    # The spec's cross-field checks (models on known pools that fit them, quota, namespaces): the
    # same ones PlatformSpec makes, for a layer installed on an existing cluster too.
    check_in_cluster_layer(args.cloud, args.gpu_pools, args.serving, args.monitoring)
    labels = standard_labels("platform", args.tags.owner, args.tags.cost_center, args.environment)
    monitoring = None
    if args.monitoring.enabled:
        monitoring = MonitoringStack(
            f"{prefix}monitoring",
            MonitoringStackArgs(
                spec=args.monitoring,
                environment=args.environment,
                models=args.serving.models if args.serving.enabled else (),
                serving_namespace=args.serving.namespace,
                storage_class=args.storage_class,
                grafana_admin_password=args.grafana_admin_password,
                alert_receivers=args.alert_receivers,
                node_selector=args.system_node_selector,
                labels=labels,
            ),
            opts=opts,
        )
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[monitoring]))
    gpu = None
    if args.gpu_pools:
        gpu = GpuEnablement(
            f"{prefix}gpu",
            GpuEnablementArgs(
                pools=args.gpu_pools,
                install_device_plugin=args.install_device_plugin,
                monitoring_namespace=args.monitoring.namespace,
                service_monitor=args.monitoring.enabled,
                labels=labels,
            ),
            opts=opts,
        )
    serving = None
    models: list[ModelDeployment] = []
    if args.serving.enabled:
        serving = ServingCluster(
            f"{prefix}serving",
            ServingClusterArgs(
                spec=args.serving,
                cloud=args.cloud,
                environment=args.environment,
                labels=labels,
                node_selector=args.system_node_selector,
                kubernetes_version=args.kubernetes_version,
                monitoring_namespace=args.monitoring.namespace if args.monitoring.enabled else None,
                service_monitor=args.monitoring.enabled,
            ),
            opts=opts,
        )
        model_opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=[serving, *([gpu] if gpu else [])])
        )
        for model in args.serving.models:
            canary_path = model.canary_storage_path
            models.append(
                ModelDeployment(
                    f"{prefix}model-{model.name}",
                    serving.model_args(
                        model,
                        storage_uri=args.storage_uri(model.storage_path),
                        canary_storage_uri=args.storage_uri(canary_path) if canary_path else None,
                        service_account_annotations=args.identity(model),
                        scheduling=gpu_scheduling(model.gpu_pool) if model.gpu_pool else None,
                    ),
                    opts=model_opts,
                )
            )
    return InClusterLayer(monitoring=monitoring, gpu=gpu, serving=serving, models=models)
