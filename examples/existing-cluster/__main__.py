"""The in-cluster layer on an existing cluster: GPU enablement, serving, monitoring, models.

The cluster comes from a kubeconfig (the `kubeconfigPath` / `kubeContext` config, else the
ambient KUBECONFIG). Its GPU nodes must carry the mlinfra GPU taint and labels
(mlinfra.k8s.scheduling); each model's cloud identity is given as service-account
annotations, since this stack does not own the cloud account.
"""

import pulumi
import pulumi_kubernetes as k8s

from mlinfra.k8s.gpu import GpuEnablement, GpuEnablementArgs
from mlinfra.k8s.monitoring import MonitoringStack, MonitoringStackArgs
from mlinfra.k8s.scheduling import gpu_scheduling, standard_labels
from mlinfra.k8s.serving import ModelDeployment, ServingCluster, ServingClusterArgs
from mlinfra.platform import PlatformSecrets
from mlinfra.spec import GpuPoolSpec, MonitoringSpec, ServingSpec, TagsSpec

cfg = pulumi.Config()
environment = cfg.require("environment")
tags = TagsSpec.model_validate(cfg.require_object("tags"))
pools = [GpuPoolSpec.model_validate(p) for p in cfg.get_object("gpuPools") or []]
serving = ServingSpec.model_validate(cfg.require_object("serving"))
monitoring = MonitoringSpec.model_validate(cfg.get_object("monitoring") or {})
storage_base = cfg.require("storageBase").rstrip("/") + "/"
identities: dict = cfg.get_object("modelServiceAccountAnnotations") or {}
secrets = PlatformSecrets.from_config()

provider = k8s.Provider("cluster", kubeconfig=cfg.get("kubeconfigPath"), context=cfg.get("kubeContext"))
labels = standard_labels("platform", tags.owner, tags.cost_center, environment)
on_cluster = pulumi.ResourceOptions(providers={"kubernetes": provider})
system_nodes = cfg.get_object("systemNodeSelector") or {}

mon = MonitoringStack(
    "monitoring",
    MonitoringStackArgs(
        spec=monitoring,
        environment=environment,
        models=serving.models,
        serving_namespace=serving.namespace,
        storage_class=cfg.get("storageClass"),
        grafana_admin_password=secrets.grafana_admin_password,
        alert_receivers=secrets.alert_receivers,
        node_selector=system_nodes,
        labels=labels,
    ),
    opts=on_cluster,
)
after_monitoring = pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=[mon]))
gpu = GpuEnablement(
    "gpu",
    GpuEnablementArgs(
        pools=pools,
        install_device_plugin=cfg.get_bool("installDevicePlugin") is not False,
        monitoring_namespace=monitoring.namespace,
        labels=labels,
    ),
    opts=after_monitoring,
)
cluster_serving = ServingCluster(
    "serving",
    ServingClusterArgs(
        spec=serving,
        cloud=cfg.get("cloud") or "kubernetes",
        environment=environment,
        labels=labels,
        node_selector=system_nodes,
        kubernetes_version=cfg.get("kubernetesVersion") or "1.33",
        monitoring_namespace=monitoring.namespace,
    ),
    opts=after_monitoring,
)
for model in serving.models:
    ModelDeployment(
        f"model-{model.name}",
        cluster_serving.model_args(
            model,
            storage_uri=storage_base + model.storage_path,
            canary_storage_uri=storage_base + model.canary_storage_path
            if model.canary_storage_path
            else None,
            service_account_annotations=identities.get(model.name, {}),
            scheduling=gpu_scheduling(model.gpu_pool) if model.gpu_pool else None,
        ),
        opts=pulumi.ResourceOptions.merge(
            after_monitoring, pulumi.ResourceOptions(depends_on=[gpu, cluster_serving])
        ),
    )

pulumi.export("serving_namespace", cluster_serving.namespace)
pulumi.export("grafana_admin_password", mon.grafana_admin_password)
