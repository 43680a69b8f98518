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
    return {}
