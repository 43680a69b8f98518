"""Deterministic provider-computed outputs for the offline engine.

A real provider computes ids, ARNs, endpoints and issuers after create. Offline, these
come from this table: the same program always yields the same values, so plans diff
cleanly and tests can assert on them. Unknown types get an id and (for AWS) an ARN.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
# A real (self-signed, throwaway) looking CA blob; only its shape matters offline.
FAKE_CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nOFFLINE\n-----END CERTIFICATE-----\n").decode()


def digest(*parts: str, n: int = 17) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:n]


Outputs = Callable[[str, dict[str, Any], str], dict[str, Any]]


def _arn(service: str, region: str, resource: str, account: str = ACCOUNT_ID) -> str:
    return f"arn:aws:{service}:{region}:{account}:{resource}"


def _s3_bucket(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    bucket = inputs.get("bucket") or f"{name}-{digest(name, n=7)}"
    return {
        "id": bucket,
        "bucket": bucket,
        "arn": f"arn:aws:s3:::{bucket}",
        "bucketDomainName": f"{bucket}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{bucket}.s3.{region}.amazonaws.com",
        "region": region,
    }


def _kms_key(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    h = digest("kms", name, n=32)
    key_id = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
    return {"id": key_id, "keyId": key_id, "arn": _arn("kms", region, f"key/{key_id}")}


def _iam_role(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    role = inputs.get("name") or f"{name}-{digest(name, n=7)}"
    return {
        "id": role,
        "name": role,
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{role}",
        "uniqueId": "AROA" + digest(name, n=16).upper(),
    }


def _iam_policy(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    pol = inputs.get("name") or f"{name}-{digest(name, n=7)}"
    arn = f"arn:aws:iam::{ACCOUNT_ID}:policy/{pol}"
    return {"id": arn, "name": pol, "arn": arn}


def _eks_cluster(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    cluster = inputs.get("name") or f"{name}-{digest(name, n=7)}"
    h = digest("eks", cluster, n=32).upper()
    return {
        "id": cluster,
        "name": cluster,
        "arn": _arn("eks", region, f"cluster/{cluster}"),
        "endpoint": f"https://{h}.gr7.{region}.eks.amazonaws.com",
        "certificateAuthority": {"data": FAKE_CA},
        "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{h}"}]}],
        "platformVersion": "eks.1",
        "status": "ACTIVE",
        "vpcConfig": {
            **(inputs.get("vpcConfig") or {}),
            "clusterSecurityGroupId": f"sg-{digest('csg', cluster)}",
        },
    }


def _oidc_provider(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    url = str(inputs.get("url", f"oidc.eks.{region}.amazonaws.com/id/{digest(name, n=32).upper()}"))
    host = url.removeprefix("https://")
    arn = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{host}"
    return {"id": arn, "arn": arn}


def _node_group(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    ng = inputs.get("nodeGroupName") or f"{name}-{digest(name, n=7)}"
    cluster = inputs.get("clusterName", "cluster")
    return {
        "id": f"{cluster}:{ng}",
        "nodeGroupName": ng,
        "arn": _arn("eks", region, f"nodegroup/{cluster}/{ng}/{digest(ng, n=8)}"),
        "status": "ACTIVE",
        "resources": [{"autoscalingGroups": [{"name": f"eks-{ng}-{digest(ng, n=8)}"}]}],
    }


def _ecr_repository(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    repo = inputs.get("name") or name
    return {
        "id": repo,
        "name": repo,
        "arn": _arn("ecr", region, f"repository/{repo}"),
        "registryId": ACCOUNT_ID,
        "repositoryUrl": f"{ACCOUNT_ID}.dkr.ecr.{region}.amazonaws.com/{repo}",
    }


def _prefixed(prefix: str, **extra: Any) -> Outputs:
    def out(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
        rid = f"{prefix}-{digest(prefix, name)}"
        values = {k: (v(rid) if callable(v) else v) for k, v in extra.items()}
        return {"id": rid, **values}

    return out


def _launch_template(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    rid = f"lt-{digest('lt', name)}"
    return {
        "id": rid,
        "latestVersion": 1,
        "defaultVersion": 1,
        "arn": _arn("ec2", region, f"launch-template/{rid}"),
    }


def _log_group(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    group = inputs.get("name") or name
    return {"id": group, "arn": _arn("logs", region, f"log-group:{group}")}


def _random_password(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    length = int(inputs.get("length", 32))
    value = ("offline" + digest("pw", name, n=64))[:length]
    return {"id": "none", "result": value, "bcryptHash": "$2a$10$" + digest(value, n=53)}


def _random_string(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    length = int(inputs.get("length", 8))
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    value = "".join(alphabet[int(c, 16) % len(alphabet)] for c in digest("rs", name, n=64))[:length]
    return {"id": value, "result": value}


def _k8s_object(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    meta = dict(inputs.get("metadata") or {})
    meta.setdefault("name", f"{name}-{digest(name, n=8)}")
    ns = meta.get("namespace")
    meta.setdefault("uid", digest("uid", name, n=32))
    return {"id": f"{ns}/{meta['name']}" if ns else meta["name"], "metadata": meta}


def _helm_release(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    rel = inputs.get("name") or f"{name}-{digest(name, n=8)}"
    ns = inputs.get("namespace", "default")
    return {"id": f"{ns}/{rel}", "name": rel, "status": {"name": rel, "namespace": ns, "status": "deployed"}}


TABLE: dict[str, Outputs] = {
    "aws:s3/bucket:Bucket": _s3_bucket,
    "aws:kms/key:Key": _kms_key,
    "aws:iam/role:Role": _iam_role,
    "aws:iam/policy:Policy": _iam_policy,
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:eks/nodeGroup:NodeGroup": _node_group,
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": _oidc_provider,
    "aws:ecr/repository:Repository": _ecr_repository,
    "aws:ec2/vpc:Vpc": _prefixed("vpc", defaultSecurityGroupId=lambda rid: f"sg-{digest('dsg', rid)}"),
    "aws:ec2/subnet:Subnet": _prefixed("subnet"),
    "aws:ec2/internetGateway:InternetGateway": _prefixed("igw"),
    "aws:ec2/natGateway:NatGateway": _prefixed("nat"),
    "aws:ec2/eip:Eip": _prefixed("eipalloc", publicIp="198.51.100.10"),
    "aws:ec2/routeTable:RouteTable": _prefixed("rtb"),
    "aws:ec2/securityGroup:SecurityGroup": _prefixed("sg"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": _prefixed("vpce"),
    "aws:ec2/flowLog:FlowLog": _prefixed("fl"),
    "aws:ec2/launchTemplate:LaunchTemplate": _launch_template,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "random:index/randomPassword:RandomPassword": _random_password,
    "random:index/randomString:RandomString": _random_string,
    "kubernetes:helm.sh/v3:Release": _helm_release,
}


def computed_outputs(
    type_: str, name: str, inputs: dict[str, Any], region: str, provider: dict[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    """(id, state) for a new resource: its inputs overlaid with what the cloud would compute.

    `provider` holds the inputs of the resource's provider (azure-native: subscription, location).
    """
    if type_.startswith("azure-native:"):
        return azure_outputs(type_, name, inputs, provider or {})
    fn = TABLE.get(type_)
    if fn is None and type_.startswith("kubernetes:") and not type_.startswith("kubernetes:helm"):
        fn = _k8s_object
    extra = fn(name, inputs, region) if fn else {}
    rid = str(extra.pop("id", None) or f"{name}-{digest(type_, name, n=8)}")
    if type_.startswith("aws:") and "arn" not in extra and "arn" not in inputs:
        service = type_.split(":")[1].split("/")[0]
        extra["arn"] = _arn(service, region, f"{type_.rsplit(':', 1)[-1].lower()}/{rid}")
    return rid, {**inputs, **extra}


def call_outputs(
    token: str, args: dict[str, Any], region: str, provider: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Results of data-source invokes the components may use."""
    if token.startswith("azure-native:"):
        return azure_call_outputs(token, args, provider or {})
    if token == "aws:index/getCallerIdentity:getCallerIdentity":
        return {
            "accountId": ACCOUNT_ID,
            "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/offline",
            "userId": "OFFLINE",
        }
    if token == "aws:index/getPartition:getPartition":
        return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
    if token == "aws:index/getRegion:getRegion":
        return {"name": region, "region": region, "id": region}
    return {}


# --------------------------------------------------------------------------- azure-native
#
# Outputs in the shapes the 3.x SDK's output types expect (a list where the SDK takes an input list
# but ARM returns a map would make the SDK raise when a dependent reads it): ARM resource ids under
# the provider's subscription, user-assigned identities as maps keyed by resource id with their
# principal and client ids, the vault URI, versioned and versionless key URIs, the AKS OIDC issuer,
# API server FQDNs and the kubelet identity.

AZURE_SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"
AZURE_TENANT_ID = "11111111-1111-1111-1111-111111111111"
# The identity `pulumi up` runs as (authorization.get_client_config): a deterministic object id.
AZURE_DEPLOYER_OBJECT_ID = "22222222-2222-2222-2222-222222222222"
AZURE_DEFAULT_LOCATION = "eastus"


def guid(*parts: str) -> str:
    h = digest(*parts, n=32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


# type token -> (ARM path below the resource group, with {input} placeholders; name input key)
_AZURE_PATHS: dict[str, tuple[str, str]] = {
    "network:VirtualNetwork": (
        "Microsoft.Network/virtualNetworks/{virtualNetworkName}",
        "virtualNetworkName",
    ),
    "network:Subnet": (
        "Microsoft.Network/virtualNetworks/{virtualNetworkName}/subnets/{subnetName}",
        "subnetName",
    ),
    "network:NetworkSecurityGroup": (
        "Microsoft.Network/networkSecurityGroups/{networkSecurityGroupName}",
        "networkSecurityGroupName",
    ),
    "network:NatGateway": ("Microsoft.Network/natGateways/{natGatewayName}", "natGatewayName"),
    "network:PublicIPAddress": (
        "Microsoft.Network/publicIPAddresses/{publicIpAddressName}",
        "publicIpAddressName",
    ),
    "network:PrivateEndpoint": (
        "Microsoft.Network/privateEndpoints/{privateEndpointName}",
        "privateEndpointName",
    ),
    "network:PrivateDnsZoneGroup": (
        "Microsoft.Network/privateEndpoints/{privateEndpointName}/privateDnsZoneGroups/{privateDnsZoneGroupName}",
        "privateDnsZoneGroupName",
    ),
    "network:FlowLog": (
        "Microsoft.Network/networkWatchers/{networkWatcherName}/flowLogs/{flowLogName}",
        "flowLogName",
    ),
    "privatedns:PrivateZone": ("Microsoft.Network/privateDnsZones/{privateZoneName}", "privateZoneName"),
    "privatedns:VirtualNetworkLink": (
        "Microsoft.Network/privateDnsZones/{privateZoneName}/virtualNetworkLinks/{virtualNetworkLinkName}",
        "virtualNetworkLinkName",
    ),
    "managedidentity:UserAssignedIdentity": (
        "Microsoft.ManagedIdentity/userAssignedIdentities/{resourceName}",
        "resourceName",
    ),
    "managedidentity:FederatedIdentityCredential": (
        "Microsoft.ManagedIdentity/userAssignedIdentities/{resourceName}/federatedIdentityCredentials/"
        "{federatedIdentityCredentialResourceName}",
        "federatedIdentityCredentialResourceName",
    ),
    "keyvault:Vault": ("Microsoft.KeyVault/vaults/{vaultName}", "vaultName"),
    "keyvault:Key": ("Microsoft.KeyVault/vaults/{vaultName}/keys/{keyName}", "keyName"),
    "compute:DiskEncryptionSet": (
        "Microsoft.Compute/diskEncryptionSets/{diskEncryptionSetName}",
        "diskEncryptionSetName",
    ),
    "containerservice:ManagedCluster": (
        "Microsoft.ContainerService/managedClusters/{resourceName}",
        "resourceName",
    ),
    "containerservice:AgentPool": (
        "Microsoft.ContainerService/managedClusters/{resourceName}/agentPools/{agentPoolName}",
        "agentPoolName",
    ),
    "storage:StorageAccount": ("Microsoft.Storage/storageAccounts/{accountName}", "accountName"),
    "storage:BlobServiceProperties": (
        "Microsoft.Storage/storageAccounts/{accountName}/blobServices/{blobServicesName}",
        "blobServicesName",
    ),
    "storage:BlobContainer": (
        "Microsoft.Storage/storageAccounts/{accountName}/blobServices/default/containers/{containerName}",
        "containerName",
    ),
    "storage:ManagementPolicy": (
        "Microsoft.Storage/storageAccounts/{accountName}/managementPolicies/{managementPolicyName}",
        "managementPolicyName",
    ),
    "containerregistry:Registry": ("Microsoft.ContainerRegistry/registries/{registryName}", "registryName"),
    "containerregistry:Task": (
        "Microsoft.ContainerRegistry/registries/{registryName}/tasks/{taskName}",
        "taskName",
    ),
    "operationalinsights:Workspace": (
        "Microsoft.OperationalInsights/workspaces/{workspaceName}",
        "workspaceName",
    ),
}
# Extension resources: their id hangs below the resource (scope) they configure.
_AZURE_EXTENSIONS: dict[str, tuple[str, str, str]] = {
    "authorization:RoleAssignment": (
        "scope",
        "Microsoft.Authorization/roleAssignments",
        "roleAssignmentName",
    ),
    "monitor:DiagnosticSetting": ("resourceUri", "Microsoft.Insights/diagnosticSettings", "name"),
    "consumption:Budget": ("scope", "Microsoft.Consumption/budgets", "budgetName"),
}


def _azure_identity(identity: Any, owner: str) -> Any:
    """ARM's identity block: user-assigned identities as a map id -> {principalId, clientId}, plus a
    principal for a system-assigned identity."""
    if not isinstance(identity, dict):
        return identity
    out = dict(identity)
    uais = identity.get("userAssignedIdentities")
    if isinstance(uais, list | tuple):
        uais = {str(i): {} for i in uais}
    if isinstance(uais, dict):
        out["userAssignedIdentities"] = {
            k: {**(v or {}), "principalId": guid("principal", k), "clientId": guid("client", k)}
            for k, v in uais.items()
        }
    if "SystemAssigned" in str(identity.get("type", "")):
        out["principalId"] = guid("system-principal", owner)
        out["tenantId"] = AZURE_TENANT_ID
    return out


def azure_outputs(
    type_: str, name: str, inputs: dict[str, Any], provider: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    token = type_.removeprefix("azure-native:")
    sub = str(provider.get("subscriptionId") or AZURE_SUBSCRIPTION_ID)
    location = str(inputs.get("location") or provider.get("location") or AZURE_DEFAULT_LOCATION)
    out: dict[str, Any] = {"location": location} if "location" in inputs or token in _AZURE_PATHS else {}
    rg_id = f"/subscriptions/{sub}/resourceGroups/{inputs.get('resourceGroupName', 'rg')}"
    if token == "resources:ResourceGroup":
        rg = inputs.get("resourceGroupName") or f"{name}{digest(name, n=8)}"
        rid, own = f"/subscriptions/{sub}/resourceGroups/{rg}", rg
    elif token in _AZURE_EXTENSIONS:
        scope_key, path, name_key = _AZURE_EXTENSIONS[token]
        own = inputs.get(name_key) or (guid(token, name) if token.startswith("authorization") else name)
        rid = f"{inputs.get(scope_key, rg_id)}/providers/{path}/{own}"
    elif token in _AZURE_PATHS:
        path, name_key = _AZURE_PATHS[token]
        own = inputs.get(name_key) or f"{name}{digest(name, n=8)}"
        values = {k: str(v) for k, v in inputs.items() if isinstance(v, str | int)}
        values[name_key] = own
        try:
            rid = f"{rg_id}/providers/{path.format_map(values)}"
        except KeyError:
            rid = f"{rg_id}/providers/{path.split('/')[0]}/{own}"
    else:
        own = name
        rid = f"{rg_id}/providers/{token.replace(':', '/')}/{name}"
    out.update(id=rid, name=own)
    if "identity" in inputs:
        out["identity"] = _azure_identity(inputs["identity"], rid)
    extra = _AZURE_EXTRA.get(token)
    if extra:
        out.update(extra(own, inputs, location, rid))
    return rid, {**inputs, **out}


def _vault(own: str, inputs: dict[str, Any], location: str, rid: str) -> dict[str, Any]:
    props = dict(inputs.get("properties") or {})
    props["vaultUri"] = f"https://{own}.vault.azure.net/"
    return {"properties": props}


def _key(own: str, inputs: dict[str, Any], location: str, rid: str) -> dict[str, Any]:
    uri = f"https://{inputs.get('vaultName', 'vault')}.vault.azure.net/keys/{own}"
    return {"keyUri": uri, "keyUriWithVersion": f"{uri}/{digest('version', rid, n=32)}"}


def _uai(own: str, inputs: dict[str, Any], location: str, rid: str) -> dict[str, Any]:
    return {
        "clientId": guid("client", rid),
        "principalId": guid("principal", rid),
        "tenantId": AZURE_TENANT_ID,
    }


def _managed_cluster(own: str, inputs: dict[str, Any], location: str, rid: str) -> dict[str, Any]:
    dns = inputs.get("dnsPrefix") or own
    h = digest("aks", rid, n=8)
    profile = {
        k: {
            **(v or {}),
            "resourceId": (v or {}).get("resourceId", ""),
            "objectId": (v or {}).get("objectId", ""),
        }
        for k, v in (inputs.get("identityProfile") or {}).items()
    }
    return {
        "fqdn": f"{dns}-{h}.hcp.{location}.azmk8s.io",
        "privateFQDN": f"{dns}-{h}.privatelink.{location}.azmk8s.io",
        "azurePortalFQDN": f"{dns}-{h}.portal.hcp.{location}.azmk8s.io",
        "oidcIssuerProfile": {
            **(inputs.get("oidcIssuerProfile") or {}),
            "issuerURL": f"https://{location}.oic.prod-aks.azure.com/{AZURE_TENANT_ID}/{guid('oidc', rid)}/",
        },
        "identityProfile": profile,
        "nodeResourceGroup": inputs.get("nodeResourceGroup") or f"MC_{own}",
        "provisioningState": "Succeeded",
    }


def _storage_account(own: str, inputs: dict[str, Any], location: str, rid: str) -> dict[str, Any]:
    return {
        "primaryEndpoints": {
            "blob": f"https://{own}.blob.core.windows.net/",
            "dfs": f"https://{own}.dfs.core.windows.net/",
        }
    }


def _registry(own: str, inputs: dict[str, Any], location: str, rid: str) -> dict[str, Any]:
    return {"loginServer": f"{own.lower()}.azurecr.io"}


def _public_ip(own: str, inputs: dict[str, Any], location: str, rid: str) -> dict[str, Any]:
    return {"ipAddress": f"198.51.100.{int(digest('ip', rid, n=2), 16) % 250 + 1}"}


def _workspace(own: str, inputs: dict[str, Any], location: str, rid: str) -> dict[str, Any]:
    return {"customerId": guid("workspace", rid)}


_AZURE_EXTRA: dict[str, Callable[[str, dict[str, Any], str, str], dict[str, Any]]] = {
    "keyvault:Vault": _vault,
    "keyvault:Key": _key,
    "managedidentity:UserAssignedIdentity": _uai,
    "containerservice:ManagedCluster": _managed_cluster,
    "storage:StorageAccount": _storage_account,
    "containerregistry:Registry": _registry,
    "network:PublicIPAddress": _public_ip,
    "operationalinsights:Workspace": _workspace,
}


def azure_call_outputs(token: str, args: dict[str, Any], provider: dict[str, Any]) -> dict[str, Any]:
    sub = str(provider.get("subscriptionId") or AZURE_SUBSCRIPTION_ID)
    if token == "azure-native:authorization:getClientConfig":
        return {
            "clientId": guid("deployer-client"),
            "objectId": AZURE_DEPLOYER_OBJECT_ID,
            "subscriptionId": sub,
            "tenantId": str(provider.get("tenantId") or AZURE_TENANT_ID),
        }
    if token == "azure-native:containerservice:listManagedClusterUserCredentials":
        cluster = str(args.get("resourceName", "cluster"))
        location = str(provider.get("location") or AZURE_DEFAULT_LOCATION)
        server = f"https://{cluster}-{digest('aks', cluster, n=8)}.hcp.{location}.azmk8s.io:443"
        kubeconfig = (
            "apiVersion: v1\nkind: Config\n"
            f"clusters:\n- name: {cluster}\n  cluster:\n    server: {server}\n"
            f"    certificate-authority-data: {FAKE_CA}\n"
            f"contexts:\n- name: {cluster}\n  context:\n    cluster: {cluster}\n    user: clusterUser_{cluster}\n"
            f"current-context: {cluster}\n"
            f"users:\n- name: clusterUser_{cluster}\n  user:\n    exec:\n"
            "      apiVersion: client.authentication.k8s.io/v1beta1\n      command: kubelogin\n"
            "      args: [get-token, --login, devicecode, --server-id, 6dae42f8-4368-4678-94ff-3960e28e3630]\n"
        )
        return {
            "kubeconfigs": [{"name": "clusterUser", "value": base64.b64encode(kubeconfig.encode()).decode()}]
        }
    return {}
