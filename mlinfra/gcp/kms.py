"""Cloud KMS: the key ring, customer-managed keys per purpose, and the grants to the service agents
that use them.

Google services encrypt with a customer-managed key as their own *service agent*, which needs
`roles/cloudkms.cryptoKeyEncrypterDecrypter` on the key **before** the resource that uses the key
is created (a bucket, repository or cluster created first fails or silently falls back): every
consumer `depends_on` the grants `customer_managed_key` returns. The agents:
- GKE (application-layer secrets encryption): service-<number>@container-engine-robot.iam.gserviceaccount.com
- Compute Engine (node boot disks, PD CSI volumes): service-<number>@compute-system.iam.gserviceaccount.com
  (both as in terraform-google-kubernetes-engine examples/simple_autopilot_private_cmek/main.tf);
- Cloud Storage: `storage.get_project_service_account` (artifact_bucket.py);
- Artifact Registry: `projects.ServiceIdentity("artifactregistry.googleapis.com")` (registry.py).

Key rings and keys cannot be deleted in Cloud KMS (pulumi-gcp KeyRing docstring: destroying one
only removes it from state), so a destroyed and re-created stack would collide on the name: the
ring's name carries a random suffix drawn once per stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_random as random
from pulumi_gcp import kms, organizations

from mlinfra.components import child, stateful
from mlinfra.spec import SpecError

ENCRYPTER_DECRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
# Rotation: more than a day (pulumi-gcp CryptoKey.rotation_period), at most 90 days (CKV_GCP_43).
ROTATION_DAYS = (2, 90)
# Versions stay DESTROY_SCHEDULED for 24 hours to 120 days (Cloud KMS "Key destruction" docs;
# 30 days when unset, pulumi-gcp CryptoKey.destroy_scheduled_duration).
DESTROY_SCHEDULED_DAYS = (1, 120)
# CryptoKey inputs Cloud KMS accepts only when the key is created (see customer_managed_key).
CREATE_ONLY_KEY_FIELDS = ("destroyScheduledDuration",)
# Service-agent domains of the Google services that use a key (IAM "Service agents" reference).
SERVICE_AGENTS = {
    "gke": "container-engine-robot.iam.gserviceaccount.com",
    "compute": "compute-system.iam.gserviceaccount.com",
}


def seconds(days: int) -> str:
    """A Cloud KMS duration: `<seconds>s`."""
    return f"{days * 86400}s"


def check_key_days(rotation_days: int, destroy_days: int) -> None:
    """Refuse periods Cloud KMS would reject, before any resource is registered."""
    low, high = ROTATION_DAYS
    if not low <= rotation_days <= high:
        raise SpecError(
            f"{rotation_days} is outside the range; allowed: {low}-{high} days", "gcp.key_rotation_days"
        )
    low, high = DESTROY_SCHEDULED_DAYS
    if not low <= destroy_days <= high:
        raise SpecError(
            f"{destroy_days} is outside the Cloud KMS range; allowed: {low}-{high} days",
            "encryption.key_deletion_window_days",
        )


def project_number(parent: pulumi.Resource, project: pulumi.Input[str]) -> pulumi.Output[str]:
    """The project's number (service-agent addresses are built from it)."""
    return organizations.get_project_output(
        project_id=project, opts=pulumi.InvokeOutputOptions(parent=parent)
    ).number


def service_agent(number: pulumi.Input[str], agent: str) -> pulumi.Output[str]:
    """`serviceAccount:service-<number>@<agent domain>` for agent `gke` or `compute`."""
    return pulumi.Output.concat("serviceAccount:service-", number, "@", SERVICE_AGENTS[agent])


def key_ring(
    parent: pulumi.Resource,
    name: str,
    *,
    ring_prefix: str,
    project: str,
    location: str,
    protect: bool,
    provider: pulumi.ProviderResource | None = None,
) -> kms.KeyRing:
    """A key ring `<ring_prefix>-<4 hex>` in `location` (the region of the keys' consumers)."""
    suffix = random.RandomId(f"{name}-suffix", byte_length=2, opts=child(parent))
    return kms.KeyRing(
        name,
        name=pulumi.Output.concat(ring_prefix, "-", suffix.hex),
        location=location,
        project=project,
        opts=stateful(parent, protect, provider=provider),
    )


@dataclass
class CustomerManagedKey:
    key: kms.CryptoKey
    grants: list[kms.CryptoKeyIAMMember]

    @property
    def id(self) -> pulumi.Output[str]:
        """`projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>`: what consumers take."""
        return self.key.id


def customer_managed_key(
    parent: pulumi.Resource,
    name: str,
    *,
    key_ring: pulumi.Input[str],
    key_name: str,
    rotation_days: int,
    destroy_days: int,
    protect: bool,
    labels: Mapping[str, str],
    users: Mapping[str, pulumi.Input[str]],
) -> CustomerManagedKey:
    """A software symmetric key with automatic rotation, and `cryptoKeyEncrypterDecrypter` for each
    of `users` (slug -> IAM member; the slug names the grant resource `<name>-<slug>`)."""
    check_key_days(rotation_days, destroy_days)
    key = kms.CryptoKey(
        name,
        name=key_name,
        key_ring=key_ring,
        purpose="ENCRYPT_DECRYPT",
        rotation_period=seconds(rotation_days),
        destroy_scheduled_duration=seconds(destroy_days),
        version_template=kms.CryptoKeyVersionTemplateArgs(
            algorithm="GOOGLE_SYMMETRIC_ENCRYPTION", protection_level="SOFTWARE"
        ),
        labels=dict(labels),
        # Cloud KMS takes the destroy-scheduled duration at key creation only ("You can set a custom
        # scheduled for destruction duration for a key during key creation",
        # https://cloud.google.com/kms/docs/destroy-restore; "Immutable" in the Config Connector
        # KMSCryptoKey reference). A later change would plan a replacement of a key whose fixed name
        # cannot be freed (keys are never deleted) -> 409; so the window applies to keys created
        # afterwards and a change is ignored on existing keys (README, GCP).
        opts=stateful(parent, protect, ignore_changes=list(CREATE_ONLY_KEY_FIELDS)),
    )
    grants = [
        kms.CryptoKeyIAMMember(
            f"{name}-{slug}",
            crypto_key_id=key.id,
            role=ENCRYPTER_DECRYPTER,
            member=member,
            opts=child(parent),
        )
        for slug, member in users.items()
    ]
    return CustomerManagedKey(key, grants)
