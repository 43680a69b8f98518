"""The image registry: one Azure Container Registry for the platform's model and serving images.

ACR is not ECR (README "ACR and ECR"): a registry holds any number of repositories that are
data-plane namespaces, not ARM resources, so `registry.repositories` become image URLs and purge
filters; and some ECR settings have no registry-wide ACR equivalent:

- immutable tags: ACR locks tags and repositories one by one on the data plane
  (`az acr repository update --write-enabled false`, learn.microsoft.com container-registry/
  container-registry-image-lock); the policy pack reports this as a named exemption.
- scan on push: Microsoft Defender for Containers scans ACR images, enabled per subscription
  (a prerequisite in the README, not a registry flag).
- "keep the newest N tagged images": no ACR policy; a scheduled ACR task runs `acr purge --keep N`
  (learn.microsoft.com container-registry/container-registry-auto-purge; Azure/acr-cli README).

What the registry does enforce: Premium SKU (retention of untagged manifests, private endpoints,
CMK and zone redundancy are Premium-only: container-registry-skus), admin user and anonymous pull
off, untagged manifests purged after `untagged_expiry_days` (retention policy), a customer-managed
key in prod (only at creation, through a user-assigned identity: tutorial-enable-customer-managed-keys),
a private endpoint for private clusters (no public network access, no export) or a firewall that
admits the NAT egress address and `public_access_cidrs`, and pull rights (AcrPull) for the
kubelet identity alone.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import yaml
from pulumi_azure_native import containerregistry

from mlinfra.azure.identity import grant
from mlinfra.azure.keyvault import wrapping_key
from mlinfra.azure.network import private_endpoint
from mlinfra.components import child, stateful
from mlinfra.spec import RegistrySpec, SpecError, rules

SKU = "Premium"
_ACR_NAME = re.compile(r"^[a-zA-Z0-9]{5,50}$")
# The purge task: daily at 03:00 UTC, with the `acr` command ACR Tasks resolve to the acr-cli
# image (container-registry-auto-purge); one `--filter <repo>:.*` per repository; `--ago 0d`
# makes every tag a candidate and `--keep N` spares the newest N of each repository.
PURGE_SCHEDULE = "0 3 * * *"
PURGE_TIMEOUT_SECONDS = 3600
TASK_VERSION = "v1.1.0"  # ACR Tasks YAML schema (container-registry-tasks-reference-yaml)


@dataclass
class RegistryArgs:
    """Inputs of the registry.

    spec: repositories and lifecycle settings (`PlatformSpec.registry`).
    registry_name: the ACR name (5-50 letters and digits, globally unique).
    resource_group_name / location / subscription_id: placement and role definitions.
    pull_principal_ids: principal (object) ids allowed to pull: the kubelet identity.
    customer_managed_key: encrypt with a Key Vault key (prod); vault_name: the platform vault.
    private: no public network access; a private endpoint in endpoints_subnet_id, registered in
        dns_zone_id (privatelink.azurecr.io).
    allowed_ip_ranges: addresses a public registry admits (the NAT egress IP, public_access_cidrs).
    zone_redundant: spread the registry over the region's zones (creation only).
    protect: protect + retain the registry and the key (prod).
    tags: tags for every taggable child.
    """

    spec: RegistrySpec
    registry_name: str
    resource_group_name: pulumi.Input[str]
    location: str
    subscription_id: str
    pull_principal_ids: Sequence[pulumi.Input[str]]
    customer_managed_key: bool
    private: bool
    vault_name: pulumi.Input[str] | None = None
    endpoints_subnet_id: pulumi.Input[str] | None = None
    dns_zone_id: pulumi.Input[str] | None = None
    allowed_ip_ranges: Sequence[pulumi.Input[str]] = ()
    zone_redundant: bool = True
    protect: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)


def purge_task_yaml(spec: RegistrySpec) -> str:
    """The ACR task definition that keeps the newest `keep_tagged_images` tags of each repository."""
    filters = " ".join(f"--filter '{re.escape(repo)}:.*'" for repo in spec.repositories)
    cmd = f"acr purge {filters} --ago 0d --keep {spec.keep_tagged_images}"
    return yaml.safe_dump(
        {"version": TASK_VERSION, "steps": [{"cmd": cmd, "timeout": PURGE_TIMEOUT_SECONDS}]}, sort_keys=False
    )


def _validate(args: RegistryArgs) -> None:
    spec = args.spec
    if not _ACR_NAME.match(args.registry_name):
        raise SpecError(f"{args.registry_name!r}: 5-50 letters and digits", "registry_name")
    rules("azure").repositories("", spec.repositories)
    if args.customer_managed_key and args.vault_name is None:
        raise SpecError("a customer-managed key needs vault_name", "customer_managed_key")
    if args.private and (args.endpoints_subnet_id is None or args.dns_zone_id is None):
        raise SpecError("a private registry needs endpoints_subnet_id and dns_zone_id", "private")
    if isinstance(args.pull_principal_ids, str) or not args.pull_principal_ids:
        raise SpecError("a list of at least one principal id (the kubelet identity)", "pull_principal_ids")
    for i, cidr in enumerate(args.allowed_ip_ranges):
        if isinstance(cidr, str):
            try:
                ipaddress.ip_network(cidr)
            except ValueError as e:
                raise SpecError(str(e), f"allowed_ip_ranges.{i}") from None


class Registry(pulumi.ComponentResource):
    """A Premium ACR (retention, purge task, CMK in prod, private endpoint or firewall, AcrPull for nodes)."""

    login_server: pulumi.Output[str]
    registry_id: pulumi.Output[str]
    repository_urls: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None):
        _validate(args)
        super().__init__("mlinfra:azure:Registry", name, None, opts)
        spec = args.spec
        tags = dict(args.tags)
        rg, location, sub = args.resource_group_name, args.location, args.subscription_id

        identity = encryption = None
        depends_on: list[pulumi.Resource] = []
        if args.customer_managed_key:
            assert args.vault_name is not None
            key, key_identity, key_user = wrapping_key(
                self,
                name,
                resource_name=args.registry_name,
                purpose="images",
                what=f"Registry {args.registry_name}",
                vault_name=args.vault_name,
                resource_group_name=rg,
                location=location,
                subscription_id=sub,
                protect=args.protect,
                tags=tags,
            )
            depends_on.append(key_user)
            # A map keyed by identity id in this API version (2023-01-01-preview); a list raises.
            identity = containerregistry.IdentityPropertiesArgs(
                type="UserAssigned",
                user_assigned_identities=key_identity.id.apply(lambda i: {i: {}}),
            )
            encryption = containerregistry.EncryptionPropertyArgs(
                status="enabled",
                key_vault_properties=containerregistry.KeyVaultPropertiesArgs(
                    key_identifier=key.key_uri,  # versionless: ACR follows the key's rotation
                    identity=key_identity.client_id,
                ),
            )

        registry = containerregistry.Registry(
            f"{name}-registry",
            registry_name=args.registry_name,
            resource_group_name=rg,
            location=location,
            sku=containerregistry.SkuArgs(name=SKU),
            admin_user_enabled=False,
            anonymous_pull_enabled=False,
            data_endpoint_enabled=True,
            zone_redundancy="Enabled" if args.zone_redundant else "Disabled",
            public_network_access="Disabled" if args.private else "Enabled",
            network_rule_bypass_options="AzureServices",  # trusted services: the purge task, Defender
            network_rule_set=None
            if args.private
            else containerregistry.NetworkRuleSetArgs(
                default_action="Deny",
                ip_rules=[
                    containerregistry.IPRuleArgs(i_p_address_or_range=r, action="Allow")
                    for r in args.allowed_ip_ranges
                ],
            ),
            identity=identity,
            encryption=encryption,
            policies=containerregistry.PoliciesArgs(
                retention_policy=containerregistry.RetentionPolicyArgs(
                    status="enabled", days=spec.untagged_expiry_days
                ),
                trust_policy=containerregistry.TrustPolicyArgs(status="disabled", type="Notary"),
                quarantine_policy=containerregistry.QuarantinePolicyArgs(status="disabled"),
                # Export off requires public network access off (container-registry-private-link).
                export_policy=containerregistry.ExportPolicyArgs(
                    status="disabled" if args.private else "enabled"
                ),
            ),
            tags=tags,
            opts=stateful(self, args.protect, depends_on=depends_on),
        )
        for i, principal in enumerate(args.pull_principal_ids):
            grant(
                self,
                f"{name}-pull-{i}",
                role="AcrPull",
                principal_id=principal,
                scope=registry.id,
                subscription_id=sub,
                description="Nodes pull images",
            )
        self._purge_task(name, args, registry, tags)
        if args.private:
            assert args.endpoints_subnet_id is not None and args.dns_zone_id is not None
            private_endpoint(
                self,
                f"{name}-endpoint",
                endpoint_name=f"{args.registry_name}-registry",
                target_id=registry.id,
                group="registry",
                subnet_id=args.endpoints_subnet_id,
                dns_zone_id=args.dns_zone_id,
                resource_group_name=rg,
                location=location,
                tags=tags,
            )

        self.registry_id = registry.id
        self.login_server = registry.login_server
        self.repository_urls = registry.login_server.apply(
            lambda server: {repo: f"{server}/{repo}" for repo in spec.repositories}
        )
        self.register_outputs(
            {
                "registry_id": self.registry_id,
                "login_server": self.login_server,
                "repository_urls": self.repository_urls,
            }
        )

    def _purge_task(
        self, name: str, args: RegistryArgs, registry: containerregistry.Registry, tags: dict[str, str]
    ) -> None:
        """A daily ACR task that keeps the newest `keep_tagged_images` tags per repository.

        It runs as a trusted service with its own system identity (allow-access-trusted-services:
        ACR Tasks need a managed identity with a role on the registry to pass its network rules),
        which may pull (list) and delete images of this registry and nothing else.
        """
        task = containerregistry.Task(
            f"{name}-purge",
            task_name="purge-old-tags",
            registry_name=registry.name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            platform=containerregistry.PlatformPropertiesArgs(os="Linux", architecture="amd64"),
            step=containerregistry.EncodedTaskStepArgs(
                type="EncodedTask",
                encoded_task_content=base64.b64encode(purge_task_yaml(args.spec).encode()).decode(),
            ),
            trigger=containerregistry.TriggerPropertiesArgs(
                timer_triggers=[
                    containerregistry.TimerTriggerArgs(
                        name="daily", schedule=PURGE_SCHEDULE, status="Enabled"
                    )
                ]
            ),
            identity=containerregistry.IdentityPropertiesArgs(type="SystemAssigned"),
            credentials=containerregistry.CredentialsArgs(
                source_registry=containerregistry.SourceRegistryCredentialsArgs(login_mode="None"),
                custom_registries=registry.login_server.apply(
                    lambda server: {
                        server: containerregistry.CustomRegistryCredentialsArgs(identity="[system]")
                    }
                ),
            ),
            agent_configuration=containerregistry.AgentPropertiesArgs(cpu=2),
            timeout=PURGE_TIMEOUT_SECONDS,
            status="Enabled",
            tags=tags,
            opts=child(self),
        )
        principal = task.identity.apply(lambda i: i.principal_id if i else "")
        for role in ("AcrPull", "AcrDelete"):
            grant(
                self,
                f"{name}-purge-{role.lower()}",
                role=role,
                principal_id=principal,
                scope=registry.id,
                subscription_id=args.subscription_id,
                description="The purge task lists and deletes old tags",
            )
