"""The in-cluster layer on an existing cluster: GPU enablement, serving, monitoring, models.

The cluster comes from a kubeconfig (the `kubeconfigPath` / `kubeContext` config, else the
ambient KUBECONFIG). Its GPU nodes must carry the mlinfra GPU taint and labels
(mlinfra.k8s.scheduling); a pool that shares its GPUs (time_slicing_replicas > 1) lists its nodes
in `gpuPoolNodes`, which this stack labels with the pool's time-slicing config. Each model's
cloud identity is given as service-account annotations, since this stack does not own the
cloud account.
"""

import pulumi
import pulumi_kubernetes as k8s

from mlinfra.k8s.layer import InClusterLayerArgs, in_cluster_layer
from mlinfra.platform import PlatformSecrets
from mlinfra.spec import GpuPoolSpec, MonitoringSpec, ServingSpec, TagsSpec, config_value

cfg = pulumi.Config()
storage_base = cfg.require("storageBase").rstrip("/") + "/"
identities: dict = cfg.get_object("modelServiceAccountAnnotations") or {}
secrets = PlatformSecrets.from_config()
provider = k8s.Provider("cluster", kubeconfig=cfg.get("kubeconfigPath"), context=cfg.get("kubeContext"))

layer = in_cluster_layer(
    "",
    InClusterLayerArgs(
        environment=cfg.require("environment"),
        # config_value: validated like a spec, errors name the field and the line that set it
        tags=TagsSpec.from_config("tags"),
        gpu_pools=config_value(list[GpuPoolSpec], "gpuPools", default=[]),
        serving=ServingSpec.from_config("serving"),
        monitoring=MonitoringSpec.from_config("monitoring", default={}),
        cloud=cfg.get("cloud") or "kubernetes",
        kubernetes_version=cfg.get("kubernetesVersion") or "1.33",
        storage_uri=lambda path: storage_base + path,
        identity=lambda model: identities.get(model.name, {}),
        storage_class=cfg.get("storageClass"),
        install_device_plugin=cfg.get_bool("installDevicePlugin") is not False,
        system_node_selector=cfg.get_object("systemNodeSelector") or {},
        install_metrics_server=cfg.get_bool("installMetricsServer") is not False,
        gpu_pools_managed=False,
        pool_nodes=cfg.get_object("gpuPoolNodes") or {},
        grafana_admin_password=secrets.grafana_admin_password,
        alert_receivers=secrets.alert_receivers,
    ),
    pulumi.ResourceOptions(providers={"kubernetes": provider}),
)

pulumi.export("serving_namespace", layer.serving.namespace)
pulumi.export("grafana_admin_password", layer.monitoring.grafana_admin_password)
