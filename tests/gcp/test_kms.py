"""kms.py: key ring names unique per stack, rotation/destroy bounds, and grants before use."""

from __future__ import annotations

import pulumi
import pytest

from mlinfra.gcp.kms import ENCRYPTER_DECRYPTER, check_key_days, customer_managed_key, key_ring, service_agent
from mlinfra.offline.mocks import gcp_project_number
from mlinfra.spec import SpecError
from tests.gcp.support import KEY_RING, PROJECT, REGION, TAGS, options_of, plan_gcp

KEY = "gcp:kms/cryptoKey:CryptoKey"
GRANT = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"


class _Holder(pulumi.ComponentResource):
    def __init__(self, name, build, opts=None):
        super().__init__("mlinfra:test:Holder", name, None, opts)
        build(self)
        self.register_outputs({})


def _plan(build):
    return plan_gcp(lambda o: _Holder("h", build, opts=o))


@pytest.mark.parametrize(("rotation", "destroy"), [(2, 1), (90, 120), (90, 30)])
def test_bounds_are_accepted(rotation, destroy):
    check_key_days(rotation, destroy)


@pytest.mark.parametrize(
    ("rotation", "destroy", "field"),
    [
        (1, 30, "gcp.key_rotation_days"),  # rotation must be more than a day (CryptoKey.rotation_period)
        (91, 30, "gcp.key_rotation_days"),  # CKV_GCP_43: at most 90 days
        (90, 0, "encryption.key_deletion_window_days"),
        (90, 121, "encryption.key_deletion_window_days"),
    ],
)
def test_out_of_range_is_refused_naming_the_field(rotation, destroy, field):
    with pytest.raises(SpecError) as e:
        check_key_days(rotation, destroy)
    assert e.value.field == field


def test_key_rotates_and_waits_before_destruction():
    plan = _plan(
        lambda h: customer_managed_key(
            h,
            "k",
            key_ring=KEY_RING,
            key_name="acme-secrets",
            rotation_days=90,
            destroy_days=14,
            protect=True,
            labels=TAGS,
            users={"gke": service_agent("123", "gke")},
        )
    )
    key = plan.one(KEY)
    assert key.inputs["rotationPeriod"] == "7776000s"
    assert key.inputs["destroyScheduledDuration"] == "1209600s"
    assert key.inputs["purpose"] == "ENCRYPT_DECRYPT"
    assert key.inputs["keyRing"] == KEY_RING
    assert key.inputs["labels"] == TAGS
    assert key.protect and key.retain_on_delete
    grant = plan.one(GRANT)
    assert grant.inputs["role"] == ENCRYPTER_DECRYPTER
    assert (
        grant.inputs["member"] == "serviceAccount:service-123@container-engine-robot.iam.gserviceaccount.com"
    )
    assert grant.inputs["cryptoKeyId"].endswith("/cryptoKeys/acme-secrets")


def test_key_ring_name_carries_a_random_suffix_so_a_recreated_stack_does_not_collide():
    """Cloud KMS never deletes key rings: a destroyed stack leaves its ring, and a fixed name would
    make the next `pulumi up` of the same stack fail with 'already exists'."""
    plan = _plan(
        lambda h: key_ring(h, "ring", ring_prefix="acme-dev", project=PROJECT, location=REGION, protect=False)
    )
    ring = plan.one("gcp:kms/keyRing:KeyRing")
    suffix = plan.one("random:index/randomId:RandomId")
    assert suffix.inputs["byteLength"] == 2
    assert ring.inputs["name"].startswith("acme-dev-") and len(ring.inputs["name"]) == len("acme-dev-") + 4
    assert ring.inputs["location"] == REGION and ring.inputs["project"] == PROJECT
    assert suffix.urn in ring.dependencies


def test_service_agents_are_the_documented_addresses():
    number = gcp_project_number(PROJECT)
    plan = plan_gcp(
        lambda o: pulumi.export("agents", [service_agent(number, "gke"), service_agent(number, "compute")])
    )
    assert plan.outputs["agents"] == [
        f"serviceAccount:service-{number}@container-engine-robot.iam.gserviceaccount.com",
        f"serviceAccount:service-{number}@compute-system.iam.gserviceaccount.com",
    ]


def test_destroy_window_is_set_at_creation_and_never_replaces_a_key():
    """Cloud KMS sets destroy_scheduled_duration at key creation only; a changed
    encryption.key_deletion_window_days must not plan a replacement of a key whose name is never
    freed (409 already exists): the field is ignored after creation."""

    def build(h):
        customer_managed_key(
            h, "k", key_ring=KEY_RING, key_name="acme-secrets", rotation_days=90, destroy_days=14,
            protect=False, labels=TAGS, users={},
        )  # fmt: skip

    [opts] = options_of(KEY, lambda o: _Holder("h", build, opts=o))
    assert opts.ignore_changes == ["destroyScheduledDuration"]
