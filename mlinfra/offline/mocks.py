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


# ------------------------------------------------------------------ GCP (shapes of the GCP APIs)

DEFAULT_GCP_PROJECT = "offline-project"


def gcp_project_number(project: str) -> str:
    """A 12-digit project number, stable per project ID (real ones are what getProject returns)."""
    return str(int(digest("project-number", project, n=12), 16) % 10**12).rjust(12, "1")


def _gcp_project(inputs: dict[str, Any]) -> str:
    return str(inputs.get("project") or DEFAULT_GCP_PROJECT)


def _gcp_name(name: str, inputs: dict[str, Any], key: str = "name") -> str:
    # Pulumi auto-names GCP resources `<resource name>-<7 hex>` when no name is given.
    return str(inputs.get(key) or f"{name}-{digest(name, n=7)}")


def _gcp_link(path: str, api: str = "compute") -> str:
    return f"https://www.googleapis.com/{api}/v1/{path}"


def _gcp_global(kind: str) -> Outputs:
    """Global compute resources (networks, firewalls): projects/<p>/global/<kind>/<name>."""

    def out(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
        n = _gcp_name(name, inputs)
        path = f"projects/{_gcp_project(inputs)}/global/{kind}/{n}"
        return {"id": path, "name": n, "selfLink": _gcp_link(path)}

    return out


def _gcp_regional(kind: str, **extra: Callable[[str, dict[str, Any]], Any]) -> Outputs:
    """Regional compute resources: projects/<p>/regions/<r>/<kind>/<name>."""

    def out(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
        n = _gcp_name(name, inputs)
        path = f"projects/{_gcp_project(inputs)}/regions/{inputs.get('region') or region}/{kind}/{n}"
        return {
            "id": path,
            "name": n,
            "selfLink": _gcp_link(path),
            **{k: f(n, inputs) for k, f in extra.items()},
        }

    return out


def _subnet_gateway(n: str, inputs: dict[str, Any]) -> str:
    import ipaddress

    cidr = inputs.get("ipCidrRange")
    return str(next(ipaddress.ip_network(cidr).hosts())) if cidr else "10.0.0.1"


def _router_nat(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    n = _gcp_name(name, inputs)
    rid = f"{_gcp_project(inputs)}/{inputs.get('region') or region}/{inputs.get('router')}/{n}"
    return {"id": rid, "name": n}


def _kms_key_ring(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    n = _gcp_name(name, inputs)
    rid = f"projects/{_gcp_project(inputs)}/locations/{inputs.get('location') or region}/keyRings/{n}"
    return {"id": rid, "name": n}


def _kms_crypto_key(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    n = _gcp_name(name, inputs)
    rid = f"{inputs.get('keyRing')}/cryptoKeys/{n}"
    return {"id": rid, "name": n, "primaries": [{"name": f"{rid}/cryptoKeyVersions/1", "state": "ENABLED"}]}


def _gcp_iam_member(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    target = next((str(inputs[k]) for k in _IAM_TARGETS if inputs.get(k)), "target")
    return {
        "id": f"{target}/{inputs.get('role')}/{inputs.get('member')}",
        "etag": "BwY" + digest("etag", name, n=9),
    }


_IAM_TARGETS = ("cryptoKeyId", "bucket", "repository", "serviceAccountId", "project", "managedFolder")


def _service_account(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    project = _gcp_project(inputs)
    email = f"{inputs.get('accountId') or name}@{project}.iam.gserviceaccount.com"
    rid = f"projects/{project}/serviceAccounts/{email}"
    return {
        "id": rid,
        "name": rid,
        "email": email,
        "member": f"serviceAccount:{email}",
        "uniqueId": str(int(digest("sa", email, n=15), 16)).rjust(21, "1")[:21],
    }


# Google-managed service agents: service-<project number>@<domain> (IAM "Service agents" reference).
SERVICE_AGENT_DOMAINS = {
    "artifactregistry.googleapis.com": "gcp-sa-artifactregistry.iam.gserviceaccount.com",
    "container.googleapis.com": "container-engine-robot.iam.gserviceaccount.com",
    "compute.googleapis.com": "compute-system.iam.gserviceaccount.com",
    "storage.googleapis.com": "gs-project-accounts.iam.gserviceaccount.com",
}


def _service_identity(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    project = _gcp_project(inputs)
    service = str(inputs.get("service"))
    domain = SERVICE_AGENT_DOMAINS.get(service, f"gcp-sa-{service.split('.')[0]}.iam.gserviceaccount.com")
    email = f"service-{gcp_project_number(project)}@{domain}"
    return {
        "id": f"projects/{project}/services/{service}",
        "email": email,
        "member": f"serviceAccount:{email}",
    }


def _custom_role(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    """A project custom role: `projects/<project>/roles/<roleId>` (what IAM bindings take)."""
    role = f"projects/{_gcp_project(inputs)}/roles/{inputs.get('roleId')}"
    return {"id": role, "name": role, "deleted": False}


def _gke_cluster(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    import ipaddress

    project = _gcp_project(inputs)
    n = _gcp_name(name, inputs)
    location = inputs.get("location") or region
    pcc = dict(inputs.get("privateClusterConfig") or {})
    cp_range = pcc.get("masterIpv4CidrBlock") or "172.16.0.0/28"
    hosts = list(ipaddress.ip_network(cp_range).hosts())
    pcc.setdefault("privateEndpoint", str(hosts[1]))
    pcc.setdefault("publicEndpoint", "34.118.0." + str(int(digest("ip", n, n=2), 16) % 250 + 2))
    endpoint = pcc["privateEndpoint"] if pcc.get("enablePrivateEndpoint") else pcc["publicEndpoint"]
    endpoints = dict(inputs.get("controlPlaneEndpointsConfig") or {})
    dns = dict(endpoints.get("dnsEndpointConfig") or {})
    # GKE DNS endpoint: gke-<32 hex>-<project number>.<location>.gke.goog
    dns["endpoint"] = (
        f"gke-{digest('dns', project, n, n=32)}-{gcp_project_number(project)}.{location}.gke.goog"
    )
    endpoints["dnsEndpointConfig"] = dns
    path = f"projects/{project}/locations/{location}/clusters/{n}"
    return {
        "id": path,
        "name": n,
        "selfLink": _gcp_link(path, "container"),
        "endpoint": endpoint,
        "privateClusterConfig": pcc,
        "controlPlaneEndpointsConfig": endpoints,
        "masterAuth": {
            **(inputs.get("masterAuth") or {}),
            "clusterCaCertificate": FAKE_CA,
        },
        "masterVersion": inputs.get("minMasterVersion") or "1.33.5-gke.1201000",
        "labelFingerprint": digest("labels", n, n=8),
    }


def _gke_node_pool(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    n = _gcp_name(name, inputs)
    cluster = str(inputs.get("cluster") or "cluster")
    return {
        "id": f"{cluster}/nodePools/{n}",
        "name": n,
        "instanceGroupUrls": [_gcp_link(f"{cluster}/instanceGroupManagers/gke-{n}-{digest(n, n=8)}-grp")],
        "managedInstanceGroupUrls": [_gcp_link(f"{cluster}/instanceGroups/gke-{n}-{digest(n, n=8)}-grp")],
    }


def _gcs_bucket(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    n = _gcp_name(name, inputs)
    return {"id": n, "name": n, "url": f"gs://{n}", "selfLink": _gcp_link(f"b/{n}", "storage")}


def _managed_folder(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    return {"id": f"{inputs.get('bucket')}/{inputs.get('name')}", "selfLink": _gcp_link("folder", "storage")}


def _gar_repository(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    project = _gcp_project(inputs)
    repo = str(inputs.get("repositoryId") or name)
    location = inputs.get("location") or region
    return {
        "id": f"projects/{project}/locations/{location}/repositories/{repo}",
        "name": repo,
        "registryUri": f"{location}-docker.pkg.dev/{project}/{repo}",
    }


def _log_bucket(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    project = str(inputs.get("project") or DEFAULT_GCP_PROJECT).removeprefix("projects/")
    path = f"projects/{project}/locations/{inputs.get('location')}/buckets/{inputs.get('bucketId')}"
    return {"id": path, "name": path}


def _log_sink(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    project = _gcp_project(inputs)
    n = _gcp_name(name, inputs)
    writer = f"serviceAccount:service-{gcp_project_number(project)}@gcp-sa-logging.iam.gserviceaccount.com"
    return {"id": f"projects/{project}/sinks/{n}", "name": n, "writerIdentity": writer}


def _notification_channel(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    path = f"projects/{_gcp_project(inputs)}/notificationChannels/{int(digest('nc', name, n=12), 16)}"
    return {"id": path, "name": path}


def _budget(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    h = digest("budget", name, n=32)
    path = f"billingAccounts/{inputs.get('billingAccount')}/budgets/{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
    return {"id": path, "name": path}


def _random_id(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    size = int(inputs.get("byteLength", 4))
    h = digest("random-id", name, n=2 * size)
    return {
        "id": h,
        "hex": h,
        "dec": str(int(h, 16)),
        "b64Url": base64.urlsafe_b64encode(bytes.fromhex(h)).decode(),
    }


GCP_TABLE: dict[str, Outputs] = {
    "gcp:compute/network:Network": _gcp_global("networks"),
    "gcp:compute/firewall:Firewall": _gcp_global("firewalls"),
    "gcp:compute/subnetwork:Subnetwork": _gcp_regional("subnetworks", gatewayAddress=_subnet_gateway),
    "gcp:compute/router:Router": _gcp_regional("routers"),
    "gcp:compute/address:Address": _gcp_regional(
        "addresses", address=lambda n, i: "203.0.113." + str(int(digest("address", n, n=2), 16) % 250 + 2)
    ),
    "gcp:compute/routerNat:RouterNat": _router_nat,
    "gcp:kms/keyRing:KeyRing": _kms_key_ring,
    "gcp:kms/cryptoKey:CryptoKey": _kms_crypto_key,
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": _gcp_iam_member,
    "gcp:projects/iAMMember:IAMMember": _gcp_iam_member,
    "gcp:serviceaccount/iAMMember:IAMMember": _gcp_iam_member,
    "gcp:storage/bucketIAMMember:BucketIAMMember": _gcp_iam_member,
    "gcp:storage/managedFolderIamMember:ManagedFolderIamMember": _gcp_iam_member,
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": _gcp_iam_member,
    "gcp:serviceaccount/account:Account": _service_account,
    "gcp:projects/serviceIdentity:ServiceIdentity": _service_identity,
    "gcp:projects/iAMCustomRole:IAMCustomRole": _custom_role,
    "gcp:container/cluster:Cluster": _gke_cluster,
    "gcp:container/nodePool:NodePool": _gke_node_pool,
    "gcp:storage/bucket:Bucket": _gcs_bucket,
    "gcp:storage/managedFolder:ManagedFolder": _managed_folder,
    "gcp:artifactregistry/repository:Repository": _gar_repository,
    "gcp:logging/projectBucketConfig:ProjectBucketConfig": _log_bucket,
    "gcp:logging/projectSink:ProjectSink": _log_sink,
    "gcp:monitoring/notificationChannel:NotificationChannel": _notification_channel,
    "gcp:billing/budget:Budget": _budget,
    "random:index/randomId:RandomId": _random_id,
}


def _gcp_calls(token: str, args: dict[str, Any], region: str) -> dict[str, Any] | None:
    project = str(args.get("projectId") or args.get("project") or DEFAULT_GCP_PROJECT)
    number = gcp_project_number(project)
    if token == "gcp:organizations/getProject:getProject":
        return {"id": f"projects/{project}", "projectId": project, "number": number, "name": project}
    if token == "gcp:storage/getProjectServiceAccount:getProjectServiceAccount":
        email = f"service-{number}@{SERVICE_AGENT_DOMAINS['storage.googleapis.com']}"
        return {"id": email, "emailAddress": email, "member": f"serviceAccount:{email}", "project": project}
    if token == "gcp:container/getEngineVersions:getEngineVersions":
        # Shape of projects.locations.getServerConfig; versions follow the requested prefix.
        prefix = str(args.get("versionPrefix") or "1.33.")
        default, latest = f"{prefix}5-gke.1201000", f"{prefix}5-gke.1308000"
        channels = ("RAPID", "REGULAR", "STABLE", "EXTENDED")
        return {
            "id": f"projects/{project}/locations/{args.get('location') or region}",
            "location": args.get("location") or region,
            "versionPrefix": prefix,
            "defaultClusterVersion": default,
            "latestMasterVersion": latest,
            "latestNodeVersion": latest,
            "validMasterVersions": [latest, default],
            "validNodeVersions": [latest, default],
            "releaseChannelDefaultVersion": dict.fromkeys(channels, default),
            "releaseChannelLatestVersion": dict.fromkeys(channels, latest),
            "releaseChannelUpgradeTargetVersion": dict.fromkeys(channels, latest),
        }
    return None


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
    **GCP_TABLE,
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
    return _gcp_calls(token, args, region) or {}


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
