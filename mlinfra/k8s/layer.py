"""The whole in-cluster layer in one call: monitoring, GPU enablement, serving and models.

Every cloud platform and the existing-cluster example compose it the same way, so the
order (monitoring first: its chart installs the Prometheus Operator CRDs the other charts'
ServiceMonitors need; models after serving and the GPU plugin) lives here once. What differs
per cloud comes in as arguments (the hooks of /work/brief/hooks.md, contract A): where model
weights live, how a model's ServiceAccount gets its cloud identity, extra pod labels and pool
tolerations, whether the cloud brings its own device plugin, DCGM chart overrides, and the
node-pool resources model workloads wait for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi

from mlinfra.catalog import GPU_MACHINE_TYPES, gpu_machine_type
from mlinfra.k8s.gpu import (
    DEVICE_PLUGIN_CONFIG_LABEL,
    GpuEnablement,
    GpuEnablementArgs,
    device_plugin_config_name,
)
from mlinfra.k8s.metrics import prometheus_url
from mlinfra.k8s.monitoring import MonitoringStack, MonitoringStackArgs
from mlinfra.k8s.objects import check_pool_keys, check_tolerations
from mlinfra.k8s.scheduling import Scheduling, accelerator_scheduling, standard_labels
from mlinfra.k8s.serving import ModelDeployment, ServingCluster, ServingClusterArgs
from mlinfra.spec import (
    GpuPoolSpec,
    ModelSpec,
    MonitoringSpec,
    ServingSpec,
    SpecError,
    TagsSpec,
    check_in_cluster_layer,
)


@dataclass
class InClusterLayerArgs:
    """Inputs of `in_cluster_layer`.

    storage_uri: a model's storage path (`ModelSpec.storage_path`) -> its URI in the artifact store.
    identity: a model -> the annotations binding its ServiceAccount to a cloud identity.
    storage_class: the StorageClass of the monitoring volumes (the cloud creates it).
    install_device_plugin: False when the cloud installs the NVIDIA device plugin and shares GPUs
        itself (GKE): no plugin, no time-slicing config, `time_slicing_replicas > 1` accepted.
    pod_labels: extra labels on every model pod, stable and canary (Azure Workload Identity's
        `azure.workload.identity/use: "true"`: the AKS webhook injects tokens only into those).
    pool_tolerations: pool name -> tolerations for taints that pool carries besides
        `nvidia.com/gpu` (AKS spot: `kubernetes.azure.com/scalesetpriority=spot:NoSchedule`); on
        the GPU daemons and on every model pod that may land on that pool.
    dcgm_values: deep-merged over the DCGM exporter chart values (GKE COS driver path).
    pool_dependencies: pool name -> the cloud's node-pool component; every model workload
        depends on every pool it can land on, so `pulumi up` creates the nodes first.
    install_metrics_server: False where the cloud runs metrics-server (GKE, AKS); True installs
        the pinned chart on the system pool (EKS, existing clusters without one).
    gpu_pools_managed: True when the cloud platform created the GPU pools with mlinfra's node
        labels (aws / gcp / azure platforms); False on an existing cluster.
    pool_nodes: existing clusters only: pool name -> the nodes of a pool that shares its GPUs;
        each is labelled with the pool's time-slicing config (nothing else labels them).
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
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    pool_tolerations: Mapping[str, Sequence[Mapping[str, str]]] = field(default_factory=dict)
    dcgm_values: Mapping[str, Any] = field(default_factory=dict)
    pool_dependencies: Mapping[str, pulumi.Resource] = field(default_factory=dict)
    install_metrics_server: bool = True
    gpu_pools_managed: bool = True
    pool_nodes: Mapping[str, Sequence[str]] = field(default_factory=dict)


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
    _check_hooks(args)
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
                kubernetes_version=args.kubernetes_version,
                managed_control_plane=args.cloud != "kubernetes",
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
                pool_tolerations=args.pool_tolerations,
                dcgm_values=args.dcgm_values,
                pool_nodes=args.pool_nodes,
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
                prometheus_url=prometheus_url(args.monitoring.namespace) if args.monitoring.enabled else None,
                install_metrics_server=args.install_metrics_server,
            ),
            opts=opts,
        )
        for model in args.serving.models:
            canary_path = model.canary_storage_path
            pools = landing_pools(model, args.gpu_pools, args.cloud)
            deps = [serving, *([gpu] if gpu else []), *_pool_dependencies(args, pools)]
            models.append(
                ModelDeployment(
                    f"{prefix}model-{model.name}",
                    serving.model_args(
                        model,
                        storage_uri=args.storage_uri(model.storage_path),
                        canary_storage_uri=args.storage_uri(canary_path) if canary_path else None,
                        service_account_annotations=args.identity(model),
                        scheduling=model_scheduling(
                            model, pools, args.pool_tolerations, args.gpu_pools, args.cloud
                        ),
                        pod_labels=args.pod_labels,
                    ),
                    opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=deps)),
                )
            )
    return InClusterLayer(monitoring=monitoring, gpu=gpu, serving=serving, models=models)


def pool_accelerator(pool: GpuPoolSpec, cloud: str) -> str:
    """The `mlinfra.io/accelerator` value of a pool's nodes (its machine type's GPU model).

    On an existing cluster (cloud "kubernetes") the machine type is looked up in every cloud's table.
    """
    if cloud in GPU_MACHINE_TYPES:
        return gpu_machine_type(cloud, pool.machine_type).gpu_model
    for table in GPU_MACHINE_TYPES.values():
        if pool.machine_type in table:
            return table[pool.machine_type].gpu_model
    known = sorted({name for table in GPU_MACHINE_TYPES.values() for name in table})
    raise SpecError(
        f"unknown GPU machine type {pool.machine_type!r} for pool {pool.name!r}; allowed: {', '.join(known)}",
        "gpu_pools",
    )


def landing_pools(model: ModelSpec, pools: Sequence[GpuPoolSpec], cloud: str) -> list[str]:
    """The GPU pools a model's pods can land on: every pool with the accelerator of its `gpu_pool`
    (none for a CPU-only model)."""
    by_name = {p.name: p for p in pools}
    if model.gpu_pool is None or model.gpu_pool not in by_name:
        return []
    accelerator = pool_accelerator(by_name[model.gpu_pool], cloud)
    return [p.name for p in pools if pool_accelerator(p, cloud) == accelerator]


def model_scheduling(
    model: ModelSpec,
    pools: Sequence[str],
    pool_tolerations: Mapping[str, Sequence[Mapping[str, str]]],
    gpu_pools: Sequence[GpuPoolSpec],
    cloud: str,
) -> Scheduling | None:
    """Scheduling of a model's pods: require the accelerator of its pool, prefer the pool and
    on-demand capacity, tolerate the GPU taint and the taints of every pool it may land on."""
    if model.gpu_pool is None:
        return None
    own = next(p for p in gpu_pools if p.name == model.gpu_pool)
    extra = check_tolerations({p: pool_tolerations.get(p, ()) for p in pools}, "pool_tolerations")
    return accelerator_scheduling(model.gpu_pool, pool_accelerator(own, cloud), extra)


def _pool_dependencies(args: InClusterLayerArgs, pools: Sequence[str]) -> list[pulumi.Resource]:
    return [args.pool_dependencies[p] for p in pools if p in args.pool_dependencies]


def _check_hooks(args: InClusterLayerArgs) -> None:
    """Refuse hook values that name unknown pools or are malformed, before any registration."""
    names = [p.name for p in args.gpu_pools]
    check_pool_keys(args.pool_tolerations, names, "pool_tolerations")
    check_tolerations(args.pool_tolerations, "pool_tolerations")
    check_pool_keys(args.pool_dependencies, names, "pool_dependencies")
    for pool, dep in args.pool_dependencies.items():
        if not isinstance(dep, pulumi.Resource):
            raise SpecError(
                f"pool {pool!r}: expected a Pulumi resource, got {type(dep).__name__}", "pool_dependencies"
            )
    for k, v in args.pod_labels.items():
        if not isinstance(k, str) or not k or not isinstance(v, str):
            raise SpecError(f"label {k!r}: {v!r} must map a label key to a string", "pod_labels")
    if not isinstance(args.dcgm_values, Mapping):
        raise SpecError("must be a mapping of chart values", "dcgm_values")
    for pool in args.gpu_pools:
        pool_accelerator(pool, args.cloud)
    # models naming unknown pools: check_in_cluster_layer (the spec's rule) has refused them already
    check_pool_keys(args.pool_nodes, names, "pool_nodes")
    if args.pool_nodes and args.gpu_pools_managed:
        raise SpecError(
            "the platform creates its GPU pools with their labels; pool_nodes is for existing clusters "
            "(gpu_pools_managed: false)",
            "pool_nodes",
        )
    if not args.gpu_pools_managed and args.install_device_plugin:
        for pool in args.gpu_pools:
            if pool.time_slicing_replicas > 1 and not args.pool_nodes.get(pool.name):
                raise SpecError(
                    f"pool {pool.name!r} shares its GPUs (time_slicing_replicas {pool.time_slicing_replicas}) "
                    f"but nothing labels its nodes {DEVICE_PLUGIN_CONFIG_LABEL}={device_plugin_config_name(pool)}, "
                    "so the device plugin would not share them: list the pool's nodes in pool_nodes (each "
                    "gets a NodePatch), or set time_slicing_replicas: 1",
                    "pool_nodes",
                )
