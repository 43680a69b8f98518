"""GcpPlatform: the whole ML platform on GCP from one PlatformSpec.

Key ring -> network -> GKE cluster (system pool) -> GPU pools, artifact bucket, Artifact Registry,
budget, one Workload Identity grant per model; then the in-cluster layer (StorageClass, GPU
telemetry, serving, monitoring, models) on the cluster's Kubernetes provider. Every GCP child uses
one explicit provider for the spec's project and region, with the required labels as default labels.

Deployment path (`cluster.api_access`, mlinfra.platform): `dns` (default) and `public` (dev) install
everything from one `pulumi up` run anywhere with Google credentials (the kubeconfig authenticates
with `gke-gcloud-auth-plugin`). `private` reaches the private IP endpoint only: this stack registers
no Kubernetes resource and exports `kubeconfig` + `in_cluster`; the in-cluster stack
(stacks/gcp-in-cluster, the shared `in_cluster_stack` program) installs the layer from a runner
inside the VPC. GKE's part of both paths is mlinfra.gcp.in_cluster.
"""

from __future__ import annotations

import pulumi
from pulumi_gcp import Provider as GcpProvider
from pulumi_gcp import billing, monitoring

from mlinfra.components import child
from mlinfra.gcp import in_cluster as gcp_in_cluster
from mlinfra.gcp.artifact_bucket import ArtifactBucket, ArtifactBucketArgs
from mlinfra.gcp.cluster import Cluster, ClusterArgs
from mlinfra.gcp.gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from mlinfra.gcp.identity import WorkloadIdentity, WorkloadIdentityArgs
from mlinfra.gcp.kms import key_ring, project_number
from mlinfra.gcp.network import Network, NetworkArgs
from mlinfra.gcp.registry import Registry, RegistryArgs
from mlinfra.k8s.serving import sa_name
from mlinfra.platform import CloudPlatform, PlatformSecrets
from mlinfra.spec import ModelSpec, PlatformSpec, gcp_service_account_id, gcp_zones


class GcpPlatform(CloudPlatform):
    def __init__(
        self,
        name: str,
        spec: PlatformSpec,
        secrets: PlatformSecrets | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("gcp", name, spec, opts)
        secrets = secrets or PlatformSecrets()
        g = spec.gcp
        assert g is not None  # the spec fills it in for cloud gcp
        labels = spec.required_tags
        protect = spec.protect_stateful
        zones = gcp_zones(spec)
        keys = {
            "key_rotation_days": g.key_rotation_days,
            "key_destroy_days": spec.encryption.key_deletion_window_days,
        }

        # Quota and billing of API calls go to the platform's project (needed by the Budget API with
        # user credentials: pulumi-gcp billing.Budget docs, `billing_project` + `user_project_override`).
        self.provider = GcpProvider(
            f"{name}-gcp",
            project=g.project,
            region=spec.region,
            default_labels=labels,
            billing_project=g.project,
            user_project_override=True,
            opts=child(self),
        )
        on_gcp = pulumi.ResourceOptions(parent=self, providers={"gcp": self.provider})
        self.project_number = project_number(self, g.project)

        ring = key_ring(
            self,
            f"{name}-keyring",
            ring_prefix=spec.prefix,
            project=g.project,
            location=spec.region,
            protect=protect,
            provider=self.provider,
        )
        self.network = Network(
            f"{name}-network",
            NetworkArgs(
                spec=spec.network,
                project=g.project,
                region=spec.region,
                name_prefix=spec.prefix,
                zones=zones,
                pods_cidr=g.pods_cidr,
                pods_range_name=g.pods_range_name,
                services_range_name=g.services_range_name,
                labels=labels,
            ),
            opts=on_gcp,
        )
        self.cluster = Cluster(
            f"{name}-cluster",
            ClusterArgs(
                spec=spec.cluster,
                cluster_name=spec.prefix,
                project=g.project,
                region=spec.region,
                zones=zones,
                network=self.network.network_id,
                subnetwork=self.network.subnetwork_id,
                pods_range_name=g.pods_range_name,
                services_range_name=g.services_range_name,
                control_plane_cidr=g.control_plane_cidr,
                key_ring=ring.id,
                environment=spec.environment,
                protect=protect,
                labels=labels,
                regional=g.regional,
                release_channel=g.release_channel,
                gke_version=g.gke_version,
                **keys,
            ),
            opts=on_gcp,
        )
        self.gpu_pools = [
            GpuNodePool(
                f"{name}-gpu-{pool.name}",
                GpuNodePoolArgs(
                    pool=pool,
                    cluster=self.cluster.cluster.id,
                    location=self.cluster.location,
                    project=g.project,
                    region=spec.region,
                    zones=zones,
                    service_account=self.cluster.node_service_account_email,
                    boot_disk_kms_key=self.cluster.node_disk_key_id,
                    # Untainted-pool pitfall: GPU pools come after the system pool.
                    after=[self.cluster.system_pool],
                    labels=labels,
                ),
                opts=on_gcp,
            )
            for pool in spec.gpu_pools
        ]
        self.artifacts = ArtifactBucket(
            f"{name}-artifacts",
            ArtifactBucketArgs(
                spec=spec.artifacts,
                bucket_name=spec.bucket_name,
                project=g.project,
                location=spec.region,
                key_ring=ring.id,
                protect=protect,
                labels=labels,
                **keys,
            ),
            opts=on_gcp,
        )
        self.registry = Registry(
            f"{name}-registry",
            RegistryArgs(
                spec=spec.registry,
                name_prefix=spec.prefix,
                project=g.project,
                location=spec.region,
                key_ring=ring.id,
                reader_members=[self.cluster.node_service_account_member],
                protect=protect,
                labels=labels,
                **keys,
            ),
            opts=on_gcp,
        )
        if g.billing_account is not None:
            self.budget = self._budget(name, spec)

        # One Workload Identity grant per model, read-only on its prefix; the layer here unless the
        # API is private (then stacks/gcp-in-cluster installs it from these outputs).
        self._in_cluster(
            name,
            spec,
            secrets,
            storage_scheme="gs://",
            model_identity=lambda m: self._model_identity(name, spec, m),
            cloud_values=gcp_in_cluster.cloud_values(node_disk_key_id=self.cluster.node_disk_key_id),
        )
        self._register_platform_outputs(
            {
                "network_id": self.network.network_id,
                "subnetwork_id": self.network.subnetwork_id,
                "node_disk_key_id": self.cluster.node_disk_key_id,
                "node_service_account_email": self.cluster.node_service_account_email,
            }
        )

    def _model_identity(self, name: str, spec: PlatformSpec, model: ModelSpec) -> WorkloadIdentity:
        """Read access to the model's prefix for the model's ServiceAccount only."""
        g = spec.gcp
        assert g is not None
        return WorkloadIdentity(
            f"{name}-model-{model.name}-identity",
            WorkloadIdentityArgs(
                namespace=spec.serving.namespace,
                service_account=sa_name(model),
                project=g.project,
                project_number=self.project_number,
                bucket=self.artifacts.bucket_name,
                prefix=model.prefix,
                mode=g.workload_identity,
                account_id=gcp_service_account_id(spec.prefix, f"m-{model.name}")
                if g.workload_identity == "gsa"
                else None,
            ),
            opts=pulumi.ResourceOptions(parent=self, providers={"gcp": self.provider}),
        )

    def _budget(self, name: str, spec: PlatformSpec) -> billing.Budget:
        """Monthly budget on the platform's project and cost-center label; e-mail channels for the
        alert addresses (billing admins are notified too, the Budget API's default)."""
        g = spec.gcp
        assert g is not None and g.billing_account is not None
        channels = [
            monitoring.NotificationChannel(
                f"{name}-budget-{i}",
                project=g.project,
                type="email",
                display_name=f"{spec.prefix} budget: {email}",
                labels={"email_address": email},
                user_labels=spec.required_tags,
                opts=child(self, provider=self.provider),
            )
            for i, email in enumerate(spec.budget.alert_emails)
        ]
        limit = spec.budget.monthly_limit_usd
        return billing.Budget(
            f"{name}-budget",
            billing_account=g.billing_account,
            display_name=f"{spec.prefix}-monthly",
            amount=billing.BudgetAmountArgs(
                specified_amount=billing.BudgetAmountSpecifiedAmountArgs(
                    currency_code="USD", units=str(int(limit)), nanos=round((limit % 1) * 1e9)
                )
            ),
            threshold_rules=[
                *(
                    billing.BudgetThresholdRuleArgs(threshold_percent=p / 100)
                    for p in spec.budget.thresholds_percent
                ),
                billing.BudgetThresholdRuleArgs(threshold_percent=1.0, spend_basis="FORECASTED_SPEND"),
            ],
            budget_filter=billing.BudgetBudgetFilterArgs(
                projects=[pulumi.Output.concat("projects/", self.project_number)],
                # "A single label and value pair" (BudgetBudgetFilterArgs.labels).
                labels={"cost-center": spec.tags.cost_center},
                calendar_period="MONTH",
            ),
            all_updates_rule=billing.BudgetAllUpdatesRuleArgs(
                monitoring_notification_channels=[c.id for c in channels],
                disable_default_iam_recipients=False,
            ),
            opts=child(self, provider=self.provider),
        )
