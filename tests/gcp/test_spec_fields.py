"""Every leaf field of the spec either changes the GCP plan or is refused for GCP naming it.

One case per leaf (`CASES`); a new spec field fails `test_every_leaf_field_has_a_case` until it is
classified here. A "plan" case loads the base spec with the one field changed and expects a
different plan (resources, inputs or outputs); a "refused" case expects a SpecError naming the
field (or its enclosing block). Some fields only act together with another one (flow-log retention
with flow logs on, the budget with a billing account, canary fields with a canary): the base spec
turns those on, so each field is tested where it is live.
"""

from __future__ import annotations

import copy
import json
import typing
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from unittest import mock

import pulumi
import pytest
import yaml
from pydantic import BaseModel

from mlinfra.platform import MlPlatform, PlatformSecrets
from mlinfra.spec import RECEIVER_SECRET_KEYS, PlatformSpec, SpecError
from tests.conftest import plan_of
from tests.gcp.plans import ROOT

# The staging stack with every conditional feature switched on.
_STAGING = yaml.safe_load((ROOT / "stacks/gcp/Pulumi.staging.yaml").read_text())["config"]["mlinfra:platform"]
BASE: dict[str, Any] = {
    **copy.deepcopy(_STAGING),
    "gcp": {"project": "acme-ml-staging", "billing_account": "012345-6789AB-CDEF01"},
    "cluster": {
        **_STAGING["cluster"],
        # 4 system nodes split over 2 and over 4 zones (zone_count is mutated to 4).
        "system_pool": {"min_nodes": 2, "desired_nodes": 4, "max_nodes": 8},
    },
    "gpu_pools": [
        {"name": "l4", "machine_type": "g2-standard-8", "min_nodes": 0, "desired_nodes": 2, "max_nodes": 4},
        {"name": "l4-spot", "machine_type": "g2-standard-8", "capacity_type": "spot", "max_nodes": 4},
    ],
    "serving": {
        **_STAGING["serving"],
        # An ACME issuer (staging's default is private-ca), so serving.acme_email is live.
        "tls_issuer": "letsencrypt",
        "internal_load_balancer": False,
        "models": [
            {
                **_STAGING["serving"]["models"][0],
                "canary": {"traffic_percent": 10, "version": "2026-11-01/"},
            },
            {
                "name": "embedder",
                "runtime": "image",
                "image": "us-docker.pkg.dev/acme/serving/embedder:1.4.2",
                "command": ["python", "-m", "embedder.serve"],
                "args": ["--model-dir", "/mnt/models"],
                "version": "2026-09-15/",
                "gpu_pool": "l4-spot",
                "gpus": 1,
                "cpu": "2",
                "memory": "8Gi",
                # no load_metric: scales on CPU, so target_utilization_percent is live
                "canary": {"traffic_percent": 10, "image": "us-docker.pkg.dev/acme/serving/embedder:1.5.0"},
            },
        ],
    },
    "monitoring": {"alerting": {"slack_channel": "#ml", "pagerduty": True, "webhook": True}},
    "budget": {"monthly_limit_usd": 8000, "alert_emails": ["finops@acme.example"]},
}
EXISTING = {
    "network.existing": {
        "network_id": "projects/acme-net/global/networks/shared",
        "private_subnet_ids": ["projects/acme-net/regions/us-central1/subnetworks/ml-nodes"],
    }
}


@dataclass(frozen=True)
class Case:
    path: str  # the dotted path changed (list entries by index)
    value: Any
    refused: str | None = None  # a fragment of the refusal; None: the plan must change
    base: dict[str, Any] = field(default_factory=dict)  # set on both sides (a context the field needs)
    named: str | None = None  # the field the refusal names when not `path` (its enclosing block)


CASES = [
    Case("name", "acme-ml2"),
    Case("region", "europe-west4", base={"gcp.zones": None}),
    Case(
        "environment",
        "prod",
        base={
            "cluster.system_pool": {"min_nodes": 3, "desired_nodes": 6, "max_nodes": 12},
            "gpu_pools.0.desired_nodes": 0,
        },
    ),
    Case("network.cidr", "10.30.0.0/20"),
    Case("network.zone_count", 4, base={"gpu_pools.0.desired_nodes": 0}),
    Case("network.private_subnet_cidrs", ["10.20.0.0/22", "10.20.4.0/22"], refused="regional"),
    Case("network.public_subnet_cidrs", ["10.20.8.0/22", "10.20.12.0/22"], refused="regional"),
    Case("network.nat_gateways", "per_zone"),
    Case("network.flow_logs", False),
    Case("network.flow_log_retention_days", 30),
    Case("network.service_cidr", "172.21.0.0/16"),
    Case("network.existing.network_id", "projects/acme-net/global/networks/other", base=EXISTING),
    Case(
        "network.existing.private_subnet_ids",
        ["projects/acme-net/regions/us-central1/subnetworks/other"],
        base=EXISTING,
    ),
    Case("network.existing.public_subnet_ids", ["public"], refused="no public subnets", base=EXISTING),
    Case("cluster.kubernetes_version", "1.34"),
    Case("cluster.api_access", "private"),
    Case(
        "cluster.public_access_cidrs",
        ["198.51.100.0/24"],
        base={
            "environment": "dev",
            "cluster.api_access": "public",
            "cluster.public_access_cidrs": ["203.0.113.0/24"],
        },
    ),
    Case("cluster.admin_principals", ["user:someone-else@acme.example"]),
    Case("cluster.log_retention_days", 30),
    Case("cluster.version_support", "extended"),  # GKE's EXTENDED release channel
    Case("cluster.system_pool.min_nodes", 4),
    Case("cluster.system_pool.desired_nodes", 2),
    Case("cluster.system_pool.max_nodes", 10),
    Case("cluster.system_pool.machine_type", "e2-standard-8"),
    Case("cluster.system_pool.disk_size_gb", 80),
    Case("gpu_pools.0.min_nodes", 2),
    Case("gpu_pools.0.desired_nodes", 4),
    Case("gpu_pools.0.max_nodes", 6),
    Case("gpu_pools.1.name", "l4-burst", base={"serving.models.1.gpu_pool": "l4"}),
    Case("gpu_pools.0.machine_type", "g2-standard-12"),
    Case("gpu_pools.1.capacity_type", "on_demand"),
    Case("gpu_pools.0.disk_size_gb", 300),
    Case("gpu_pools.0.time_slicing_replicas", 2),
    Case("gpu_pools.0.labels", {"team": "search"}),
    Case("artifacts.bucket_name", "acme-ml-staging-models"),
    Case("artifacts.noncurrent_version_expiration_days", 45),
    Case("artifacts.abort_incomplete_multipart_days", 3),
    Case("artifacts.infrequent_access_after_days", 30),
    Case("artifacts.access_logging", True),
    Case("registry.repositories", ["models", "serving", "tools"]),
    Case("registry.untagged_expiry_days", 3),
    Case("registry.keep_tagged_images", 20),
    Case("serving.enabled", False, base={"serving.models": []}),
    Case("serving.namespace", "inference"),
    Case("serving.domain", "models.other.example"),
    Case("serving.internal_load_balancer", True, base={"serving.tls_issuer": "selfsigned"}),
    Case("serving.tls_issuer", "selfsigned"),
    Case("serving.acme_email", "certs@acme.example"),
    Case("serving.quota.gpus", 6),
    Case("serving.quota.cpu", "48"),
    Case("serving.quota.memory", "192Gi"),
    Case("serving.quota.pods", 40),
    Case("serving.models.0.name", "ranker"),
    Case("serving.models.0.runtime", "vllm"),
    Case("serving.models.1.image", "us-docker.pkg.dev/acme/serving/embedder:1.4.3"),
    Case("serving.models.1.command", ["python", "-m", "embedder.serve2"]),
    Case("serving.models.1.args", ["--model-dir", "/mnt/models", "--workers", "2"]),
    # One format exists (KServe's Hugging Face server): any other is refused.
    Case("serving.models.0.model_format", "pytorch", refused="huggingface"),
    Case("serving.models.0.storage_prefix", "models/ranker-v2/"),
    Case("serving.models.1.gpu_pool", "l4"),
    Case("serving.models.0.gpus", 2, base={"gpu_pools.0.machine_type": "g2-standard-24"}),
    Case("serving.models.0.cpu", "3"),
    Case("serving.models.0.memory", "12Gi"),
    Case("serving.models.0.min_replicas", 2),
    Case("serving.models.0.max_replicas", 3),
    Case("serving.models.1.port", 9000),
    Case("serving.models.1.health_path", "/ready"),
    Case("serving.models.1.load_metric", "embedder_requests_in_flight"),
    Case("serving.models.0.load_target", 3.0),
    Case("serving.models.0.version", "2026-10-15/"),
    Case("serving.models.0.canary.traffic_percent", 20),
    Case("serving.models.1.canary.image", "us-docker.pkg.dev/acme/serving/embedder:1.5.1"),
    Case("serving.models.0.canary.version", "2026-11-02/"),
    Case("serving.models.0.canary.max_replicas", 2),
    Case("serving.models.0.latency_slo_ms", 300),
    Case("serving.models.1.target_utilization_percent", 50),
    Case("monitoring.enabled", False),
    Case("monitoring.namespace", "observability"),
    Case("monitoring.retention_days", 14),
    Case("monitoring.prometheus_storage_gb", 200),
    Case("monitoring.grafana_storage_gb", 20),
    Case("monitoring.gpu_idle_minutes", 30),
    Case("monitoring.gpu_memory_saturation", 0.8),
    Case("monitoring.error_ratio_threshold", 0.02),
    Case("monitoring.alerting.slack_channel", "#ml-other"),
    Case("monitoring.alerting.pagerduty", False),
    Case("monitoring.alerting.webhook", False),
    Case("monitoring.alerting.dead_mans_switch", True),
    Case("tags.owner", "search-team"),
    Case("tags.cost_center", "cc-0815"),
    Case("tags.extra", {"project": "search"}),
    Case("budget.monthly_limit_usd", 9000),
    Case("budget.alert_emails", ["finops@acme.example", "ml-platform@acme.example"]),
    Case("budget.thresholds_percent", [60, 90]),
    Case("encryption.key_deletion_window_days", 21),
    Case("aws.workload_identity", "pod_identity", refused="aws", named="aws"),
    Case("aws.system_machine_type", "m6i.xlarge", refused="aws", named="aws"),
    Case("gcp.project", "acme-ml-other"),
    Case("gcp.zones", ["us-central1-b", "us-central1-c"]),
    Case("gcp.regional", True, base={"environment": "dev"}),  # dev is zonal by default
    Case("gcp.release_channel", "STABLE"),
    Case("gcp.gke_version", "1.33.4-gke.1172000"),  # the offline mock resolves 1.33.5-gke.1201000
    Case("gcp.pods_cidr", "10.128.0.0/14"),
    Case("gcp.control_plane_cidr", "172.16.0.16/28"),
    Case("gcp.pods_range_name", "gke-pods"),
    Case("gcp.services_range_name", "gke-services"),
    Case("gcp.workload_identity", "gsa"),
    Case("gcp.key_rotation_days", 30),
    Case("gcp.billing_account", "ABCDEF-012345-6789AB"),
    # Without a billing account a written budget is refused, not dropped.
    Case("gcp.billing_account", None, refused="billing account"),
]
# Fields that change no plan by design, with the reason.
NOT_IN_THE_PLAN = {
    "cloud": "selects the platform (a different cloud's plan altogether)",
    "guardrails.allow_spot_only_gpu": "read by the policy engine over the plan, not by the plan",
    "guardrails.override_reason": "read by the policy engine over the plan, not by the plan",
}


def _leaves(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        ann = info.annotation
        is_list = typing.get_origin(ann) is list
        candidates = typing.get_args(ann) if is_list else [ann, *typing.get_args(ann)]
        sub = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if sub is None:
            out.append(path)
        else:
            out += _leaves(sub, f"{path}.0." if is_list else f"{path}.")
    return out


def _template(path: str) -> str:
    """`gpu_pools.1.name` -> `gpu_pools.0.name`: the leaf a case stands for."""
    return ".".join("0" if part.isdigit() else part for part in path.split("."))


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    if last.isdigit():
        node[int(last)] = value
    else:
        node[last] = copy.deepcopy(value)


def _spec(patches: dict[str, Any]) -> PlatformSpec:
    data = copy.deepcopy(BASE)
    for path, value in patches.items():
        _set(data, path, value)
    return PlatformSpec.load(data)


def _fingerprint(spec: PlatformSpec) -> str:
    """The plan's resources, inputs and outputs, with secrets in the clear: some fields reach only
    secret values (the Alertmanager config holds receiver URLs), which the offline plan masks."""
    alerting = spec.monitoring.alerting
    enabled = {
        "slack": bool(alerting.slack_channel),
        "pagerduty": alerting.pagerduty,
        "webhook": alerting.webhook,
        "deadmansswitch": alerting.dead_mans_switch,
    }
    secrets = PlatformSecrets(
        grafana_admin_password="offline",
        alert_receivers={r: f"offline-{r}" for r in RECEIVER_SECRET_KEYS if enabled.get(r)},
    )
    with mock.patch.object(pulumi.Output, "secret", staticmethod(pulumi.Output.from_input)):
        plan = plan_of(lambda: MlPlatform(spec.prefix, spec, secrets), region=spec.region)
    resources = sorted((r.urn, json.dumps(r.inputs, sort_keys=True, default=str)) for r in plan.resources)
    return json.dumps([resources, json.dumps(plan.outputs, sort_keys=True, default=str)])


@cache
def _base_fingerprint(base: str) -> str:
    return _fingerprint(_spec(json.loads(base)))


def test_every_leaf_field_has_a_case():
    covered = {_template(c.path) for c in CASES} | set(NOT_IN_THE_PLAN)
    leaves = set(_leaves(PlatformSpec))
    assert leaves - covered == set(), "spec fields without a GCP case"
    assert covered - leaves == set(), "cases for fields the spec no longer has"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.path)
def test_field_changes_the_gcp_plan_or_is_refused(case: Case):
    if case.refused is not None:
        with pytest.raises(SpecError, match=case.refused) as e:
            _spec({**case.base, case.path: case.value})
        assert f"{case.named or case.path}:" in str(e.value)
        return
    base = _base_fingerprint(json.dumps(case.base, sort_keys=True))
    assert _fingerprint(_spec({**case.base, case.path: case.value})) != base, (
        f"{case.path}: the GCP plan does not change"
    )
