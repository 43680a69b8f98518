"""Identities and grants on Azure: built-in roles, role assignments, and WorkloadIdentity.

A pod gets Azure credentials through Microsoft Entra Workload ID: a user-assigned managed
identity trusts one Kubernetes service account (a federated credential for the cluster's OIDC
issuer, subject `system:serviceaccount:<ns>:<sa>`, audience `api://AzureADTokenExchange`), and
the pod carries the label `azure.workload.identity/use: "true"` so the AKS webhook projects the
token and sets AZURE_CLIENT_ID / AZURE_TENANT_ID / AZURE_FEDERATED_TOKEN_FILE
(learn.microsoft.com aks/workload-identity-overview). The model identity may read only its
model's blobs: Storage Blob Data Reader on the artifacts container with an ABAC condition on the
blob path (read) and the listing prefix (list).

Every grant is a role assignment by role *name* from ROLES (the GUIDs are the built-in role
definitions, learn.microsoft.com role-based-access-control/built-in-roles), created before the
resource that needs it (`depends_on`), because Azure checks a consumer's access when the
consumer is created.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
from pulumi_azure_native import authorization, managedidentity

from mlinfra.components import child
from mlinfra.k8s.objects import check_dns_label
from mlinfra.spec import SpecError

# Built-in role definition ids (learn.microsoft.com role-based-access-control/built-in-roles; the
# same GUIDs in Azure/AKS-Construction bicep/main.bicep:487,803, aksnetcontrib.bicep:14 and
# keyvaultrbac.bicep:47-49).
ROLES: dict[str, str] = {
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "AcrDelete": "c2f4ef07-c644-48eb-af81-4b1b4947fb11",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Key Vault Crypto Service Encryption User": "e147488a-f6f5-4113-8e2d-b22465e65bf6",
    "Key Vault Crypto User": "12338af0-0e69-4776-bea7-57ae8d297424",
    "Network Contributor": "4d97b98b-1d4f-4787-a291-c67834d212e7",
    "Managed Identity Operator": "f1a07417-d97a-45cb-824c-7a7467783830",
    "Azure Kubernetes Service RBAC Cluster Admin": "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    # "Lets you manage key vaults, but not access to them" (built-in-roles, Security).
    "Key Vault Contributor": "f25e0fa2-a7c8-4377-a976-54943a77a395",
}

# The UUID namespace of mlinfra's role-assignment names (uuid5; any fixed UUID works, it must never change).
ROLE_ASSIGNMENT_NAMESPACE = uuid.UUID("6b1d3f0e-8a4c-5d2e-9f7b-0c3a1e5d7b29")

# Public client applications a person signs in through (Azure CLI, Azure PowerShell); the client id
# `authorization.get_client_config` reports for a signed-in user (the same id azurerm's
# client_config shows after `az login`). Any other client is an application: a service principal
# or a managed identity (CI).
USER_SIGN_IN_CLIENTS = {
    "04b07795-8ddb-461a-bbee-02f9e1bf7b46": "Azure CLI",
    "1950a258-227b-4e31-a9cf-717495945fc2": "Azure PowerShell",
}
# cluster.admin_principals on Azure: "<kind>:<object id>" -> the role assignment's principal type.
PRINCIPAL_KINDS = {"user": "User", "group": "Group", "serviceprincipal": "ServicePrincipal"}

WORKLOAD_IDENTITY_CLIENT_ID = "azure.workload.identity/client-id"  # service-account annotation
WORKLOAD_IDENTITY_USE_LABEL = "azure.workload.identity/use"  # pod label the AKS webhook selects on
# The audience Entra ID expects in a federated token (learn.microsoft.com
# entra/workload-id/workload-identity-federation-create-trust).
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"

# Microsoft.ManagedIdentity names: identities 3-128, federated credentials 3-120 characters of
# letters, digits, '-' and '_', starting with a letter or digit (resource-name-rules).
_IDENTITY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,127}$")
_PREFIX = re.compile(r"^[A-Za-z0-9!\-_.()'/]+/$")
_BLOB_READ = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"
_CONTAINER_NAME = "@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name]"
_BLOB_PATH = "@Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path]"
_LIST_PREFIX = "@Request[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:prefix]"


def role_definition_id(subscription_id: pulumi.Input[str], role: str) -> pulumi.Output[str]:
    if role not in ROLES:
        raise SpecError(f"{role!r} is not a role mlinfra grants; allowed: {', '.join(ROLES)}", "role")
    return pulumi.Output.from_input(subscription_id).apply(
        lambda sub: f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{ROLES[role]}"
    )


def grant(
    parent: pulumi.Resource,
    name: str,
    *,
    role: str,
    principal_id: pulumi.Input[str],
    scope: pulumi.Input[str],
    subscription_id: pulumi.Input[str],
    principal_type: pulumi.Input[str] = "ServicePrincipal",
    condition: pulumi.Input[str] | None = None,
    description: str | None = None,
    depends_on: list[pulumi.Resource] | None = None,
    provider: pulumi.ProviderResource | None = None,
) -> authorization.RoleAssignment:
    """One role assignment. The type must be right: the SDK sends 'User' when none is given, and
    ARM refuses an assignment whose type differs from the principal's (UnmatchedPrincipalType).
    Managed identities are `ServicePrincipal`s; naming the type also lets Azure skip the directory
    lookup that fails for an identity created seconds ago (learn.microsoft.com
    role-based-access-control/role-assignments-template "principalType")."""
    definition = role_definition_id(subscription_id, role)
    return authorization.RoleAssignment(
        name,
        role_assignment_name=role_assignment_name(scope, definition, principal_id),
        principal_id=principal_id,
        principal_type=principal_type,
        role_definition_id=definition,
        scope=scope,
        condition=condition,
        condition_version="2.0" if condition is not None else None,
        description=description,
        opts=child(parent, depends_on=depends_on or [], provider=provider),
    )


def role_assignment_name(
    scope: pulumi.Input[str], definition_id: pulumi.Input[str], principal_id: pulumi.Input[str]
) -> pulumi.Output[str]:
    """A name derived from (scope, role, principal), the ARM `guid(scope, role, principal)` idiom
    (Azure/AKS-Construction bicep, mspnp/aks-baseline): the same grant always has the same name, so
    after lost state or an import Pulumi adopts-or-conflicts on one name instead of creating a second
    assignment that ARM refuses with RoleAssignmentExists (409)."""
    return pulumi.Output.all(scope, definition_id, principal_id).apply(
        lambda v: str(uuid.uuid5(ROLE_ASSIGNMENT_NAMESPACE, "|".join(str(x).lower() for x in v)))
    )


def deployer_principal_type(client_id: pulumi.Input[str]) -> pulumi.Output[str]:
    """'User' when `pulumi up` runs as a person signed in through the Azure CLI or PowerShell,
    'ServicePrincipal' for an application (a CI service principal, a managed identity)."""
    return pulumi.Output.from_input(client_id).apply(
        lambda cid: "User" if str(cid).lower() in USER_SIGN_IN_CLIENTS else "ServicePrincipal"
    )


def user_assigned_identity(
    parent: pulumi.Resource,
    name: str,
    *,
    identity_name: str,
    resource_group_name: pulumi.Input[str],
    location: str,
    tags: Mapping[str, str],
    provider: pulumi.ProviderResource | None = None,
) -> managedidentity.UserAssignedIdentity:
    if not _IDENTITY_NAME.match(identity_name):
        raise SpecError(
            f"{identity_name!r} is not a managed identity name (3-128 letters, digits, '-' or '_')",
            "identity_name",
        )
    return managedidentity.UserAssignedIdentity(
        name,
        resource_name_=identity_name,
        resource_group_name=resource_group_name,
        location=location,
        tags=dict(tags),
        opts=child(parent, provider=provider),
    )


def blob_prefix_condition(container: str, prefix: str) -> str:
    """ABAC condition: blob reads and listings only inside `container`/`prefix`.

    The "Read or list blobs in named containers with a path" example of learn.microsoft.com
    storage/blobs/storage-auth-abac-examples (Reader variant): reads are limited by the blob path,
    listings (sub-operation Blob.List) by the requested prefix; every other action of the role is
    left as the role defines it.
    """
    if not _PREFIX.match(prefix) or prefix.startswith("/") or "//" in prefix:
        raise SpecError(
            f"{prefix!r} must be a relative blob prefix ending with '/', without wildcards", "prefix"
        )
    in_container = f"{_CONTAINER_NAME} StringEquals '{container}'"
    return (
        f"((!(ActionMatches{{'{_BLOB_READ}'}} AND NOT SubOperationMatches{{'Blob.List'}}))"
        f" OR ({in_container} AND {_BLOB_PATH} StringStartsWith '{prefix}'))"
        " AND "
        f"((!(ActionMatches{{'{_BLOB_READ}'}} AND SubOperationMatches{{'Blob.List'}}))"
        f" OR ({in_container} AND {_LIST_PREFIX} StringStartsWith '{prefix}'))"
    )


@dataclass
class WorkloadIdentityArgs:
    """Inputs of a WorkloadIdentity.

    namespace / service_account: the one Kubernetes service account the identity trusts.
    oidc_issuer: the cluster's OIDC issuer URL (`Cluster.oidc_issuer`).
    resource_group_name / location: where the identity lives.
    subscription_id: for the role definition id.
    container_id / container_name: the artifacts container (`ArtifactBucket.container_id`/`.container_name`).
    prefix: blob prefix the identity may read and list (`models/<name>/`).
    tags: tags for the identity.
    """

    namespace: str
    service_account: str
    oidc_issuer: pulumi.Input[str]
    resource_group_name: pulumi.Input[str]
    location: str
    subscription_id: pulumi.Input[str]
    container_id: pulumi.Input[str]
    container_name: str
    prefix: str
    identity_name: str
    tags: Mapping[str, str] = field(default_factory=dict)


class WorkloadIdentity(pulumi.ComponentResource):
    """A user-assigned identity for one service account, reading one blob prefix."""

    client_id: pulumi.Output[str]
    principal_id: pulumi.Output[str]
    service_account_annotations: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: WorkloadIdentityArgs, opts: pulumi.ResourceOptions | None = None):
        check_dns_label(args.namespace, "namespace")
        check_dns_label(args.service_account, "service_account")
        condition = blob_prefix_condition(args.container_name, args.prefix)
        subject = f"system:serviceaccount:{args.namespace}:{args.service_account}"
        credential_name = f"{args.namespace}-{args.service_account}"[:120]
        if not _IDENTITY_NAME.match(args.identity_name):
            raise SpecError(
                f"{args.identity_name!r} is not a managed identity name (3-128 letters, digits, '-' or '_')",
                "identity_name",
            )

        super().__init__("mlinfra:azure:WorkloadIdentity", name, None, opts)
        identity = user_assigned_identity(
            self,
            f"{name}-identity",
            identity_name=args.identity_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=args.tags,
        )
        managedidentity.FederatedIdentityCredential(
            f"{name}-federation",
            resource_name_=identity.name,
            resource_group_name=args.resource_group_name,
            federated_identity_credential_resource_name=credential_name,
            issuer=args.oidc_issuer,
            subject=subject,
            audiences=[TOKEN_EXCHANGE_AUDIENCE],
            opts=child(self),
        )
        grant(
            self,
            f"{name}-blob-reader",
            role="Storage Blob Data Reader",
            principal_id=identity.principal_id,
            scope=args.container_id,
            subscription_id=args.subscription_id,
            condition=condition,
            description=f"{subject} reads {args.container_name}/{args.prefix} only",
        )

        self.client_id = identity.client_id
        self.principal_id = identity.principal_id
        self.service_account_annotations = identity.client_id.apply(
            lambda cid: {WORKLOAD_IDENTITY_CLIENT_ID: cid}
        )
        self.register_outputs(
            {
                "client_id": self.client_id,
                "principal_id": self.principal_id,
                "service_account_annotations": self.service_account_annotations,
            }
        )
