"""Cluster: a private, Entra-ID-only AKS cluster with KMS etcd encryption and CMK node disks.

Security posture, and why (the AWS cluster's, in AKS terms):
- Kubernetes Secrets are envelope-encrypted by the KMS plugin with a Key Vault key (a *versioned*
  key id: AKS pins the version; rotating means a new version and an update of the key id).
- Node OS disks and dynamically provisioned volumes are encrypted with a second key through a disk
  encryption set (only settable at cluster creation), plus encryption at host for temp disks and
  caches where the subscription has the feature.
- Authentication is Entra ID only (local accounts disabled: no static admin kubeconfig) with Azure
  RBAC for Kubernetes authorization; `admin_principals` (and, when given, the deployer that
  installs the in-cluster layer) get "Azure Kubernetes Service RBAC Cluster Admin"; the kubeconfig
  runs `kubelogin` (login mode azurecli).
- The API server is VNet-integrated (its internal load balancer sits in a delegated subnet); it is
  private in staging/prod, and in dev public only to `public_access_cidrs`.
- User-assigned control-plane and kubelet identities (KMS does not work with a system-assigned
  one), each granted exactly what AKS needs, before the cluster is created.
- Azure CNI Overlay with the Cilium dataplane, which enforces the layer's NetworkPolicies.
- The system pool runs AKS's add-ons only (CriticalAddonsOnly); mlinfra's controllers and
  monitoring run on the `platform` pool (cluster.system_pool); GPU pools are separate AgentPools.
- Control-plane logs go to a Log Analytics workspace with bounded retention.
Every version is pinned: the Kubernetes minor (AKS picks its latest patch; the `patch` upgrade
channel keeps patches current without moving the minor), node OS image channel, VM sizes.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import yaml
from pulumi_azure_native import compute, containerservice, monitor, operationalinsights

from mlinfra.azure.identity import PRINCIPAL_KINDS, grant, user_assigned_identity
from mlinfra.azure.keyvault import customer_managed_key
from mlinfra.catalog import CLUSTER_AUTOSCALER_FLAGS, ENVIRONMENTS, SUPPORTED_KUBERNETES_VERSIONS
from mlinfra.components import child, stateful
from mlinfra.k8s.scheduling import POOL_LABEL
from mlinfra.spec import AZURE_RESERVED_POOLS, AZURE_SYSTEM_POOL, ClusterSpec, SpecError, SystemPoolSpec

PLATFORM_POOL = AZURE_RESERVED_POOLS[1]  # mlinfra's controllers and monitoring (the spec's system_pool)
# learn.microsoft.com aks/use-system-pools: taint system pools so application pods stay off them
# (aks-baseline workload-team/cluster-stamp.bicep:779-781; checkov CKV_AZURE_232).
CRITICAL_ADDONS_TAINT = "CriticalAddonsOnly=true:NoSchedule"
OS_SKU = "Ubuntu"  # pinned (AKS's Linux default); the NVIDIA driver install supports it on every GPU size
MAX_PODS = 110  # the Kubernetes per-node guidance; overlay pods do not consume subnet addresses
# AKS's Entra ID server application: the audience of every AKS user token
# (Azure/kubelogin docs/book/src/concepts/aks.md).
AKS_SERVER_APP_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"
KUBELOGIN_MODE = "azurecli"  # Azure/kubelogin docs/book/src/concepts/login-modes/azurecli.md
# Control-plane log categories (learn.microsoft.com aks/monitor-aks-reference "Resource logs");
# dev keeps the API server, the admin audit log and `guard` (Entra ID authentication), the EKS
# api/audit/authenticator equivalent; staging/prod add the controllers and the autoscaler.
BASE_LOG_CATEGORIES = ("kube-apiserver", "kube-audit-admin", "guard")
EXTRA_LOG_CATEGORIES = ("kube-controller-manager", "kube-scheduler", "cluster-autoscaler")
# cluster.version_support -> ManagedCluster support_plan (learn.microsoft.com aks/long-term-support).
SUPPORT_PLANS = {"standard": "KubernetesOfficial", "extended": "AKSLongTermSupport"}
IMAGE_CLEANER_INTERVAL_HOURS = 48  # AKS Image Cleaner: remove unused, vulnerable images (7d max)
_AZURE_VM_SIZE = re.compile(r"^Standard_[A-Za-z0-9_]+$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_CLUSTER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")  # managedClusters: 1-63 (resource-name-rules)


@dataclass
class ClusterArgs:
    """Inputs of a Cluster.

    spec: the cluster section of the platform spec (version, API access, admins, platform pool).
    cluster_name: physical AKS name (also the DNS prefix); node_resource_group: the MC_ group name.
    environment: dev | staging | prod (dev keeps fewer log categories and one system node).
    resource_group_name / resource_group_id / location / subscription_id / tenant_id: placement.
    vnet_id: the VNet (the control plane manages the load balancers and the API server ILB in it).
    nodes_subnet_id / apiserver_subnet_id: node and delegated API server subnets.
    zones: availability zones of the system and platform pools.
    service_cidr / pod_cidr: Kubernetes services and the overlay pod range.
    system_vm_size / platform_vm_size: VM sizes of the AKS system pool and the platform pool.
    sku_tier: AKS tier (Free | Standard | Premium; Premium is required for long-term support,
        `spec.version_support: extended`).
    admin_group_object_ids: Entra ID groups that are cluster-admin through managed Entra integration.
    encryption_at_host: encrypt temp disks and caches (subscription feature EncryptionAtHost).
    vault_id / vault_name: the platform Key Vault (KMS key and disk key go there).
    private_vault: the vault has no public access (KMS "Private" over VNet integration).
    deployer_object_id / deployer_principal_type: the identity that installs the in-cluster layer
        through this cluster's API (Entra object id; User | Group | ServicePrincipal), granted cluster
        admin on the resource group before the cluster exists; None: no deployer grant (a private
        cluster, whose layer the in-cluster stack's runner identity installs).
    protect: protect + retain the cluster, keys and disk encryption set (prod).
    tags: tags for every taggable child.
    """

    spec: ClusterSpec
    cluster_name: str
    node_resource_group: str
    environment: str
    resource_group_name: pulumi.Input[str]
    resource_group_id: pulumi.Input[str]
    location: str
    subscription_id: str
    tenant_id: str
    vnet_id: pulumi.Input[str]
    nodes_subnet_id: pulumi.Input[str]
    apiserver_subnet_id: pulumi.Input[str]
    zones: Sequence[str]
    service_cidr: str
    pod_cidr: str
    system_vm_size: str
    platform_vm_size: str
    sku_tier: str
    vault_id: pulumi.Input[str]
    vault_name: pulumi.Input[str]
    private_vault: bool
    deployer_object_id: pulumi.Input[str] | None = None
    deployer_principal_type: pulumi.Input[str] = "User"
    admin_group_object_ids: Sequence[str] = ()
    encryption_at_host: bool = True
    protect: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)


def _validate(args: ClusterArgs) -> None:
    if not isinstance(args.spec, ClusterSpec):
        raise SpecError(f"expected a mlinfra.spec.ClusterSpec, got {type(args.spec).__name__}", "spec")
    if not _CLUSTER_NAME.match(args.cluster_name):
        raise SpecError(
            f"{args.cluster_name!r} must be 1-63 letters, digits, '-' or '_', starting with a letter or digit",
            "cluster_name",
        )
    if args.environment not in ENVIRONMENTS:
        raise SpecError(
            f"{args.environment!r} is not allowed; allowed: {', '.join(ENVIRONMENTS)}", "environment"
        )
    if args.spec.kubernetes_version not in SUPPORTED_KUBERNETES_VERSIONS:
        raise SpecError(
            f"{args.spec.kubernetes_version!r}; allowed: {', '.join(SUPPORTED_KUBERNETES_VERSIONS)}",
            "spec.kubernetes_version",
        )
    if args.spec.api_access not in ("public", "private"):
        raise SpecError(
            f"{args.spec.api_access!r} is not an AKS option; allowed: public (dev), private",
            "spec.api_access",
        )
    if args.spec.api_access == "public" and args.environment != "dev":
        raise SpecError(
            f"a public API server is only allowed in dev (environment is {args.environment}); allowed: private",
            "spec.api_access",
        )
    if args.sku_tier not in ("Free", "Standard", "Premium"):
        raise SpecError(f"{args.sku_tier!r}; allowed: Free, Standard, Premium", "sku_tier")
    if args.spec.version_support == "extended" and args.sku_tier != "Premium":
        raise SpecError(
            f"AKS long-term support needs sku_tier Premium (it is {args.sku_tier})", "spec.version_support"
        )
    if not args.zones:
        raise SpecError("at least one availability zone", "zones")
    for field_name in ("system_vm_size", "platform_vm_size"):
        if not _AZURE_VM_SIZE.match(getattr(args, field_name)):
            raise SpecError(f"{getattr(args, field_name)!r} is not an Azure VM size", field_name)
    for i, principal in enumerate(args.spec.admin_principals):
        kind, _, object_id = principal.partition(":")
        if kind not in PRINCIPAL_KINDS or not _GUID.match(object_id):
            raise SpecError(
                f"{principal!r} is not '<kind>:<Entra ID object id>'; kinds: {', '.join(PRINCIPAL_KINDS)}",
                f"spec.admin_principals.{i}",
            )
    for i, group in enumerate(args.admin_group_object_ids):
        if not _GUID.match(group):
            raise SpecError(f"{group!r} is not an Entra ID object id (GUID)", f"admin_group_object_ids.{i}")
    try:
        service = ipaddress.ip_network(args.service_cidr)
        pods = ipaddress.ip_network(args.pod_cidr)
    except ValueError as e:
        raise SpecError(str(e), "service_cidr") from None
    if service.overlaps(pods):
        raise SpecError(f"{args.service_cidr} overlaps pod_cidr {args.pod_cidr}", "service_cidr")


def dns_service_ip(service_cidr: str) -> str:
    """The cluster DNS address: the .10 of the service range (AKS's own default, learn.microsoft.com
    aks/configure-azure-cni "dnsServiceIP": inside serviceCidr and not its first address)."""
    return str(ipaddress.ip_network(service_cidr)[10])


# least-waste ties between an on-demand and a spot pool of the same VM size and picks one at
# random; the priority expander (SDK enum containerservice.Expander: least-waste | most-pods |
# priority | random) reads mlinfra.azure.in_cluster's ConfigMap: on-demand GPU pools first.
AUTOSCALER_EXPANDER = "priority"


def autoscaler_profile() -> containerservice.ManagedClusterPropertiesAutoScalerProfileArgs:
    """The shared Cluster Autoscaler flags (catalog.CLUSTER_AUTOSCALER_FLAGS) as AKS's profile, with
    the priority expander."""
    flags = {**CLUSTER_AUTOSCALER_FLAGS, "expander": AUTOSCALER_EXPANDER}
    return containerservice.ManagedClusterPropertiesAutoScalerProfileArgs(
        **{flag.replace("-", "_"): value for flag, value in flags.items()}
    )


def system_pool_size(environment: str, zones: Sequence[str]) -> tuple[int, int]:
    """(min, max) nodes of the AKS system pool: one node in dev, one per zone otherwise."""
    low = 1 if environment == "dev" else len(zones)
    return low, max(2, 2 * len(zones))


def exec_kubeconfig(encoded: str) -> str:
    """AKS's exec-format user kubeconfig (base64 YAML) with the user switched to non-interactive
    `kubelogin get-token --login azurecli` (what `kubelogin convert-kubeconfig -l azurecli` writes):
    the returned file's default device-code login would block `pulumi up`."""
    config: dict[str, Any] = yaml.safe_load(base64.b64decode(encoded))
    for user in config.get("users") or []:
        user["user"] = {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": "kubelogin",
                "args": ["get-token", "--login", KUBELOGIN_MODE, "--server-id", AKS_SERVER_APP_ID],
                "interactiveMode": "Never",
                "provideClusterInfo": False,
            }
        }
    return json.dumps(config, sort_keys=True)


def _pool_profile(
    name: str,
    mode: str,
    vm_size: str,
    counts: tuple[int, int, int],
    args: ClusterArgs,
    pool: SystemPoolSpec,
    taints: list[str],
    labels: dict[str, str],
) -> containerservice.ManagedClusterAgentPoolProfileArgs:
    low, count, high = counts
    return containerservice.ManagedClusterAgentPoolProfileArgs(
        name=name,
        mode=mode,
        vm_size=vm_size,
        os_type="Linux",
        os_sku=OS_SKU,
        type="VirtualMachineScaleSets",
        enable_auto_scaling=True,
        count=count,
        min_count=low,
        max_count=high,
        availability_zones=list(args.zones),
        vnet_subnet_id=args.nodes_subnet_id,
        enable_encryption_at_host=args.encryption_at_host,
        enable_node_public_ip=False,
        os_disk_size_gb=pool.disk_size_gb,
        max_pods=MAX_PODS,
        node_taints=taints,
        node_labels=labels,
        orchestrator_version=args.spec.kubernetes_version,
        upgrade_settings=containerservice.AgentPoolUpgradeSettingsArgs(max_surge="33%"),
        tags=dict(args.tags),
    )


class Cluster(pulumi.ComponentResource):
    """An AKS cluster with KMS, CMK disks, Entra ID + Azure RBAC, workload identity and two CPU pools."""

    cluster_name: pulumi.Output[str]
    cluster_id: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    oidc_issuer: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    kubelet_object_id: pulumi.Output[str]
    kubelet_client_id: pulumi.Output[str]
    disk_encryption_set_id: pulumi.Output[str]
    workspace_id: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        _validate(args)
        super().__init__("mlinfra:azure:Cluster", name, None, opts)
        spec = args.spec
        tags = dict(args.tags)
        rg, location, sub = args.resource_group_name, args.location, args.subscription_id

        def role(grant_name: str, **kw: Any):
            return grant(self, f"{name}-{grant_name}", subscription_id=sub, **kw)

        # ---- identities: user-assigned (KMS refuses a system-assigned control plane)
        control_plane = user_assigned_identity(
            self,
            f"{name}-control-plane",
            identity_name=f"{args.cluster_name}-control-plane",
            resource_group_name=rg,
            location=location,
            tags=tags,
        )
        kubelet = user_assigned_identity(
            self,
            f"{name}-kubelet",
            identity_name=f"{args.cluster_name}-kubelet",
            resource_group_name=rg,
            location=location,
            tags=tags,
        )

        # ---- keys: KMS (versioned, rotated by hand) and node disks (auto-rotating)
        kms_key = customer_managed_key(
            self,
            f"{name}-kms-key",
            key_name=f"{args.cluster_name}-etcd",
            vault_name=args.vault_name,
            resource_group_name=rg,
            protect=args.protect,
            tags=tags,
            rotate=False,
        )
        disk_key = customer_managed_key(
            self,
            f"{name}-disk-key",
            key_name=f"{args.cluster_name}-disks",
            vault_name=args.vault_name,
            resource_group_name=rg,
            protect=args.protect,
            tags=tags,
        )
        des = compute.DiskEncryptionSet(
            f"{name}-des",
            disk_encryption_set_name=f"{args.cluster_name}-disks",
            resource_group_name=rg,
            location=location,
            encryption_type="EncryptionAtRestWithCustomerKey",
            # The SDK: a fully versioned key URL, whatever the rotation setting; with rotation on
            # the set follows the key's new versions by itself.
            active_key=compute.KeyForDiskEncryptionSetArgs(
                key_url=disk_key.key_uri_with_version,
                source_vault=compute.SourceVaultArgs(id=args.vault_id),
            ),
            rotation_to_latest_key_version_enabled=True,
            identity=compute.EncryptionSetIdentityArgs(
                type="SystemAssigned"
            ),  # SDK: the only kind for new sets
            tags=tags,
            opts=stateful(self, args.protect),
        )
        des_principal = des.identity.apply(lambda i: i.principal_id if i else "")

        # ---- grants the control plane, KMS and the disk set need before the cluster exists
        prerequisites = [
            *(
                # MicrosoftDocs/azure-aks-docs articles/aks/use-kms-etcd-encryption.md, "Assign
                # permissions to create a private link": "For private key vaults, the Key Vault
                # Contributor role is required to create a private link between the private key
                # vault and the cluster" -- and AKS cannot validate it, so without it the cluster
                # is accepted and its API server then cannot reach KMS.
                [
                    role(
                        "kms-private-link",
                        role="Key Vault Contributor",
                        principal_id=control_plane.principal_id,
                        scope=args.vault_id,
                        description="KMS on a private vault: AKS creates the private link to the vault",
                    )
                ]
                if args.private_vault
                else []
            ),
            role(
                "network-contributor",
                role="Network Contributor",
                principal_id=control_plane.principal_id,
                scope=args.vnet_id,
                description="AKS control plane: load balancers and the API server ILB in the VNet",
            ),
            role(
                "kubelet-operator",
                role="Managed Identity Operator",
                principal_id=control_plane.principal_id,
                scope=kubelet.id,
                description="AKS control plane assigns the kubelet identity to the node scale sets",
            ),
            role(
                "kms-crypto-user",
                role="Key Vault Crypto User",
                principal_id=control_plane.principal_id,
                scope=kms_key.id,
                description="KMS plugin: encrypt/decrypt with the etcd key",
            ),
            role(
                "des-reader",
                role="Reader",
                principal_id=control_plane.principal_id,
                scope=des.id,
                description="AKS reads the disk encryption set (aks/azure-disk-customer-managed-keys)",
            ),
            role(
                "des-key-user",
                role="Key Vault Crypto Service Encryption User",
                principal_id=des_principal,
                scope=disk_key.id,
                description="The disk encryption set wraps and unwraps disk keys",
            ),
            *(
                # The deployer installs the in-cluster layer through this cluster's API (the
                # platform passes one only with api_access public). Scope: the cluster itself cannot
                # hold an assignment before it exists, and learn.microsoft.com aks/manage-azure-rbac
                # ("Before you begin") warns that "new role assignments can take up to five minutes to
                # propagate and be updated by the authorization server" -- granted on the cluster
                # after creation, the layer's first Helm release would meet a 403. The resource group
                # is the narrowest scope that exists before the cluster; Azure RBAC assignments are
                # inherited by every resource under their scope (role-based-access-control/
                # scope-overview), which AKS's authorization webhook honours (manage-azure-rbac
                # assigns the same built-in roles at resource-group/subscription scope too). Granted
                # first, it has propagated during the cluster's ~10-minute create. The role's data
                # actions are Microsoft.ContainerService/managedClusters/* only: on this group it
                # covers this platform's cluster and any other AKS cluster someone puts in the group.
                [
                    role(
                        "deployer-cluster-admin",
                        role="Azure Kubernetes Service RBAC Cluster Admin",
                        principal_id=args.deployer_object_id,
                        principal_type=args.deployer_principal_type,
                        scope=args.resource_group_id,
                        description="The deployer installs the in-cluster layer (cluster.api_access: public)",
                    )
                ]
                if args.deployer_object_id is not None
                else []
            ),
        ]

        workspace = operationalinsights.Workspace(
            f"{name}-logs",
            workspace_name=f"{args.cluster_name}-logs",
            resource_group_name=rg,
            location=location,
            sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"),
            retention_in_days=spec.log_retention_days,
            tags=tags,
            opts=child(self),
        )

        # ---- the cluster
        pool = spec.system_pool
        system_low, system_high = system_pool_size(args.environment, args.zones)
        private = spec.api_access == "private"
        api_access = containerservice.ManagedClusterAPIServerAccessProfileArgs(
            enable_vnet_integration=True,
            subnet_id=args.apiserver_subnet_id,
            enable_private_cluster=private,
            private_dns_zone="system" if private else None,
            enable_private_cluster_public_fqdn=False if private else None,
            authorized_ip_ranges=None if private else list(spec.public_access_cidrs),
        )
        cluster = containerservice.ManagedCluster(
            name,
            resource_name_=args.cluster_name,
            resource_group_name=rg,
            location=location,
            dns_prefix=args.cluster_name,
            kubernetes_version=spec.kubernetes_version,
            sku=containerservice.ManagedClusterSKUArgs(name="Base", tier=args.sku_tier),
            # cluster.version_support: standard = community support, AKS upgrades out-of-support
            # minors; extended = AKS long-term support (Premium tier). SDK enum KubernetesSupportPlan.
            support_plan=SUPPORT_PLANS[args.spec.version_support],
            identity=containerservice.ManagedClusterIdentityArgs(
                type="UserAssigned",
                user_assigned_identities=[control_plane.id],  # a list in this SDK
            ),
            identity_profile={
                "kubeletidentity": containerservice.UserAssignedIdentityArgs(
                    resource_id=kubelet.id, client_id=kubelet.client_id, object_id=kubelet.principal_id
                )
            },
            node_resource_group=args.node_resource_group,
            node_resource_group_profile=containerservice.ManagedClusterNodeResourceGroupProfileArgs(
                restriction_level="ReadOnly"
            ),
            agent_pool_profiles=[
                _pool_profile(
                    AZURE_SYSTEM_POOL,
                    "System",
                    args.system_vm_size,
                    (system_low, system_low, system_high),
                    args,
                    pool,
                    [CRITICAL_ADDONS_TAINT],
                    {POOL_LABEL: AZURE_SYSTEM_POOL},
                ),
                _pool_profile(
                    PLATFORM_POOL,
                    "User",
                    args.platform_vm_size,
                    (pool.min_nodes, pool.desired_nodes, pool.max_nodes),
                    args,
                    pool,
                    [],
                    {POOL_LABEL: PLATFORM_POOL},
                ),
            ],
            api_server_access_profile=api_access,
            network_profile=containerservice.ContainerServiceNetworkProfileArgs(
                network_plugin="azure",
                network_plugin_mode="overlay",
                network_dataplane="cilium",
                network_policy="cilium",  # enforces the layer's NetworkPolicies
                pod_cidr=args.pod_cidr,
                service_cidr=args.service_cidr,
                dns_service_ip=dns_service_ip(args.service_cidr),
                outbound_type="userAssignedNATGateway",  # the node subnet's NAT gateway; create-only
                load_balancer_sku="standard",
            ),
            aad_profile=containerservice.ManagedClusterAADProfileArgs(
                managed=True,
                enable_azure_rbac=True,
                tenant_id=args.tenant_id,
                admin_group_object_ids=list(args.admin_group_object_ids) or None,
            ),
            enable_rbac=True,
            disable_local_accounts=True,
            oidc_issuer_profile=containerservice.ManagedClusterOIDCIssuerProfileArgs(enabled=True),
            security_profile=containerservice.ManagedClusterSecurityProfileArgs(
                workload_identity=containerservice.ManagedClusterSecurityProfileWorkloadIdentityArgs(
                    enabled=True
                ),
                azure_key_vault_kms=containerservice.AzureKeyVaultKmsArgs(
                    enabled=True,
                    key_id=kms_key.key_uri_with_version,  # KMS needs the version (use-kms-etcd-encryption)
                    key_vault_network_access="Private" if args.private_vault else "Public",
                    key_vault_resource_id=args.vault_id if args.private_vault else None,
                ),
                image_cleaner=containerservice.ManagedClusterSecurityProfileImageCleanerArgs(
                    enabled=True, interval_hours=IMAGE_CLEANER_INTERVAL_HOURS
                ),
            ),
            disk_encryption_set_id=des.id,  # only at creation (aks/azure-disk-customer-managed-keys)
            auto_upgrade_profile=containerservice.ManagedClusterAutoUpgradeProfileArgs(
                upgrade_channel="patch", node_os_upgrade_channel="NodeImage"
            ),
            auto_scaler_profile=autoscaler_profile(),
            storage_profile=containerservice.ManagedClusterStorageProfileArgs(
                disk_csi_driver=containerservice.ManagedClusterStorageProfileDiskCSIDriverArgs(enabled=True),
                file_csi_driver=containerservice.ManagedClusterStorageProfileFileCSIDriverArgs(enabled=False),
                blob_csi_driver=containerservice.ManagedClusterStorageProfileBlobCSIDriverArgs(enabled=False),
                snapshot_controller=containerservice.ManagedClusterStorageProfileSnapshotControllerArgs(
                    enabled=True
                ),
            ),
            tags=tags,
            # The autoscaler owns the node counts once the pools exist.
            opts=stateful(
                self,
                args.protect,
                depends_on=prerequisites,
                ignore_changes=["agentPoolProfiles[0].count", "agentPoolProfiles[1].count"],
                custom_timeouts=pulumi.CustomTimeouts(create="60m", update="60m"),
            ),
        )

        categories = list(BASE_LOG_CATEGORIES) + (
            [] if args.environment == "dev" else list(EXTRA_LOG_CATEGORIES)
        )
        monitor.DiagnosticSetting(
            f"{name}-control-plane-logs",
            name="control-plane-logs",
            resource_uri=cluster.id,
            workspace_id=workspace.id,
            log_analytics_destination_type="Dedicated",
            logs=[monitor.DiagnosticsLogSettingsArgs(category=c, enabled=True) for c in categories],
            opts=child(self),
        )
        for principal in spec.admin_principals:
            kind, _, object_id = principal.partition(":")
            role(
                f"admin-{object_id[:8]}",
                role="Azure Kubernetes Service RBAC Cluster Admin",
                principal_id=object_id,
                principal_type=PRINCIPAL_KINDS[kind],
                scope=cluster.id,
                description="cluster.admin_principals",
            )

        # ---- Kubernetes access from Pulumi: Entra ID tokens through kubelogin, never a static credential
        credentials = containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=rg,
            resource_name=cluster.name,
            format="exec",
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        kubeconfig = credentials.kubeconfigs.apply(lambda kcs: exec_kubeconfig(kcs[0].value))
        self.kubeconfig = pulumi.Output.secret(kubeconfig)

        self.cluster = cluster
        self.cluster_name = cluster.name
        self.cluster_id = cluster.id
        self.endpoint = (cluster.private_fqdn if private else cluster.fqdn).apply(
            lambda f: f"https://{f}:443"
        )
        self.oidc_issuer = cluster.oidc_issuer_profile.apply(lambda p: p.issuer_url if p else "")
        self.kubelet_object_id = kubelet.principal_id
        self.kubelet_client_id = kubelet.client_id
        self.disk_encryption_set_id = des.id
        self.kms_key_id = kms_key.key_uri_with_version
        self.workspace_id = workspace.id
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "cluster_id": self.cluster_id,
                "endpoint": self.endpoint,
                "oidc_issuer": self.oidc_issuer,
                "kubeconfig": self.kubeconfig,
                "kubelet_object_id": self.kubelet_object_id,
                "kubelet_client_id": self.kubelet_client_id,
                "disk_encryption_set_id": self.disk_encryption_set_id,
                "kms_key_id": self.kms_key_id,
                "workspace_id": self.workspace_id,
            }
        )
