"""AwsPlatform: the whole ML platform on AWS from one PlatformSpec.

Network -> EKS cluster -> GPU node pools, artifact bucket, ECR registry, budget; then the
in-cluster layer (GPU enablement, serving, monitoring) on the cluster's Kubernetes provider.
Every AWS child uses one explicit provider for the spec's region, with default tags.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi
from pulumi_aws import Provider as AwsProvider
from pulumi_aws import budgets

from mlinfra.aws.artifact_bucket import ArtifactBucket, ArtifactBucketArgs
from mlinfra.aws.cluster import Cluster, ClusterArgs
from mlinfra.aws.gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from mlinfra.aws.identity import WorkloadIdentity, WorkloadIdentityArgs
from mlinfra.aws.network import Network, NetworkArgs
from mlinfra.aws.registry import Registry, RegistryArgs
from mlinfra.components import child
from mlinfra.k8s.layer import InClusterLayerArgs, in_cluster_layer
from mlinfra.k8s.scheduling import POOL_LABEL
from mlinfra.k8s.serving import sa_name
from mlinfra.spec import ModelSpec, PlatformSpec

if TYPE_CHECKING:
    from mlinfra.platform import PlatformSecrets


class AwsPlatform(pulumi.ComponentResource):
    cluster_name: pulumi.Output[str]
    cluster_endpoint: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    oidc_issuer: pulumi.Output[str]
    bucket_name: pulumi.Output[str]
    registry_urls: pulumi.Output[dict[str, str]]

    def __init__(
        self,
        name: str,
        spec: PlatformSpec,
        secrets: PlatformSecrets | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        if spec.cloud != "aws":
            raise ValueError(f"AwsPlatform needs cloud 'aws'; the spec says {spec.cloud!r}")
        super().__init__("mlinfra:aws:Platform", name, None, opts)
        from mlinfra.platform import PlatformSecrets

        secrets = secrets or PlatformSecrets()
        aws_opts = spec.aws
        assert aws_opts is not None  # the spec fills it in for cloud aws
        tags = spec.required_tags
        protect = spec.protect_stateful
        cluster_name = spec.prefix

        self.provider = AwsProvider(
            f"{name}-aws",
            region=spec.region,
            default_tags={"tags": tags},
            opts=child(self),
        )
        on_aws = pulumi.ResourceOptions(parent=self, providers={"aws": self.provider})

        self.network = Network(
            f"{name}-network",
            NetworkArgs(spec=spec.network, region=spec.region, cluster_name=cluster_name, tags=tags),
            opts=on_aws,
        )
        self.cluster = Cluster(
            f"{name}-cluster",
            ClusterArgs(
                spec=spec.cluster,
                cluster_name=cluster_name,
                vpc_id=self.network.vpc_id,
                subnet_ids=self.network.private_subnet_ids,
                service_cidr=spec.network.service_cidr,
                environment=spec.environment,
                key_deletion_window_days=spec.encryption.key_deletion_window_days,
                protect=protect,
                tags=tags,
                system_machine_type=aws_opts.system_machine_type,
                workload_identity=aws_opts.workload_identity,
            ),
            opts=on_aws,
        )
        self.gpu_pools = [
            GpuNodePool(
                f"{name}-gpu-{pool.name}",
                GpuNodePoolArgs(
                    pool=pool,
                    cluster_name=self.cluster.cluster_name,
                    kubernetes_version=spec.cluster.kubernetes_version,
                    subnet_ids=self.network.private_subnet_ids,
                    volume_kms_key_arn=self.cluster.node_volume_key_arn,
                    tags=tags,
                ),
                opts=on_aws,
            )
            for pool in spec.gpu_pools
        ]
        self.artifacts = ArtifactBucket(
            f"{name}-artifacts",
            ArtifactBucketArgs(
                spec=spec.artifacts,
                bucket_name=spec.bucket_name,
                key_deletion_window_days=spec.encryption.key_deletion_window_days,
                protect=protect,
                tags=tags,
            ),
            opts=on_aws,
        )
        self.registry = Registry(
            f"{name}-registry",
            RegistryArgs(
                spec=spec.registry,
                name_prefix=spec.prefix,
                pull_principal_arns=pulumi.Output.all(
                    self.cluster.system_node_role_arn, *[p.node_role_arn for p in self.gpu_pools]
                ),
                key_deletion_window_days=spec.encryption.key_deletion_window_days,
                protect=protect,
                tags=tags,
            ),
            opts=on_aws,
        )
        if spec.budget.alert_emails:
            self.budget = _budget(name, spec, self, self.provider)

        self._in_cluster_layer(name, spec, secrets)

        self.cluster_name = self.cluster.cluster_name
        self.cluster_endpoint = self.cluster.endpoint
        self.kubeconfig = pulumi.Output.secret(self.cluster.kubeconfig)
        self.oidc_issuer = self.cluster.oidc_issuer
        self.k8s_provider = self.cluster.k8s_provider
        self.bucket_name = self.artifacts.bucket_name
        self.registry_urls = self.registry.repository_urls
        self.vpc_id = self.network.vpc_id
        self.private_subnet_ids = self.network.private_subnet_ids
        self.node_volume_key_arn = self.cluster.node_volume_key_arn
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "private_subnet_ids": self.private_subnet_ids,
                "node_volume_key_arn": self.node_volume_key_arn,
                "cluster_name": self.cluster_name,
                "cluster_endpoint": self.cluster_endpoint,
                "kubeconfig": self.kubeconfig,
                "oidc_issuer": self.oidc_issuer,
                "bucket_name": self.bucket_name,
                "registry_urls": self.registry_urls,
            }
        )

    def _in_cluster_layer(self, name: str, spec: PlatformSpec, secrets: PlatformSecrets) -> None:
        """Monitoring, GPU enablement, serving and models on the new cluster, after its nodes exist."""
        bucket = self.artifacts.bucket_name
        layer = in_cluster_layer(
            f"{name}-",
            InClusterLayerArgs(
                environment=spec.environment,
                tags=spec.tags,
                gpu_pools=spec.gpu_pools,
                serving=spec.serving,
                monitoring=spec.monitoring,
                cloud="aws",
                kubernetes_version=spec.cluster.kubernetes_version,
                storage_uri=lambda path: pulumi.Output.concat("s3://", bucket, "/", path),
                identity=lambda model: self._model_identity(name, spec, model).service_account_annotations,
                storage_class=self.cluster.storage_class,
                install_device_plugin=True,  # EKS does not manage the NVIDIA device plugin
                system_node_selector={POOL_LABEL: "system"},
                grafana_admin_password=secrets.grafana_admin_password,
                alert_receivers=secrets.alert_receivers,
                pool_dependencies={p.name: gp for p, gp in zip(spec.gpu_pools, self.gpu_pools, strict=True)},
            ),
            pulumi.ResourceOptions(
                parent=self,
                providers={"kubernetes": self.cluster.k8s_provider},
                depends_on=[self.cluster],
            ),
        )
        self.monitoring, self.gpu, self.serving, self.models = (
            layer.monitoring,
            layer.gpu,
            layer.serving,
            layer.models,
        )

    def _model_identity(self, name: str, spec: PlatformSpec, model: ModelSpec) -> WorkloadIdentity:
        """An IAM role for the model's ServiceAccount, read-only on the model's bucket prefix."""
        return WorkloadIdentity(
            f"{name}-model-{model.name}-identity",
            WorkloadIdentityArgs(
                namespace=spec.serving.namespace,
                service_account=sa_name(model),
                cluster_name=self.cluster.cluster_name,
                oidc_provider_arn=self.cluster.oidc_provider_arn,
                oidc_provider_url=self.cluster.oidc_provider_url,
                policy_json=self.artifacts.policy_document(model.prefix, "read"),
                mode=spec.aws.workload_identity if spec.aws else "irsa",
                tags=spec.required_tags,
            ),
            opts=pulumi.ResourceOptions(parent=self, providers={"aws": self.provider}),
        )


def _budget(name: str, spec: PlatformSpec, parent: pulumi.Resource, provider: AwsProvider) -> budgets.Budget:
    """Monthly cost budget filtered on the platform's cost-center tag, notifying by e-mail.

    The tag filter counts only once `cost-center` is activated as a cost allocation tag in
    the billing console (an account-level, one-time step).
    """
    notifications = [
        budgets.BudgetNotificationArgs(
            comparison_operator="GREATER_THAN",
            notification_type="ACTUAL",
            threshold=float(pct),
            threshold_type="PERCENTAGE",
            subscriber_email_addresses=spec.budget.alert_emails,
        )
        for pct in spec.budget.thresholds_percent
    ]
    notifications.append(
        budgets.BudgetNotificationArgs(
            comparison_operator="GREATER_THAN",
            notification_type="FORECASTED",
            threshold=100.0,
            threshold_type="PERCENTAGE",
            subscriber_email_addresses=spec.budget.alert_emails,
        )
    )
    return budgets.Budget(
        f"{name}-budget",
        name=f"{spec.prefix}-monthly",
        budget_type="COST",
        time_unit="MONTHLY",
        limit_amount=f"{spec.budget.monthly_limit_usd:.2f}",
        limit_unit="USD",
        cost_filters=[
            budgets.BudgetCostFilterArgs(
                name="TagKeyValue", values=[f"user:cost-center${spec.tags.cost_center}"]
            )
        ],
        notifications=notifications,
        tags=spec.required_tags,
        opts=child(parent, provider=provider),
    )
