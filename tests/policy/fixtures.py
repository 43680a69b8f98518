"""Compliant resources per rule, in the engine's camelCase property names (as CrossGuard delivers them),
and the one-property mutations each rule must flag. AWS and Kubernetes names are checked against the
installed SDKs (pulumi_aws 7, pulumi_kubernetes 4, pulumi-gcp 10: the GCP paths are those mlinfra.gcp
writes, checked again on the planned GCP stacks in tests/gcp/test_policy_paths.py); Azure (azure-native 3)
names follow their documented schemas."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

DELETE = object()
BUCKET = "acme-prod-artifacts"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TAGS = {"owner": "ml-platform", "cost-center": "cc-1234", "environment": "prod", "managed-by": "mlinfra"}


@dataclass
class R:
    type: str
    name: str
    props: dict[str, Any]
    protect: bool = False
    dependencies: tuple[str, ...] = ()

    @property
    def urn(self) -> str:
        return f"urn:pulumi:prod::mlinfra::{self.type}::{self.name}"


@dataclass
class Case:
    id: str
    rule: str
    env: str
    resources: list[R]
    target: int  # index of the resource the mutation changes (and that must be flagged)
    path: tuple[str | int, ...]  # () with attr="protect" for resource options
    value: Any
    attr: str = "props"


def tls_policy(effect: str = "Deny", secure: str = "false") -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": effect,
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": secure}},
                }
            ],
        }
    )


def s3_stack() -> list[R]:
    b = R("aws:s3/bucket:Bucket", "artifacts", {"bucket": BUCKET, "tags": TAGS}, protect=True)
    dep = (b.urn,)
    return [
        b,
        R(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "artifacts-sse",
            {
                "bucket": BUCKET,
                "rules": [
                    {
                        "applyServerSideEncryptionByDefault": {
                            "sseAlgorithm": "aws:kms",
                            "kmsMasterKeyId": KEY_ARN,
                        },
                        "bucketKeyEnabled": True,
                    }
                ],
            },
            dependencies=dep,
        ),
        R(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            "artifacts-pab",
            {
                "bucket": BUCKET,
                "blockPublicAcls": True,
                "blockPublicPolicy": True,
                "ignorePublicAcls": True,
                "restrictPublicBuckets": True,
            },
            dependencies=dep,
        ),
        R(
            "aws:s3/bucketPolicy:BucketPolicy",
            "artifacts-policy",
            {"bucket": BUCKET, "policy": tls_policy()},
            dependencies=dep,
        ),
    ]


def log_target_stack() -> list[R]:
    """A server-access-log bucket: S3 only delivers logs to SSE-S3 (AES256) buckets."""
    logs = R("aws:s3/bucket:Bucket", "logs", {"bucket": f"{BUCKET}-logs", "tags": TAGS}, protect=True)
    return [
        logs,
        R(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "logs-sse",
            {
                "bucket": f"{BUCKET}-logs",
                "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}],
            },
        ),
        R(
            "aws:s3/bucketLogging:BucketLogging",
            "artifacts-logging",
            {"bucket": BUCKET, "targetBucket": f"{BUCKET}-logs", "targetPrefix": "access-logs/"},
        ),
    ]


def gcs() -> R:
    return R(
        "gcp:storage/bucket:Bucket",
        "gcs",
        {
            "name": "acme-prod-artifacts",
            "location": "US-CENTRAL1",
            "publicAccessPrevention": "enforced",
            "uniformBucketLevelAccess": True,
            "encryption": {"defaultKmsKeyName": "projects/p/locations/us-central1/keyRings/r/cryptoKeys/k"},
            "labels": TAGS,
        },
        protect=True,
    )


def azure_storage() -> R:
    return R(
        "azure-native:storage:StorageAccount",
        "sa",
        {
            "accountName": "acmeprodartifacts",
            "kind": "StorageV2",
            "enableHttpsTrafficOnly": True,
            "minimumTlsVersion": "TLS1_2",
            "allowBlobPublicAccess": False,
            "allowSharedKeyAccess": False,
            "encryption": {
                "keySource": "Microsoft.Keyvault",
                "keyVaultProperties": {"keyName": "artifacts", "keyVaultUri": "https://kv.vault.azure.net"},
            },
            "tags": TAGS,
        },
        protect=True,
    )


def ecr() -> R:
    return R(
        "aws:ecr/repository:Repository",
        "models",
        {
            "name": "acme/models",
            "imageTagMutability": "IMMUTABLE",
            "imageScanningConfiguration": {"scanOnPush": True},
            "encryptionConfigurations": [{"encryptionType": "KMS", "kmsKey": KEY_ARN}],
            "tags": TAGS,
        },
        protect=True,
    )


def eks() -> R:
    return R(
        "aws:eks/cluster:Cluster",
        "cluster",
        {
            "name": "acme-prod",
            "roleArn": "arn:aws:iam::123456789012:role/eks",
            "version": "1.33",
            "vpcConfig": {
                "subnetIds": ["subnet-a", "subnet-b"],
                "endpointPrivateAccess": True,
                "endpointPublicAccess": False,
            },
            "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": KEY_ARN}},
            "tags": TAGS,
        },
        protect=True,
    )


def gke() -> R:
    return R(
        "gcp:container/cluster:Cluster",
        "gke",
        {
            "name": "acme-prod",
            "location": "us-central1",
            "removeDefaultNodePool": True,
            "initialNodeCount": 1,
            "privateClusterConfig": {
                "enablePrivateNodes": True,
                "enablePrivateEndpoint": True,
                "masterIpv4CidrBlock": "172.16.0.0/28",
            },
            "databaseEncryption": {
                "state": "ENCRYPTED",
                "keyName": "projects/p/locations/l/keyRings/r/cryptoKeys/k",
            },
            "workloadIdentityConfig": {"workloadPool": "p.svc.id.goog"},
            "resourceLabels": TAGS,
        },
        protect=True,
    )


def aks() -> R:
    return R(
        "azure-native:containerservice:ManagedCluster",
        "aks",
        {
            "resourceName": "acme-prod",
            "disableLocalAccounts": True,
            "apiServerAccessProfile": {"enablePrivateCluster": True},
            "securityProfile": {
                "workloadIdentity": {"enabled": True},
                "azureKeyVaultKms": {"enabled": True, "keyId": "https://kv.vault.azure.net/keys/k/1"},
            },
            "oidcIssuerProfile": {"enabled": True},
            "agentPoolProfiles": [
                {
                    "name": "system",
                    "mode": "System",
                    "vmSize": "Standard_D4s_v5",
                    "enableEncryptionAtHost": True,
                    "enableNodePublicIP": False,
                }
            ],
            "tags": TAGS,
        },
        protect=True,
    )


def launch_template() -> R:
    return R(
        "aws:ec2/launchTemplate:LaunchTemplate",
        "gpu-lt",
        {
            "metadataOptions": {
                "httpEndpoint": "enabled",
                "httpTokens": "required",
                "httpPutResponseHopLimit": 2,
            },
            "blockDeviceMappings": [
                {
                    "deviceName": "/dev/xvda",
                    "ebs": {"encrypted": "true", "kmsKeyId": KEY_ARN, "volumeSize": 200, "volumeType": "gp3"},
                }
            ],
            "networkInterfaces": [{"associatePublicIpAddress": "false"}],
            "tags": TAGS,
        },
    )


def node_group(capacity: str = "ON_DEMAND", name: str = "gpu-a10g") -> R:
    return R(
        "aws:eks/nodeGroup:NodeGroup",
        name,
        {
            "clusterName": "acme-prod",
            "nodeRoleArn": "arn:aws:iam::123456789012:role/node",
            "subnetIds": ["subnet-a"],
            "amiType": "AL2023_x86_64_NVIDIA",
            "instanceTypes": ["g5.2xlarge"],
            "capacityType": capacity,
            "scalingConfig": {"minSize": 1, "desiredSize": 1, "maxSize": 4},
            "launchTemplate": {"id": "lt-0123", "version": "1"},
            "tags": TAGS,
        },
    )


def kms_key() -> R:
    return R(
        "aws:kms/key:Key",
        "key",
        {"enableKeyRotation": True, "deletionWindowInDays": 30, "rotationPeriodInDays": 365, "tags": TAGS},
        protect=True,
    )


def iam_policy(statement: dict[str, Any]) -> R:
    return R(
        "aws:iam/policy:Policy",
        "serving-read",
        {"policy": json.dumps({"Version": "2012-10-17", "Statement": [statement]}), "tags": TAGS},
    )


READ_MODELS = {
    "Sid": "ReadModels",
    "Effect": "Allow",
    "Action": ["s3:GetObject", "s3:ListBucket"],
    "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/models/*"],
}

LABELS = {"owner": "ml-platform", "cost-center": "cc-1234", "environment": "prod"}
RESTRICTED_SC = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
}


def container(gpu: bool = False, nonroot: bool = False) -> dict[str, Any]:
    limits: dict[str, Any] = {"cpu": "2", "memory": "8Gi"}
    if gpu:
        limits["nvidia.com/gpu"] = "1"
    return {
        "name": "server",
        "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/acme/serving:1.4.2",
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "2", "memory": "8Gi"}, "limits": limits},
        "securityContext": dict(RESTRICTED_SC)
        if nonroot
        else {k: v for k, v in RESTRICTED_SC.items() if k != "runAsNonRoot"},
    }


def deployment(gpu: bool = False, container_nonroot: bool = False) -> R:
    spec: dict[str, Any] = {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container(gpu, nonroot=container_nonroot)],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}],
    }
    if gpu:
        spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
        spec["nodeSelector"] = {"mlinfra.io/pool": "a10g"}
    return R(
        "kubernetes:apps/v1:Deployment",
        "llm",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "llm", "namespace": "serving", "labels": dict(LABELS)},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "llm"}},
                "template": {"metadata": {"labels": {"app": "llm"}}, "spec": spec},
            },
        },
    )


def inference_service() -> R:
    return R(
        "kubernetes:serving.kserve.io/v1beta1:InferenceService",
        "llama",
        {
            "apiVersion": "serving.kserve.io/v1beta1",
            "kind": "InferenceService",
            "metadata": {"name": "llama", "namespace": "serving", "labels": dict(LABELS)},
            "spec": {
                "predictor": {
                    "minReplicas": 1,
                    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                    "model": {
                        "modelFormat": {"name": "huggingface"},
                        "storageUri": f"s3://{BUCKET}/models/llama/",
                        "resources": {
                            "requests": {"cpu": "4", "memory": "16Gi"},
                            "limits": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
                        },
                        "securityContext": dict(RESTRICTED_SC),
                    },
                }
            },
        },
    )


def service(annotations: dict[str, str] | None = None) -> R:
    return R(
        "kubernetes:core/v1:Service",
        "gateway",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "gateway",
                "namespace": "serving",
                "labels": dict(LABELS),
                "annotations": annotations
                or {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"},
            },
            "spec": {"type": "LoadBalancer", "ports": [{"port": 443, "targetPort": 8443}]},
        },
    )


def ingress_nginx() -> R:
    return R(
        "kubernetes:helm.sh/v3:Release",
        "ingress-nginx",
        {
            "chart": "ingress-nginx",
            "version": "4.12.1",
            "namespace": "ingress",
            "repositoryOpts": {"repo": "https://kubernetes.github.io/ingress-nginx"},
            "values": {
                "controller": {
                    "service": {
                        "type": "LoadBalancer",
                        "annotations": {
                            "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
                            "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
                        },
                    }
                }
            },
        },
    )


def ingress() -> R:
    return R(
        "kubernetes:networking.k8s.io/v1:Ingress",
        "llama",
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "llama", "namespace": "serving", "labels": dict(LABELS)},
            "spec": {
                "ingressClassName": "nginx",
                "tls": [{"hosts": ["llama.models.example.com"], "secretName": "llama-tls"}],
                "rules": [
                    {
                        "host": "llama.models.example.com",
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": "llama", "port": {"number": 80}}},
                                }
                            ]
                        },
                    }
                ],
            },
        },
    )


def gcp_key() -> R:
    return R(
        "gcp:kms/cryptoKey:CryptoKey",
        "gkey",
        {
            "keyRing": "projects/p/locations/l/keyRings/r",
            "rotationPeriod": "7776000s",
            "destroyScheduledDuration": "2592000s",
            "labels": TAGS,
        },
        protect=True,
    )


def gke_pool() -> R:
    return R(
        "gcp:container/nodePool:NodePool",
        "gke-gpu",
        {
            "cluster": "acme-prod",
            "autoscaling": {"minNodeCount": 0, "maxNodeCount": 4},
            "networkConfig": {"enablePrivateNodes": True},
            "nodeConfig": {
                "machineType": "g2-standard-8",
                "spot": False,
                "bootDiskKmsKey": "projects/p/k",
                "guestAccelerators": [{"type": "nvidia-l4", "count": 1}],
                "workloadMetadataConfig": {"mode": "GKE_METADATA"},
                "resourceLabels": TAGS,
            },
        },
    )


def gar() -> R:
    """An Artifact Registry Docker repository as mlinfra.gcp.registry writes it (pulumi-gcp 10 names)."""
    return R(
        "gcp:artifactregistry/repository:Repository",
        "gar",
        {
            "repositoryId": "acme-prod-models",
            "location": "us-central1",
            "format": "DOCKER",
            "mode": "STANDARD_REPOSITORY",
            "kmsKeyName": "projects/p/locations/us-central1/keyRings/r/cryptoKeys/registry",
            "dockerConfig": {"immutableTags": True},
            "vulnerabilityScanningConfig": {"enablementConfig": "INHERITED"},
            "labels": TAGS,
        },
        protect=True,
    )


def gke_public_dev() -> R:
    """A dev GKE cluster whose IP endpoint is public to one listed range (api_access: public)."""
    c = gke()
    c.props["privateClusterConfig"]["enablePrivateEndpoint"] = False
    c.props["masterAuthorizedNetworksConfig"] = {
        "cidrBlocks": [{"cidrBlock": "203.0.113.0/24", "displayName": "office"}],
        "gcpPublicCidrsAccessEnabled": False,
    }
    return c


def gcp_grant(type_: str, **props: Any) -> R:
    return R(
        type_,
        "grant",
        {
            "role": "roles/storage.objectViewer",
            "member": "serviceAccount:sa@p.iam.gserviceaccount.com",
            **props,
        },
    )


def aks_pool() -> R:
    return R(
        "azure-native:containerservice:AgentPool",
        "aks-gpu",
        {
            "agentPoolName": "gpu",
            "vmSize": "Standard_NC24ads_A100_v4",
            "maxCount": 4,
            "minCount": 0,
            "enableAutoScaling": True,
            "scaleSetPriority": "Regular",
            "enableEncryptionAtHost": True,
            "enableNodePublicIP": False,
        },
    )


def acr() -> R:
    return R(
        "azure-native:containerregistry:Registry",
        "acr",
        {
            "sku": {"name": "Premium"},
            "adminUserEnabled": False,
            "anonymousPullEnabled": False,
            "encryption": {"status": "enabled", "keyVaultProperties": {"keyIdentifier": "https://kv/keys/k"}},
            "tags": TAGS,
        },
        protect=True,
    )


def oidc() -> R:
    return R(
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
        "oidc",
        {
            "url": "https://oidc.eks.us-east-1.amazonaws.com/id/ABC",
            "clientIdLists": ["sts.amazonaws.com"],
            "tags": TAGS,
        },
    )


SSE, PAB, POL = 1, 2, 3
CASES: list[Case] = [
    # ---------------------------------------------------------------- encryption
    Case(
        "s3-sse-algorithm",
        "storage-cmk-encryption",
        "prod",
        s3_stack(),
        SSE,
        ("rules", 0, "applyServerSideEncryptionByDefault", "sseAlgorithm"),
        "AES256",
    ),
    Case(
        "s3-sse-key",
        "storage-cmk-encryption",
        "prod",
        s3_stack(),
        SSE,
        ("rules", 0, "applyServerSideEncryptionByDefault", "kmsMasterKeyId"),
        DELETE,
    ),
    Case("s3-sse-join", "storage-cmk-encryption", "prod", s3_stack(), SSE, ("bucket",), "another-bucket"),
    Case(
        "s3-log-target-aes256",
        "storage-cmk-encryption",
        "prod",
        log_target_stack(),
        1,
        ("rules", 0, "applyServerSideEncryptionByDefault", "sseAlgorithm"),
        "aws:kms",
    ),
    Case(
        "s3-log-target-join", "storage-cmk-encryption", "prod", log_target_stack(), 2, ("targetBucket",), "x"
    ),
    Case(
        "gcs-kms", "storage-cmk-encryption", "prod", [gcs()], 0, ("encryption", "defaultKmsKeyName"), DELETE
    ),
    Case(
        "azure-cmk",
        "storage-cmk-encryption",
        "staging",
        [azure_storage()],
        0,
        ("encryption", "keySource"),
        "Microsoft.Storage",
    ),
    Case(
        "s3-tls-condition", "storage-tls-only", "dev", s3_stack(), POL, ("policy",), tls_policy(secure="true")
    ),
    Case(
        "s3-tls-effect", "storage-tls-only", "dev", s3_stack(), POL, ("policy",), tls_policy(effect="Allow")
    ),
    Case("azure-https", "storage-tls-only", "dev", [azure_storage()], 0, ("enableHttpsTrafficOnly",), False),
    Case("azure-tls", "storage-tls-only", "dev", [azure_storage()], 0, ("minimumTlsVersion",), "TLS1_0"),
    Case(
        "ecr-kms",
        "registry-cmk-encryption",
        "prod",
        [ecr()],
        0,
        ("encryptionConfigurations", 0, "encryptionType"),
        "AES256",
    ),
    Case(
        "ecr-kms-key",
        "registry-cmk-encryption",
        "prod",
        [ecr()],
        0,
        ("encryptionConfigurations", 0, "kmsKey"),
        DELETE,
    ),
    Case("acr-cmk", "registry-cmk-encryption", "prod", [acr()], 0, ("encryption", "status"), "disabled"),
    Case(
        "eks-secrets", "cluster-secrets-encryption", "dev", [eks()], 0, ("encryptionConfig", "resources"), []
    ),
    Case(
        "eks-secrets-key",
        "cluster-secrets-encryption",
        "dev",
        [eks()],
        0,
        ("encryptionConfig", "provider", "keyArn"),
        DELETE,
    ),
    Case(
        "gke-db-encryption",
        "cluster-secrets-encryption",
        "dev",
        [gke()],
        0,
        ("databaseEncryption", "state"),
        "DECRYPTED",
    ),
    Case(
        "aks-kms",
        "cluster-secrets-encryption",
        "dev",
        [aks()],
        0,
        ("securityProfile", "azureKeyVaultKms", "enabled"),
        False,
    ),
    Case("kms-rotation", "kms-key-rotation", "prod", [kms_key()], 0, ("enableKeyRotation",), False),
    Case("kms-window-prod", "kms-key-rotation", "prod", [kms_key()], 0, ("deletionWindowInDays",), 14),
    Case("kms-window-dev", "kms-key-rotation", "dev", [kms_key()], 0, ("deletionWindowInDays",), 5),
    Case("gcp-key-rotation", "kms-key-rotation", "prod", [gcp_key()], 0, ("rotationPeriod",), DELETE),
    Case(
        "lt-ebs-encrypted",
        "node-disk-encryption",
        "dev",
        [launch_template()],
        0,
        ("blockDeviceMappings", 0, "ebs", "encrypted"),
        "false",
    ),
    Case("nodegroup-lt", "node-disk-encryption", "dev", [node_group()], 0, ("launchTemplate",), DELETE),
    Case(
        "gke-boot-disk",
        "node-disk-encryption",
        "dev",
        [gke_pool()],
        0,
        ("nodeConfig", "bootDiskKmsKey"),
        DELETE,
    ),
    Case(
        "aks-host-encryption",
        "node-disk-encryption",
        "dev",
        [aks_pool()],
        0,
        ("enableEncryptionAtHost",),
        False,
    ),
    Case(
        "aks-profile-host-encryption",
        "node-disk-encryption",
        "dev",
        [aks()],
        0,
        ("agentPoolProfiles", 0, "enableEncryptionAtHost"),
        False,
    ),
    # ---------------------------------------------------------------- access
    Case("s3-pab-flag", "no-public-buckets", "dev", s3_stack(), PAB, ("restrictPublicBuckets",), False),
    Case("s3-pab-join", "no-public-buckets", "dev", s3_stack(), PAB, ("bucket",), "another-bucket"),
    Case("gcs-pap", "no-public-buckets", "dev", [gcs()], 0, ("publicAccessPrevention",), "inherited"),
    Case("gcs-ubla", "no-public-buckets", "dev", [gcs()], 0, ("uniformBucketLevelAccess",), False),
    Case(
        "azure-blob-public",
        "no-public-buckets",
        "dev",
        [azure_storage()],
        0,
        ("allowBlobPublicAccess",),
        True,
    ),
    Case(
        "azure-shared-key", "no-public-buckets", "dev", [azure_storage()], 0, ("allowSharedKeyAccess",), True
    ),
    Case(
        "gcs-all-users",
        "no-public-iam-members",
        "dev",
        [
            R(
                "gcp:storage/bucketIAMMember:BucketIAMMember",
                "reader",
                {
                    "bucket": BUCKET,
                    "role": "roles/storage.objectViewer",
                    "member": "serviceAccount:sa@p.iam.gserviceaccount.com",
                },
            )
        ],
        0,
        ("member",),
        "allUsers",
    ),
    Case(
        "eks-public-prod",
        "private-cluster-endpoint",
        "prod",
        [eks()],
        0,
        ("vpcConfig", "endpointPublicAccess"),
        True,
    ),
    Case(
        "eks-private-access",
        "private-cluster-endpoint",
        "prod",
        [eks()],
        0,
        ("vpcConfig", "endpointPrivateAccess"),
        False,
    ),
    Case(
        "eks-dev-open-cidr",
        "private-cluster-endpoint",
        "dev",
        [
            R(
                eks().type,
                "cluster",
                {
                    **eks().props,
                    "vpcConfig": {
                        "subnetIds": ["s"],
                        "endpointPrivateAccess": True,
                        "endpointPublicAccess": True,
                        "publicAccessCidrs": ["203.0.113.0/24"],
                    },
                },
            )
        ],
        0,
        ("vpcConfig", "publicAccessCidrs"),
        ["0.0.0.0/0"],
    ),
    Case(
        "gke-private-endpoint",
        "private-cluster-endpoint",
        "prod",
        [gke()],
        0,
        ("privateClusterConfig", "enablePrivateEndpoint"),
        False,
    ),
    Case(
        "aks-private",
        "private-cluster-endpoint",
        "staging",
        [aks()],
        0,
        ("apiServerAccessProfile", "enablePrivateCluster"),
        False,
    ),
    Case("ecr-mutable", "ecr-immutable-scanned", "dev", [ecr()], 0, ("imageTagMutability",), "MUTABLE"),
    Case(
        "ecr-scan",
        "ecr-immutable-scanned",
        "dev",
        [ecr()],
        0,
        ("imageScanningConfiguration", "scanOnPush"),
        False,
    ),
    Case("acr-admin", "acr-no-admin-or-anonymous", "dev", [acr()], 0, ("adminUserEnabled",), True),
    Case("acr-anonymous", "acr-no-admin-or-anonymous", "dev", [acr()], 0, ("anonymousPullEnabled",), True),
    Case(
        "trust-star",
        "no-wildcard-principal",
        "dev",
        [
            R(
                "aws:iam/role:Role",
                "node",
                {
                    "assumeRolePolicy": json.dumps(
                        {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Principal": {"Service": "ec2.amazonaws.com"},
                                    "Action": "sts:AssumeRole",
                                }
                            ],
                        }
                    ),
                    "tags": TAGS,
                },
            )
        ],
        0,
        ("assumeRolePolicy",),
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
            }
        ),
    ),
    Case(
        "bucket-policy-star",
        "no-wildcard-principal",
        "dev",
        s3_stack()[POL:],
        0,
        ("policy",),
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{BUCKET}/*",
                    }
                ],
            }
        ),
    ),
    Case(
        "iam-s3-star",
        "iam-least-privilege",
        "dev",
        [iam_policy(READ_MODELS)],
        0,
        ("policy",),
        json.dumps({"Version": "2012-10-17", "Statement": [{**READ_MODELS, "Action": "s3:*"}]}),
    ),
    Case(
        "iam-resource-star",
        "iam-least-privilege",
        "dev",
        [iam_policy(READ_MODELS)],
        0,
        ("policy",),
        json.dumps({"Version": "2012-10-17", "Statement": [{**READ_MODELS, "Resource": "*"}]}),
    ),
    Case(
        "iam-action-star",
        "iam-least-privilege",
        "dev",
        [iam_policy(READ_MODELS)],
        0,
        ("policy",),
        json.dumps({"Version": "2012-10-17", "Statement": [{**READ_MODELS, "Action": "*"}]}),
    ),
    Case(
        "iam-iam-star",
        "iam-least-privilege",
        "dev",
        [iam_policy(READ_MODELS)],
        0,
        ("policy",),
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    READ_MODELS,
                    {"Effect": "Allow", "Action": "iam:*", "Resource": "arn:aws:iam::123456789012:role/x"},
                ],
            }
        ),
    ),
    Case(
        "iam-passrole-star",
        "iam-least-privilege",
        "dev",
        [iam_policy(READ_MODELS)],
        0,
        ("policy",),
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [READ_MODELS, {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}],
            }
        ),
    ),
    Case(
        "iam-managed-full",
        "iam-least-privilege",
        "dev",
        [
            R(
                "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                "node-ecr",
                {"role": "node", "policyArn": "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"},
            )
        ],
        0,
        ("policyArn",),
        "arn:aws:iam::aws:policy/AmazonS3FullAccess",
    ),
    Case(
        "imdsv1",
        "imdsv2-required",
        "dev",
        [launch_template()],
        0,
        ("metadataOptions", "httpTokens"),
        "optional",
    ),
    Case(
        "lt-public-ip",
        "no-node-public-ip",
        "dev",
        [launch_template()],
        0,
        ("networkInterfaces", 0, "associatePublicIpAddress"),
        "true",
    ),
    Case(
        "gke-private-nodes",
        "no-node-public-ip",
        "dev",
        [gke()],
        0,
        ("privateClusterConfig", "enablePrivateNodes"),
        False,
    ),
    Case("aks-node-public-ip", "no-node-public-ip", "dev", [aks_pool()], 0, ("enableNodePublicIP",), True),
    Case(
        "aks-profile-public-ip",
        "no-node-public-ip",
        "dev",
        [aks()],
        0,
        ("agentPoolProfiles", 0, "enableNodePublicIP"),
        True,
    ),
    Case(
        "aks-local-accounts",
        "aks-local-accounts-disabled",
        "dev",
        [aks()],
        0,
        ("disableLocalAccounts",),
        False,
    ),
    Case("eks-irsa", "workload-identity", "dev", [eks(), oidc()], 1, ("__type__",), "aws:iam/user:User"),
    Case(
        "gke-wi", "workload-identity", "dev", [gke()], 0, ("workloadIdentityConfig", "workloadPool"), DELETE
    ),
    Case(
        "gke-metadata",
        "workload-identity",
        "dev",
        [gke_pool()],
        0,
        ("nodeConfig", "workloadMetadataConfig", "mode"),
        "GCE_METADATA",
    ),
    Case(
        "aks-wi",
        "workload-identity",
        "dev",
        [aks()],
        0,
        ("securityProfile", "workloadIdentity", "enabled"),
        False,
    ),
    # ---------------------------------------------------------------- kubernetes
    Case(
        "psa-nonroot",
        "pod-security-restricted",
        "prod",
        [deployment()],
        0,
        ("spec", "template", "spec", "securityContext", "runAsNonRoot"),
        DELETE,
    ),
    # Pod Security `restricted` checks the pod's own runAsNonRoot: false there is a violation even
    # when every container sets true (pod-security-admission, policy/check_runAsNonRoot.go).
    Case(
        "psa-pod-nonroot-false",
        "pod-security-restricted",
        "prod",
        [deployment(container_nonroot=True)],
        0,
        ("spec", "template", "spec", "securityContext", "runAsNonRoot"),
        False,
    ),
    Case(
        "psa-kserve-pod-nonroot-false",
        "pod-security-restricted",
        "prod",
        [inference_service()],
        0,
        ("spec", "predictor", "securityContext", "runAsNonRoot"),
        False,
    ),
    Case(
        "psa-hostpath-volume",
        "pod-security-restricted",
        "prod",
        [deployment()],
        0,
        ("spec", "template", "spec", "volumes", 0),
        {"name": "tmp", "hostPath": {"path": "/var/run"}},
    ),
    Case(
        "psa-host-port",
        "pod-security-restricted",
        "prod",
        [deployment()],
        0,
        ("spec", "template", "spec", "containers", 0, "ports", 0, "hostPort"),
        8080,
    ),
    Case(
        "psa-container-nonroot",
        "pod-security-restricted",
        "prod",
        [deployment()],
        0,
        ("spec", "template", "spec", "containers", 0, "securityContext", "runAsNonRoot"),
        False,
    ),
    Case(
        "psa-escalation",
        "pod-security-restricted",
        "prod",
        [deployment()],
        0,
        ("spec", "template", "spec", "containers", 0, "securityContext", "allowPrivilegeEscalation"),
        True,
    ),
    Case(
        "psa-drop-all",
        "pod-security-restricted",
        "prod",
        [deployment()],
        0,
        ("spec", "template", "spec", "containers", 0, "securityContext", "capabilities", "drop"),
        ["NET_RAW"],
    ),
    Case(
        "psa-seccomp",
        "pod-security-restricted",
        "prod",
        [deployment()],
        0,
        ("spec", "template", "spec", "securityContext", "seccompProfile", "type"),
        "Unconfined",
    ),
    Case(
        "psa-readonly-root",
        "pod-security-restricted",
        "prod",
        [deployment()],
        0,
        ("spec", "template", "spec", "containers", 0, "securityContext", "readOnlyRootFilesystem"),
        False,
    ),
    Case(
        "psa-kserve",
        "pod-security-restricted",
        "prod",
        [inference_service()],
        0,
        ("spec", "predictor", "model", "securityContext", "allowPrivilegeEscalation"),
        True,
    ),
    Case(
        "requests",
        "resource-requests-limits",
        "dev",
        [deployment()],
        0,
        ("spec", "template", "spec", "containers", 0, "resources", "requests", "memory"),
        DELETE,
    ),
    Case(
        "limits",
        "resource-requests-limits",
        "dev",
        [deployment()],
        0,
        ("spec", "template", "spec", "containers", 0, "resources", "limits"),
        DELETE,
    ),
    Case(
        "kserve-limits",
        "resource-requests-limits",
        "dev",
        [inference_service()],
        0,
        ("spec", "predictor", "model", "resources", "limits", "cpu"),
        DELETE,
    ),
    Case(
        "gpu-toleration",
        "gpu-pod-scheduling",
        "dev",
        [deployment(gpu=True)],
        0,
        ("spec", "template", "spec", "tolerations"),
        DELETE,
    ),
    Case(
        "gpu-request",
        "gpu-pod-scheduling",
        "dev",
        [deployment(gpu=True)],
        0,
        ("spec", "template", "spec", "containers", 0, "resources", "limits", "nvidia.com/gpu"),
        DELETE,
    ),
    Case(
        "kserve-gpu-toleration",
        "gpu-pod-scheduling",
        "dev",
        [inference_service()],
        0,
        ("spec", "predictor", "tolerations"),
        [],
    ),
    Case(
        "public-lb",
        "no-public-load-balancer",
        "prod",
        [service()],
        0,
        ("metadata", "annotations"),
        {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"},
    ),
    Case(
        "public-ingress-chart",
        "no-public-load-balancer",
        "prod",
        [ingress_nginx()],
        0,
        ("values", "controller", "service", "annotations"),
        {},
    ),
    Case("ingress-no-tls", "ingress-tls", "dev", [ingress()], 0, ("spec", "tls"), DELETE),
    # A wildcard covers exactly one label: *.example.com does not cover llama.models.example.com.
    Case(
        "ingress-wildcard-too-broad",
        "ingress-tls",
        "dev",
        [ingress()],
        0,
        ("spec", "tls", 0, "hosts"),
        ["*.example.com"],
    ),
    Case(
        "ingress-host-uncovered",
        "ingress-tls",
        "dev",
        [ingress()],
        0,
        ("spec", "tls", 0, "hosts"),
        ["other.models.example.com"],
    ),
    Case(
        "latest-tag",
        "no-latest-image",
        "dev",
        [deployment()],
        0,
        ("spec", "template", "spec", "containers", 0, "image"),
        "nvcr.io/nvidia/tritonserver:latest",
    ),
    Case(
        "untagged",
        "no-latest-image",
        "dev",
        [deployment()],
        0,
        ("spec", "template", "spec", "containers", 0, "image"),
        "registry.example.com:5000/team/server",
    ),
    # ---------------------------------------------------------------- guardrails
    Case("tags-bucket", "required-tags", "prod", s3_stack()[:1], 0, ("tags", "cost-center"), DELETE),
    Case("tags-nodegroup", "required-tags", "prod", [node_group()], 0, ("tags", "owner"), ""),
    Case(
        "labels-k8s",
        "required-tags",
        "prod",
        [deployment()],
        0,
        ("metadata", "labels", "environment"),
        DELETE,
    ),
    Case("labels-gcs", "required-tags", "prod", [gcs()], 0, ("labels",), {"owner": "x"}),
    Case("gpu-cap-eks", "gpu-pool-max-nodes-cap", "dev", [node_group()], 0, ("scalingConfig", "maxSize"), 5),
    Case(
        "gpu-cap-gke",
        "gpu-pool-max-nodes-cap",
        "staging",
        [gke_pool()],
        0,
        ("autoscaling", "maxNodeCount"),
        9,
    ),
    Case("gpu-cap-aks", "gpu-pool-max-nodes-cap", "prod", [aks_pool()], 0, ("maxCount",), 33),
    Case(
        "spot-only",
        "no-spot-only-gpu-in-prod",
        "prod",
        [node_group(), node_group("SPOT", "gpu-spot")],
        0,
        ("capacityType",),
        "SPOT",
    ),
    Case(
        "protect-bucket", "protect-stateful-resources", "prod", s3_stack()[:1], 0, (), False, attr="protect"
    ),
    Case("protect-key", "protect-stateful-resources", "prod", [kms_key()], 0, (), False, attr="protect"),
    Case("protect-ecr", "protect-stateful-resources", "prod", [ecr()], 0, (), False, attr="protect"),
    Case("protect-eks", "protect-stateful-resources", "prod", [eks()], 0, (), False, attr="protect"),
    # ---------------------------------------------------------------- GCP paths mlinfra.gcp writes
    Case(
        "gar-iam-all-users",
        "no-public-iam-members",
        "dev",
        [
            gcp_grant(
                "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember", repository="r", location="l"
            )
        ],
        0,
        ("member",),
        "allUsers",
    ),
    Case(
        "managed-folder-all-users",
        "no-public-iam-members",
        "dev",
        [
            gcp_grant(
                "gcp:storage/managedFolderIamMember:ManagedFolderIamMember",
                bucket="b",
                managedFolder="models/m/",
            )
        ],
        0,
        ("member",),
        "allAuthenticatedUsers",
    ),
    Case(
        "gke-gcp-public-cidrs",
        "private-cluster-endpoint",
        "dev",
        [gke_public_dev()],
        0,
        ("masterAuthorizedNetworksConfig", "gcpPublicCidrsAccessEnabled"),
        True,
    ),
    Case(
        "gke-dev-open-cidr",
        "private-cluster-endpoint",
        "dev",
        [gke_public_dev()],
        0,
        ("masterAuthorizedNetworksConfig", "cidrBlocks", 0, "cidrBlock"),
        "0.0.0.0/0",
    ),
    Case(
        "gke-pool-public-nodes",
        "no-node-public-ip",
        "dev",
        [gke_pool()],
        0,
        ("networkConfig", "enablePrivateNodes"),
        False,
    ),
    Case(
        "gar-immutable", "ecr-immutable-scanned", "dev", [gar()], 0, ("dockerConfig", "immutableTags"), False
    ),
    Case(
        "gar-scanning",
        "ecr-immutable-scanned",
        "dev",
        [gar()],
        0,
        ("vulnerabilityScanningConfig", "enablementConfig"),
        "DISABLED",
    ),
    Case("gar-cmk", "registry-cmk-encryption", "prod", [gar()], 0, ("kmsKeyName",), DELETE),
    Case("gcp-key-rotation-90", "kms-key-rotation", "prod", [gcp_key()], 0, ("rotationPeriod",), "31536000s"),
    Case("protect-gar", "protect-stateful-resources", "prod", [gar()], 0, (), False, attr="protect"),
    Case(
        "protect-azure",
        "protect-stateful-resources",
        "prod",
        [azure_storage(), acr(), aks()],
        2,
        (),
        False,
        attr="protect",
    ),
]
