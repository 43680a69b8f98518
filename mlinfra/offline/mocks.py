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
    "kubernetes:helm.sh/v3:Release": _helm_release,
    **GCP_TABLE,
}


def computed_outputs(
    type_: str, name: str, inputs: dict[str, Any], region: str
) -> tuple[str, dict[str, Any]]:
    """(id, state) for a new resource: its inputs overlaid with what the cloud would compute."""
    fn = TABLE.get(type_)
    if fn is None and type_.startswith("kubernetes:") and not type_.startswith("kubernetes:helm"):
        fn = _k8s_object
    extra = fn(name, inputs, region) if fn else {}
    rid = str(extra.pop("id", None) or f"{name}-{digest(type_, name, n=8)}")
    if type_.startswith("aws:") and "arn" not in extra and "arn" not in inputs:
        service = type_.split(":")[1].split("/")[0]
        extra["arn"] = _arn(service, region, f"{type_.rsplit(':', 1)[-1].lower()}/{rid}")
    return rid, {**inputs, **extra}


def call_outputs(token: str, args: dict[str, Any], region: str) -> dict[str, Any]:
    """Results of data-source invokes the components may use."""
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
