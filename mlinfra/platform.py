"""`MlPlatform`: a PlatformSpec in, the right cloud's platform out; and the deployment path of the
in-cluster layer, the same for every cloud.

Who runs what, from where (`cluster.api_access`, see the README's "Running it for real"):

- `public` (dev only) and `dns` (GKE): the Kubernetes API is reachable from wherever `pulumi up`
  runs, so ONE stack (the platform stack) builds the cloud resources and then installs the
  in-cluster layer through `install_in_cluster`.
- `private`: nothing outside the cluster's network reaches the API. The platform stack runs from
  anywhere with cloud credentials and registers NO Kubernetes resource: it builds the cloud resources,
  a runner's way into the network (AWS: `mlinfra.aws.runner`; Azure: the VNet's `runners` subnet and a
  runner identity, `mlinfra.azure.platform`), and exports what the in-cluster stack
  needs. The in-cluster stack (`in_cluster_stack()`, e.g. stacks/aws-in-cluster) runs on that runner,
  reads the same spec file, takes the dynamic values from the platform stack's outputs through a
  StackReference, and calls the same `install_in_cluster`.

A cloud plugs in with one module `mlinfra.<cloud>.in_cluster` (registered in `IN_CLUSTER_PLUGINS`)
that provides:

- `layer_hooks(spec) -> dict`: the static `InClusterLayerArgs` hooks derived from the spec
  (storage_class, install_device_plugin, system_node_selector, pod_labels, pool_tolerations,
  dcgm_values, install_metrics_server); and
- `cluster_objects(name, spec, cloud_values, opts) -> list[Resource]`: the Kubernetes objects the
  cloud itself needs in the cluster (AWS: the encrypted StorageClass, the Cluster Autoscaler; Azure:
  the StorageClass under the disk encryption set and the autoscaler's priority expander), built
  from `cloud_values` (an Output of the dict the platform exported under `in_cluster.cloud`);

and its platform component exports `in_cluster_values(...)` (below) as the stack output
`IN_CLUSTER_OUTPUT`, next to the kubeconfig (`KUBECONFIG_OUTPUT`, secret).

Cloud SDKs are imported only when their platform is built, so `import mlinfra.platform`
works with any one extra installed.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pulumi

from mlinfra.offline.engine import DIY_ORGANIZATION
from mlinfra.offline.reach import DEPLOY_FROM, DEPLOY_FROM_KEY  # noqa: F401 (part of this module's API)
from mlinfra.spec import RECEIVER_SECRET_KEYS, ModelSpec, PlatformSpec, SpecError

IMPLEMENTED_CLOUDS = ("aws", "gcp", "azure")

# The module of each cloud that plugs into the deployment path (see the module docstring).
IN_CLUSTER_PLUGINS: dict[str, str] = {
    "aws": "mlinfra.aws.in_cluster",
    "gcp": "mlinfra.gcp.in_cluster",
    "azure": "mlinfra.azure.in_cluster",
}

# The contract between a platform stack and its in-cluster stack: the outputs the platform exports.
KUBECONFIG_OUTPUT = "kubeconfig"
IN_CLUSTER_OUTPUT = "in_cluster"

# Config keys of an in-cluster stack (namespace mlinfra).
PLATFORM_DIR_KEY = "platformDir"  # the platform project's directory, relative to the in-cluster project
PLATFORM_STACK_KEY = "platformStack"  # the platform stack's full name; default <org>/<project>/<same stack>
# Where a stack runs from (DEPLOY_FROM_KEY: anywhere | network) is declared in its config for `mlinfra
# plan`'s reachability check (mlinfra.offline.reach); the in-cluster projects declare `network`.


@dataclass
class PlatformSecrets:
    """Secrets a platform consumes; read from the stack's secret config (`pulumi config set --secret`)."""

    grafana_admin_password: pulumi.Input[str] | None = None
    alert_receivers: dict[str, pulumi.Input[str]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, namespace: str = "mlinfra") -> PlatformSecrets:
        cfg = pulumi.Config(namespace)
        receivers: dict[str, pulumi.Input[str]] = {}
        for receiver, key in RECEIVER_SECRET_KEYS.items():
            value = cfg.get_secret(key)
            if value is not None:
                receivers[receiver] = value
        return cls(grafana_admin_password=cfg.get_secret("grafanaAdminPassword"), alert_receivers=receivers)


def MlPlatform(  # noqa: N802 - reads as the component it returns
    name: str,
    spec: PlatformSpec,
    secrets: PlatformSecrets | None = None,
    opts: pulumi.ResourceOptions | None = None,
):
    """Build the platform for `spec.cloud`; returns that cloud's platform component.

    Every platform exposes the same outputs: cluster_name, cluster_endpoint, kubeconfig
    (secret), oidc_issuer, bucket_name, registry_urls, in_cluster (the values of
    `in_cluster_values`), and k8s_provider (None when `api_access` is private: the layer is
    then installed by the in-cluster stack).
    """
    secrets = secrets or PlatformSecrets()
    if spec.cloud == "aws":
        from mlinfra.aws.platform import AwsPlatform

        return AwsPlatform(name, spec, secrets, opts)
    if spec.cloud == "gcp":
        from mlinfra.gcp.platform import GcpPlatform

        return GcpPlatform(name, spec, secrets, opts)
    if spec.cloud == "azure":
        from mlinfra.azure.platform import AzurePlatform

        return AzurePlatform(name, spec, secrets, opts)
    raise SpecError(
        f"cloud {spec.cloud!r} is accepted by the spec but its platform is not built in this release; "
        f"implemented: {', '.join(IMPLEMENTED_CLOUDS)}",
        "cloud",
    )


# --------------------------------------------------------------------------- the deployment path


def installs_in_cluster_layer(spec: PlatformSpec) -> bool:
    """Whether the platform stack itself installs the in-cluster layer (else the in-cluster stack does)."""
    return spec.cluster.api_access != "private"


def spec_digest(spec: PlatformSpec) -> str:
    """sha256 of the resolved spec (profile applied): the platform stack exports it, the in-cluster
    stack compares it with the spec it read, so the two never run on different specs unnoticed."""
    canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def in_cluster_values(
    spec: PlatformSpec,
    *,
    storage_base_uri: pulumi.Input[str],
    model_identities: Mapping[str, pulumi.Input[Mapping[str, str]]],
    cloud: Mapping[str, pulumi.Input[Any]],
) -> pulumi.Output[dict[str, Any]]:
    """The dynamic values of the in-cluster layer, as the one object a platform exports.

    storage_base_uri: where model weights live; a model's URI is this + `ModelSpec.storage_path`
        (`s3://<bucket>/`, `gs://<bucket>/`, ...).
    model_identities: model name -> the annotations binding its ServiceAccount to its cloud identity.
    cloud: what the cloud's `cluster_objects` need (plain JSON values or Outputs of them).
    """
    return pulumi.Output.from_input(
        {
            "api_access": spec.cluster.api_access,
            "spec_sha256": spec_digest(spec),
            "storage_base_uri": storage_base_uri,
            "model_identities": dict(model_identities),
            "cloud": dict(cloud),
        }
    )


def _plugin(cloud: str):
    if cloud not in IN_CLUSTER_PLUGINS:
        raise SpecError(
            f"cloud {cloud!r} has no in-cluster plugin; implemented: {', '.join(IN_CLUSTER_PLUGINS)}", "cloud"
        )
    return importlib.import_module(IN_CLUSTER_PLUGINS[cloud])


def layer_hooks(spec: PlatformSpec) -> dict[str, Any]:
    """The cloud's static hooks for the layer, checked against `InClusterLayerArgs`' fields."""
    from mlinfra.k8s.layer import InClusterLayerArgs

    hooks = dict(_plugin(spec.cloud).layer_hooks(spec))
    allowed = {"storage_class", "install_device_plugin", "system_node_selector", "pod_labels"}
    allowed |= {"pool_tolerations", "dcgm_values", "install_metrics_server"}
    known = {f.name for f in fields(InClusterLayerArgs)}
    unknown = sorted(set(hooks) - (allowed & known))
    if unknown:
        raise SpecError(
            f"{spec.cloud} layer hooks {unknown} are not static hooks; allowed: {sorted(allowed)}"
        )
    return hooks


@dataclass
class InClusterInstall:
    """What `install_in_cluster` registered."""

    provider: pulumi.ProviderResource
    cluster_objects: list[pulumi.Resource]
    monitoring: Any
    gpu: Any
    serving: Any
    models: list[Any]

    def adopt(self, component: Any) -> None:
        """Expose what was installed on the component that installed it (k8s_provider, monitoring,
        gpu, serving, models), the same attributes on every platform."""
        component.k8s_provider = self.provider
        component.monitoring, component.gpu = self.monitoring, self.gpu
        component.serving, component.models = self.serving, self.models


def install_in_cluster(
    name: str,
    spec: PlatformSpec,
    *,
    kubeconfig: pulumi.Input[str],
    values: pulumi.Input[Mapping[str, Any]],
    secrets: PlatformSecrets,
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource] = (),
    pool_dependencies: Mapping[str, pulumi.Resource] | None = None,
    aliases: Sequence[pulumi.Alias] = (),
) -> InClusterInstall:
    """Register the in-cluster layer of `spec` on the cluster of `kubeconfig`: a Kubernetes provider,
    the cloud's own cluster objects, then monitoring, GPU enablement, serving and the models.

    The platform stack calls it (api_access public / dns) with its live outputs; the in-cluster
    stack (api_access private) with the platform stack's outputs. `aliases` are added to the
    provider and the cluster objects (a platform that registered them elsewhere before).
    """
    from mlinfra.k8s.layer import InClusterLayerArgs, in_cluster_layer

    plugin = _plugin(spec.cloud)
    hooks = layer_hooks(spec)
    values_out = pulumi.Output.from_input(values)
    import pulumi_kubernetes as k8s

    provider = k8s.Provider(
        f"{name}-cluster-k8s",
        kubeconfig=pulumi.Output.secret(kubeconfig),
        enable_server_side_apply=True,
        opts=pulumi.ResourceOptions(parent=parent, aliases=list(aliases)),
    )
    on_cluster = pulumi.ResourceOptions(
        parent=parent, providers={"kubernetes": provider}, depends_on=list(depends_on)
    )
    objects = list(
        plugin.cluster_objects(
            name,
            spec,
            values_out.apply(lambda v: v["cloud"]),
            pulumi.ResourceOptions(
                parent=parent, provider=provider, depends_on=list(depends_on), aliases=list(aliases)
            ),
        )
    )

    def identity(model: ModelSpec) -> pulumi.Output[Mapping[str, str]]:
        return values_out.apply(lambda v: v["model_identities"].get(model.name, {}))

    layer = in_cluster_layer(
        f"{name}-",
        InClusterLayerArgs(
            environment=spec.environment,
            tags=spec.tags,
            gpu_pools=spec.gpu_pools,
            serving=spec.serving,
            monitoring=spec.monitoring,
            cloud=spec.cloud,
            kubernetes_version=spec.cluster.kubernetes_version,
            storage_uri=lambda path: values_out.apply(lambda v: v["storage_base_uri"] + path),
            identity=identity,
            grafana_admin_password=secrets.grafana_admin_password,
            alert_receivers=secrets.alert_receivers,
            pool_dependencies=dict(pool_dependencies or {}),
            **hooks,
        ),
        pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=objects)),
    )
    return InClusterInstall(
        provider=provider,
        cluster_objects=objects,
        monitoring=layer.monitoring,
        gpu=layer.gpu,
        serving=layer.serving,
        models=layer.models,
    )


class CloudPlatform(pulumi.ComponentResource):
    """What every cloud's platform component (`mlinfra:<cloud>:Platform`) shares: the outputs every
    platform exposes and the in-cluster part of the deployment path.

    A subclass builds its cloud resources with these attributes, then calls `_in_cluster` and
    `_register_platform_outputs`: `cluster` (cluster_name, endpoint, kubeconfig, oidc_issuer),
    `artifacts` (bucket_name), `registry` (repository_urls) and `gpu_pools` (each with `.pool`).
    """

    cluster_name: pulumi.Output[str]
    cluster_endpoint: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    oidc_issuer: pulumi.Output[str]
    bucket_name: pulumi.Output[str]
    registry_urls: pulumi.Output[dict[str, str]]
    in_cluster: pulumi.Output[dict[str, Any]]
    # The subclass's building blocks (see above).
    cluster: Any
    artifacts: Any
    registry: Any
    gpu_pools: list[Any]

    def __init__(self, cloud: str, name: str, spec: PlatformSpec, opts: pulumi.ResourceOptions | None = None):
        if spec.cloud != cloud:
            raise ValueError(f"the {cloud} platform needs cloud {cloud!r}; the spec says {spec.cloud!r}")
        super().__init__(f"mlinfra:{cloud}:Platform", name, None, opts)
        # Set by `_in_cluster` when this stack installs the layer (api_access public / dns).
        self.k8s_provider: pulumi.ProviderResource | None = None
        self.monitoring = self.gpu = self.serving = None
        self.models: list[Any] = []

    def _in_cluster(
        self,
        name: str,
        spec: PlatformSpec,
        secrets: PlatformSecrets,
        *,
        model_identity: Any,
        storage_scheme: str = "",
        storage_base_uri: pulumi.Input[str] | None = None,
        cloud_values: Mapping[str, pulumi.Input[Any]],
        aliases: Sequence[pulumi.Alias] = (),
    ) -> bool:
        """One cloud identity per model (cloud resources, so always here: `model_identity(model)` ->
        a component with `service_account_annotations`), the `in_cluster` values this platform
        exports, and the layer itself when this stack reaches the API, after the cluster, with the
        model workloads waiting for their GPU pools. Returns whether the layer was installed here
        (False: api_access private, the in-cluster stack installs it).

        Model weights live under `<storage_scheme><artifacts.bucket_name>/` (`s3://`, `gs://`), or
        under `storage_base_uri` for a store addressed by URL (Azure Blob: `https://<account>.blob.
        core.windows.net/<container>/`)."""
        models = spec.serving.models if spec.serving.enabled else []
        self.model_identities = {m.name: model_identity(m) for m in models}
        self.in_cluster = in_cluster_values(
            spec,
            storage_base_uri=storage_base_uri
            if storage_base_uri is not None
            else pulumi.Output.concat(storage_scheme, self.artifacts.bucket_name, "/"),
            model_identities={n: i.service_account_annotations for n, i in self.model_identities.items()},
            cloud=cloud_values,
        )
        if not installs_in_cluster_layer(spec):
            return False
        install_in_cluster(
            name,
            spec,
            kubeconfig=self.cluster.kubeconfig,
            values=self.in_cluster,
            secrets=secrets,
            parent=self,
            depends_on=[self.cluster],
            pool_dependencies={p.pool.name: p for p in self.gpu_pools},
            aliases=aliases,
        ).adopt(self)
        return True

    def _register_platform_outputs(self, extra: Mapping[str, Any]) -> None:
        """Expose the outputs every platform has (MlPlatform's docstring) plus the cloud's `extra`
        ones (also set as attributes), and register them: the component's last step."""
        self.cluster_name = self.cluster.cluster_name
        self.cluster_endpoint = self.cluster.endpoint
        self.kubeconfig = pulumi.Output.secret(self.cluster.kubeconfig)
        self.oidc_issuer = self.cluster.oidc_issuer
        self.bucket_name = self.artifacts.bucket_name
        self.registry_urls = self.registry.repository_urls
        for key, value in extra.items():
            setattr(self, key, value)
        self.register_outputs(
            {
                **extra,
                "cluster_name": self.cluster_name,
                "cluster_endpoint": self.cluster_endpoint,
                "kubeconfig": self.kubeconfig,
                "oidc_issuer": self.oidc_issuer,
                "bucket_name": self.bucket_name,
                "registry_urls": self.registry_urls,
                "in_cluster": self.in_cluster,
            }
        )


class InClusterPlatform(pulumi.ComponentResource):
    """The in-cluster layer of a private cluster, fed by its platform stack's outputs.

    Type `mlinfra:<cloud>:InClusterPlatform`. Its children are named as the platform stack names them
    in the one-stack path (`<name>-monitoring`, `<name>-model-<model>`, ...).
    """

    def __init__(
        self,
        name: str,
        spec: PlatformSpec,
        platform_stack: str,
        secrets: PlatformSecrets | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        if spec.cloud not in IN_CLUSTER_PLUGINS:
            _plugin(spec.cloud)
        if installs_in_cluster_layer(spec):
            raise SpecError(
                f"api_access is {spec.cluster.api_access!r}: the platform stack installs the in-cluster layer "
                "itself; an in-cluster stack is only for api_access: private",
                "cluster.api_access",
            )
        super().__init__(f"mlinfra:{spec.cloud}:InClusterPlatform", name, None, opts)
        self.platform_stack = pulumi.StackReference(
            f"{name}-platform", stack_name=platform_stack, opts=pulumi.ResourceOptions(parent=self)
        )
        expected = spec_digest(spec)
        values = self.platform_stack.require_output(IN_CLUSTER_OUTPUT).apply(
            lambda v: _check_platform_values(v, expected, platform_stack)
        )
        install = install_in_cluster(
            name,
            spec,
            kubeconfig=self.platform_stack.require_output(KUBECONFIG_OUTPUT),
            values=values,
            secrets=secrets or PlatformSecrets(),
            parent=self,
        )
        install.adopt(self)
        self.serving_namespace = self.serving.namespace if self.serving else None
        self.model_urls = {
            model.name: deployment.url
            for model, deployment in zip(spec.serving.models, self.models, strict=False)
        }
        self.register_outputs({"serving_namespace": self.serving_namespace, "model_urls": self.model_urls})


def _check_platform_values(values: Any, expected_digest: str, platform_stack: str) -> dict[str, Any]:
    """The platform stack's `in_cluster` output, checked: a private cluster, deployed with this spec."""
    if not isinstance(values, dict) or not {"api_access", "spec_sha256", "cloud"} <= set(values):
        raise SpecError(
            f"stack {platform_stack!r} exports no usable {IN_CLUSTER_OUTPUT!r} output; run `pulumi up` on the "
            "platform stack first (it exports it)"
        )
    if values["spec_sha256"] != expected_digest:
        message = (
            f"the platform stack {platform_stack!r} was deployed with a different spec "
            f"(sha256 {values['spec_sha256'][:12]}) than the one this stack read ({expected_digest[:12]}); "
            "run `pulumi up` on the platform stack first, then this stack"
        )
        if pulumi.runtime.is_dry_run():
            pulumi.log.warn(
                message + " (a preview of a spec change shows it before the platform stack has run)"
            )
        else:
            raise SpecError(message)
    return values


# --------------------------------------------------------------------------- the in-cluster stack program


def platform_spec_from_file(platform_dir: Path, stack: str, key: str = "mlinfra:platform") -> PlatformSpec:
    """Read the spec from the platform project's `Pulumi.<stack>.yaml`: the one file that holds it.

    Read as the platform stack reads it (mlinfra.offline.yamlfile: the Pulumi CLI's scalars, so
    `2026-10-01` is a string on both sides and the spec digests agree)."""
    from mlinfra.offline.yamlfile import load_yaml, require_mapping

    path = platform_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise SpecError(
            f"{path} not found: the in-cluster stack reads the spec of the platform stack {stack!r}"
        )
    data = require_mapping(load_yaml(path), ("config",), "config").get(key)
    if not isinstance(data, dict):
        raise SpecError(f"{path} has no {key} object")
    return PlatformSpec.load(data, source=f"{path.name} {key}")


def platform_project_name(platform_dir: Path) -> str:
    import yaml

    doc = yaml.safe_load((platform_dir / "Pulumi.yaml").read_text()) or {}
    return str(doc.get("name") or platform_dir.name)


def in_cluster_stack() -> InClusterPlatform:
    """The program of an in-cluster stack (stacks/<cloud>-in-cluster/__main__.py calls only this).

    Config (namespace mlinfra): `platformDir` (the platform project, relative to this project;
    set in Pulumi.yaml), `platformStack` (optional: the platform stack's full name, default
    `<organization>/<platform project>/<this stack's name>`), and the secrets of the layer
    (grafanaAdminPassword, slackWebhookUrl, ...). The spec is read from the platform project's
    `Pulumi.<stack>.yaml`: written once, previewed in the same pull request as the platform's.
    """
    cfg = pulumi.Config("mlinfra")
    stack = pulumi.get_stack()
    platform_dir = (Path.cwd() / cfg.require(PLATFORM_DIR_KEY)).resolve()
    spec = platform_spec_from_file(platform_dir, stack)
    organization = pulumi.get_organization() or DIY_ORGANIZATION
    platform_stack = (
        cfg.get(PLATFORM_STACK_KEY) or f"{organization}/{platform_project_name(platform_dir)}/{stack}"
    )
    layer = InClusterPlatform(spec.prefix, spec, platform_stack, PlatformSecrets.from_config())
    pulumi.export("platform_stack", platform_stack)
    pulumi.export("serving_namespace", layer.serving_namespace)
    pulumi.export("model_urls", layer.model_urls)
    if layer.monitoring is not None:
        pulumi.export("grafana_admin_password", layer.monitoring.grafana_admin_password)
    return layer
