"""Customer-managed KMS keys: one helper for every AWS block that encrypts data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
from pulumi_aws import cloudwatch, kms

from mlinfra.components import child, stateful
from mlinfra.spec import CLOUDWATCH_RETENTION_DAYS, AwsRules, rules

# KMS's own bounds for the waiting period before a scheduled key deletion.
DELETION_WINDOW_DAYS = AwsRules.KEY_DELETION_WINDOW_DAYS
# The retentions CloudWatch Logs accepts: one table, in the spec's AWS rules (CLOUDWATCH_RETENTION_DAYS).
LOG_RETENTION_DAYS = CLOUDWATCH_RETENTION_DAYS


def check_deletion_window(days: int, field: str = "key_deletion_window_days") -> None:
    """Refuse a deletion window KMS would reject, before any resource is registered."""
    rules("aws").key_deletion_window(days, field)


def check_log_retention(days: int, field: str) -> None:
    """Refuse a log-group retention CloudWatch Logs would reject, naming the spec field (the spec's rule)."""
    rules("aws").log_retention(days, field)


def customer_managed_key(
    parent: pulumi.Resource,
    name: str,
    *,
    description: str,
    deletion_window_days: int,
    protect: bool,
    tags: Mapping[str, str],
    policy: pulumi.Input[str] | None = None,
    provider: pulumi.ProviderResource | None = None,
) -> kms.Key:
    """A symmetric CMK with rotation on, plus an alias `alias/<name>`.

    `name` is the Pulumi name (`<component>-key`); stateful options apply in prod, since
    deleting a key makes everything encrypted with it unreadable. `provider`: for a parent that
    holds its AWS provider as a child (AwsPlatform) instead of receiving it.
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
        opts=stateful(parent, protect, provider=provider),
    )
    kms.Alias(
        f"{name}-alias", name=f"alias/{name}", target_key_id=key.key_id, opts=child(parent, provider=provider)
    )
    return key


def log_group_key_policy(
    partition: str, region: str, account: str, log_groups: Sequence[str]
) -> dict[str, Any]:
    """Key policy of a CMK that CloudWatch Logs uses for the named log groups only.

    The account root administers the key (and lets IAM policies grant reading). The regional
    CloudWatch Logs service principal may use it, but only with an encryption context naming one of
    `log_groups`: CloudWatch Logs passes `aws:logs:arn` = the log group's ARN as the KMS encryption
    context, so `kms:EncryptionContext:aws:logs:arn` scopes the grant to those groups (CloudWatch
    Logs user guide, "Encrypt log data in CloudWatch Logs using AWS Key Management Service", step 2:
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html).
    """
    arns = [f"arn:{partition}:logs:{region}:{account}:log-group:{name}" for name in log_groups]
    return {
        "Version": "2012-10-17",
        "Statement": [
            account_administration(partition, account),
            {
                "Sid": "CloudWatchLogsForTheseGroups",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                "Action": [
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                "Resource": "*",
                "Condition": {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": arns}},
            },
        ],
    }


def account_administration(partition: str, account: str) -> dict[str, Any]:
    """The key-policy statement letting the account administer the key (KMS developer guide,
    "Default key policy": it also lets the account's IAM policies grant use of the key)."""
    return {
        "Sid": "AccountAdministration",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }


def encrypted_log_group(
    parent: pulumi.Resource,
    name: str,
    *,
    group_name: str,
    retention_days: int,
    kms_key_arn: pulumi.Input[str] | None,
    tags: Mapping[str, str],
) -> cloudwatch.LogGroup:
    """A pre-created log group (the service would create it with "never expire") with bounded
    retention, encrypted with `kms_key_arn` (a key whose policy names this group,
    `log_group_key_policy`), or CloudWatch's own encryption when None."""
    return cloudwatch.LogGroup(
        name,
        name=group_name,
        retention_in_days=retention_days,
        kms_key_id=kms_key_arn,
        tags=dict(tags),
        opts=child(parent),
    )
