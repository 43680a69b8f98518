"""Helpers shared by the AWS component tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws

from mlinfra.offline import ResourceRecord
from mlinfra.spec import SpecError
from tests.conftest import plan_of

# The explicit provider every test program creates (`aws.Provider("aws", ...)`).
PROVIDER_URN = "urn:pulumi:test::mlinfra-test::pulumi:providers:aws::aws"


def refused_before_any_resource(
    build: Callable[[pulumi.ResourceOptions], Any],
) -> tuple[SpecError, list[ResourceRecord]]:
    """Run `build(opts)` (which constructs a component with bad input) under the offline engine.

    Returns the SpecError it raised and what was registered besides the provider (which a
    component that validates before registering leaves empty). Fails if nothing was raised.
    """
    caught: list[SpecError] = []

    def program():
        provider = aws.Provider("aws", region="us-west-2")
        try:
            build(pulumi.ResourceOptions(provider=provider))
        except SpecError as e:
            caught.append(e)

    plan = plan_of(program)
    assert caught, "expected a SpecError"
    return caught[0], [r for r in plan.resources if not r.type.startswith("pulumi:providers:")]


def export_outputs(component: object, *names: str) -> None:
    """`pulumi.export(name, component.<name>)` for each name."""
    for name in names:
        pulumi.export(name, getattr(component, name))
