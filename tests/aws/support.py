"""Helpers shared by the AWS component tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws

from mlinfra.offline import ResourceRecord
from mlinfra.spec import SpecError
from tests.conftest import refused_before_any_registration

# The explicit provider every test program creates (`aws.Provider("aws", ...)`).
PROVIDER_URN = "urn:pulumi:test::mlinfra-test::pulumi:providers:aws::aws"


def refused_before_any_resource(
    build: Callable[[pulumi.ResourceOptions], Any],
) -> tuple[SpecError, list[ResourceRecord]]:
    """`tests.conftest.refused_before_any_registration` with the explicit AWS provider."""
    return refused_before_any_registration(lambda: aws.Provider("aws", region="us-west-2"), build)


def export_outputs(component: object, *names: str) -> None:
    """`pulumi.export(name, component.<name>)` for each name."""
    for name in names:
        pulumi.export(name, getattr(component, name))
