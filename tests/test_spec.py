"""Spec validation: profiles, cross-field checks, one clear error per bad spec."""

from __future__ import annotations

import copy
import ipaddress
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
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
        ["registry.repositories.0", "'Models'", "ECR repository name"],
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
