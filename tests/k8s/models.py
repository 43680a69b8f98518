"""One way for the tests to build a ModelDeployment: its arguments with sensible defaults, and its plan."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlinfra.k8s.metrics import prometheus_url
from mlinfra.k8s.scheduling import accelerator_scheduling
from mlinfra.k8s.serving import ModelDeployment, ModelDeploymentArgs
from mlinfra.offline import Plan
from mlinfra.spec import ModelSpec
from tests.conftest import plan_of

PROD_LABELS = {"owner": "ml-platform", "cost-center": "cc-1234", "environment": "prod"}
A10G = accelerator_scheduling("a10g", "nvidia-a10g")


def deployment_args(model: ModelSpec, **overrides: Any) -> ModelDeploymentArgs:
    """Arguments as the layer passes them on AWS (S3 model URI, Prometheus for KEDA), overridable."""
    base: dict[str, Any] = dict(
        model=model,
        namespace="serving",
        domain="models.acme.test",
        ingress_class="mlinfra-nginx",
        cluster_issuer="mlinfra-letsencrypt",
        storage_uri=f"s3://acme-prod-artifacts/models/{model.name}/",
        scheduling=A10G if model.gpus else None,
        labels=PROD_LABELS,
        cloud="aws",
        prometheus_url=prometheus_url("monitoring"),
    )
    return ModelDeploymentArgs(**{**base, **overrides})


def plan_model(args: ModelDeploymentArgs, resource_name: str | None = None) -> Plan:
    """Plan one ModelDeployment (exports host, url and service_account_name)."""

    def program():
        provider = k8s.Provider("k8s", kubeconfig="{}")
        md = ModelDeployment(
            resource_name or args.model.name, args, opts=pulumi.ResourceOptions(provider=provider)
        )
        pulumi.export("host", md.host)
        pulumi.export("url", md.url)
        pulumi.export("service_account_name", md.service_account_name)

    return plan_of(program)
