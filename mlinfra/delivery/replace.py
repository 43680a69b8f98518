"""The one table of stateful resource types mlinfra creates, and which input changes make the real
provider replace them (delete + create) rather than update them in place.

A property listed here covers everything below it (`encryptionConfigurations` covers
`encryptionConfigurations[0].kmsKey`). Paths use the names the plan records (camelCase inputs,
as the engine and CrossGuard see them). Each entry cites where the replacement comes from:
- pulumi-aws and pulumi-gcp are bridged from the Terraform providers: a property is replaced
  when its Terraform schema says `ForceNew: true` (terraform-provider-aws / terraform-provider-google
  source, file named per entry);
- pulumi-azure-native replaces on a change of the resource's URL path parameters (its name, the
  resource group, the parent's name) and of properties the Azure REST spec marks create-only
  (`x-ms-mutability: [create, read]`, e.g. `location` of every tracked resource in the ARM
  common types);
- pulumi-kubernetes replaces an object when a field the API server refuses to update changes.

`stateful`: losing it loses data or identity (a bucket's objects, a key's ciphertexts, a
registry's images, a cluster and everything in it, a volume, an audit log group) or takes the
running platform down with it (a VPC or subnet replaced under a running cluster: `affects`). Node
pools and NAT gateways are listed so their replacement is reported as such, but they hold no data
and are not "stateful" for `--fail-on-delete`.

A type outside this table has no offline knowledge of its replacing properties: `mlinfra diff`
reports its changes as "update (may replace: not known offline)", never as a plain update.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ReplaceRule:
    kind: str  # bucket, key, registry, cluster, node pool, volume, network, log group
    properties: tuple[str, ...]
    source: str
    stateful: bool = True
    # Properties that force replacement only for some changes: property -> (old, new) -> replaces.
    conditional: tuple[tuple[str, Callable[[Any, Any], bool]], ...] = ()
    # What else goes with it when it is replaced (a network under a running cluster).
    affects: str = ""


def _cidr_shrinks(old: Any, new: Any) -> bool:
    """GCP subnetworks expand their range in place; any other change (shrink, move) replaces."""
    try:
        a, b = ipaddress.ip_network(str(old)), ipaddress.ip_network(str(new))
    except ValueError:
        return True  # not comparable offline ([unknown]): assume the worst
    return not (a.version == b.version and a.subnet_of(b))  # type: ignore[arg-type]


NETWORK_AFFECTS = (
    "everything placed in it is replaced or fails with it: the cluster's control-plane ENIs, node "
    "groups, NAT gateways and endpoints (plan a new network beside the old one instead)"
)


TFAWS = "terraform-provider-aws internal/service/"
TFGOOGLE = "terraform-provider-google google/services/"
ARM_TRACKED = (
    "location is create-only (ARM common-types TrackedResource.location x-ms-mutability [read, create])"
)

REPLACE_TABLE: dict[str, ReplaceRule] = {
    # ------------------------------------------------------------------ AWS (pulumi-aws v7)
    "aws:s3/bucket:Bucket": ReplaceRule(
        "bucket", ("bucket", "bucketPrefix", "objectLockEnabled"), TFAWS + "s3/bucket.go: ForceNew"
    ),
    "aws:kms/key:Key": ReplaceRule(
        "key",
        ("customKeyStoreId", "customerMasterKeySpec", "keyUsage", "multiRegion", "xksKeyId"),
        TFAWS + "kms/key.go: ForceNew",
    ),
    "aws:ecr/repository:Repository": ReplaceRule(
        "registry", ("name", "encryptionConfigurations"), TFAWS + "ecr/repository.go: ForceNew"
    ),
    "aws:eks/cluster:Cluster": ReplaceRule(
        "cluster",
        (
            "name",
            "roleArn",
            "bootstrapSelfManagedAddons",
            "accessConfig.bootstrapClusterCreatorAdminPermissions",
            "kubernetesNetworkConfig.ipFamily",
            "kubernetesNetworkConfig.serviceIpv4Cidr",
            "outpostConfig",
            "remoteNetworkConfig",
        ),
        TFAWS + "eks/cluster.go: ForceNew (and removing encryptionConfig, a CustomizeDiff ForceNewIfChange)",
    ),
    "aws:eks/nodeGroup:NodeGroup": ReplaceRule(
        "node pool",
        (
            "amiType",
            "capacityType",
            "clusterName",
            "diskSize",
            "instanceTypes",
            "launchTemplate.id",
            "launchTemplate.name",
            "nodeGroupName",
            "nodeGroupNamePrefix",
            "nodeRoleArn",
            "remoteAccess",
            "subnetIds",
        ),
        TFAWS + "eks/node_group.go: ForceNew",
        stateful=False,
    ),
    "aws:ebs/volume:Volume": ReplaceRule(
        "volume",
        ("availabilityZone", "encrypted", "kmsKeyId", "outpostArn", "snapshotId"),
        TFAWS + "ec2/ebs_volume.go: ForceNew",
    ),
    "aws:ec2/vpc:Vpc": ReplaceRule(
        "network",
        ("cidrBlock", "ipv4IpamPoolId", "ipv4NetmaskLength"),
        TFAWS
        + "ec2/vpc_.go: ForceNew (instanceTenancy updates in place: resourceVPCUpdate/modifyVPCTenancy)",
        affects=NETWORK_AFFECTS,
    ),
    "aws:ec2/subnet:Subnet": ReplaceRule(
        "network",
        (
            "availabilityZone",
            "availabilityZoneId",
            "cidrBlock",
            "ipv4IpamPoolId",
            "ipv4NetmaskLength",
            "ipv6IpamPoolId",
            "ipv6Native",
            "ipv6NetmaskLength",
            "outpostArn",
            "vpcId",
        ),
        TFAWS + "ec2/vpc_subnet.go: ForceNew",
        affects=NETWORK_AFFECTS,
    ),
    "aws:ec2/natGateway:NatGateway": ReplaceRule(
        "network",
        ("allocationId", "connectivityType", "privateIp", "secondaryPrivateIpAddressCount", "subnetId"),
        TFAWS + "ec2/vpc_nat_gateway.go: ForceNew",
        stateful=False,
    ),
    "aws:cloudwatch/logGroup:LogGroup": ReplaceRule(
        "log group",  # the cluster's control-plane audit log and the VPC flow logs: stateful
        ("logGroupClass", "name", "namePrefix"),
        TFAWS + "logs/group.go: ForceNew (retentionInDays and kmsKeyId update in place)",
    ),
    # ------------------------------------------------------------------ Kubernetes (pulumi-kubernetes v4)
    "kubernetes:core/v1:PersistentVolumeClaim": ReplaceRule(
        "volume",
        (
            "metadata.name",
            "metadata.namespace",
            "spec.accessModes",
            "spec.dataSource",
            "spec.selector",
            "spec.storageClassName",
            "spec.volumeMode",
            "spec.volumeName",
        ),
        "Kubernetes API validation: a claim's spec is immutable after creation except "
        "resources.requests and volumeAttributesClassName; pulumi-kubernetes replaces on such changes",
    ),
    # ------------------------------------------------------------------ GCP (pulumi-gcp, bridged)
    "gcp:storage/bucket:Bucket": ReplaceRule(
        "bucket",
        ("name", "location", "project", "customPlacementConfig"),
        TFGOOGLE + "storage/resource_storage_bucket.go: ForceNew",
    ),
    "gcp:compute/network:Network": ReplaceRule(
        "network",
        ("name", "autoCreateSubnetworks", "description", "networkProfile", "params", "project"),
        TFGOOGLE + "compute/resource_compute_network.go: ForceNew",
        affects=NETWORK_AFFECTS,
    ),
    "gcp:compute/subnetwork:Subnetwork": ReplaceRule(
        "network",
        ("name", "network", "description", "params", "region", "project", "reservedInternalRange"),
        TFGOOGLE + "compute/resource_compute_subnetwork.go: ForceNew; ipCidrRange: "
        "customdiff.ForceNewIfChange(ip_cidr_range, IsShrinkageIpCidr) (an expansion is in place)",
        conditional=(("ipCidrRange", _cidr_shrinks),),
        affects=NETWORK_AFFECTS,
    ),
    "gcp:compute/routerNat:RouterNat": ReplaceRule(
        "network",
        ("name", "router", "region", "project", "initialNatIps", "type", "endpointTypes"),
        TFGOOGLE + "compute/resource_compute_router_nat.go: ForceNew",
        stateful=False,
    ),
    "gcp:logging/projectBucketConfig:ProjectBucketConfig": ReplaceRule(
        "log group",
        ("bucketId", "location", "project"),
        TFGOOGLE + "logging/resource_logging_project_bucket_config.go: ForceNew",
    ),
    "gcp:kms/keyRing:KeyRing": ReplaceRule(
        "key", ("name", "location", "project"), TFGOOGLE + "kms/resource_kms_key_ring.go: ForceNew"
    ),
    "gcp:kms/cryptoKey:CryptoKey": ReplaceRule(
        "key",
        ("name", "keyRing", "purpose", "importOnly", "skipInitialVersionCreation", "cryptoKeyBackend"),
        TFGOOGLE + "kms/resource_kms_crypto_key.go: ForceNew",
    ),
    "gcp:artifactregistry/repository:Repository": ReplaceRule(
        "registry",
        ("repositoryId", "location", "project", "format", "mode", "kmsKeyName"),
        TFGOOGLE + "artifactregistry/resource_artifact_registry_repository.go: ForceNew",
    ),
    "gcp:container/cluster:Cluster": ReplaceRule(
        "cluster",
        (
            "name",
            "location",
            "project",
            "network",
            "subnetwork",
            "networkingMode",
            "ipAllocationPolicy",
            "initialNodeCount",
            "enableAutopilot",
            "privateClusterConfig.masterIpv4CidrBlock",
        ),
        TFGOOGLE + "container/resource_container_cluster.go: ForceNew",
    ),
    "gcp:container/nodePool:NodePool": ReplaceRule(
        "node pool",
        (
            "name",
            "namePrefix",
            "cluster",
            "location",
            "project",
            "initialNodeCount",
            "nodeConfig.guestAccelerators",
            "nodeConfig.spot",
            "nodeConfig.preemptible",
            "nodeConfig.serviceAccount",
            "nodeConfig.oauthScopes",
            "nodeConfig.bootDiskKmsKey",
        ),
        TFGOOGLE + "container/resource_container_node_pool.go and node_config.go: ForceNew "
        "(initialNodeCount: the SDK docstring 'will force recreation of the resource')",
        stateful=False,
    ),
    # ------------------------------------------------------------------ Azure (pulumi-azure-native v3)
    "azure-native:storage:StorageAccount": ReplaceRule(
        "bucket",
        ("accountName", "resourceGroupName", "location"),
        "azure-native: URL path parameters; " + ARM_TRACKED,
    ),
    "azure-native:keyvault:Vault": ReplaceRule(
        "key",
        ("vaultName", "resourceGroupName", "location"),
        "azure-native: URL path parameters; " + ARM_TRACKED,
    ),
    "azure-native:keyvault:Key": ReplaceRule(
        "key", ("keyName", "vaultName", "resourceGroupName"), "azure-native: URL path parameters"
    ),
    "azure-native:containerregistry:Registry": ReplaceRule(
        "registry",
        ("registryName", "resourceGroupName", "location"),
        "azure-native: URL path parameters; " + ARM_TRACKED,
    ),
    "azure-native:containerservice:ManagedCluster": ReplaceRule(
        "cluster",
        ("resourceName", "resourceGroupName", "location"),
        "azure-native: URL path parameters; " + ARM_TRACKED,
    ),
    "azure-native:containerservice:AgentPool": ReplaceRule(
        "node pool",
        ("agentPoolName", "resourceName", "resourceGroupName"),
        "azure-native: URL path parameters",
        stateful=False,
    ),
}


def rule_for(type_: str) -> ReplaceRule | None:
    return REPLACE_TABLE.get(type_)


def is_stateful(type_: str) -> bool:
    rule = REPLACE_TABLE.get(type_)
    return rule is not None and rule.stateful


def covers(prop: str, path: str) -> bool:
    """Whether a change at `path` is a change of `prop` (itself or anything below it)."""
    return path == prop or path.startswith((prop + ".", prop + "["))


def replacing_paths(
    type_: str, changed: list[str], old: dict[str, Any] | None = None, new: dict[str, Any] | None = None
) -> list[str]:
    """The changed input paths that make the provider replace a resource of this type (`old`/`new`:
    the inputs, for the properties that replace only on some changes)."""
    rule = REPLACE_TABLE.get(type_)
    if rule is None:
        return []
    out = [p for p in changed if any(covers(prop, p) for prop in rule.properties)]
    for prop, replaces in rule.conditional:
        if prop in changed and replaces((old or {}).get(prop), (new or {}).get(prop)):
            out.append(prop)
    return out
