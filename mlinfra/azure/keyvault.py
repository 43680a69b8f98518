"""Key management on Azure: one Key Vault per platform and the keys every block encrypts with.

AWS's `kms.py` is a helper that mints a CMK per block; on Azure the key container is a resource of
its own (a globally unique name, network access, RBAC, soft delete), so this block is a component
(`KeyVault`) plus the key helper every consumer calls (`customer_managed_key`), as kms.py is.

- RBAC authorization (access policies are ignored), soft delete with the spec's deletion window,
  purge protection (required for any CMK: learn.microsoft.com aks/azure-disk-customer-managed-keys,
  storage/common/customer-managed-keys-configure-existing-account). Purge protection keeps a
  deleted vault's name reserved for the retention period, so the name gets a random suffix.
- Network: a private cluster's vault accepts no public traffic and is reached through a private
  endpoint (AKS KMS then runs in "Private" mode over API server VNet integration). A public (dev)
  cluster's vault stays open to authenticated callers: AKS KMS in "Public" mode does not support a
  vault firewall limited to networks and IPs (learn.microsoft.com aks/use-kms-etcd-encryption,
  "Limitations").
- Keys are created through ARM (`Microsoft.KeyVault/vaults/keys`), a management-plane write that a
  private vault's network rules and data-plane RBAC do not gate, so the runner needs no line of
  sight to the vault (an ARM key PUT is create-if-not-exists: later property changes are ignored).
- Keys rotate yearly and their versions expire after two years, except the AKS KMS key: KMS pins a
  key *version* and an expired version makes etcd unreadable, so it is rotated by hand (README).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_random as random
from pulumi_azure_native import keyvault

from mlinfra.azure.identity import grant, user_assigned_identity
from mlinfra.azure.network import ROLE_TAG, private_endpoint
from mlinfra.components import child, stateful
from mlinfra.spec import AZURE_VAULT_SUFFIX_LENGTH, SpecError

# Key Vault's bounds for soft-delete retention (SDK: "It accepts >=7 and <=90").
SOFT_DELETE_DAYS = (7, 90)
# HSM-protected RSA keys need the premium SKU (learn.microsoft.com key-vault/keys/about-keys).
VAULT_SKU = "premium"
KEY_TYPE = "RSA-HSM"
# 2048 bits: the Key Vault default, and what Azure/AKS-Construction creates for AKS KMS
# (bicep/keyvaultkey.bicep); accepted by disk encryption sets, storage and ACR CMK.
KEY_SIZE = 2048
KEY_OPS = ["wrapKey", "unwrapKey", "encrypt", "decrypt"]
# Rotation policy (ISO 8601 durations, SDK RotationPolicyArgs): a new version yearly (AWS KMS
# rotates yearly too), versions expire after two years, a notice 30 days before.
ROTATE_AFTER = "P1Y"
VERSION_EXPIRY = "P2Y"
NOTIFY_BEFORE_EXPIRY = "P30D"
# Value of the `mlinfra-role` tag on the AKS KMS key: the kms-key-rotation policy names it as an
# exemption (a versioned key with no expiry, rotated by updating the cluster's key id).
AKS_KMS_KEY_ROLE = "aks-kms-key"


def check_soft_delete_days(days: int, field_name: str = "key_deletion_window_days") -> None:
    low, high = SOFT_DELETE_DAYS
    if not low <= days <= high:
        raise SpecError(
            f"{days} is outside Key Vault's soft-delete range; allowed: {low}-{high} days", field_name
        )


@dataclass
class KeyVaultArgs:
    """Inputs of a KeyVault.

    vault_base: the name before the random suffix (`azure_names(spec).vault_base`, <= 18 chars).
    resource_group_name / location / tenant_id: where the vault lives and whose Entra ID it trusts.
    soft_delete_days: soft-delete (and purge-protection) retention, 7-90 days.
    private: no public network access; reached through a private endpoint in endpoints_subnet_id,
        registered in dns_zone_id (privatelink.vaultcore.azure.net).
    protect: protect + retain the vault (prod).
    tags: tags for the vault and the endpoint.
    """

    vault_base: str
    resource_group_name: pulumi.Input[str]
    location: str
    tenant_id: str
    soft_delete_days: int
    private: bool
    endpoints_subnet_id: pulumi.Input[str] | None = None
    dns_zone_id: pulumi.Input[str] | None = None
    protect: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)


def _validate(args: KeyVaultArgs) -> None:
    check_soft_delete_days(args.soft_delete_days)
    if not 3 <= len(args.vault_base) <= 24 - 1 - AZURE_VAULT_SUFFIX_LENGTH or "--" in args.vault_base:
        raise SpecError(
            f"{args.vault_base!r}: 3-{24 - 1 - AZURE_VAULT_SUFFIX_LENGTH} letters, digits and single '-'",
            "vault_base",
        )
    if args.private and (args.endpoints_subnet_id is None or args.dns_zone_id is None):
        raise SpecError("a private vault needs endpoints_subnet_id and dns_zone_id", "private")


class KeyVault(pulumi.ComponentResource):
    """A purge-protected, RBAC-authorized Key Vault with a random-suffixed name."""

    vault_id: pulumi.Output[str]
    vault_name: pulumi.Output[str]
    vault_uri: pulumi.Output[str]

    def __init__(self, name: str, args: KeyVaultArgs, opts: pulumi.ResourceOptions | None = None):
        _validate(args)
        super().__init__("mlinfra:azure:KeyVault", name, None, opts)
        tags = dict(args.tags)
        suffix = random.RandomString(
            f"{name}-suffix",
            length=AZURE_VAULT_SUFFIX_LENGTH,
            special=False,
            upper=False,
            opts=child(self),
        )
        vault = keyvault.Vault(
            f"{name}-vault",
            vault_name=pulumi.Output.concat(args.vault_base, "-", suffix.result),
            resource_group_name=args.resource_group_name,
            location=args.location,
            properties=keyvault.VaultPropertiesArgs(
                tenant_id=args.tenant_id,
                sku=keyvault.SkuArgs(family="A", name=VAULT_SKU),
                enable_rbac_authorization=True,
                enable_soft_delete=True,
                soft_delete_retention_in_days=args.soft_delete_days,
                enable_purge_protection=True,  # irreversible (SDK); required for CMK
                enabled_for_deployment=False,
                enabled_for_disk_encryption=False,
                enabled_for_template_deployment=False,
                public_network_access="Disabled" if args.private else "Enabled",
                network_acls=keyvault.NetworkRuleSetArgs(
                    # Trusted services (storage, ACR CMK) reach a private vault through the bypass.
                    bypass="AzureServices",
                    default_action="Deny" if args.private else "Allow",
                ),
            ),
            tags=tags,
            opts=stateful(self, args.protect),
        )
        if args.private:
            assert args.endpoints_subnet_id is not None and args.dns_zone_id is not None
            private_endpoint(
                self,
                f"{name}-endpoint",
                endpoint_name=f"{args.vault_base}-vault",
                target_id=vault.id,
                group="vault",
                subnet_id=args.endpoints_subnet_id,
                dns_zone_id=args.dns_zone_id,
                resource_group_name=args.resource_group_name,
                location=args.location,
                tags=tags,
            )
        self.vault = vault
        self.vault_id = vault.id
        self.vault_name = vault.name
        self.vault_uri = vault.properties.apply(lambda p: p.vault_uri)
        self.register_outputs(
            {"vault_id": self.vault_id, "vault_name": self.vault_name, "vault_uri": self.vault_uri}
        )


def customer_managed_key(
    parent: pulumi.Resource,
    name: str,
    *,
    key_name: str,
    vault_name: pulumi.Input[str],
    resource_group_name: pulumi.Input[str],
    protect: bool,
    tags: Mapping[str, str],
    rotate: bool = True,
) -> keyvault.Key:
    """An HSM-protected RSA key in the platform vault.

    rotate=True: a rotation policy (new version yearly, versions expire after two years); the
    consumer must use the versionless URI (`key_uri`) or follow new versions itself (a disk
    encryption set with rotation_to_latest_key_version_enabled). rotate=False (AKS KMS only): no
    policy and no expiry, tagged as the AKS KMS key.
    """
    properties = keyvault.KeyPropertiesArgs(
        kty=KEY_TYPE,
        key_size=KEY_SIZE,
        key_ops=KEY_OPS,
        rotation_policy=keyvault.RotationPolicyArgs(
            attributes=keyvault.KeyRotationPolicyAttributesArgs(expiry_time=VERSION_EXPIRY),
            lifetime_actions=[
                keyvault.LifetimeActionArgs(
                    action=keyvault.ActionArgs(type="rotate"),
                    trigger=keyvault.TriggerArgs(time_after_create=ROTATE_AFTER),
                ),
                keyvault.LifetimeActionArgs(
                    action=keyvault.ActionArgs(type="notify"),
                    trigger=keyvault.TriggerArgs(time_before_expiry=NOTIFY_BEFORE_EXPIRY),
                ),
            ],
        )
        if rotate
        else None,
    )
    return keyvault.Key(
        name,
        key_name=key_name,
        vault_name=vault_name,
        resource_group_name=resource_group_name,
        properties=properties,
        tags={**tags, **({} if rotate else {ROLE_TAG: AKS_KMS_KEY_ROLE})},
        opts=stateful(parent, protect),
    )


def wrapping_key(
    parent: pulumi.Resource,
    name: str,
    *,
    resource_name: str,
    purpose: str,
    what: str,
    vault_name: pulumi.Input[str],
    resource_group_name: pulumi.Input[str],
    location: str,
    subscription_id: pulumi.Input[str],
    protect: bool,
    tags: Mapping[str, str],
) -> tuple[keyvault.Key, pulumi.Resource, pulumi.Resource]:
    """A customer-managed key for one resource (`<resource_name>-<purpose>`), the user-assigned
    identity the resource wraps it with (`<resource_name>-cmk`: storage accounts and registries read
    their CMK through a user-assigned identity), and that identity's "Key Vault Crypto Service
    Encryption User" grant on the key. Returns (key, identity, grant); the resource depends on the
    grant, so the key is usable when it is created."""
    key = customer_managed_key(
        parent,
        f"{name}-key",
        key_name=f"{resource_name}-{purpose}",
        vault_name=vault_name,
        resource_group_name=resource_group_name,
        protect=protect,
        tags=tags,
    )
    identity = user_assigned_identity(
        parent,
        f"{name}-identity",
        identity_name=f"{resource_name}-cmk",
        resource_group_name=resource_group_name,
        location=location,
        tags=tags,
    )
    key_user = grant(
        parent,
        f"{name}-key-user",
        role="Key Vault Crypto Service Encryption User",
        principal_id=identity.principal_id,
        scope=key.id,
        subscription_id=subscription_id,
        description=f"{what} wraps its key with this key",
    )
    return key, identity, key_user
