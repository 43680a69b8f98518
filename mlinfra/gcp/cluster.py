"""Cluster: a private GKE Standard cluster with encrypted secrets and a small system node pool.

Security posture, and why:
- Private nodes (no external IPs). The API endpoint follows `cluster.api_access`:
  `dns` (default): the IP endpoint is private and the IAM-gated DNS endpoint takes traffic from
  anywhere; every request needs a Google identity allowed `container.clusters.*` (GKE "About
  network isolation": "Use only the DNS-based endpoint to access your control plane"), so one
  `pulumi up` from a laptop or CI installs everything. `private`: the private IP endpoint only;
  `pulumi up` (and kubectl) must run inside the VPC or a peered network. `public` (dev only): the
  IP endpoint is public, limited to `public_access_cidrs` by authorized networks.
- Kubernetes Secrets are envelope-encrypted with a Cloud KMS key (application-layer secrets
  encryption); node boot disks and PD volumes use a second key. GKE and Compute Engine use them as
  their service agents, granted before the cluster and pools are created.
- Workload Identity: pods get Google credentials from the GKE metadata server for their Kubernetes
  ServiceAccount, never the node's; nodes run as a least-privilege service account (nodes.py).
- Dataplane V2 enforces the NetworkPolicies the in-cluster layer writes; shielded nodes with
  secure boot; no legacy ABAC, no client certificates; control-plane logs with bounded retention.
- The default node pool is removed; a system pool carries the add-ons, GPU pools come after it.
- Deletion protection and `protect` follow the environment (a dev stack can be destroyed).
Version: the release channel auto-upgrades within the channel; the control plane is created at an
exact version of `kubernetes_version` (resolved from the channel when not pinned).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_random as random
from pulumi_gcp import compute, container, projects

from mlinfra.catalog import ENVIRONMENTS
from mlinfra.components import child, stateful
from mlinfra.gcp.in_cluster import admin_slug
from mlinfra.gcp.kms import customer_managed_key, project_number, service_agent
from mlinfra.gcp.logs import retained_logs
from mlinfra.gcp.nodes import (
    DISK_TYPE,
    IMAGE_TYPE,
    node_config,
    node_pool,
    node_service_account,
    versioned_pool_name,
)
from mlinfra.k8s.scheduling import POOL_LABEL
from mlinfra.kubeconfig import exec_kubeconfig
from mlinfra.spec import (
    GCP_SYSTEM_POOL,
    ClusterSpec,
    SpecError,
    check_gce_machine_type,
    check_gke_channel,
    gcp_nodes_per_zone,
    gcp_service_account_id,
)

# Control plane -> node ports GKE's own firewall rules already open: 443 and 10250 (GKE "Add
# firewall rules for specific use cases", private clusters). cert-manager's webhook (securePort
# 10250) and the Prometheus Operator's (internalPort 10250) listen on 10250 for that reason (their
# chart values say so). Every other admission webhook / aggregated API the layer installs needs a
# rule (the terraform-google-kubernetes-engine `master_webhooks` rule, modules/private-cluster/firewall.tf):
WEBHOOK_PORTS: dict[int, str] = {
    8443: "ingress-nginx admission webhook (chart 4.14.3 controller.admissionWebhooks.port)",
    9443: "KServe webhook-server (kserve v0.15.2 controller containerPort 9443) and KEDA admission "
    "webhooks (chart 2.20.2 webhooks.port, default 9443)",
    6443: "KEDA metrics API server (chart 2.20.2 service.portHttpsTarget)",
}
# Logs of the control plane kept in Cloud Logging (= EKS enabled_cluster_log_types): dev keeps the
# system components and the API server, staging/prod every control-plane component and workloads
# (pulumi-gcp ClusterLoggingConfigArgs.enable_components values).
BASE_LOG_COMPONENTS = ("SYSTEM_COMPONENTS", "APISERVER")
EXTRA_LOG_COMPONENTS = ("CONTROLLER_MANAGER", "SCHEDULER", "WORKLOADS")
RELEASE_CHANNELS = ("RAPID", "REGULAR", "STABLE", "EXTENDED")
# Security posture: the standard tier's workload configuration auditing stays (`BASIC`, pulumi-gcp
# ClusterSecurityPostureConfigArgs.mode; not among the capabilities GKE retires,
# https://cloud.google.com/kubernetes-engine/docs/deprecations/posture-management-deprecation).
# Workload vulnerability scanning's standard tier was removed on 2025-07-31 (same table;
# VULNERABILITY_BASIC is "Deprecated: Basic vulnerability scanning is no longer supported",
# Google.Cloud.Container.V1 3.38.0 SecurityPostureConfig.Types.VulnerabilityMode): scanning is off
# on the cluster and images are scanned in Artifact Registry instead (registry.py, containerscanning).
POSTURE_MODE = "BASIC"
POSTURE_VULNERABILITY_MODE = "VULNERABILITY_DISABLED"
RETIRED_VULNERABILITY_MODES = ("VULNERABILITY_BASIC",)
API_ACCESS = ("dns", "private", "public")
# IAM permissions an admin needs to get credentials (`get-credentials` reads the cluster) and to
# pass the DNS endpoint, which authorises every request on `container.clusters.connect` (GKE
# "About network isolation", DNS-based endpoint); what they may do inside the cluster comes from
# RBAC (GKE "Role-based access control": grant minimal IAM, authorise with RBAC). Granted as a
# custom role of exactly these: that the predefined Cluster Viewer role carries `connect` could not
# be confirmed from its published description, and a custom role holds nothing else.
ADMIN_PERMISSIONS: tuple[str, ...] = ("container.clusters.get", "container.clusters.connect")
# What `gcloud container clusters get-credentials` writes into a kubeconfig (GKE "Install kubectl
# and configure cluster access").
AUTH_PLUGIN = "gke-gcloud-auth-plugin"
AUTH_PLUGIN_HINT = (
    "Install gke-gcloud-auth-plugin for use with kubectl by following "
    "https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl#install_plugin"
)


@dataclass
class ClusterArgs:
    """Inputs of a Cluster.

    spec: the cluster section of the platform spec (version, api_access, admins, system pool).
    cluster_name: the GKE cluster's name (also the node pools' and keys' name prefix).
    project / region / zones: where; `regional` False makes a zonal cluster in `zones[0]` (dev).
    network / subnetwork: ids or self-links; the subnet carries the two secondary ranges.
    pods_range_name / services_range_name: the subnet's secondary ranges.
    control_plane_cidr: the private control plane's /28 (admitted to the webhook ports).
    key_ring: Cloud KMS key ring (in `region`) for the secrets and node-disk keys.
    environment: dev | staging | prod (log components; `public` only in dev).
    protect: protect + retain the cluster and keys, and GKE deletion protection.
    labels: GCP labels for every labelled child.
    release_channel / gke_version: the channel, and an exact version (resolved when None).
    key_rotation_days / key_destroy_days: Cloud KMS rotation and destroy-scheduled durations.
    """

    spec: ClusterSpec
    cluster_name: str
    project: str
    region: str
    zones: Sequence[str]
    network: pulumi.Input[str]
    subnetwork: pulumi.Input[str]
    control_plane_cidr: str
    key_ring: pulumi.Input[str]
    environment: str
    protect: bool
    labels: Mapping[str, str] = field(default_factory=dict)
    pods_range_name: str = "pods"
    services_range_name: str = "services"
    regional: bool = True
    release_channel: str = "REGULAR"
    gke_version: str | None = None
    key_rotation_days: int = 90
    key_destroy_days: int = 30


def _validate(args: ClusterArgs) -> None:
    if not isinstance(args.spec, ClusterSpec):
        raise SpecError(f"expected a mlinfra.spec.ClusterSpec, got {type(args.spec).__name__}", "spec")
    if args.environment not in ENVIRONMENTS:
        raise SpecError(
            f"{args.environment!r} is not allowed; allowed: {', '.join(ENVIRONMENTS)}", "environment"
        )
    if args.spec.api_access not in API_ACCESS:
        raise SpecError(
            f"{args.spec.api_access!r} is not allowed; allowed: {', '.join(API_ACCESS)}", "spec.api_access"
        )
    if args.spec.api_access == "public" and args.environment != "dev":
        raise SpecError(
            f"a public API endpoint is only allowed in dev (environment is {args.environment}); allowed: dns, private",
            "spec.api_access",
        )
    if not args.regional and args.environment != "dev":
        raise SpecError("a zonal control plane (no HA) is allowed in dev only", "regional")
    if args.release_channel not in RELEASE_CHANNELS:
        raise SpecError(
            f"{args.release_channel!r} is not allowed; allowed: {', '.join(RELEASE_CHANNELS)}",
            "release_channel",
        )
    check_gke_channel(args.spec.version_support, args.release_channel, "release_channel")
    check_gce_machine_type(args.spec.system_pool.machine_type, "spec.system_pool.machine_type")
    if args.gke_version is not None and not args.gke_version.startswith(f"{args.spec.kubernetes_version}."):
        raise SpecError(f"{args.gke_version} is not a {args.spec.kubernetes_version} version", "gke_version")
    zones = list(args.zones)
    if not zones or len(set(zones)) != len(zones) or any(not z.startswith(f"{args.region}-") for z in zones):
        raise SpecError(f"expected distinct zones of {args.region}, got {zones}", "zones")
    if not args.regional and len(zones) < 2:
        raise SpecError(
            "a zonal cluster here spreads nodes over >= 2 zones (the first hosts the control plane)", "zones"
        )
    gcp_nodes_per_zone(args.spec.system_pool.desired_nodes, len(zones), "spec.system_pool.desired_nodes")
    for i, member in enumerate(args.spec.admin_principals):
        if not member.startswith(("user:", "serviceAccount:")) or "@" not in member:
            raise SpecError(
                f"{member!r} is not a user: or serviceAccount: IAM member", f"spec.admin_principals.{i}"
            )


def authorized_networks(spec: ClusterSpec) -> list[tuple[str, str]]:
    """(display name, CIDR) of the master authorized networks.

    `public`: the public endpoint's allowed ranges. `private`: GKE requires authorized networks with
    a private endpoint ("Master authorized networks must be enabled if private endpoint is enabled",
    GoogleCloudPlatform/magic-modules#8338) and then admits the cluster's node and pod ranges only;
    any other subnet, VPN / Interconnect or peered range that runs `pulumi up` / kubectl must be
    listed (GKE "Add authorized networks for control plane access",
    https://cloud.google.com/kubernetes-engine/docs/how-to/authorized-networks). `dns`: none (the
    DNS endpoint is IAM-gated; the IP endpoint stays closed to everything but the cluster).
    """
    if spec.api_access == "public":
        return [(f"allowed-{i}", c) for i, c in enumerate(spec.public_access_cidrs)]
    if spec.api_access == "private":
        return [(f"private-{i}", c) for i, c in enumerate(spec.private_access_cidrs)]
    return []


def pick_gke_version(defaults: Mapping[str, str], latest: Mapping[str, str], channel: str, minor: str) -> str:
    """The channel's default version if it is of `minor`, else its latest if that is; refuse otherwise.

    A channel's versions move (GKE release notes); creating a cluster at a version the channel does
    not offer fails, and a silently different minor would break the pinned add-ons.
    """
    for candidates in (defaults, latest):
        version = candidates.get(channel)
        if version and version.startswith(f"{minor}."):
            return version
    raise SpecError(
        f"the {channel} channel offers {defaults.get(channel)} (default) / {latest.get(channel)} (latest), "
        f"no {minor} version; set cluster.kubernetes_version to the channel's minor or pin gcp.gke_version "
        "(`gcloud container get-server-config`)",
        "cluster.kubernetes_version",
    )


def build_kubeconfig(name: str, server: str, ca_data: str | None) -> dict[str, Any]:
    """A kubeconfig that authenticates with `gke-gcloud-auth-plugin` (the caller's Google identity)."""
    return exec_kubeconfig(
        name,
        server,
        ca_data,
        {
            "command": AUTH_PLUGIN,
            "installHint": AUTH_PLUGIN_HINT,
            "provideClusterInfo": True,
            "interactiveMode": "Never",
        },
    )


def control_plane_log_filter(cluster_name: str, location: str) -> str:
    """Control-plane component and cluster (audit) logs of this cluster."""
    return (
        'resource.type=("k8s_control_plane_component" OR "k8s_cluster") '
        f'AND resource.labels.cluster_name="{cluster_name}" AND resource.labels.location="{location}"'
    )


class Cluster(pulumi.ComponentResource):
    """Private GKE Standard cluster, encrypted secrets, system node pool, admins' IAM access.

    It registers no Kubernetes resource (the in-cluster layer does: mlinfra.gcp.in_cluster), so a
    private cluster's platform stack runs from anywhere."""

    cluster_name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    dns_endpoint: pulumi.Output[str]
    certificate_authority: pulumi.Output[str]
    workload_pool: str
    oidc_issuer: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    node_service_account_email: pulumi.Output[str]
    node_disk_key_id: pulumi.Output[str]
    secrets_key_id: pulumi.Output[str]
    version: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        _validate(args)
        super().__init__("mlinfra:gcp:Cluster", name, None, opts)
        spec = args.spec
        labels = dict(args.labels)
        zones = list(args.zones)
        location = args.region if args.regional else zones[0]
        number = project_number(self, args.project)

        # ---- keys: secrets (GKE agent) and node disks + PD volumes (Compute Engine agent)
        def key(suffix: str, key_name: str, agent: str):
            return customer_managed_key(
                self,
                f"{name}-{suffix}",
                key_ring=args.key_ring,
                key_name=key_name,
                rotation_days=args.key_rotation_days,
                destroy_days=args.key_destroy_days,
                protect=args.protect,
                labels=labels,
                users={agent: service_agent(number, agent)},
            )

        secrets_key = key("secrets-key", f"{args.cluster_name}-secrets", "gke")
        disk_key = key("node-disk-key", f"{args.cluster_name}-node-disks", "compute")

        nodes_sa = node_service_account(
            self,
            f"{name}-nodes",
            project=args.project,
            account_id=gcp_service_account_id(args.cluster_name, "nodes"),
            description=f"GKE nodes of {args.cluster_name} (mlinfra)",
        )

        if args.gke_version is not None:
            version: pulumi.Output[str] = pulumi.Output.from_input(args.gke_version)
        else:
            versions = container.get_engine_versions_output(
                location=location,
                project=args.project,
                version_prefix=f"{spec.kubernetes_version}.",
                opts=pulumi.InvokeOutputOptions(parent=self),
            )
            version = pulumi.Output.all(
                versions.release_channel_default_version, versions.release_channel_latest_version
            ).apply(
                lambda v: pick_gke_version(
                    v[0] or {}, v[1] or {}, args.release_channel, spec.kubernetes_version
                )
            )

        access = spec.api_access
        authorized = [
            container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(cidr_block=c, display_name=name)
            for name, c in authorized_networks(spec)
        ]
        log_components = list(BASE_LOG_COMPONENTS) + (
            [] if args.environment == "dev" else list(EXTRA_LOG_COMPONENTS)
        )
        cluster = container.Cluster(
            name,
            name=args.cluster_name,
            project=args.project,
            location=location,
            # A zonal cluster lists the zones besides its own (pulumi-gcp Cluster.node_locations).
            node_locations=zones if args.regional else zones[1:],
            network=args.network,
            subnetwork=args.subnetwork,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy=container.ClusterIpAllocationPolicyArgs(
                cluster_secondary_range_name=args.pods_range_name,
                services_secondary_range_name=args.services_range_name,
            ),
            # Dataplane V2 (Cilium): NetworkPolicies are enforced without a separate add-on.
            datapath_provider="ADVANCED_DATAPATH",
            min_master_version=version,
            release_channel=container.ClusterReleaseChannelArgs(channel=args.release_channel),
            private_cluster_config=container.ClusterPrivateClusterConfigArgs(
                enable_private_nodes=True,
                enable_private_endpoint=access != "public",
                master_ipv4_cidr_block=args.control_plane_cidr,
                master_global_access_config=container.ClusterPrivateClusterConfigMasterGlobalAccessConfigArgs(
                    enabled=True
                ),
            ),
            master_authorized_networks_config=container.ClusterMasterAuthorizedNetworksConfigArgs(
                cidr_blocks=authorized, gcp_public_cidrs_access_enabled=False
            ),
            control_plane_endpoints_config=container.ClusterControlPlaneEndpointsConfigArgs(
                dns_endpoint_config=container.ClusterControlPlaneEndpointsConfigDnsEndpointConfigArgs(
                    allow_external_traffic=access == "dns"
                ),
                ip_endpoints_config=container.ClusterControlPlaneEndpointsConfigIpEndpointsConfigArgs(
                    enabled=True
                ),
            ),
            workload_identity_config=container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=f"{args.project}.svc.id.goog"
            ),
            database_encryption=container.ClusterDatabaseEncryptionArgs(
                state="ENCRYPTED", key_name=secrets_key.id
            ),
            enable_shielded_nodes=True,
            enable_legacy_abac=False,
            master_auth=container.ClusterMasterAuthArgs(
                client_certificate_config=container.ClusterMasterAuthClientCertificateConfigArgs(
                    issue_client_certificate=False
                )
            ),
            logging_config=container.ClusterLoggingConfigArgs(enable_components=log_components),
            # The in-cluster layer runs its own Prometheus; GKE keeps only its system metrics.
            monitoring_config=container.ClusterMonitoringConfigArgs(
                enable_components=["SYSTEM_COMPONENTS"],
                managed_prometheus=container.ClusterMonitoringConfigManagedPrometheusArgs(enabled=False),
            ),
            addons_config=container.ClusterAddonsConfigArgs(
                gce_persistent_disk_csi_driver_config=container.ClusterAddonsConfigGcePersistentDiskCsiDriverConfigArgs(
                    enabled=True
                )
            ),
            security_posture_config=container.ClusterSecurityPostureConfigArgs(
                mode=POSTURE_MODE, vulnerability_mode=POSTURE_VULNERABILITY_MODE
            ),
            # Pools are separate NodePool resources: the default pool is created (hardened, since it
            # boots) and removed at once (pulumi-gcp Cluster.remove_default_node_pool).
            remove_default_node_pool=True,
            initial_node_count=1,
            node_config=container.ClusterNodeConfigArgs(
                service_account=nodes_sa.email,
                oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
                boot_disk_kms_key=disk_key.id,
                workload_metadata_config=container.ClusterNodeConfigWorkloadMetadataConfigArgs(
                    mode="GKE_METADATA"
                ),
                shielded_instance_config=container.ClusterNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True
                ),
            ),
            resource_labels=labels,
            # Defaults to true: a dev `pulumi destroy` would fail until an `up` wrote false to state.
            deletion_protection=args.protect,
            opts=stateful(
                self,
                args.protect,
                depends_on=[*secrets_key.grants, *disk_key.grants, *nodes_sa.grants],
                ignore_changes=["nodeConfig", "initialNodeCount"],
            ),
        )

        # The private control plane reaches admission webhooks on the nodes only through this rule.
        compute.Firewall(
            f"{name}-webhooks",
            name=f"{args.cluster_name}-webhooks",
            project=args.project,
            network=args.network,
            direction="INGRESS",
            priority=1000,
            source_ranges=[args.control_plane_cidr],
            target_service_accounts=[nodes_sa.email],
            allows=[compute.FirewallAllowArgs(protocol="tcp", ports=[str(p) for p in sorted(WEBHOOK_PORTS)])],
            description="GKE control plane to admission webhooks and aggregated APIs (mlinfra)",
            opts=child(self),
        )

        # ---- system pool: add-ons, controllers, monitoring; GPU pools are created after it. It is
        # the only CPU pool: a replacement (new machine type or disk) comes up under a new name
        # before the old pool goes, or every add-on and admission webhook would be down meanwhile.
        pool = spec.system_pool
        system_pool = node_pool(
            self,
            f"{name}-{GCP_SYSTEM_POOL}",
            pool_name=versioned_pool_name(
                GCP_SYSTEM_POOL,
                machine_type=pool.machine_type,
                disk_size_gb=pool.disk_size_gb,
                disk_type=DISK_TYPE,
                image_type=IMAGE_TYPE,
            ),
            create_before_delete=True,
            cluster=cluster.id,
            location=location,
            project=args.project,
            node_locations=zones,
            min_nodes=pool.min_nodes,
            max_nodes=pool.max_nodes,
            nodes_per_zone=gcp_nodes_per_zone(pool.desired_nodes, len(zones)),
            location_policy="BALANCED",
            config=node_config(
                machine_type=pool.machine_type,
                disk_size_gb=pool.disk_size_gb,
                service_account=nodes_sa.email,
                boot_disk_kms_key=disk_key.id,
                labels={POOL_LABEL: GCP_SYSTEM_POOL},
                resource_labels=labels,
            ),
            depends_on=[*disk_key.grants, *nodes_sa.grants],
        )

        retained_logs(
            self,
            f"{name}-control-plane-logs",
            project=args.project,
            location=args.region,
            bucket_id=f"{args.cluster_name}-control-plane",
            retention_days=spec.log_retention_days,
            log_filter=control_plane_log_filter(args.cluster_name, location),
            description=f"GKE control-plane logs of {args.cluster_name}",
        )

        # ---- Kubernetes access from Pulumi: the DNS endpoint (publicly-signed certificate, so no CA
        # data) or the IP endpoint with the cluster CA.
        dns_endpoint = cluster.control_plane_endpoints_config.apply(_dns_endpoint)
        ca = cluster.master_auth.apply(_ca)
        if access == "dns":
            kubeconfig = dns_endpoint.apply(
                lambda host: json.dumps(build_kubeconfig(args.cluster_name, f"https://{host}", None))
            )
        else:
            kubeconfig = pulumi.Output.all(cluster.endpoint, ca).apply(
                lambda v: json.dumps(build_kubeconfig(args.cluster_name, f"https://{v[0]}", v[1]))
            )
        self.kubeconfig = pulumi.Output.secret(kubeconfig)

        # Admins reach the endpoint with this IAM role; what they may do inside the cluster is a
        # cluster-admin RBAC binding, which the in-cluster layer creates (mlinfra.gcp.in_cluster).
        if spec.admin_principals:
            # Custom role ids stay taken up to 37 days after deletion (pulumi-gcp IAMCustomRole
            # docstring): the id carries a random suffix drawn once per stack, as the key ring does.
            suffix = random.RandomId(f"{name}-admin-role-suffix", byte_length=2, opts=child(self))
            admin_role = projects.IAMCustomRole(
                f"{name}-admin-role",
                project=args.project,
                role_id=pulumi.Output.concat(
                    args.cluster_name.replace("-", "_"), "_admin_access_", suffix.hex
                ),
                title=f"{args.cluster_name} admin access (mlinfra)",
                description="Get credentials for and connect to the GKE cluster; RBAC decides the rest",
                permissions=list(ADMIN_PERMISSIONS),
                opts=child(self),
            )
        for principal in spec.admin_principals:
            projects.IAMMember(
                f"{name}-admin-{admin_slug(principal)}",
                project=args.project,
                role=admin_role.name,
                member=principal,
                opts=child(self),
            )

        self.cluster = cluster
        self.system_pool = system_pool
        self.cluster_name = cluster.name
        self.location = location
        self.endpoint = dns_endpoint if access == "dns" else cluster.endpoint
        self.dns_endpoint = dns_endpoint
        self.certificate_authority = ca
        self.version = version
        self.workload_pool = f"{args.project}.svc.id.goog"
        self.oidc_issuer = pulumi.Output.concat(
            "https://container.googleapis.com/v1/projects/",
            args.project,
            "/locations/",
            location,
            "/clusters/",
            cluster.name,
        )
        self.node_service_account_email = nodes_sa.email
        self.node_service_account_member = nodes_sa.member
        self.node_disk_key_id = disk_key.id
        self.secrets_key_id = secrets_key.id
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "endpoint": self.endpoint,
                "dns_endpoint": self.dns_endpoint,
                "kubeconfig": self.kubeconfig,
                "oidc_issuer": self.oidc_issuer,
                "version": self.version,
                "node_service_account_email": self.node_service_account_email,
                "node_disk_key_id": self.node_disk_key_id,
                "secrets_key_id": self.secrets_key_id,
            }
        )


def _get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _dns_endpoint(endpoints: Any) -> str:
    return _get(_get(endpoints, "dns_endpoint_config"), "endpoint") or _get(
        _get(endpoints, "dnsEndpointConfig"), "endpoint"
    )


def _ca(master_auth: Any) -> str:
    return _get(master_auth, "cluster_ca_certificate") or _get(master_auth, "clusterCaCertificate")
