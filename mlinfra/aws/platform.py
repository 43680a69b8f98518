"""AwsPlatform: the whole ML platform on AWS from one PlatformSpec.

Network -> EKS cluster -> GPU node pools, artifact bucket, ECR registry, budget; then the
in-cluster layer (GPU enablement, serving, monitoring) on the cluster's Kubernetes provider.
Every AWS child uses one explicit provider for the spec's region, with default tags.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws
from pulumi_aws import Provider as AwsProvider
from pulumi_aws import budgets, kms

from mlinfra.aws import in_cluster as aws_in_cluster
from mlinfra.aws.artifact_bucket import ArtifactBucket, ArtifactBucketArgs
from mlinfra.aws.cluster import Cluster, ClusterArgs, control_plane_log_group
from mlinfra.aws.gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from mlinfra.aws.identity import WorkloadIdentity, WorkloadIdentityArgs
from mlinfra.aws.kms import check_log_retention, customer_managed_key, log_group_key_policy
from mlinfra.aws.network import Network, NetworkArgs, flow_log_group
from mlinfra.aws.registry import Registry, RegistryArgs
from mlinfra.aws.runner import InClusterRunner, InClusterRunnerArgs
from mlinfra.aws.runner import log_group as runner_log_group
from mlinfra.components import child
from mlinfra.k8s.serving import sa_name
from mlinfra.platform import CloudPlatform, installs_in_cluster_layer
from mlinfra.spec import ModelSpec, PlatformSpec

if TYPE_CHECKING:
    from mlinfra.platform import PlatformSecrets


class AwsPlatform(CloudPlatform):
    def __init__(
        self,
        name: str,
        spec: PlatformSpec,
        secrets: PlatformSecrets | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        # Log groups' retentions, checked before anything is registered (the components check them too).
        check_log_retention(spec.cluster.log_retention_days, "cluster.log_retention_days")
        if spec.network.flow_logs and spec.network.existing is None:
            check_log_retention(spec.network.flow_log_retention_days, "network.flow_log_retention_days")
        super().__init__("aws", name, spec, opts)
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

        # One CMK for the platform's CloudWatch log groups (control plane, flow logs), usable by
        # CloudWatch Logs for exactly those groups (kms.log_group_key_policy).
        runner_project = f"{spec.prefix}-in-cluster"
        log_groups = [control_plane_log_group(cluster_name), flow_log_group(cluster_name)]
        if not installs_in_cluster_layer(spec):
            log_groups.append(runner_log_group(runner_project))
        self.logs_key = self._logs_key(name, spec, log_groups)
        self.network = Network(
            f"{name}-network",
            NetworkArgs(
                spec=spec.network,
                region=spec.region,
                cluster_name=cluster_name,
                tags=tags,
                flow_log_kms_key_arn=self.logs_key.arn,
            ),
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
                workload_identity=aws_opts.workload_identity,
                log_kms_key_arn=self.logs_key.arn,
                system_subnets=self.network.private_subnets_by_zone,
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
                    node_prerequisites=self.cluster.node_prerequisites,
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

        # One IAM role per model, read-only on its prefix; the layer here when the API is public. The
        # provider, StorageClass and autoscaler were children of the Cluster component before the
        # deployment path moved them here: aliased, so they are not replaced.
        self.runner = None
        installed_here = self._in_cluster(
            name,
            spec,
            secrets,
            storage_scheme="s3://",
            model_identity=lambda m: self._model_identity(name, spec, m),
            cloud_values=aws_in_cluster.cloud_values(
                region=spec.region,
                cluster_name=self.cluster.cluster_name,
                node_volume_key_arn=self.cluster.node_volume_key_arn,
                autoscaler_service_account_annotations=self.cluster.autoscaler_service_account_annotations,
                gpu_node_groups=[
                    {
                        "pool": p.pool.name,
                        "capacity_type": p.pool.capacity_type,
                        "autoscaling_group": p.autoscaling_group_name,
                    }
                    for p in self.gpu_pools
                ],
            ),
            aliases=[pulumi.Alias(parent=self.cluster)],
        )
        if not installed_here:
            # api_access private: no Kubernetes resource here; the runner's way in instead.
            self.runner = self._runner(name, spec, runner_project)

        self._register_platform_outputs(
            {
                "vpc_id": self.network.vpc_id,
                "private_subnet_ids": self.network.private_subnet_ids,
                "node_volume_key_arn": self.cluster.node_volume_key_arn,
            }
        )

    def _runner(self, name: str, spec: PlatformSpec, project: str) -> InClusterRunner:
        assert spec.aws is not None
        if spec.aws.runner.state_backend is None:
            pulumi.log.warn(
                "aws.runner.state_backend is not set: the runner's role gets no Pulumi backend permissions and "
                "its builds need PULUMI_BACKEND_URL (and its credentials) passed to `aws codebuild start-build`",
                resource=self,
            )
        return InClusterRunner(
            f"{name}-runner",
            InClusterRunnerArgs(
                spec=spec.aws.runner,
                project_name=project,
                # The in-cluster stack must carry the platform stack's name: it reads the spec from
                # ../aws/Pulumi.<its stack>.yaml and references <org>/<platform project>/<its stack>
                # (mlinfra.platform.in_cluster_stack). The environment is not the stack's name
                # (two prod stacks, prod-us and prod-eu, share environment prod).
                stack=pulumi.get_stack(),
                region=spec.region,
                cluster_name=self.cluster.cluster_name,
                cluster_security_group_id=self.cluster.cluster_security_group_id,
                vpc_id=self.network.vpc_id,
                subnet_ids=self.network.private_subnet_ids,
                source_bucket=self.artifacts.bucket_name,
                source_key_arn=self.artifacts.key_arn,
                log_group_kms_key_arn=self.logs_key.arn,
                log_retention_days=spec.cluster.log_retention_days,
                environment=spec.environment,
                tags=spec.required_tags,
            ),
            opts=pulumi.ResourceOptions(parent=self, providers={"aws": self.provider}),
        )

    def _logs_key(self, name: str, spec: PlatformSpec, log_groups: list[str]) -> kms.Key:
        invoke = pulumi.InvokeOutputOptions(parent=self, provider=self.provider)
        account = aws.get_caller_identity_output(opts=invoke).account_id
        partition = aws.get_partition_output(opts=invoke).partition
        return customer_managed_key(
            self,
            f"{name}-logs-key",
            description=f"CloudWatch log groups of {spec.prefix}: {', '.join(log_groups)}",
            deletion_window_days=spec.encryption.key_deletion_window_days,
            protect=spec.protect_stateful,
            tags=spec.required_tags,
            policy=pulumi.Output.all(partition, account).apply(
                lambda v: json.dumps(log_group_key_policy(v[0], spec.region, v[1], log_groups))
            ),
            provider=self.provider,
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
