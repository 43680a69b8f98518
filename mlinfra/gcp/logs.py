"""Log retention: a Cloud Logging bucket with its own retention, and the sink that routes into it.

Cloud Logging keeps what reaches the project's `_Default` bucket for 30 days
(https://cloud.google.com/logging/docs/routing/overview#buckets); retention is per log bucket, not
per log. A retention other than 30 days therefore gets a dedicated bucket in the platform's region
and a sink for exactly the logs concerned, and those logs are excluded from `_Default` so they are
not ingested (and billed) twice. Admin Activity audit logs always stay in `_Required` (400 days).
A sink that writes to a log bucket of its own project needs no extra grant (Cloud Logging "Route
logs to supported destinations": destination permissions are needed across projects).
A deleted log bucket keeps its id for 7 days ("you can't reuse the bucket ID until that period
ends", Cloud Logging "Delete a bucket"), so the id carries a random suffix drawn once per stack, as
the key ring's name does: a stack destroyed and re-created within the week gets a new bucket.
"""

from __future__ import annotations

import pulumi
import pulumi_random as random
from pulumi_gcp import logging

from mlinfra.components import child

DEFAULT_BUCKET_RETENTION_DAYS = 30


def retained_logs(
    parent: pulumi.Resource,
    name: str,
    *,
    project: str,
    location: str,
    bucket_id: str,
    retention_days: int,
    log_filter: pulumi.Input[str],
    description: str,
) -> logging.ProjectBucketConfig | None:
    """Route the logs matching `log_filter` to a bucket `<bucket_id>-<4 hex>` that keeps them
    `retention_days` days.

    Nothing is created when `_Default`'s own 30 days is the retention asked for.
    """
    if retention_days == DEFAULT_BUCKET_RETENTION_DAYS:
        return None
    suffix = random.RandomId(f"{name}-suffix", byte_length=2, opts=child(parent))
    bucket = logging.ProjectBucketConfig(
        name,
        project=project,
        location=location,
        bucket_id=pulumi.Output.concat(bucket_id, "-", suffix.hex),
        retention_days=retention_days,
        description=description,
        opts=child(parent),
    )
    logging.ProjectSink(
        name,
        project=project,
        destination=pulumi.Output.concat("logging.googleapis.com/", bucket.id),
        filter=log_filter,
        description=f"{description}: routed to {bucket_id} ({retention_days} days)",
        opts=child(parent),
    )
    logging.ProjectExclusion(
        name,
        project=project,
        filter=log_filter,
        description=f"{description}: kept in {bucket_id}, not twice in _Default",
        opts=child(parent),
    )
    return bucket
