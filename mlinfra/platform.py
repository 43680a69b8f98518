"""`MlPlatform`: a PlatformSpec in, the right cloud's platform out.

Cloud SDKs are imported only when their platform is built, so `import mlinfra.platform`
works with any one extra installed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from mlinfra.spec import RECEIVER_SECRET_KEYS, PlatformSpec, SpecError

IMPLEMENTED_CLOUDS = ("aws", "gcp")


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
    (secret), oidc_issuer, bucket_name, registry_urls, k8s_provider.
    """
    secrets = secrets or PlatformSecrets()
    if spec.cloud == "aws":
        from mlinfra.aws.platform import AwsPlatform

        return AwsPlatform(name, spec, secrets, opts)
    if spec.cloud == "gcp":
        from mlinfra.gcp.platform import GcpPlatform

        return GcpPlatform(name, spec, secrets, opts)
    raise SpecError(
        f"cloud {spec.cloud!r} is accepted by the spec but its platform is not built in this release; "
        f"implemented: {', '.join(IMPLEMENTED_CLOUDS)}",
        "cloud",
    )
