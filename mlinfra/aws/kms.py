"""Customer-managed KMS keys: one helper for every AWS block that encrypts data."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
from pulumi_aws import kms

from mlinfra.components import child, stateful
from mlinfra.spec import AwsRules, rules

# KMS's own bounds for the waiting period before a scheduled key deletion.
DELETION_WINDOW_DAYS = AwsRules.KEY_DELETION_WINDOW_DAYS


def check_deletion_window(days: int, field: str = "key_deletion_window_days") -> None:
    """Refuse a deletion window KMS would reject, before any resource is registered."""
    rules("aws").key_deletion_window(days, field)


def customer_managed_key(
    parent: pulumi.Resource,
    name: str,
    *,
    description: str,
    deletion_window_days: int,
    protect: bool,
    tags: Mapping[str, str],
    policy: pulumi.Input[str] | None = None,
) -> kms.Key:
    """A symmetric CMK with rotation on, plus an alias `alias/<name>`.

    `name` is the Pulumi name (`<component>-key`); stateful options apply in prod, since
    deleting a key makes everything encrypted with it unreadable.
    """
    check_deletion_window(deletion_window_days)
    key = kms.Key(
        name,
        description=description,
        enable_key_rotation=True,
        rotation_period_in_days=365,
        deletion_window_in_days=deletion_window_days,
        key_usage="ENCRYPT_DECRYPT",
        customer_master_key_spec="SYMMETRIC_DEFAULT",
        policy=policy,
        tags=dict(tags),
        opts=stateful(parent, protect),
    )
    kms.Alias(f"{name}-alias", name=f"alias/{name}", target_key_id=key.key_id, opts=child(parent))
    return key
