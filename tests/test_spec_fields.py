"""No spec field is silently ignored: for every leaf field of PlatformSpec, on every implemented cloud,
changing its value changes the plan, or the field is listed in PLAN_INVISIBLE with the reason.

"The plan" is what a deployment registers, whatever the path: the platform stack plus, for
`api_access: private`, the in-cluster layer installed from its outputs (mlinfra.platform.
install_in_cluster, which the in-cluster stack runs). A new field fails here until it reaches a
resource (or is refused on the clouds that do not use it, or is listed below with a reason).
"""

from __future__ import annotations

import copy
import json
import types
import typing
from functools import cache
from typing import Any, Literal, get_args, get_origin

import pytest
from pydantic import BaseModel

from mlinfra.offline.engine import ProgramError
from mlinfra.platform import (
    IMPLEMENTED_CLOUDS,
)
from mlinfra.spec import PlatformSpec, SpecError
from tests.conftest import deployed_plan_of

ACCOUNT = "123456789012"

# A rich spec per implemented cloud: every section in use, so that every field has something to
# change. Two models: KServe (model_format, storage, canary version) and a plain Deployment (image,
# canary image).
BASES: dict[str, dict[str, Any]] = {
    "aws": {
        "name": "fields",
        "cloud": "aws",
        "region": "us-east-1",
        "environment": "prod",
        "tags": {"owner": "ml-platform", "cost_center": "cc-1", "extra": {"project": "p"}},
        "network": {"cidr": "10.50.0.0/16"},
        "cluster": {"admin_principals": [f"arn:aws:iam::{ACCOUNT}:role/admins"]},
        "gpu_pools": [
            {
                "name": "od",
                "machine_type": "g5.2xlarge",
                "min_nodes": 1,
                "desired_nodes": 1,
                "max_nodes": 4,
                "labels": {"team": "a"},
            }
        ],
        "artifacts": {"infrequent_access_after_days": 90},
        "serving": {
            "internal_load_balancer": False,
            "tls_issuer": "letsencrypt",
            "models": [
                {
                    "name": "rerank",
                    "runtime": "kserve",
                    "gpu_pool": "od",
                    "version": "v1/",
                    "canary": {"traffic_percent": 5, "version": "v2/"},
                },
                {
                    "name": "embed",
                    "runtime": "image",
                    "image": "nvcr.io/nvidia/tritonserver:25.09-py3",
                    "command": ["tritonserver", "--model-repository=/mnt/models"],
                    "args": ["--strict-readiness=true"],
                    "load_metric": "nv_inference_pending_request_count",
                    "gpu_pool": "od",
                    "port": 8000,
                    "health_path": "/v2/health/ready",
                    "canary": {"traffic_percent": 10, "image": "nvcr.io/nvidia/tritonserver:25.10-py3"},
                },
            ],
        },
        "monitoring": {"alerting": {"slack_channel": "#alerts", "pagerduty": True, "webhook": True}},
        "budget": {"alert_emails": ["finops@example.com"]},
        "aws": {
            "runner": {
                "state_backend": "s3://state-bucket/p",
                "secrets_provider": "awskms://alias/p?region=us-east-1",
                "secret_env": {
                    "PULUMI_CONFIG_PASSPHRASE": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:pp"
                },
                "kms_key_arns": [f"arn:aws:kms:us-east-1:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"],
            }
        },
    }
}

# GCP: the same shape on GKE (prod: a regional cluster over three zones, an L4 pool in all three,
# the budget in a billing account).
BASES["gcp"] = {
    "name": "fields",
    "cloud": "gcp",
    "region": "us-central1",
    "environment": "prod",
    "tags": {"owner": "ml-platform", "cost_center": "cc-1", "extra": {"project": "p"}},
    "network": {"cidr": "10.50.0.0/16"},
    "cluster": {"admin_principals": ["user:admins@example.com"]},
    "gpu_pools": [
        {
            "name": "od",
            "machine_type": "g2-standard-8",
            "min_nodes": 3,
            "desired_nodes": 3,
            "max_nodes": 6,
            "labels": {"team": "a"},
        }
    ],
    "artifacts": {"infrequent_access_after_days": 90},
    "serving": copy.deepcopy(BASES["aws"]["serving"]),
    "monitoring": {"alerting": {"slack_channel": "#alerts", "pagerduty": True, "webhook": True}},
    "budget": {"alert_emails": ["finops@example.com"]},
    "gcp": {"project": "fields-prod", "billing_account": "012345-6789AB-CDEF01"},
}

# Azure: the AWS base in Azure terms (same sections, models and values where they mean the same).
AZURE_SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
AZURE_TENANT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
OTHER_GUID = "22222222-3333-4444-5555-666666666666"
BASES["azure"] = {
    **{k: v for k, v in copy.deepcopy(BASES["aws"]).items() if k != "aws"},
    "cloud": "azure",
    "region": "eastus",
    "cluster": {"admin_principals": ["group:33333333-4444-5555-6666-777777777777"]},
    "gpu_pools": [{**BASES["aws"]["gpu_pools"][0], "machine_type": "Standard_NV36ads_A10_v5"}],
    "azure": {
        "subscription_id": AZURE_SUBSCRIPTION,
        "tenant_id": AZURE_TENANT,
        "resource_group": "fields-rg",
        "admin_group_object_ids": ["44444444-5555-6666-7777-888888888888"],
        "registry_name": "fieldsregistry",
    },
}

# Fields that do not change what is deployed, and why.
PLAN_INVISIBLE: dict[str, str] = {
    "cloud": "selects which cloud's platform is built (tests/test_platform.py covers the dispatch); not a value inside one plan",
    "guardrails.allow_spot_only_gpu": "an explicit override of a spec check: it changes which specs are accepted, not what they deploy",
    "guardrails.override_reason": "the audit trail of an override; recorded in the spec, deploys nothing",
    "monitoring.alerting.slack_channel": "lands only in the Alertmanager configuration, a Kubernetes Secret "
    "the plan masks (it carries the webhook URLs); tests/k8s/test_monitoring.py asserts the channel in it",
}

# Values for fields a generic rule cannot mutate, and the fields that must change together with a
# leaf for the spec to stay valid: path -> {dotted path: value, ...} applied to the base.
MUTATIONS: dict[str, dict[str, Any]] = {
    "name": {"name": "renamed"},
    "region": {"region": "us-west-2"},
    "environment": {"environment": "staging", "network.flow_log_retention_days": 90},
    "network.cidr": {"network.cidr": "10.60.0.0/16"},
    "network.service_cidr": {"network.service_cidr": "172.21.0.0/16"},
    "network.private_subnet_cidrs": {
        "network.private_subnet_cidrs": ["10.50.0.0/20", "10.50.16.0/20", "10.50.32.0/20"]
    },
    "network.public_subnet_cidrs": {
        "network.public_subnet_cidrs": ["10.50.240.0/24", "10.50.241.0/24", "10.50.242.0/24"]
    },
    "network.existing": {
        "network.existing": {
            "network_id": "vpc-0abc",
            "private_subnet_ids": ["subnet-1", "subnet-2", "subnet-3"],
        }
    },
    "network.flow_logs": {"network.flow_logs": False},
    # CloudWatch Logs retentions are a fixed set (mlinfra.aws.kms.LOG_RETENTION_DAYS): 365 + 1 is refused.
    "network.flow_log_retention_days": {"network.flow_log_retention_days": 400},
    "cluster.log_retention_days": {"cluster.log_retention_days": 400},
    "cluster.kubernetes_version": {"cluster.kubernetes_version": "1.34"},
    "cluster.api_access": {
        "cluster.api_access": "public",
        "environment": "dev",
        "aws.runner": {},
        "network.flow_log_retention_days": 90,
        "cluster.public_access_cidrs": ["203.0.113.0/24"],
    },
    "cluster.public_access_cidrs": {
        "cluster.api_access": "public",
        "environment": "dev",
        "aws.runner": {},
        "cluster.public_access_cidrs": ["198.51.100.0/24"],
    },
    # refused on aws naming the field (only GKE's master authorized networks take the ranges)
    "cluster.private_access_cidrs": {"cluster.private_access_cidrs": ["10.200.0.0/24"]},
    "cluster.admin_principals": {"cluster.admin_principals": [f"arn:aws:iam::{ACCOUNT}:role/others"]},
    "cluster.system_pool.machine_type": {"cluster.system_pool.machine_type": "m6i.xlarge"},
    "cluster.system_pool.min_nodes": {"cluster.system_pool.min_nodes": 2},
    "cluster.system_pool.desired_nodes": {"cluster.system_pool.desired_nodes": 4},
    "gpu_pools.0.name": {
        "gpu_pools.0.name": "od2",
        "serving.models.0.gpu_pool": "od2",
        "serving.models.1.gpu_pool": "od2",
    },
    "gpu_pools.0.min_nodes": {"gpu_pools.0.min_nodes": 0},
    "gpu_pools.0.labels": {"gpu_pools.0.labels": {"team": "b"}},
    "gpu_pools.0.machine_type": {"gpu_pools.0.machine_type": "g6.2xlarge"},
    "gpu_pools.0.capacity_type": {
        "gpu_pools.0.capacity_type": "spot",
        "guardrails.allow_spot_only_gpu": True,
        "guardrails.override_reason": "field test",
    },
    "artifacts.bucket_name": {"artifacts.bucket_name": "fields-models-bucket"},
    "artifacts.infrequent_access_after_days": {"artifacts.infrequent_access_after_days": 120},
    "registry.repositories": {"registry.repositories": ["models", "serving", "extra"]},
    "serving.namespace": {"serving.namespace": "models"},
    "serving.domain": {"serving.domain": "ml.example.org"},
    "serving.internal_load_balancer": {
        "serving.internal_load_balancer": True,
        "serving.tls_issuer": "private-ca",
    },
    "serving.acme_email": {"serving.acme_email": "ops@example.org"},
    "serving.quota.cpu": {"serving.quota.cpu": "64"},
    "serving.quota.memory": {"serving.quota.memory": "256Gi"},
    "serving.models.0.name": {"serving.models.0.name": "rerank2"},
    "serving.models.1.name": {"serving.models.1.name": "embed2"},
    "serving.models.1.runtime": {
        "serving.models.1.runtime": "vllm",
        "serving.models.1.image": None,
        "serving.models.1.command": None,
        "serving.models.1.load_metric": None,
        "serving.models.1.canary": {"traffic_percent": 10, "version": "v2/"},
        "serving.models.1.version": "v1/",
    },
    "serving.models.0.image": {"serving.models.0.image": "kserve/huggingfaceserver:v0.15.2"},
    "serving.models.1.image": {"serving.models.1.image": "nvcr.io/nvidia/tritonserver:25.08-py3"},
    "serving.models.0.storage_prefix": {"serving.models.0.storage_prefix": "models/other/"},
    "serving.models.1.storage_prefix": {"serving.models.1.storage_prefix": "models/other/"},
    "serving.models.0.gpu_pool": {"serving.models.0.gpu_pool": None},
    "serving.models.1.gpu_pool": {"serving.models.1.gpu_pool": None},
    "serving.models.0.gpus": {"serving.models.0.gpus": 0},
    "serving.models.1.gpus": {"serving.models.1.gpus": 0},
    "encryption.key_deletion_window_days": {"encryption.key_deletion_window_days": 29},
    "serving.models.0.cpu": {"serving.models.0.cpu": "3"},
    "serving.models.1.cpu": {"serving.models.1.cpu": "3"},
    "serving.models.0.memory": {"serving.models.0.memory": "12Gi"},
    "serving.models.1.memory": {"serving.models.1.memory": "12Gi"},
    "serving.models.0.health_path": {"serving.models.0.health_path": "/ready"},
    "serving.models.1.health_path": {"serving.models.1.health_path": "/ready"},
    "serving.models.0.version": {"serving.models.0.version": "v0/"},
    "serving.models.1.version": {"serving.models.1.version": "v1/"},
    "serving.models.0.canary.image": {
        "serving.models.0.runtime": "vllm",
        "serving.models.0.canary.image": "vllm/vllm-openai:v0.11.1",
    },
    "serving.models.0.command": {"serving.models.0.command": ["python", "-m", "server"]},
    "serving.models.1.command": {"serving.models.1.command": ["tritonserver", "--model-repository=/models"]},
    "serving.models.0.args": {"serving.models.0.args": ["--max-model-len=4096"]},
    "serving.models.1.args": {"serving.models.1.args": ["--strict-readiness=false"]},
    "serving.models.0.load_metric": {"serving.models.0.load_metric": "requests_in_flight"},
    "serving.models.1.load_metric": {"serving.models.1.load_metric": "nv_inference_queue_size"},
    # both models scale on a load metric: setting the CPU target is refused naming the field
    "serving.models.0.target_utilization_percent": {"serving.models.0.target_utilization_percent": 60},
    "serving.models.1.target_utilization_percent": {"serving.models.1.target_utilization_percent": 60},
    "serving.models.0.load_target": {"serving.models.0.load_target": 4.0},
    "serving.models.1.load_target": {"serving.models.1.load_target": 4.0},
    "serving.models.0.port": {"serving.models.0.port": 8081},
    "serving.models.1.canary.image": {
        "serving.models.1.canary.image": "nvcr.io/nvidia/tritonserver:25.11-py3"
    },
    "serving.models.0.canary.version": {"serving.models.0.canary.version": "v3/"},
    "serving.models.1.canary.version": {
        "serving.models.1.version": "v1/",
        "serving.models.1.canary.version": "v2/",
    },
    "monitoring.namespace": {"monitoring.namespace": "observability"},
    "monitoring.alerting.slack_channel": {"monitoring.alerting.slack_channel": "#other"},
    "tags.owner": {"tags.owner": "someone-else"},
    "tags.cost_center": {"tags.cost_center": "cc-2"},
    "tags.extra": {"tags.extra": {"project": "q"}},
    "budget.alert_emails": {"budget.alert_emails": ["other@example.com"]},
    "budget.thresholds_percent": {"budget.thresholds_percent": [50, 90]},
    "aws.runner.state_backend": {"aws.runner.state_backend": "s3://other-state"},
    "aws.runner.secrets_provider": {"aws.runner.secrets_provider": "awskms://alias/q?region=us-east-1"},
    "aws.runner.secret_env": {"aws.runner.secret_env": {}},
    "aws.runner.kms_key_arns": {"aws.runner.kms_key_arns": []},
    "aws.runner.compute_type": {"aws.runner.compute_type": "BUILD_GENERAL1_MEDIUM"},
    "gcp": {"gcp": {"project": "fields-prod"}},  # refused: "section 'gcp' is set but cloud is 'aws'"
}

# The GCP base's mutations: GCP values where the AWS ones would not be GCP's (regions, machine types,
# principals, name rules), and sizes that split evenly over the pools' zones (GKE creates the same
# number of nodes in each zone). Every other path falls back to MUTATIONS, then the generic rule.
GCP_MUTATIONS: dict[str, dict[str, Any]] = {
    "region": {"region": "europe-west4"},
    "environment": {"environment": "staging", "network.flow_log_retention_days": 90},
    "network.zone_count": {
        "network.zone_count": 2,
        "cluster.system_pool.min_nodes": 2,
        "cluster.system_pool.desired_nodes": 2,
        "gpu_pools.0.desired_nodes": 2,
        "gpu_pools.0.min_nodes": 2,
    },
    "network.nat_gateways": {"network.nat_gateways": "single"},
    "network.existing": {
        "network.existing": {
            "network_id": "projects/shared/global/networks/ml",
            "private_subnet_ids": ["projects/shared/regions/us-central1/subnetworks/ml-nodes"],
        }
    },
    "cluster.api_access": {
        "cluster.api_access": "private",
    },
    "cluster.public_access_cidrs": {
        "cluster.api_access": "public",
        "environment": "dev",
        "gcp.regional": False,
        "gpu_pools.0.max_nodes": 3,  # the dev cap
        "gpu_pools.0.machine_type": "g2-standard-24",  # 2 L4s per node: the models fit the capped pool
        "cluster.public_access_cidrs": ["198.51.100.0/24"],
    },
    "cluster.private_access_cidrs": {
        "cluster.api_access": "private",
        "cluster.private_access_cidrs": ["10.200.0.0/24"],
    },
    "cluster.admin_principals": {"cluster.admin_principals": ["user:others@example.com"]},
    "cluster.version_support": {"cluster.version_support": "extended", "gcp.release_channel": "EXTENDED"},
    "cluster.system_pool.machine_type": {"cluster.system_pool.machine_type": "e2-standard-8"},
    "cluster.system_pool.min_nodes": {"cluster.system_pool.min_nodes": 2},
    "cluster.system_pool.desired_nodes": {"cluster.system_pool.desired_nodes": 6},
    "gpu_pools.0.desired_nodes": {"gpu_pools.0.desired_nodes": 6},
    "gpu_pools.0.machine_type": {"gpu_pools.0.machine_type": "g2-standard-12"},
    "gpu_pools.0.min_nodes": {"gpu_pools.0.min_nodes": 0, "gpu_pools.0.desired_nodes": 0},
    "artifacts.bucket_name": {"artifacts.bucket_name": "fields-models-bucket"},
    "budget.alert_emails": {"budget.alert_emails": ["other@example.com"]},
    "aws": {
        "aws": {"workload_identity": "pod_identity"}
    },  # refused: "section 'aws' is set but cloud is 'gcp'"
    "gcp.project": {"gcp.project": "fields-other"},
    "gcp.zones": {"gcp.zones": ["us-central1-b", "us-central1-c", "us-central1-f"]},
    "gcp.regional": {
        "gcp.regional": False,
        "environment": "dev",
        "gpu_pools.0.max_nodes": 3,
        "gpu_pools.0.machine_type": "g2-standard-24",
    },
    "gcp.release_channel": {"gcp.release_channel": "REGULAR"},
    "gcp.gke_version": {"gcp.gke_version": "1.33.4-gke.1172000"},
    "gcp.pods_cidr": {"gcp.pods_cidr": "10.128.0.0/14"},
    "gcp.control_plane_cidr": {"gcp.control_plane_cidr": "172.16.0.16/28"},
    "gcp.pods_range_name": {"gcp.pods_range_name": "gke-pods"},
    "gcp.services_range_name": {"gcp.services_range_name": "gke-services"},
    "gcp.billing_account": {"gcp.billing_account": "ABCDEF-012345-6789AB"},
}


# Per cloud, mutations where the shared one is not that cloud's value (checked like MUTATIONS).
CLOUD_MUTATIONS: dict[str, dict[str, dict[str, Any]]] = {
    "aws": {
        # Another cloud's section on an AWS spec: refused naming it.
        "azure": {"azure": {"subscription_id": AZURE_SUBSCRIPTION, "tenant_id": AZURE_TENANT}},
    },
    "gcp": {
        **GCP_MUTATIONS,
        # Another cloud's section on a GCP spec: refused naming it.
        "azure": {"azure": {"subscription_id": AZURE_SUBSCRIPTION, "tenant_id": AZURE_TENANT}},
    },
    "azure": {
        "aws": {"aws": {}},
        "region": {"region": "eastus2"},
        "cluster.api_access": {
            "cluster.api_access": "public",
            "environment": "dev",
            "network.flow_log_retention_days": 90,
            "cluster.public_access_cidrs": ["203.0.113.0/24"],
        },
        "cluster.public_access_cidrs": {
            "cluster.api_access": "public",
            "environment": "dev",
            "network.flow_log_retention_days": 90,
            "cluster.public_access_cidrs": ["198.51.100.0/24"],
        },
        "cluster.admin_principals": {"cluster.admin_principals": [f"user:{OTHER_GUID}"]},
        "cluster.system_pool.machine_type": {"cluster.system_pool.machine_type": "Standard_D8ds_v5"},
        "gpu_pools.0.machine_type": {"gpu_pools.0.machine_type": "Standard_NC24ads_A100_v4"},
        "network.existing": {
            "network.existing": {
                "network_id": "/subscriptions/s/resourceGroups/hub/providers/Microsoft.Network/virtualNetworks/v",
                "private_subnet_ids": ["/subnets/nodes", "/subnets/apiserver", "/subnets/endpoints"],
            }
        },
        "azure.subscription_id": {"azure.subscription_id": OTHER_GUID},
        "azure.tenant_id": {"azure.tenant_id": OTHER_GUID},
        "azure.resource_group": {"azure.resource_group": "other-rg"},
        "azure.system_vm_size": {"azure.system_vm_size": "Standard_D8ds_v5"},
        "azure.pod_cidr": {"azure.pod_cidr": "10.245.0.0/16"},
        "azure.nodes_subnet_cidr": {"azure.nodes_subnet_cidr": "10.50.0.0/19"},
        "azure.endpoints_subnet_cidr": {"azure.endpoints_subnet_cidr": "10.50.129.0/24"},
        "azure.apiserver_subnet_cidr": {"azure.apiserver_subnet_cidr": "10.50.200.0/28"},
        "azure.admin_group_object_ids": {"azure.admin_group_object_ids": [OTHER_GUID]},
        # The base is prod (api_access private): refused naming the field, the runner identity installs
        # the layer. With api_access public it replaces the `pulumi up` client as the cluster-admin
        # principal (tests/azure/test_platform.py: a dev mutation here would change the plan anyway).
        "azure.deployer_principal": {"azure.deployer_principal": f"serviceprincipal:{OTHER_GUID}"},
        "azure.registry_name": {"azure.registry_name": "otherregistry"},
    },
}


def _mutation(cloud: str, path: str) -> dict[str, Any] | None:
    return CLOUD_MUTATIONS.get(cloud, {}).get(path, MUTATIONS.get(path))


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node: Any = data
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if isinstance(node, list):
        node[int(parts[-1])] = value
    else:
        node[parts[-1]] = value


def _unwrap(annotation: Any) -> Any:
    """The annotation without Optional."""
    if get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def leaves(model: type[BaseModel], value: dict[str, Any], prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted path, annotation, current value) of every leaf field, list items by index."""
    out = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        annotation = _unwrap(info.annotation)
        current = value.get(name)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and current is not None:
            out += leaves(annotation, current, f"{path}.")
        elif (
            get_origin(annotation) is list
            and isinstance(get_args(annotation)[0], type)
            and issubclass(get_args(annotation)[0], BaseModel)
        ):
            for i, item in enumerate(current or []):
                out += leaves(get_args(annotation)[0], item, f"{path}.{i}.")
        else:
            out.append((path, annotation, current))
    return out


def generic_mutation(annotation: Any, current: Any) -> Any:
    if get_origin(annotation) is Literal:
        return next(v for v in get_args(annotation) if v != current)
    if annotation is bool:
        return not current
    if annotation is int:
        return current + 1
    if annotation is float:
        return round(current * 0.9, 6)
    raise LookupError


@cache
def _resolved(cloud: str) -> dict[str, Any]:
    return PlatformSpec.load(BASES[cloud]).model_dump(mode="json")


def fingerprint(data: dict[str, Any]) -> str:
    plan = deployed_plan_of(PlatformSpec.load(data))
    doc = plan.to_json()
    return json.dumps({k: doc[k] for k in ("resources", "outputs", "warnings")}, sort_keys=True)


@cache
def _baseline(cloud: str) -> str:
    return fingerprint(copy.deepcopy(_resolved(cloud)))


# The in-cluster layer (serving models, monitoring) is one cloud-agnostic function every platform
# calls the same way with the whole spec (mlinfra.platform.CloudPlatform._in_cluster ->
# install_in_cluster); its fields are walked on the first cloud. On the others the walk covers every
# field the cloud's own code reads: everything outside the layer, the serving section's own fields
# (namespace, load balancer, ...) and the model fields a cloud turns into identities and pools.
LAYER_FIELDS = ("serving.models.", "monitoring.")
CLOUD_READ_MODEL_FIELDS = ("name", "storage_prefix", "gpu_pool", "gpus")


def _walked(cloud: str, path: str) -> bool:
    if cloud == IMPLEMENTED_CLOUDS[0] or not path.startswith(LAYER_FIELDS):
        return True
    return path.startswith("serving.models.") and path.rsplit(".", 1)[-1] in CLOUD_READ_MODEL_FIELDS


def _cases() -> list[tuple[str, str]]:
    out = []
    for cloud in IMPLEMENTED_CLOUDS:
        if cloud not in BASES:
            out.append((cloud, "<no base spec>"))
            continue
        out += [
            (cloud, path) for path, _, _ in leaves(PlatformSpec, _resolved(cloud)) if _walked(cloud, path)
        ]
    return out


def test_every_implemented_cloud_has_a_base_spec():
    assert set(IMPLEMENTED_CLOUDS) <= set(BASES), "add a rich base spec for the new cloud to BASES"


def test_invisible_and_mutation_tables_name_real_fields():
    known = {path for _, path in _cases()}
    assert set(PLAN_INVISIBLE) <= known
    stale = sorted(p for p in (*MUTATIONS, *GCP_MUTATIONS) if p not in known)
    assert not stale, f"MUTATIONS names fields the base specs do not have: {stale}"
    for cloud, table in CLOUD_MUTATIONS.items():
        stale = sorted(p for p in table if (cloud, p) not in set(_cases()))
        assert not stale, f"CLOUD_MUTATIONS[{cloud!r}] names fields its base spec does not have: {stale}"


@pytest.mark.parametrize(("cloud", "path"), _cases(), ids=[f"{c}:{p}" for c, p in _cases()])
def test_changing_a_field_changes_the_plan(cloud, path):
    if path in PLAN_INVISIBLE:
        pytest.skip(f"plan-invisible: {PLAN_INVISIBLE[path]}")
    data = copy.deepcopy(_resolved(cloud))
    mutation = _mutation(cloud, path)
    if mutation is not None:
        for where, value in mutation.items():
            _set(data, where, copy.deepcopy(value))
    else:
        annotation, current = next((a, c) for p, a, c in leaves(PlatformSpec, data) if p == path)
        if get_origin(annotation) is Literal and len(get_args(annotation)) == 1:
            pytest.skip(f"{path}: one allowed value ({get_args(annotation)[0]!r}), nothing to change it to")
        try:
            _set(data, path, generic_mutation(annotation, current))
        except LookupError:
            pytest.fail(f"{path}: no generic mutation for {annotation!r}; add one to MUTATIONS")
    try:
        changed = fingerprint(data)
    except (SpecError, ProgramError) as e:
        # Refused naming the field: not ignored (e.g. `command` on a runtime that brings its own), by
        # the spec or by a component before it registers anything (ProgramError wraps its SpecError:
        # e.g. a CPU target on a model that scales on its load metric).
        if path.rsplit(".", 1)[-1] in str(e):
            return
        pytest.fail(f"{path}: the mutated spec is refused ({e}); give a valid mutation in MUTATIONS")
    assert changed != _baseline(cloud), (
        f"{cloud}: changing {path} does not change the plan; make it reach a resource, refuse it on "
        f"{cloud}, or list it in PLAN_INVISIBLE with the reason"
    )
