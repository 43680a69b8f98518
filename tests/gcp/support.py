"""Helpers shared by the GCP component tests."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pulumi
from pulumi_gcp import Provider

from mlinfra.offline import ResourceRecord
from mlinfra.spec import PlatformSpec, SpecError
from tests.conftest import plan_of

PROJECT = "acme-ml-dev"
REGION = "us-central1"
# The explicit provider every test program creates (`Provider("gcp", ...)`).
PROVIDER_URN = "urn:pulumi:test::mlinfra-test::pulumi:providers:gcp::gcp"
KEY_RING = f"projects/{PROJECT}/locations/{REGION}/keyRings/acme-ml-dev-1a2b"
TAGS = {"owner": "ml-platform", "cost-center": "cc-4711", "environment": "dev", "managed-by": "mlinfra"}

GCP_SPEC: dict[str, Any] = {
    "name": "acme-ml",
    "cloud": "gcp",
    "region": REGION,
    "environment": "dev",
    "tags": {"owner": "ml-platform", "cost_center": "cc-4711"},
    "gcp": {"project": PROJECT},
    "cluster": {"api_access": "dns"},
    "gpu_pools": [
        {"name": "l4-spot", "machine_type": "g2-standard-8", "capacity_type": "spot", "max_nodes": 2},
        {"name": "t4", "machine_type": "n1-standard-8", "capacity_type": "on_demand", "max_nodes": 2},
    ],
}
GCP_PROD_SPEC: dict[str, Any] = {
    **GCP_SPEC,
    "region": "europe-west4",
    "environment": "prod",
    "gcp": {"project": "acme-ml-prod"},
    "gpu_pools": [
        {
            "name": "l4",
            "machine_type": "g2-standard-8",
            "capacity_type": "on_demand",
            "min_nodes": 3,
            "desired_nodes": 3,
            "max_nodes": 6,
        },
        {"name": "l4-spot", "machine_type": "g2-standard-8", "capacity_type": "spot", "max_nodes": 8},
    ],
}


def gcp_spec(base: dict[str, Any] | None = None, **overrides: Any) -> PlatformSpec:
    data = copy.deepcopy(base or GCP_SPEC)
    data.update(overrides)
    return PlatformSpec.load(data)


def provider(project: str = PROJECT, region: str = REGION) -> Provider:
    return Provider("gcp", project=project, region=region)


def plan_gcp(build: Callable[[pulumi.ResourceOptions], Any], region: str = REGION, project: str = PROJECT):
    """Plan `build(opts)` with the explicit GCP provider in `opts`."""

    def program():
        build(pulumi.ResourceOptions(provider=provider(project, region)))

    return plan_of(program, region=region)


def refused_before_any_resource(
    build: Callable[[pulumi.ResourceOptions], Any],
) -> tuple[SpecError, list[ResourceRecord]]:
    """Run `build(opts)` (a component with bad input) under the offline engine: the SpecError it
    raised and what was registered besides the provider (empty when validation comes first)."""
    caught: list[SpecError] = []

    def program():
        try:
            build(pulumi.ResourceOptions(provider=provider()))
        except SpecError as e:
            caught.append(e)

    plan = plan_of(program, region=REGION)
    assert caught, "expected a SpecError"
    return caught[0], [r for r in plan.resources if not r.type.startswith("pulumi:providers:")]


def options_of(type_: str, build: Callable[[pulumi.ResourceOptions], Any]) -> list[pulumi.ResourceOptions]:
    """The resource options every `type_` resource that `build(opts)` registers was given (what the
    plan does not record: ignore_changes, delete_before_replace)."""
    seen: list[pulumi.ResourceOptions] = []

    def capture(args: pulumi.ResourceTransformationArgs):
        if args.type_ == type_:
            seen.append(args.opts)
        return None

    plan_gcp(
        lambda opts: build(
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(transformations=[capture]))
        )
    )
    return seen
