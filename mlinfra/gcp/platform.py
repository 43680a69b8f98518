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
from pulumi_gcp import billing, monitoring, projects

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

# The Google APIs the platform calls (one per service its resources and invokes use). GKE's and
# Compute Engine's service agents, which the keys are granted to, exist only once their API is on.
# containerscanning: Artifact Registry scans images only while it is enabled (registry.py,
# enablement_config INHERITED); containersecurity: the cluster's security posture mode BASIC.
REQUIRED_APIS: tuple[str, ...] = (
    "compute.googleapis.com",
    "container.googleapis.com",
    "cloudkms.googleapis.com",
    "artifactregistry.googleapis.com",
    "containerscanning.googleapis.com",
    "containersecurity.googleapis.com",
    "storage.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "sts.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "cloudresourcemanager.googleapis.com",
)
# Only with a budget (gcp.billing_account).
BUDGET_APIS: tuple[str, ...] = ("cloudbilling.googleapis.com", "billingbudgets.googleapis.com")

# What a non-Owner deploying identity needs, per resource type the plan registers (IAM "Roles and
# permissions" reference, https://cloud.google.com/iam/docs/roles-permissions): a test derives the
# set from the shipped plans and checks the README lists it.
DEPLOYER_ROLES: dict[str, str] = {
    "gcp:kms/keyRing:KeyRing": "roles/cloudkms.admin",
    "gcp:kms/cryptoKey:CryptoKey": "roles/cloudkms.admin",
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": "roles/cloudkms.admin",
    "gcp:compute/network:Network": "roles/compute.networkAdmin",
    "gcp:compute/subnetwork:Subnetwork": "roles/compute.networkAdmin",
    "gcp:compute/router:Router": "roles/compute.networkAdmin",
    "gcp:compute/routerNat:RouterNat": "roles/compute.networkAdmin",
    "gcp:compute/address:Address": "roles/compute.networkAdmin",
    # Compute Network Admin excludes firewall rules ("except for firewall rules and SSL certificates").
    "gcp:compute/firewall:Firewall": "roles/compute.securityAdmin",
    # Kubernetes Engine Admin also gives the Kubernetes API access the in-cluster layer needs.
    "gcp:container/cluster:Cluster": "roles/container.admin",
    "gcp:container/nodePool:NodePool": "roles/container.admin",
    "gcp:serviceaccount/account:Account": "roles/iam.serviceAccountAdmin",
    "gcp:serviceaccount/iAMMember:IAMMember": "roles/iam.serviceAccountAdmin",
    "gcp:projects/iAMMember:IAMMember": "roles/resourcemanager.projectIamAdmin",
    "gcp:projects/iAMCustomRole:IAMCustomRole": "roles/iam.roleAdmin",
    "gcp:projects/serviceIdentity:ServiceIdentity": "roles/serviceusage.serviceUsageAdmin",
    "gcp:projects/service:Service": "roles/serviceusage.serviceUsageAdmin",
    "gcp:storage/bucket:Bucket": "roles/storage.admin",
    "gcp:storage/bucketIAMMember:BucketIAMMember": "roles/storage.admin",
    "gcp:storage/managedFolder:ManagedFolder": "roles/storage.admin",
    "gcp:storage/managedFolderIamMember:ManagedFolderIamMember": "roles/storage.admin",
    "gcp:artifactregistry/repository:Repository": "roles/artifactregistry.admin",
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": "roles/artifactregistry.admin",
    "gcp:logging/projectBucketConfig:ProjectBucketConfig": "roles/logging.configWriter",
    "gcp:logging/projectSink:ProjectSink": "roles/logging.configWriter",
    "gcp:logging/projectExclusion:ProjectExclusion": "roles/logging.configWriter",
    "gcp:monitoring/notificationChannel:NotificationChannel": "roles/monitoring.notificationChannelEditor",
    # On the billing account, not the project.
    "gcp:billing/budget:Budget": "roles/billing.costsManager",
}
# Needed whatever the plan holds: creating a cluster or node pool that runs as the node service
# account needs iam.serviceAccounts.actAs on it ("you must also have the Service Account User role
# ... on the user-managed service account that your nodes will use", roles/container.admin), and the
# provider's user_project_override bills every call to the project (serviceusage.services.use).
DEPLOYER_BASE_ROLES: tuple[str, ...] = (
    "roles/iam.serviceAccountUser",
    "roles/serviceusage.serviceUsageConsumer",
)


def deployer_roles(resource_types: set[str] | frozenset[str]) -> list[str]:
    """The IAM roles a deploying identity needs for a plan of these resource types (sorted)."""
    missing = sorted(t for t in resource_types if t.startswith("gcp:") and t not in DEPLOYER_ROLES)
    if missing:
        raise KeyError(f"no deployer role known for {missing}")
    return sorted({*DEPLOYER_BASE_ROLES, *(DEPLOYER_ROLES[t] for t in resource_types if t in DEPLOYER_ROLES)})


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
        provider_args = dict(
            project=g.project,
            region=spec.region,
            default_labels=labels,
            billing_project=g.project,
            user_project_override=True,
        )
        apis = self._enable_apis(name, spec, provider_args) if g.enable_apis else []
        # Every GCP child uses this provider, so it is created after the APIs are on: nothing calls
        # an API before its enablement (which propagates for minutes) was accepted.
        self.provider = GcpProvider(f"{name}-gcp", **provider_args, opts=child(self, depends_on=apis))
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

    def _enable_apis(self, name: str, spec: PlatformSpec, provider_args: dict) -> list[projects.Service]:
        """`gcp.enable_apis`: the APIs, each enabled once and never disabled on destroy (other stacks
        of the project use them), through a provider of their own."""
        g = spec.gcp
        assert g is not None
        apis_provider = GcpProvider(f"{name}-gcp-apis", **provider_args, opts=child(self))
        wanted = REQUIRED_APIS + (BUDGET_APIS if g.billing_account is not None else ())
        return [
            projects.Service(
                f"{name}-api-{api.split('.', 1)[0]}",
                project=g.project,
                service=api,
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=child(self, provider=apis_provider),
            )
            for api in wanted
        ]

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
