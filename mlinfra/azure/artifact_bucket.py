"""The artifact store: a StorageV2 account with one private blob container for models and data.

- Data plane: Entra ID only (shared-key access off, OAuth by default), HTTPS only with TLS 1.2 as
  the minimum (Azure refuses TLS1_3 as a minimum: storage swagger "minimumTlsVersion"), no blob
  public access, no cross-tenant replication, copies only within the tenant (allowed_copy_scope).
- Encryption: infrastructure (double) encryption always (only settable at creation); in staging and
  prod the account key is wrapped by a Key Vault key (versionless URI: the account follows the
  key's yearly rotation), through a user-assigned identity granted the key before the account
  exists (learn.microsoft.com storage/common/customer-managed-keys-configure-new-account).
- Network: behind a private endpoint for private clusters; otherwise the public endpoint refuses
  everything but the node subnet (service endpoint) and `public_access_cidrs`; trusted Azure
  services pass (AzureServices bypass).
- Versioning, soft delete for blobs and containers, lifecycle (old versions deleted after the spec's
  days, optional move to Cool), access logs (StorageRead/Write/Delete) to the Log Analytics
  workspace when access_logging is on. Uncommitted blocks of abandoned uploads are discarded by the
  service after 7 days (the spec's abort_incomplete_multipart_days must say 7: spec._check_azure).
Access is granted per model prefix by WorkloadIdentity (ABAC), never on the whole container.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_azure_native import monitor, storage

from mlinfra.azure.keyvault import wrapping_key
from mlinfra.azure.network import private_endpoint
from mlinfra.components import child, stateful
from mlinfra.spec import ArtifactsSpec, SpecError, _check_bucket_name

SKU = "Standard_ZRS"  # zone-redundant: every shipped region has availability zones
# Soft delete of blobs and containers: a week, a month for protected (prod) accounts.
SOFT_DELETE_DAYS = {False: 7, True: 30}
ACCESS_LOG_CATEGORIES = ("StorageRead", "StorageWrite", "StorageDelete")


@dataclass
class ArtifactBucketArgs:
    """Inputs of the artifact store.

    spec: lifecycle and logging settings (`PlatformSpec.artifacts`).
    account_name / container_name: physical names (`azure_names(spec)`).
    resource_group_name / location / subscription_id: placement and role definitions.
    customer_managed_key: wrap the account key with a Key Vault key (staging/prod).
    vault_name / vault_uri: the platform Key Vault (customer_managed_key only).
    private: public network access off, reached through a private endpoint in endpoints_subnet_id
        registered in dns_zone_id (privatelink.blob.core.windows.net).
    allowed_subnet_ids / allowed_ip_ranges: who passes the firewall of a public account.
    workspace_id: Log Analytics workspace for access logs (access_logging).
    protect: protect + retain the account, container and key (prod).
    tags: tags for every taggable child.
    """

    spec: ArtifactsSpec
    account_name: str
    container_name: str
    resource_group_name: pulumi.Input[str]
    location: str
    subscription_id: str
    customer_managed_key: bool
    private: bool
    vault_name: pulumi.Input[str] | None = None
    vault_uri: pulumi.Input[str] | None = None
    endpoints_subnet_id: pulumi.Input[str] | None = None
    dns_zone_id: pulumi.Input[str] | None = None
    allowed_subnet_ids: Sequence[pulumi.Input[str]] = ()
    allowed_ip_ranges: Sequence[str] = ()
    workspace_id: pulumi.Input[str] | None = None
    protect: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)


def ip_rule(cidr: str) -> str:
    """Storage firewall rules take addresses or ranges up to /30 (a /31 or /32 is given as the
    address: learn.microsoft.com storage/common/storage-network-security "IP network rules")."""
    net = ipaddress.ip_network(cidr, strict=False)
    return str(net.network_address) if net.prefixlen >= 31 else str(net)


def _validate(args: ArtifactBucketArgs) -> None:
    _check_bucket_name("azure", args.account_name)
    if args.account_name != args.account_name.lower() or not args.account_name.isalnum():
        raise SpecError(f"{args.account_name!r}: 3-24 lowercase letters and digits", "account_name")
    if not 3 <= len(args.container_name) <= 63:
        raise SpecError(f"{args.container_name!r}: 3-63 characters", "container_name")
    if args.customer_managed_key and (args.vault_name is None or args.vault_uri is None):
        raise SpecError("a customer-managed key needs vault_name and vault_uri", "customer_managed_key")
    if args.private and (args.endpoints_subnet_id is None or args.dns_zone_id is None):
        raise SpecError("a private account needs endpoints_subnet_id and dns_zone_id", "private")
    if args.spec.access_logging and args.workspace_id is None:
        raise SpecError("access_logging needs a Log Analytics workspace_id", "artifacts.access_logging")
    for cidr in args.allowed_ip_ranges:
        try:
            ipaddress.ip_network(cidr)
        except ValueError as e:
            raise SpecError(str(e), "allowed_ip_ranges") from None


class ArtifactBucket(pulumi.ComponentResource):
    """A private, versioned StorageV2 account and container (CMK in staging/prod)."""

    bucket_name: pulumi.Output[str]
    account_name: pulumi.Output[str]
    account_id: pulumi.Output[str]
    container_name: str
    container_id: pulumi.Output[str]
    blob_endpoint: pulumi.Output[str]

    def __init__(self, name: str, args: ArtifactBucketArgs, opts: pulumi.ResourceOptions | None = None):
        _validate(args)
        super().__init__("mlinfra:azure:ArtifactBucket", name, None, opts)
        spec = args.spec
        tags = dict(args.tags)
        rg, location = args.resource_group_name, args.location

        identity_args = None
        encryption_key = None
        depends_on: list[pulumi.Resource] = []
        if args.customer_managed_key:
            assert args.vault_name is not None and args.vault_uri is not None
            key, identity, key_user = wrapping_key(
                self,
                name,
                resource_name=args.account_name,
                purpose="blobs",
                what=f"Storage account {args.account_name}",
                vault_name=args.vault_name,
                resource_group_name=rg,
                location=location,
                subscription_id=args.subscription_id,
                protect=args.protect,
                tags=tags,
            )
            depends_on.append(key_user)
            identity_args = storage.IdentityArgs(type="UserAssigned", user_assigned_identities=[identity.id])
            encryption_key = storage.KeyVaultPropertiesArgs(key_name=key.name, key_vault_uri=args.vault_uri)
            self.key_id = key.id
            encryption_identity = storage.EncryptionIdentityArgs(
                encryption_user_assigned_identity=identity.id
            )
        else:
            encryption_identity = None

        account = storage.StorageAccount(
            f"{name}-account",
            account_name=args.account_name,
            resource_group_name=rg,
            location=location,
            kind="StorageV2",
            sku=storage.SkuArgs(name=SKU),
            access_tier="Hot",
            enable_https_traffic_only=True,
            minimum_tls_version="TLS1_2",
            allow_blob_public_access=False,
            allow_shared_key_access=False,
            default_to_o_auth_authentication=True,
            allow_cross_tenant_replication=False,
            allowed_copy_scope="AAD",
            public_network_access="Disabled" if args.private else "Enabled",
            network_rule_set=storage.NetworkRuleSetArgs(
                default_action="Deny",
                bypass="AzureServices",
                ip_rules=[storage.IPRuleArgs(i_p_address_or_range=ip_rule(c)) for c in args.allowed_ip_ranges]
                if not args.private
                else None,
                virtual_network_rules=[
                    storage.VirtualNetworkRuleArgs(virtual_network_resource_id=s)
                    for s in args.allowed_subnet_ids
                ]
                if not args.private
                else None,
            ),
            identity=identity_args,
            encryption=storage.EncryptionArgs(
                key_source="Microsoft.Keyvault" if args.customer_managed_key else "Microsoft.Storage",
                key_vault_properties=encryption_key,  # no key_version: follow the key's rotation
                encryption_identity=encryption_identity,
                require_infrastructure_encryption=True,  # creation only
                services=storage.EncryptionServicesArgs(
                    blob=storage.EncryptionServiceArgs(enabled=True, key_type="Account")
                ),
            ),
            tags=tags,
            opts=stateful(self, args.protect, depends_on=depends_on),
        )
        soft_delete = SOFT_DELETE_DAYS[args.protect]
        blob_service = storage.BlobServiceProperties(
            f"{name}-blob-service",
            account_name=account.name,
            resource_group_name=rg,
            blob_services_name="default",
            is_versioning_enabled=True,
            delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True, days=soft_delete),
            container_delete_retention_policy=storage.DeleteRetentionPolicyArgs(
                enabled=True, days=soft_delete
            ),
            opts=child(self),
        )
        container = storage.BlobContainer(
            f"{name}-container",
            account_name=account.name,
            resource_group_name=rg,
            container_name=args.container_name,
            public_access="None",
            opts=stateful(self, args.protect, depends_on=[blob_service]),
        )
        storage.ManagementPolicy(
            f"{name}-lifecycle",
            account_name=account.name,
            resource_group_name=rg,
            management_policy_name="default",
            policy=storage.ManagementPolicySchemaArgs(rules=self._lifecycle_rules(spec)),
            opts=child(self, depends_on=[blob_service]),
        )
        if spec.access_logging:
            monitor.DiagnosticSetting(
                f"{name}-access-logs",
                name="access-logs",
                resource_uri=account.id.apply(lambda i: f"{i}/blobServices/default"),
                workspace_id=args.workspace_id,
                logs=[
                    monitor.DiagnosticsLogSettingsArgs(category=c, enabled=True)
                    for c in ACCESS_LOG_CATEGORIES
                ],
                opts=child(self, depends_on=[blob_service]),
            )
        if args.private:
            assert args.endpoints_subnet_id is not None and args.dns_zone_id is not None
            private_endpoint(
                self,
                f"{name}-endpoint",
                endpoint_name=f"{args.account_name}-blob",
                target_id=account.id,
                group="blob",
                subnet_id=args.endpoints_subnet_id,
                dns_zone_id=args.dns_zone_id,
                resource_group_name=rg,
                location=location,
                tags=tags,
            )

        self.account_name = account.name
        self.account_id = account.id
        self.container_name = args.container_name
        self.container_id = container.id
        self.blob_endpoint = account.primary_endpoints.apply(lambda e: e.blob)
        # What every cloud's platform exports as `bucket_name`: the container's URL (the blob store's
        # bucket), `https://<account>.blob.core.windows.net/<container>`.
        self.bucket_name = self.uri("").apply(lambda u: u.rstrip("/"))
        self.register_outputs(
            {
                "bucket_name": self.bucket_name,
                "account_name": self.account_name,
                "account_id": self.account_id,
                "container_name": self.container_name,
                "container_id": self.container_id,
                "blob_endpoint": self.blob_endpoint,
            }
        )

    @staticmethod
    def _lifecycle_rules(spec: ArtifactsSpec) -> list[storage.ManagementPolicyRuleArgs]:
        """Delete old versions after the spec's days (the S3 noncurrent-version expiration); move
        blobs to Cool after infrequent_access_after_days (the S3 STANDARD_IA transition)."""
        actions = storage.ManagementPolicyActionArgs(
            version=storage.ManagementPolicyVersionArgs(
                delete=storage.DateAfterCreationArgs(
                    days_after_creation_greater_than=spec.noncurrent_version_expiration_days
                )
            ),
            base_blob=storage.ManagementPolicyBaseBlobArgs(
                tier_to_cool=storage.DateAfterModificationArgs(
                    days_after_modification_greater_than=spec.infrequent_access_after_days
                )
            )
            if spec.infrequent_access_after_days is not None
            else None,
        )
        return [
            storage.ManagementPolicyRuleArgs(
                name="expire-old-versions",
                type="Lifecycle",
                enabled=True,
                definition=storage.ManagementPolicyDefinitionArgs(
                    actions=actions, filters=storage.ManagementPolicyFilterArgs(blob_types=["blockBlob"])
                ),
            )
        ]

    def uri(self, path: str) -> pulumi.Output[str]:
        """`https://<account>.blob.core.windows.net/<container>/<path>`: the URI KServe's and the
        layer's Azure Blob downloaders take."""
        return pulumi.Output.concat(self.blob_endpoint, self.container_name, "/", path)
