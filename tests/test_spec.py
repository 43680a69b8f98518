"""Spec validation: profiles, cross-field checks, one clear error per bad spec."""

from __future__ import annotations

import copy
import ipaddress
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlinfra.catalog import GPU_MACHINE_TYPES, GPU_POOL_MAX_NODES_CAP, SUPPORTED_KUBERNETES_VERSIONS
from mlinfra.spec import PROFILES, GpuPoolSpec, NetworkSpec, PlatformSpec, SpecError
from tests.conftest import BASE_SPEC, PROD_SPEC, make_spec


def _error(data: dict) -> str:
    with pytest.raises(SpecError) as info:
        PlatformSpec.load(data)
    return str(info.value)


def _with(base: dict, path: str, value) -> dict:
    data = copy.deepcopy(base)
    node = data
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
    if isinstance(node, list):
        node[int(keys[-1])] = value
    else:
        node[keys[-1]] = value
    return data


# ---------------------------------------------------------------- the bad specs of the issue, one clear error each

BAD_SPECS = [
    (
        "min > max",
        _with(
            BASE_SPEC,
            "gpu_pools.0",
            {"name": "a", "machine_type": "g5.xlarge", "min_nodes": 3, "max_nodes": 2},
        ),
        ["gpu_pools.0", "min_nodes <= desired_nodes <= max_nodes", "min_nodes=3", "max_nodes=2"],
    ),
    (
        "unknown GPU type",
        _with(BASE_SPEC, "gpu_pools.0.machine_type", "g9.xlarge"),
        ["gpu_pools.0.machine_type", "'g9.xlarge'", "allowed:", "g5.xlarge", "p5.48xlarge"],
    ),
    (
        "overlapping CIDRs",
        _with(
            BASE_SPEC,
            "network",
            {"cidr": "10.0.0.0/16", "private_subnet_cidrs": ["10.0.0.0/19", "10.0.16.0/20"]},
        ),
        ["network", "overlap", "10.0.0.0/19", "10.0.16.0/20"],
    ),
    (
        "service CIDR overlaps network",
        _with(BASE_SPEC, "network", {"cidr": "10.0.0.0/16", "service_cidr": "10.0.128.0/20"}),
        ["network", "service_cidr", "overlaps"],
    ),
    (
        "invalid bucket name",
        _with(BASE_SPEC, "artifacts", {"bucket_name": "Acme_Artifacts"}),
        ["artifacts.bucket_name", "'Acme_Artifacts'", "not a valid S3 bucket name", "lowercase"],
    ),
    ("unknown field", {**BASE_SPEC, "gpu_pool": []}, ["gpu_pool", "unknown field"]),
    (
        "unknown nested field",
        _with(BASE_SPEC, "cluster.version", "1.33"),
        ["cluster.version", "unknown field"],
    ),
    (
        "missing owner tag",
        _with(BASE_SPEC, "tags", {"cost_center": "cc-1"}),
        ["tags.owner", "field required"],
    ),
    (
        "empty owner tag",
        _with(BASE_SPEC, "tags", {"owner": " ", "cost_center": "cc-1"}),
        ["tags.owner", "empty"],
    ),
    (
        "unsupported Kubernetes version",
        _with(BASE_SPEC, "cluster.kubernetes_version", "1.27"),
        ["cluster.kubernetes_version", "'1.27'", "allowed", *SUPPORTED_KUBERNETES_VERSIONS],
    ),
    ("bad region", {**BASE_SPEC, "region": "us-westish-2"}, ["region", "'us-westish-2'", "us-west-2"]),
    (
        "bad environment",
        {**BASE_SPEC, "environment": "qa"},
        ["environment", "'dev', 'staging' or 'prod'", "'qa'"],
    ),
    (
        "invalid ECR repository name",
        _with(BASE_SPEC, "registry", {"repositories": ["Models"]}),
        ["registry.repositories.0", "'acme-dev/Models'", "ECR repository name"],
    ),
    (
        "spot-only GPU in prod",
        _with(PROD_SPEC, "gpu_pools", [{"name": "s", "machine_type": "g5.xlarge", "capacity_type": "spot"}]),
        ["gpu_pools", "spot only", "allow_spot_only_gpu"],
    ),
    (
        "public endpoint in prod",
        _with(PROD_SPEC, "cluster", {"api_access": "public", "public_access_cidrs": ["203.0.113.0/24"]}),
        ["cluster.api_access", "only allowed in dev"],
    ),
    (
        "public endpoint open to the world",
        _with(BASE_SPEC, "cluster", {"api_access": "public", "public_access_cidrs": ["0.0.0.0/0"]}),
        ["public_access_cidrs", "0.0.0.0/0"],
    ),
    (
        "public endpoint without CIDRs",
        _with(BASE_SPEC, "cluster", {"api_access": "public"}),
        ["public_access_cidrs is empty"],
    ),
    (
        "CIDRs for a public endpoint the spec does not ask for",
        _with(PROD_SPEC, "cluster", {"public_access_cidrs": ["203.0.113.0/24"]}),
        ["public_access_cidrs", "api_access: public only"],
    ),
    (
        "the GKE DNS endpoint on another cloud",
        _with(PROD_SPEC, "cluster", {"api_access": "dns"}),
        ["cluster.api_access", "DNS endpoint", "private"],
    ),
    (
        "GPU pool above the environment cap",
        _with(BASE_SPEC, "gpu_pools.0.max_nodes", GPU_POOL_MAX_NODES_CAP["dev"] + 1),
        ["gpu_pools.0.max_nodes", "exceeds the dev cap"],
    ),
    (
        "model on an unknown pool",
        _with(BASE_SPEC, "serving", {"models": [{"name": "m", "gpu_pool": "nope"}]}),
        ["serving.models.0.gpu_pool", "'nope'", "a10g"],
    ),
    (
        "model image tagged latest",
        _with(
            BASE_SPEC,
            "serving",
            {"models": [{"name": "m", "runtime": "vllm", "image": "vllm/vllm:latest"}]},
        ),
        ["serving.models.0.image", "pinned"],
    ),
    (
        "retired runtime 'deployment'",
        _with(BASE_SPEC, "serving", {"models": [{"name": "m", "runtime": "deployment", "image": "x/y:1"}]}),
        ["serving.models.0.runtime", "'deployment' was replaced", "kserve, vllm, triton, image"],
    ),
    (
        "runtime image without a command",
        _with(BASE_SPEC, "serving", {"models": [{"name": "m", "runtime": "image", "image": "x/y:1"}]}),
        ["serving.models.0", "needs a command"],
    ),
    (
        "scale to zero outside dev",
        _with(PROD_SPEC, "serving", {"models": [{"name": "m", "gpu_pool": "a10g", "min_replicas": 0}]}),
        ["serving.models.0.min_replicas", "dev only"],
    ),
    (
        "Let's Encrypt behind an internal load balancer",
        _with(PROD_SPEC, "serving", {"tls_issuer": "letsencrypt"}),
        ["serving", "internal_load_balancer", "allowed with an internal load balancer: private-ca"],
    ),
    (
        "model storage prefix with a wildcard",
        _with(BASE_SPEC, "serving", {"models": [{"name": "m", "storage_prefix": "models/*"}]}),
        ["serving.models.0.storage_prefix", "ending in '/'"],
    ),
    (
        "canary version inside the stable revision",
        _with(
            BASE_SPEC,
            "serving",
            {"models": [{"name": "m", "canary": {"traffic_percent": 10, "version": "v2/"}}]},
        ),
        ["serving.models.0", "canary.version needs the model's own version"],
    ),
    (
        "canary that changes nothing",
        _with(BASE_SPEC, "serving", {"models": [{"name": "m", "canary": {"traffic_percent": 10}}]}),
        ["serving.models.0.canary", "new image or a new version"],
    ),
    (
        "canary taking all the traffic",
        _with(
            BASE_SPEC,
            "serving",
            {
                "models": [
                    {"name": "m", "version": "v1/", "canary": {"traffic_percent": 100, "version": "v2/"}}
                ]
            },
        ),
        ["serving.models.0.canary.traffic_percent", "99"],
    ),
    ("invalid CIDR", _with(BASE_SPEC, "network", {"cidr": "10.0.0.300/16"}), ["network.cidr", "not a valid"]),
    (
        "aws section on gcp",
        {**BASE_SPEC, "cloud": "gcp", "region": "us-central1", "gcp": {"project": "acme-ml-dev"}, "aws": {}},
        ["aws", "cloud is 'gcp'"],
    ),
    # ---- issue 13: checks components made after validation, and values accepted before
    (
        "environment as a list",
        {**BASE_SPEC, "environment": ["dev"]},
        ["environment", "'dev', 'staging' or 'prod'"],
    ),
    ("environment as a map", {**BASE_SPEC, "environment": {"dev": 1}}, ["environment", "got {'dev': 1}"]),
    ("section as a list", {**BASE_SPEC, "network": ["10.0.0.0/16"]}, ["network", "expected an object"]),
    (
        "list as a string",
        _with(BASE_SPEC, "registry", {"repositories": "models"}),
        ["registry.repositories", "expected a list"],
    ),
    (
        "boolean for an integer",
        _with(BASE_SPEC, "gpu_pools.0.max_nodes", True),
        ["gpu_pools.0.max_nodes", "integer", "boolean"],
    ),
    (
        "string for an integer",
        _with(BASE_SPEC, "gpu_pools.0.max_nodes", "2"),
        ["gpu_pools.0.max_nodes", "without quotes"],
    ),
    (
        "number for a string",
        _with(BASE_SPEC, "cluster.kubernetes_version", 1.33),
        ["cluster.kubernetes_version", 'quote it in YAML: "1.33"'],
    ),
    (
        "region not in the catalogue",
        {**BASE_SPEC, "region": "us-west-9"},
        ["region", "'us-west-9'", "us-west-2"],
    ),
    (
        "made-up region of the right shape",
        {**BASE_SPEC, "region": "eu-east-7"},
        ["region", "'eu-east-7'", "allowed"],
    ),
    (
        "more zones than the region has",
        _with(BASE_SPEC, "network", {"zone_count": 5}),
        ["network.zone_count", "us-west-2 has 4"],
    ),
    (
        "more zones than us-west-1 has",
        {**BASE_SPEC, "region": "us-west-1", "network": {"zone_count": 3}},
        ["network.zone_count", "has 2"],
    ),
    (
        "subnets too small for the nodes",
        _with(
            BASE_SPEC,
            "network",
            {"cidr": "10.0.0.0/22", "private_subnet_cidrs": ["10.0.0.0/28", "10.0.0.16/28"]},
        ),
        ["network.private_subnet_cidrs", "22 usable addresses", "at least 120"],
    ),
    (
        "derived subnets too small for big GPU nodes",
        _with(
            _with(BASE_SPEC, "network", {"cidr": "10.0.0.0/22"}),
            "gpu_pools.0",
            {"name": "big", "machine_type": "g5.12xlarge", "max_nodes": 4},
        ),
        ["network.cidr", "usable addresses", "4 x g5.12xlarge"],
    ),
    (
        "subnet below /28",
        _with(
            BASE_SPEC,
            "network",
            {"cidr": "10.0.0.0/22", "private_subnet_cidrs": ["10.0.0.0/29", "10.0.0.16/28"]},
        ),
        ["network.private_subnet_cidrs.0", "/28"],
    ),
    (
        "duplicate pools",
        {**BASE_SPEC, "gpu_pools": [BASE_SPEC["gpu_pools"][0]] * 2},
        ["gpu_pools.1", "duplicate pool name 'a10g'"],
    ),
    (
        "duplicate models",
        _with(BASE_SPEC, "serving", {"models": [{"name": "m"}, {"name": "m"}]}),
        ["serving.models.1.name", "duplicate model name"],
    ),
    (
        "duplicate repositories",
        _with(BASE_SPEC, "registry", {"repositories": ["models", "models"]}),
        ["registry.repositories.1", "duplicate repository"],
    ),
    (
        "no repository",
        _with(BASE_SPEC, "registry", {"repositories": []}),
        ["registry.repositories", "at least one"],
    ),
    (
        "duplicate admin principals",
        _with(BASE_SPEC, "cluster.admin_principals", ["arn:aws:iam::123456789012:role/a"] * 2),
        ["cluster.admin_principals.1", "duplicate principal"],
    ),
    (
        "principal that is not an ARN",
        _with(BASE_SPEC, "cluster.admin_principals", ["platform-admins"]),
        ["cluster.admin_principals.0", "IAM role or user ARN"],
    ),
    (
        "wildcard principal",
        _with(BASE_SPEC, "cluster.admin_principals", ["arn:aws:iam::123456789012:role/*"]),
        ["cluster.admin_principals.0", "wildcards"],
    ),
    (
        "repository too long with its prefix",
        _with(BASE_SPEC, "registry", {"repositories": ["a" * 250]}),
        ["registry.repositories.0", "acme-dev/aaa"],
    ),
    (
        "bad system machine type",
        _with(BASE_SPEC, "cluster.system_pool", {"machine_type": "large"}),
        ["cluster.system_pool.machine_type", "EC2 instance type"],
    ),
    (
        "the removed aws.system_machine_type",
        _with(BASE_SPEC, "aws", {"system_machine_type": "m6i.large"}),
        ["aws", "set cluster.system_pool.machine_type"],
    ),
    (
        "fewer system nodes than zones",
        _with(PROD_SPEC, "cluster", {"system_pool": {"min_nodes": 2, "desired_nodes": 2, "max_nodes": 2}}),
        ["cluster.system_pool.max_nodes", "below the 3 zones"],
    ),
    (
        "prod flow logs kept less than a year",
        _with(PROD_SPEC, "network", {"cidr": "10.40.0.0/16", "flow_log_retention_days": 90}),
        ["network.flow_log_retention_days", "prod minimum"],
    ),
    (
        "service CIDR EKS refuses",
        _with(BASE_SPEC, "network", {"service_cidr": "100.64.0.0/16"}),
        ["network.service_cidr", "/12 to /24"],
    ),
    (
        "log retention CloudWatch refuses",
        _with(BASE_SPEC, "cluster.log_retention_days", 2),
        ["cluster.log_retention_days", "CloudWatch"],
    ),
    (
        "flow log retention CloudWatch refuses",
        _with(BASE_SPEC, "network", {"flow_logs": True, "flow_log_retention_days": 100}),
        ["network.flow_log_retention_days", "nearest: 90"],
    ),
    (
        "bucket too long for its log bucket",
        _with(PROD_SPEC, "artifacts", {"bucket_name": "a" * 60}),
        ["artifacts.bucket_name", "log bucket"],
    ),
    (
        "CPU not a quantity",
        _with(BASE_SPEC, "serving", {"models": [{"name": "m", "cpu": "two"}]}),
        ["serving.models.0.cpu", "Kubernetes quantity"],
    ),
    (
        "negative CPU",
        _with(BASE_SPEC, "serving", {"models": [{"name": "m", "cpu": "-1"}]}),
        ["serving.models.0.cpu", "positive"],
    ),
    (
        "memory not a quantity",
        _with(BASE_SPEC, "serving", {"models": [{"name": "m", "memory": "8GB RAM"}]}),
        ["serving.models.0.memory", "quantity"],
    ),
    (
        "zero memory",
        _with(BASE_SPEC, "serving", {"models": [{"name": "m", "memory": "0"}]}),
        ["serving.models.0.memory", "positive"],
    ),
    (
        "quota CPU not a quantity",
        _with(BASE_SPEC, "serving", {"quota": {"cpu": "lots"}}),
        ["serving.quota.cpu", "quantity"],
    ),
    (
        "health path without a slash",
        _with(BASE_SPEC, "serving", {"models": [{"name": "m", "health_path": "health"}]}),
        ["serving.models.0.health_path", "absolute HTTP path"],
    ),
    (
        "health path with a space",
        _with(BASE_SPEC, "serving", {"models": [{"name": "m", "health_path": "/he alth"}]}),
        ["serving.models.0.health_path"],
    ),
    (
        "malformed domain",
        _with(BASE_SPEC, "serving", {"domain": "models..example.com"}),
        ["serving.domain", "not a domain"],
    ),
    ("uppercase domain", _with(BASE_SPEC, "serving", {"domain": "Models.Example.com"}), ["serving.domain"]),
    (
        "host name too long",
        _with(BASE_SPEC, "serving", {"domain": ("a" * 63 + ".") * 3 + "b" * 60, "models": [{"name": "m"}]}),
        ["serving.models.0.name", "host name"],
    ),
    (
        "malformed ACME e-mail",
        _with(BASE_SPEC, "serving", {"acme_email": "ml-platform"}),
        ["serving.acme_email", "e-mail"],
    ),
    (
        "malformed budget e-mail",
        _with(BASE_SPEC, "budget", {"alert_emails": ["finops@"]}),
        ["budget.alert_emails.0", "e-mail"],
    ),
    (
        "infinite budget",
        _with(BASE_SPEC, "budget", {"monthly_limit_usd": float("inf")}),
        ["budget.monthly_limit_usd", "finite"],
    ),
    (
        "absurd budget",
        _with(BASE_SPEC, "budget", {"monthly_limit_usd": 1e15}),
        ["budget.monthly_limit_usd", "not a monthly budget"],
    ),
    (
        "NaN threshold ratio",
        _with(BASE_SPEC, "monitoring", {"error_ratio_threshold": float("nan")}),
        ["monitoring.error_ratio_threshold", "finite"],
    ),
    (
        "absurd latency SLO",
        _with(BASE_SPEC, "serving", {"models": [{"name": "m", "latency_slo_ms": 10**9}]}),
        ["serving.models.0.latency_slo_ms", "600000"],
    ),
    (
        "absurd idle minutes",
        _with(BASE_SPEC, "monitoring", {"gpu_idle_minutes": 10**7}),
        ["monitoring.gpu_idle_minutes", "a week"],
    ),
    (
        "budget threshold out of range",
        _with(BASE_SPEC, "budget", {"thresholds_percent": [0, 80]}),
        ["budget.thresholds_percent.0", "1-1000"],
    ),
    (
        "too many budget thresholds",
        _with(
            BASE_SPEC,
            "budget",
            {"alert_emails": ["a@acme.example"], "thresholds_percent": [10, 20, 30, 40, 50]},
        ),
        ["budget.thresholds_percent", "5 notifications"],
    ),
    (
        "saturation ratio above 1",
        _with(BASE_SPEC, "monitoring", {"gpu_memory_saturation": 1.5}),
        ["monitoring.gpu_memory_saturation", "1.5"],
    ),
    (
        "tag value past AWS's limit",
        _with(BASE_SPEC, "tags.extra", {"project": "x" * 300}),
        ["tags.extra.project", "256"],
    ),
    (
        "tag key AWS reserves",
        _with(BASE_SPEC, "tags.extra", {"aws:cost": "x"}),
        ["tags.extra.aws:cost", "aws:"],
    ),
    (
        "extra tag that shadows a required one",
        _with(BASE_SPEC, "tags.extra", {"owner": "someone-else"}),
        ["tags.extra.owner", "set from the spec"],
    ),
    (
        "owner that no label accepts",
        _with(BASE_SPEC, "tags", {"owner": "ML Platform", "cost_center": "cc-1"}),
        ["tags.owner", "label value"],
    ),
    (
        "label key Kubernetes refuses",
        _with(BASE_SPEC, "gpu_pools.0.labels", {"team/": "a"}),
        ["gpu_pools.0.labels.team/", "label key"],
    ),
    (
        "label key the kubelet refuses",
        _with(BASE_SPEC, "gpu_pools.0.labels", {"kubernetes.io/role": "gpu"}),
        ["gpu_pools.0.labels.kubernetes.io/role", "kubelet"],
    ),
    (
        "label value too long",
        _with(BASE_SPEC, "gpu_pools.0.labels", {"team": "x" * 64}),
        ["gpu_pools.0.labels.team", "label value"],
    ),
    (
        "reserved label",
        _with(BASE_SPEC, "gpu_pools.0.labels", {"mlinfra.io/pool": "x"}),
        ["gpu_pools.0.labels.mlinfra.io/pool", "set by mlinfra"],
    ),
    (
        "label key too long for the autoscaler's tag",
        _with(BASE_SPEC, "gpu_pools.0.labels", {"team-" + "a" * 30 + ".example/" + "t" * 63: "x"}),
        ["gpu_pools.0.labels.team-aaa", "Auto Scaling tag", "at most 82"],
    ),
    (
        "replicas x GPUs past the pools",
        _with(
            BASE_SPEC,
            "serving",
            {"models": [{**{"name": "m", "gpu_pool": "a10g", "gpus": 1}, "max_replicas": 9}]},
        ),
        ["serving.models.0.max_replicas", "exceed the 2 nvidia-a10g GPUs"],
    ),
    (
        "models at min replicas past the pools",
        _with(
            BASE_SPEC,
            "serving",
            {"models": [{"name": n, "gpu_pool": "a10g", "gpus": 1, "max_replicas": 2} for n in "abc"]},
        ),
        ["serving.models.2.min_replicas", "need 3 GPUs"],
    ),
    (
        "GPU model on a pool asking for 0 GPUs",
        _with(BASE_SPEC, "serving", {"models": [{"name": "m", "gpu_pool": "a10g", "gpus": 0}]}),
        ["serving.models.0.gpus", "0 GPUs on GPU pool"],
    ),
    (
        "GPUs without a pool",
        _with(BASE_SPEC, "serving", {"models": [{"name": "m", "gpus": 2}]}),
        ["serving.models.0.gpus", "no gpu_pool"],
    ),
    (
        "GPU quota of 0 with a GPU model",
        _with(
            BASE_SPEC,
            "serving",
            {"quota": {"gpus": 0}, "models": [{"name": "m", "gpu_pool": "a10g", "gpus": 1}]},
        ),
        ["serving.quota.gpus", "quota of 0"],
    ),
    (
        "CPU that never fits the node",
        _with(
            BASE_SPEC, "serving", {"models": [{**{"name": "m", "gpu_pool": "a10g", "gpus": 1}, "cpu": "4"}]}
        ),
        ["serving.models.0.cpu", "never fits a g5.xlarge"],
    ),
    (
        "memory that never fits the node",
        _with(
            BASE_SPEC,
            "serving",
            {"models": [{**{"name": "m", "gpu_pool": "a10g", "gpus": 1}, "memory": "16Gi"}]},
        ),
        ["serving.models.0.memory", "allocatable"],
    ),
    (
        "replica bigger than the quota",
        _with(BASE_SPEC, "serving", {"quota": {"cpu": "1"}, "models": [{"name": "m", "cpu": "2"}]}),
        ["serving.models.0.cpu", "quota allows 1"],
    ),
    (
        "models at min replicas past the pod quota",
        _with(
            BASE_SPEC,
            "serving",
            {"quota": {"pods": 3}, "models": [{"name": "m", "min_replicas": 4, "max_replicas": 4}]},
        ),
        ["serving.quota.pods", "need 4 pods"],
    ),
    (
        "serving in a reserved namespace",
        _with(BASE_SPEC, "serving", {"namespace": "kube-system"}),
        ["serving.namespace", "reserved"],
    ),
    (
        "serving and monitoring sharing a namespace",
        _with(BASE_SPEC, "serving", {"namespace": "monitoring"}),
        ["serving.namespace", "monitoring.namespace"],
    ),
    (
        "image that is no reference",
        _with(
            BASE_SPEC,
            "serving",
            {"models": [{"name": "m", "runtime": "image", "command": ["serve"], "image": "Vllm/VLLM:v1"}]},
        ),
        ["serving.models.0.image", "image reference"],
    ),
    (
        "CPU target on a model that scales on load",
        _with(
            BASE_SPEC,
            "serving",
            {"models": [{"name": "m", "runtime": "vllm", "target_utilization_percent": 30}]},
        ),
        ["serving.models.0.target_utilization_percent", "load_target"],
    ),
    (
        "load target on a model that scales on CPU",
        _with(
            BASE_SPEC,
            "serving",
            {
                "models": [
                    {"name": "m", "runtime": "image", "image": "r/s:1", "command": ["s"], "load_target": 3}
                ]
            },
        ),
        ["serving.models.0.load_target", "scales on CPU"],
    ),
    (
        "load target without Prometheus",
        _with(
            _with(BASE_SPEC, "monitoring", {"enabled": False}),
            "serving",
            {"models": [{"name": "m", "runtime": "vllm", "load_target": 3}]},
        ),
        ["serving.models.0.load_target", "no Prometheus"],
    ),
    (
        "scale to zero without a load metric",
        _with(
            BASE_SPEC,
            "serving",
            {
                "models": [
                    {"name": "m", "runtime": "image", "image": "r/s:1", "command": ["s"], "min_replicas": 0}
                ]
            },
        ),
        ["serving.models.0.min_replicas", "cannot scale to zero"],
    ),
    (
        "scale to zero outside dev",
        _with(PROD_SPEC, "serving", {"models": [{"name": "m", "runtime": "vllm", "min_replicas": 0}]}),
        ["serving.models.0.min_replicas", "dev only"],
    ),
    (
        "slack channel with spaces",
        _with(BASE_SPEC, "monitoring", {"alerting": {"slack_channel": "#ml alerts"}}),
        ["monitoring.alerting.slack_channel", "Slack channel"],
    ),
    (
        "layout fields next to an existing network",
        _with(
            BASE_SPEC,
            "network",
            {"cidr": "10.1.0.0/16", "existing": {"network_id": "vpc-1", "private_subnet_ids": ["a", "b"]}},
        ),
        ["network.cidr", "network.existing"],
    ),
    (
        "duplicate existing subnets",
        _with(BASE_SPEC, "network", {"existing": {"network_id": "vpc-1", "private_subnet_ids": ["a", "a"]}}),
        ["network.existing.private_subnet_ids.1", "duplicate"],
    ),
]


@pytest.mark.parametrize(("case", "data", "expected"), BAD_SPECS, ids=[c[0] for c in BAD_SPECS])
def test_bad_spec_gives_one_clear_error(case, data, expected):
    message = _error(data)
    assert message.startswith("invalid spec: "), message
    assert "\n" not in message, f"{case}: expected one error, got:\n{message}"
    for fragment in expected:
        assert fragment in message, f"{case}: {fragment!r} not in {message!r}"


# ---------------------------------------------------------------- profiles


def test_profiles_fill_defaults_per_environment():
    dev, prod = make_spec(), make_spec(PROD_SPEC)
    assert (dev.network.zone_count, dev.network.nat_gateways, dev.network.flow_logs) == (2, "single", False)
    assert (prod.network.zone_count, prod.network.nat_gateways, prod.network.flow_logs) == (
        3,
        "per_zone",
        True,
    )
    assert not dev.protect_stateful and prod.protect_stateful
    assert dev.encryption.key_deletion_window_days == 7 and prod.encryption.key_deletion_window_days == 30
    assert prod.serving.internal_load_balancer and not dev.serving.internal_load_balancer
    assert prod.artifacts.access_logging and not dev.artifacts.access_logging
    assert prod.monitoring.retention_days > dev.monitoring.retention_days
    assert prod.aws is not None and prod.aws.workload_identity == "irsa"


def test_spec_overrides_profile():
    spec = make_spec(PROD_SPEC, network={"cidr": "10.40.0.0/16", "zone_count": 4})
    assert spec.network.zone_count == 4
    assert spec.network.nat_gateways == "per_zone"  # the rest of the profile still applies


def test_prod_spot_only_allowed_with_explicit_override_and_reason():
    data = _with(
        PROD_SPEC, "gpu_pools", [{"name": "s", "machine_type": "g5.xlarge", "capacity_type": "spot"}]
    )
    data["guardrails"] = {"allow_spot_only_gpu": True}
    assert "override_reason" in _error(data)
    data["guardrails"]["override_reason"] = "batch-only inference, interruptions acceptable"
    assert PlatformSpec.load(data).gpu_pools[0].capacity_type == "spot"


def test_model_storage_paths():
    spec = make_spec(
        serving={
            "models": [{"name": "m", "version": "v1/", "canary": {"traffic_percent": 5, "version": "v2/"}}]
        }
    )
    model = spec.serving.models[0]
    assert (model.prefix, model.storage_path, model.canary_storage_path) == (
        "models/m/",
        "models/m/v1/",
        "models/m/v2/",
    )


def test_required_tags():
    tags = make_spec().required_tags
    assert tags["owner"] == "ml-platform" and tags["cost-center"] == "cc-1234"
    assert tags["environment"] == "dev" and tags["managed-by"] == "mlinfra"


def test_shipped_stack_configs_are_valid_specs():
    cidrs = set()
    for env in ("dev", "staging", "prod"):
        doc = yaml.safe_load(Path(f"stacks/aws/Pulumi.{env}.yaml").read_text())
        spec = PlatformSpec.load(doc["config"]["mlinfra:platform"])
        assert spec.environment == env
        cidrs.add(spec.network.cidr)
    assert len(cidrs) == 3, "each environment has its own address space"


def test_profiles_are_valid_for_every_environment():
    for env in PROFILES:
        pools = [{"name": "od", "machine_type": "g5.xlarge", "capacity_type": "on_demand", "max_nodes": 2}]
        spec = PlatformSpec.load(
            {**copy.deepcopy(BASE_SPEC), "environment": env, "cluster": {}, "gpu_pools": pools}
        )
        assert spec.environment == env


# ---------------------------------------------------------------- property-based


@settings(max_examples=150, deadline=None)
@given(lo=st.integers(0, 50), mid=st.integers(0, 50), hi=st.integers(1, 50))
def test_node_counts_accepted_iff_ordered(lo, mid, hi):
    data = {"name": "p", "machine_type": "g5.xlarge", "min_nodes": lo, "desired_nodes": mid, "max_nodes": hi}
    if lo <= mid <= hi:
        pool = GpuPoolSpec.model_validate(data)
        assert pool.min_nodes <= pool.desired_nodes <= pool.max_nodes
    else:
        with pytest.raises(ValueError, match="min_nodes <= desired_nodes <= max_nodes"):
            GpuPoolSpec.model_validate(data)


@settings(max_examples=150, deadline=None)
@given(
    second=st.integers(0, 255),
    prefix=st.integers(16, 22),
    zones=st.integers(2, 6),
)
def test_derived_subnets_are_inside_and_disjoint(second, prefix, zones):
    cidr = str(ipaddress.ip_network(f"10.{second}.0.0/{prefix}", strict=False))
    spec = NetworkSpec(cidr=cidr, zone_count=zones)
    private, public = spec.subnet_layout()
    assert len(private) == len(public) == zones
    nets = [ipaddress.ip_network(c) for c in private + public]
    parent = ipaddress.ip_network(cidr)
    assert all(n.subnet_of(parent) for n in nets)
    for i, a in enumerate(nets):
        for b in nets[i + 1 :]:
            assert not a.overlaps(b)


@settings(max_examples=100, deadline=None)
@given(
    machine=st.sampled_from(sorted(GPU_MACHINE_TYPES["aws"])),
    name=st.from_regex(r"[a-z][a-z0-9]{0,10}", fullmatch=True),
)
def test_every_catalogued_gpu_type_is_accepted(machine, name):
    spec = make_spec(gpu_pools=[{"name": name, "machine_type": machine, "max_nodes": 2}])
    assert spec.gpu_type(spec.gpu_pools[0]).gpus >= 1


@settings(max_examples=100, deadline=None)
@given(name=st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC0123456789.-_", min_size=1, max_size=70))
def test_bucket_names_follow_s3_rules(name):
    data = _with(BASE_SPEC, "artifacts", {"bucket_name": name})
    valid = (
        3 <= len(name) <= 63
        and all(c.islower() or c.isdigit() or c in ".-" for c in name)
        and name[0].isalnum()
        and name[-1].isalnum()
        and ".." not in name
        and not name.startswith("xn--")
    )
    try:
        PlatformSpec.load(data)
        accepted = True
    except SpecError as e:
        assert "artifacts.bucket_name" in str(e)
        accepted = False
    if not valid:
        assert not accepted


@pytest.mark.parametrize(
    ("cloud", "region", "expected"), [("aws", "us-east-1", "private"), ("gcp", "us-central1", "dns")]
)
def test_api_access_defaults_per_cloud(cloud, region, expected):
    data = {**PROD_SPEC, "cloud": cloud, "region": region, "gpu_pools": [], "serving": {"models": []}}
    data.pop("aws", None)
    if cloud == "gcp":
        data["gcp"] = {"project": "acme-ml-prod"}
    assert PlatformSpec.load(data).cluster.api_access == expected


# ---------------------------------------------------------------- the spec's tables against the code that uses them


def test_reserved_names_match_the_layer():
    from mlinfra.k8s import gpu, scheduling
    from mlinfra.k8s.serving import common
    from mlinfra.spec import RESERVED_LABEL_PREFIX, RESERVED_NAMESPACES, RESERVED_NODE_LABELS

    for ns in (
        common.INGRESS_NAMESPACE,
        common.CERT_MANAGER_NAMESPACE,
        common.KSERVE_NAMESPACE,
        common.KEDA_NAMESPACE,
    ):
        assert ns in RESERVED_NAMESPACES
    assert gpu.GpuEnablementArgs.__dataclass_fields__["namespace"].default in RESERVED_NAMESPACES
    for label in (
        scheduling.POOL_LABEL,
        scheduling.ACCELERATOR_LABEL,
        scheduling.CAPACITY_LABEL,
        scheduling.GPU_NODE_LABEL,
    ):
        assert label.startswith(RESERVED_LABEL_PREFIX)
    assert gpu.DEVICE_PLUGIN_CONFIG_LABEL in RESERVED_NODE_LABELS
    from mlinfra.aws.gpu_node_pool import AWS_ACCELERATOR_LABEL, NODE_TEMPLATE_PREFIX
    from mlinfra.spec import AwsRules

    assert AWS_ACCELERATOR_LABEL in AwsRules.RESERVED_NODE_LABELS

    assert f"{NODE_TEMPLATE_PREFIX}/label/" == AwsRules.NODE_TEMPLATE_LABEL_PREFIX


def test_network_zones_come_from_the_catalogue():
    from mlinfra.aws.network import zone_names
    from mlinfra.catalog import REGION_ZONES

    assert zone_names("ap-northeast-1", 3) == ["ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d"]
    assert zone_names("us-east-1", 2) == ["us-east-1a", "us-east-1b"]
    for region, zones in REGION_ZONES["aws"].items():
        assert len(zones) >= 2 and all(z.startswith(region) for z in zones), region
        # the spec admits zone_count up to the catalogue's count, and the network can place that many
        assert zone_names(region, len(zones)) == list(zones)


def test_existing_cluster_layer_makes_the_same_cross_checks():
    """`in_cluster_layer` (the existing-cluster path) refuses what PlatformSpec refuses."""
    import pulumi

    from mlinfra.k8s.layer import InClusterLayerArgs, in_cluster_layer
    from mlinfra.spec import GpuPoolSpec, MonitoringSpec, ServingSpec, TagsSpec

    serving = ServingSpec.model_validate({"models": [{"name": "m", "gpu_pool": "nope", "gpus": 1}]})
    args = InClusterLayerArgs(
        environment="dev",
        tags=TagsSpec(owner="a", cost_center="b"),
        gpu_pools=[GpuPoolSpec(name="t4", machine_type="g4dn.xlarge")],
        serving=serving,
        monitoring=MonitoringSpec(),
        cloud="aws",
        kubernetes_version="1.33",
        storage_uri=lambda path: path,
        identity=lambda model: {},
    )
    with pytest.raises(SpecError) as err:
        in_cluster_layer("", args, pulumi.ResourceOptions())
    assert err.value.field == "serving.models.0.gpu_pool" and "t4" in str(err.value)


# ---------------------------------------------------------------- the property of issue 13


_BUDGETS: dict[str, object] = {}


@pytest.mark.parametrize("cloud", __import__("tests.spec_property", fromlist=["CLOUDS"]).CLOUDS)
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_validation_refuses_with_a_field_or_the_plan_builds(cloud, data):
    """For generated specs of every implemented cloud: refused naming a field, or the platform plans.

    300 examples per cloud; the first 8 distinct specs that validate are planned (~1 s each),
    the others are checked to validate without a crash. benchmarks/spec_fuzz.py plans them all.
    """
    from tests.spec_property import PlanBudget, check, platform_specs

    budget = _BUDGETS.setdefault(cloud, PlanBudget(limit=8))
    check(data.draw(platform_specs(cloud)), plan=budget)


def test_scales_on_load_matches_the_runtime_table():
    """The spec's predicate and mlinfra.k8s.serving.runtimes agree on which models scale on load."""
    from mlinfra.k8s.serving.runtimes import RUNTIME_TABLE
    from mlinfra.spec import ModelSpec, scales_on_load

    for runtime in RUNTIME_TABLE:
        for load_metric in (None, "server_requests_in_flight"):
            extra = (
                {"image": "r/s:1", "command": ["s"], "load_metric": load_metric} if runtime == "image" else {}
            )
            model = ModelSpec.model_validate({"name": "m", "runtime": runtime, **extra})
            has_load = RUNTIME_TABLE[runtime].load_for(model) is not None
            assert scales_on_load(model, prometheus=True) == has_load, (runtime, load_metric)
            assert not scales_on_load(model, prometheus=False)


def test_private_access_cidrs_are_refused_on_clouds_without_authorized_networks():
    """Only GKE's master authorized networks take the ranges: elsewhere the field would be ignored."""
    data = copy.deepcopy(BASE_SPEC)
    data["cluster"] = {"api_access": "private", "private_access_cidrs": ["10.200.0.0/24"]}
    with pytest.raises(SpecError) as e:
        PlatformSpec.load(data)
    assert e.value.field == "cluster.private_access_cidrs"
