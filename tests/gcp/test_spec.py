"""The spec for cloud gcp: the `gcp` block, its profile, and every GCP rule checked before any
resource is registered (names, zones, ranges, accelerators, sizes, principals, labels)."""

from __future__ import annotations

import copy

import pytest

from mlinfra.spec import PlatformSpec, SpecError, gcp_pool_zones, gcp_service_account_id, gcp_zones
from tests.conftest import BASE_SPEC
from tests.gcp.support import GCP_PROD_SPEC, GCP_SPEC, gcp_spec


def _with(base, **changes):
    data = copy.deepcopy(base)
    for path, value in changes.items():
        node = data
        *parents, leaf = path.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return data


def test_profiles_fill_the_gcp_block():
    dev, prod = gcp_spec(), gcp_spec(GCP_PROD_SPEC)
    assert (dev.gcp.regional, dev.gcp.release_channel) == (False, "REGULAR")
    assert (prod.gcp.regional, prod.gcp.release_channel) == (True, "STABLE")
    assert dev.cluster.api_access == "dns"
    assert (
        gcp_spec(gcp={"project": "acme-ml-dev", "release_channel": "STABLE"}).gcp.release_channel == "STABLE"
    )


def test_gcp_block_is_required_for_gcp_and_refused_for_aws():
    data = copy.deepcopy(GCP_SPEC)
    del data["gcp"]
    with pytest.raises(SpecError, match="gcp.project: field required"):
        PlatformSpec.load(data)
    with pytest.raises(SpecError, match="section 'gcp' is set but cloud is 'aws'"):
        PlatformSpec.load({**BASE_SPEC, "gcp": {"project": "acme-ml-dev"}})


def test_zones_come_from_the_catalogue_or_the_spec():
    assert gcp_zones(gcp_spec()) == ["us-central1-a", "us-central1-b"]
    assert gcp_zones(gcp_spec(GCP_PROD_SPEC)) == ["europe-west4-a", "europe-west4-b", "europe-west4-c"]
    # us-east1 has no zone "a" (pitfall: zone letters are not always a/b/c)
    east = gcp_spec(region="us-east1", gpu_pools=[])
    assert gcp_zones(east) == ["us-east1-b", "us-east1-c"]
    explicit = gcp_spec(
        gcp={"project": "acme-ml-dev", "zones": ["us-central1-c", "us-central1-f"]}, gpu_pools=[]
    )
    assert gcp_zones(explicit) == ["us-central1-c", "us-central1-f"]


def test_gpu_pools_use_the_cluster_zones_offering_their_gpu():
    spec = gcp_spec(gcp={"project": "acme-ml-dev", "zones": ["us-central1-b", "us-central1-f"]})
    assert gcp_pool_zones(spec, 0) == ["us-central1-b"]  # L4: a, b, c
    assert gcp_pool_zones(spec, 1) == ["us-central1-b", "us-central1-f"]  # T4: a, b, c, f


def test_version_support_is_the_gke_release_channel_and_the_system_type_is_pinned():
    """cluster.version_support extended = GKE's EXTENDED channel; the profile fills it, and the
    system pool's machine type (the one field on every cloud) gets the pinned GCP default."""
    extended = gcp_spec(cluster={"api_access": "dns", "version_support": "extended"})
    assert extended.gcp.release_channel == "EXTENDED"
    assert gcp_spec(GCP_PROD_SPEC).gcp.release_channel == "STABLE"
    assert gcp_spec().cluster.system_pool.machine_type == "e2-standard-4"


def test_long_names_get_valid_service_account_ids():
    assert gcp_service_account_id("acme-ml-dev", "nodes") == "acme-ml-dev-nodes"
    long = gcp_service_account_id("acme-recommendations-staging", "nodes")
    assert len(long) <= 30 and long.startswith("acme-recommendations")
    assert long != gcp_service_account_id("acme-recommendations-staging", "m-reranker")


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        (_with(GCP_SPEC, gcp__project="Acme"), "gcp.project", "not a project ID"),
        (_with(GCP_SPEC, gcp__zones=["us-central1-a"]), "gcp.zones", "network.zone_count is 2"),
        (_with(GCP_SPEC, gcp__zones=["us-east1-b", "us-east1-c"]), "gcp.zones", "not in region"),
        (_with(GCP_SPEC, region="asia-south2"), "region", "or set gcp.zones"),
        (_with(GCP_SPEC, network__zone_count=5), "network.zone_count", "us-central1 has 4"),
        (
            _with(
                GCP_SPEC,
                gpu_pools=[{"name": "h", "machine_type": "a2-ultragpu-1g", "max_nodes": 2}],
                region="us-west1",
            ),
            "gpu_pools.0.machine_type",
            "no zone of us-west1",
        ),
        (
            _with(GCP_SPEC, gpu_pools=[{"name": "system", "machine_type": "g2-standard-8", "max_nodes": 1}]),
            "gpu_pools.0.name",
            "system",
        ),
        (
            _with(
                GCP_SPEC,
                gpu_pools=[
                    {"name": "l4", "machine_type": "g2-standard-8", "desired_nodes": 1, "max_nodes": 1}
                ],
            ),
            "gpu_pools.0.desired_nodes",
            "does not split",
        ),
        (
            _with(GCP_SPEC, network__private_subnet_cidrs=["10.0.0.0/19", "10.0.32.0/19"]),
            "network.private_subnet_cidrs",
            "regional",
        ),
        (
            _with(GCP_SPEC, network__existing={"network_id": "n", "private_subnet_ids": ["a", "b"]}),
            "network.existing.private_subnet_ids",
            "one regional node subnet",
        ),
        (
            _with(
                GCP_SPEC,
                network__existing={
                    "network_id": "n",
                    "private_subnet_ids": ["a"],
                    "public_subnet_ids": ["p"],
                },
            ),
            "network.existing.public_subnet_ids",
            "no public subnets",
        ),
        (_with(GCP_PROD_SPEC, gcp__regional=False), "gcp.regional", "dev only"),
        (_with(GCP_SPEC, gcp__pods_cidr="10.0.0.0/14"), "gcp.pods_cidr", "overlaps network.cidr"),
        (
            _with(GCP_SPEC, gcp__control_plane_cidr="172.20.0.0/28"),
            "gcp.control_plane_cidr",
            "overlaps network.service_cidr",
        ),
        (_with(GCP_SPEC, gcp__control_plane_cidr="172.16.0.0/27"), "gcp.control_plane_cidr", "private /28"),
        (_with(GCP_SPEC, gcp__gke_version="1.32.9-gke.1"), "gcp.gke_version", "not a 1.33 version"),
        (_with(GCP_SPEC, gcp__gke_version="1.33"), "gcp.gke_version", "exact GKE version"),
        (_with(GCP_SPEC, gcp__key_rotation_days=365), "gcp.key_rotation_days", "less than or equal to 90"),
        (
            _with(GCP_SPEC, cluster__admin_principals=["group:admins@acme.example"]),
            "cluster.admin_principals.0",
            "Google Groups",
        ),
        (
            _with(GCP_SPEC, cluster__admin_principals=["arn:aws:iam::1:role/x"]),
            "cluster.admin_principals.0",
            "IAM member",
        ),
        (_with(GCP_SPEC, budget__alert_emails=["a@acme.example"]), "gcp.billing_account", "billing account"),
        (_with(GCP_SPEC, budget__monthly_limit_usd=500), "gcp.billing_account", "billing account"),
        (_with(GCP_SPEC, gcp__billing_account="123"), "gcp.billing_account", "XXXXXX-XXXXXX-XXXXXX"),
        (
            _with(GCP_SPEC, cluster__version_support="extended", gcp__release_channel="REGULAR"),
            "gcp.release_channel",
            "EXTENDED channel",
        ),
        (_with(GCP_SPEC, gcp__release_channel="EXTENDED"), "gcp.release_channel", "EXTENDED channel"),
        (
            _with(GCP_SPEC, cluster__system_pool={"machine_type": "m6i.large"}),
            "cluster.system_pool.machine_type",
            "Compute Engine machine type",
        ),
        (
            _with(GCP_SPEC, gcp__system_machine_type="e2-standard-8"),
            "gcp.system_machine_type",
            "unknown field",
        ),
        (_with(GCP_SPEC, tags__owner="ml_Platform"), "tags.owner", "not a GCP label"),
        (_with(GCP_SPEC, tags__extra={"Team": "a"}), "tags.extra.Team", "not a GCP label"),
        (_with(GCP_SPEC, artifacts__bucket_name="acme.artifacts"), "artifacts.bucket_name", "no dots"),
        (_with(GCP_SPEC, artifacts__bucket_name="google-artifacts"), "artifacts.bucket_name", "no 'google'"),
        (_with(GCP_SPEC, registry__repositories=["serving/vllm"]), "registry.repositories.0", "no '/'"),
        (_with(GCP_SPEC, registry__repositories=["r" * 60]), "registry.repositories.0", "1-63 lowercase"),
        (
            _with(
                GCP_SPEC,
                serving__models=[
                    {"name": "a", "gpu_pool": "l4-spot", "storage_prefix": "models/shared/"},
                    {"name": "b", "gpu_pool": "l4-spot", "storage_prefix": "models/shared/"},
                ],
            ),
            "serving.models.0.storage_prefix",
            "another model's",
        ),
    ],
)
def test_bad_gcp_spec_is_refused_naming_the_field(data, field, fragment):
    with pytest.raises(SpecError) as e:
        PlatformSpec.load(data)
    message = str(e.value)
    assert field in message and fragment in message, message


_EXISTING = {
    "network_id": "projects/shared/global/networks/ml",
    "private_subnet_ids": ["projects/shared/regions/us-central1/subnetworks/ml"],
}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        # with an existing network nothing is created: each of these would change nothing
        (
            _with(GCP_SPEC, network__existing=_EXISTING, network__service_cidr="172.21.0.0/16"),
            "network.service_cidr",
        ),
        (_with(GCP_SPEC, network__existing=_EXISTING, gcp__pods_cidr="10.128.0.0/14"), "gcp.pods_cidr"),
        (_with(GCP_SPEC, network__existing=_EXISTING, network__cidr="10.9.0.0/16"), "network.cidr"),
        (
            _with(GCP_SPEC, network__existing=_EXISTING, network__nat_gateways="per_zone"),
            "network.nat_gateways",
        ),
        (_with(GCP_SPEC, network__existing=_EXISTING, network__flow_logs=True), "network.flow_logs"),
        (
            _with(GCP_SPEC, network__existing=_EXISTING, network__flow_log_retention_days=60),
            "network.flow_log_retention_days",
        ),
        # dev has no flow logs: a retention for them keeps nothing
        (_with(GCP_SPEC, network__flow_log_retention_days=60), "network.flow_log_retention_days"),
        (
            _with(GCP_PROD_SPEC, network__flow_logs=False, network__flow_log_retention_days=400),
            "network.flow_log_retention_days",
        ),
    ],
)
def test_network_fields_that_would_be_ignored_are_refused_naming_them(data, field):
    with pytest.raises(SpecError) as e:
        PlatformSpec.load(data)
    assert e.value.field == field


def test_an_existing_network_is_checked_by_its_own_ranges_not_the_ignored_defaults():
    """The overlap checks run against ranges mlinfra creates; with an existing subnet the default
    network.cidr (ignored) must not refuse a control-plane range that is fine in the real network."""
    spec = PlatformSpec.load(
        _with(GCP_SPEC, network__existing=_EXISTING, gcp__control_plane_cidr="10.0.0.0/28")
    )
    assert spec.gcp.control_plane_cidr == "10.0.0.0/28"
    assert (
        gcp_spec(network={"flow_logs": True, "flow_log_retention_days": 60}).network.flow_log_retention_days
        == 60
    )
