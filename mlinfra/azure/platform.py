"""AzurePlatform: the whole ML platform on Azure from one PlatformSpec.

Resource group -> network -> Key Vault -> AKS cluster -> GPU pools, artifact store, registry,
budget; then the in-cluster layer (GPU enablement, serving, monitoring) on the cluster's
Kubernetes provider. Every Azure child uses one explicit `azure-native` provider pinned to the
spec's subscription, tenant and region; azure-native has no default tags, so every block tags its
own resources with the spec's required tags.

Who runs what from where (hooks.md contract C, `mlinfra.platform.CloudPlatform`): with
`cluster.api_access: public` (dev) one `pulumi up` from an address in `public_access_cidrs` builds
everything, the in-cluster layer included (`mlinfra.azure.in_cluster`: Azure's layer hooks and
cluster objects). With `private` the API server, Key Vault, storage and registry answer only inside
the VNet: this stack builds the cloud resources from anywhere (ARM) and registers no Kubernetes
resource; stacks/azure-in-cluster installs the layer from a runner in the VNet's `runners` subnet,
running as the runner identity made here (README "Azure: deployment path").
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

import pulumi
from pulumi_azure_native import Provider as AzureProvider
from pulumi_azure_native import authorization, consumption, managedidentity

from mlinfra.azure import in_cluster as azure_in_cluster
from mlinfra.azure.artifact_bucket import ArtifactBucket, ArtifactBucketArgs
from mlinfra.azure.cluster import Cluster, ClusterArgs
from mlinfra.azure.gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from mlinfra.azure.identity import (
    PRINCIPAL_KINDS,
    WorkloadIdentity,
    WorkloadIdentityArgs,
    deployer_principal_type,
    grant,
    user_assigned_identity,
)
from mlinfra.azure.keyvault import KeyVault, KeyVaultArgs
from mlinfra.azure.network import Network, NetworkArgs
from mlinfra.azure.registry import Registry, RegistryArgs
from mlinfra.azure.resource_group import resource_group
from mlinfra.catalog import REGION_ZONES
from mlinfra.components import child
from mlinfra.k8s.serving import sa_name
from mlinfra.platform import CloudPlatform, installs_in_cluster_layer
from mlinfra.spec import (
    ModelSpec,
    PlatformSpec,
    azure_names,
    azure_platform_vm_size,
    azure_private_endpoints,
)

if TYPE_CHECKING:
    from mlinfra.platform import PlatformSecrets


class AzurePlatform(CloudPlatform):
    def __init__(
        self,
        name: str,
        spec: PlatformSpec,
        secrets: PlatformSecrets | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        if spec.cloud == "azure":
            azure_names(spec)  # Azure's name rules, before anything registers
        super().__init__("azure", name, spec, opts)
        azure = spec.azure
        assert azure is not None  # the spec requires it for cloud azure
        names = azure_names(spec)
        from mlinfra.platform import PlatformSecrets

        secrets = secrets or PlatformSecrets()
        tags = spec.required_tags
        protect = spec.protect_stateful
        location = spec.region
        zones = list(REGION_ZONES["azure"][spec.region][: spec.network.zone_count])
        private = azure_private_endpoints(spec)
        sub = azure.subscription_id

        self.provider = AzureProvider(
            f"{name}-azure",
            location=location,
            subscription_id=sub,
            tenant_id=azure.tenant_id,
            opts=child(self),
        )
        on_azure = pulumi.ResourceOptions(parent=self, providers={"azure-native": self.provider})
        deployer_object_id, deployer_type = self._deployer(spec)

        group = resource_group(
            self,
            f"{name}-rg",
            group_name=names.resource_group,
            location=location,
            subscription_id=sub,
            existing=azure.existing_resource_group,
            protect=protect,
            tags=tags,
            provider=self.provider,
        )
        rg = group.name
        self.resource_group_name = rg
        self.network = Network(
            f"{name}-network",
            NetworkArgs(
                spec=spec.network,
                subnets=azure.subnet_layout(spec.network),
                name_prefix=spec.prefix,
                resource_group_name=rg,
                location=location,
                private_endpoints=private,
                public_ingress=spec.serving.enabled and not spec.serving.internal_load_balancer,
                runner_subnet=spec.cluster.api_access == "private",
                flow_log_account_name=names.flow_log_account,
                protect=protect,
                tags=tags,
            ),
            opts=on_azure,
        )
        self.vault = KeyVault(
            f"{name}-keyvault",
            KeyVaultArgs(
                vault_base=names.vault_base,
                resource_group_name=rg,
                location=location,
                tenant_id=azure.tenant_id,
                soft_delete_days=spec.encryption.key_deletion_window_days,
                private=private,
                endpoints_subnet_id=self.network.endpoints_subnet_id,
                dns_zone_id=self.network.dns_zone_ids.get("vault"),
                protect=protect,
                tags=tags,
            ),
            opts=on_azure,
        )
        self.cluster = Cluster(
            f"{name}-cluster",
            ClusterArgs(
                spec=spec.cluster,
                cluster_name=names.cluster,
                node_resource_group=names.node_resource_group,
                environment=spec.environment,
                resource_group_name=rg,
                resource_group_id=group.id,
                location=location,
                subscription_id=sub,
                tenant_id=azure.tenant_id,
                vnet_id=self.network.vnet_id,
                nodes_subnet_id=self.network.nodes_subnet_id,
                apiserver_subnet_id=self.network.apiserver_subnet_id,
                zones=zones,
                service_cidr=spec.network.service_cidr,
                pod_cidr=azure.pod_cidr,
                system_vm_size=azure.system_vm_size,
                platform_vm_size=azure_platform_vm_size(spec),
                sku_tier=azure.sku_tier,
                vault_id=self.vault.vault_id,
                vault_name=self.vault.vault_name,
                private_vault=private,
                deployer_object_id=deployer_object_id,
                deployer_principal_type=deployer_type,
                admin_group_object_ids=azure.admin_group_object_ids,
                encryption_at_host=azure.encryption_at_host,
                protect=protect,
                tags=tags,
            ),
            opts=on_azure,
        )
        self.gpu_pools = [
            GpuNodePool(
                f"{name}-gpu-{pool.name}",
                GpuNodePoolArgs(
                    pool=pool,
                    cluster_name=self.cluster.cluster_name,
                    resource_group_name=rg,
                    kubernetes_version=spec.cluster.kubernetes_version,
                    subnet_id=self.network.nodes_subnet_id,
                    zones=zones,
                    encryption_at_host=azure.encryption_at_host,
                    tags=tags,
                ),
                opts=on_azure,
            )
            for pool in spec.gpu_pools
        ]
        public_cidrs = list(spec.cluster.public_access_cidrs)
        self.artifacts = ArtifactBucket(
            f"{name}-artifacts",
            ArtifactBucketArgs(
                spec=spec.artifacts,
                account_name=names.storage_account,
                container_name=names.container,
                resource_group_name=rg,
                location=location,
                subscription_id=sub,
                customer_managed_key=spec.environment in ("staging", "prod"),
                private=private,
                vault_name=self.vault.vault_name,
                vault_uri=self.vault.vault_uri,
                endpoints_subnet_id=self.network.endpoints_subnet_id,
                dns_zone_id=self.network.dns_zone_ids.get("blob"),
                allowed_subnet_ids=[self.network.nodes_subnet_id],
                allowed_ip_ranges=public_cidrs,
                workspace_id=self.cluster.workspace_id,
                protect=protect,
                tags=tags,
            ),
            opts=on_azure,
        )
        egress = [self.network.egress_ip] if self.network.egress_ip is not None else []
        self.registry = Registry(
            f"{name}-registry",
            RegistryArgs(
                spec=spec.registry,
                registry_name=names.registry,
                resource_group_name=rg,
                location=location,
                subscription_id=sub,
                pull_principal_ids=[self.cluster.kubelet_object_id],
                customer_managed_key=spec.environment == "prod",
                private=private,
                vault_name=self.vault.vault_name,
                endpoints_subnet_id=self.network.endpoints_subnet_id,
                dns_zone_id=self.network.dns_zone_ids.get("registry"),
                allowed_ip_ranges=[*egress, *public_cidrs],
                protect=protect,
                tags=tags,
            ),
            opts=on_azure,
        )
        if spec.budget.alert_emails:
            self.budget = _budget(
                name, spec, [names.resource_group, names.node_resource_group], self, self.provider
            )

        # One managed identity per model (reading only its blob prefix), then the layer here or the
        # runner's way in (the runners subnet and an identity that administers this cluster).
        self.runner_identity = None
        installed_here = self._in_cluster(
            name,
            spec,
            secrets,
            storage_base_uri=self.artifacts.uri(""),
            model_identity=lambda m: self._model_identity(name, spec, m),
            cloud_values=azure_in_cluster.cloud_values(
                disk_encryption_set_id=self.cluster.disk_encryption_set_id
            ),
        )
        if not installed_here:
            self.runner_identity = self._runner_identity(name, spec)
        self._register_platform_outputs(
            {
                "resource_group_name": self.resource_group_name,
                "vnet_id": self.network.vnet_id,
                "nodes_subnet_id": self.network.nodes_subnet_id,
                "disk_encryption_set_id": self.cluster.disk_encryption_set_id,
                # api_access private: where the runner of the in-cluster stack sits and who it runs as.
                "runners_subnet_id": self.network.runners_subnet_id,
                "runner_identity_client_id": self.runner_identity.client_id if self.runner_identity else None,
                "runner_identity_id": self.runner_identity.id if self.runner_identity else None,
            }
        )

    def _deployer(self, spec: PlatformSpec) -> tuple[pulumi.Input[str] | None, pulumi.Input[str]]:
        """Who is granted cluster-admin to install the in-cluster layer from this stack: nobody when
        the in-cluster stack installs it (api_access private: its runner identity is granted, people
        come from `cluster.admin_principals`); else `azure.deployer_principal`, or when that is empty
        whoever runs `pulumi up` (authorization.get_client_config: the grant then follows the last
        person or pipeline that ran the stack, README "Azure: deployment path")."""
        azure = spec.azure
        assert azure is not None
        if not installs_in_cluster_layer(spec):
            return None, "User"
        if azure.deployer_principal is not None:
            kind, _, object_id = azure.deployer_principal.partition(":")
            return object_id, PRINCIPAL_KINDS[kind]
        client = authorization.get_client_config_output(
            opts=pulumi.InvokeOutputOptions(parent=self, provider=self.provider)
        )
        return client.object_id, deployer_principal_type(client.client_id)

    def _runner_identity(self, name: str, spec: PlatformSpec) -> managedidentity.UserAssignedIdentity:
        """api_access private: the identity of the runner that installs the in-cluster layer from the
        VNet's `runners` subnet (a self-hosted CI agent VM or VM scale set there, `az login --identity`,
        README "Azure: deployment path"): "Azure Kubernetes Service RBAC Cluster Admin" on this
        cluster only, what the in-cluster stack's kubelogin token needs. Its Pulumi backend access is
        the operator's to grant (the backend is not part of the platform)."""
        azure = spec.azure
        assert azure is not None
        identity = user_assigned_identity(
            self,
            f"{name}-runner-identity",
            identity_name=f"{spec.prefix}-in-cluster-runner",
            resource_group_name=self.resource_group_name,
            location=spec.region,
            tags=spec.required_tags,
            provider=self.provider,
        )
        grant(
            self,
            f"{name}-runner-cluster-admin",
            role="Azure Kubernetes Service RBAC Cluster Admin",
            principal_id=identity.principal_id,
            scope=self.cluster.cluster_id,
            subscription_id=azure.subscription_id,
            description="The in-cluster stack's runner installs the layer (cluster.api_access: private)",
            provider=self.provider,
        )
        return identity

    def _model_identity(self, name: str, spec: PlatformSpec, model: ModelSpec) -> WorkloadIdentity:
        """A managed identity for the model's ServiceAccount, reading the model's blob prefix only."""
        azure = spec.azure
        assert azure is not None
        return WorkloadIdentity(
            f"{name}-model-{model.name}-identity",
            WorkloadIdentityArgs(
                namespace=spec.serving.namespace,
                service_account=sa_name(model),
                oidc_issuer=self.cluster.oidc_issuer,
                resource_group_name=self.resource_group_name,
                location=spec.region,
                subscription_id=azure.subscription_id,
                container_id=self.artifacts.container_id,
                container_name=self.artifacts.container_name,
                prefix=model.prefix,
                identity_name=f"{spec.prefix}-model-{model.name}",
                tags=spec.required_tags,
            ),
            opts=pulumi.ResourceOptions(parent=self, providers={"azure-native": self.provider}),
        )


def _budget(
    name: str,
    spec: PlatformSpec,
    resource_groups: list[str],
    parent: pulumi.Resource,
    provider: AzureProvider,
) -> consumption.Budget:
    """Monthly cost budget over the platform's resource group and the AKS node resource group
    (where the VMs are billed), notifying by e-mail at each threshold and at a 100% forecast.

    The start date is the first of the month the budget is created in (Cost Management refuses
    other days); later runs leave it alone.
    """
    assert spec.azure is not None
    notifications = {
        f"actual-{pct}": consumption.NotificationArgs(
            enabled=True,
            operator="GreaterThan",
            threshold=float(pct),
            threshold_type="Actual",
            contact_emails=list(spec.budget.alert_emails),
        )
        for pct in spec.budget.thresholds_percent
    }
    notifications["forecast-100"] = consumption.NotificationArgs(
        enabled=True,
        operator="GreaterThan",
        threshold=100.0,
        threshold_type="Forecasted",
        contact_emails=list(spec.budget.alert_emails),
    )
    start = datetime.date.today().replace(day=1).isoformat() + "T00:00:00Z"
    return consumption.Budget(
        f"{name}-budget",
        budget_name=f"{spec.prefix}-monthly",
        scope=f"/subscriptions/{spec.azure.subscription_id}",
        amount=spec.budget.monthly_limit_usd,
        category="Cost",
        time_grain="Monthly",
        time_period=consumption.BudgetTimePeriodArgs(start_date=start),
        filter=consumption.BudgetFilterArgs(
            dimensions=consumption.BudgetComparisonExpressionArgs(
                name="ResourceGroupName", operator="In", values=resource_groups
            )
        ),
        notifications=notifications,
        opts=child(parent, provider=provider, ignore_changes=["timePeriod"]),
    )
