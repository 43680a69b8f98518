"""Shared test helpers: run a program under the offline engine and look at what it registered."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from mlinfra.offline import Plan, run_program
from mlinfra.spec import PlatformSpec

BASE_SPEC: dict[str, Any] = {
    "name": "acme",
    "cloud": "aws",
    "region": "us-west-2",
    "environment": "dev",
    "tags": {"owner": "ml-platform", "cost_center": "cc-1234"},
    "cluster": {"api_access": "public", "public_access_cidrs": ["203.0.113.0/24"]},
    "gpu_pools": [
        {"name": "a10g", "machine_type": "g5.xlarge", "capacity_type": "spot", "min_nodes": 0, "max_nodes": 2}
    ],
}

PROD_SPEC: dict[str, Any] = {
    "name": "acme",
    "cloud": "aws",
    "region": "us-east-1",
    "environment": "prod",
    "tags": {"owner": "ml-platform", "cost_center": "cc-1234"},
    "network": {"cidr": "10.40.0.0/16"},
    "gpu_pools": [
        {
            "name": "a10g",
            "machine_type": "g5.2xlarge",
            "capacity_type": "on_demand",
            "min_nodes": 1,
            "desired_nodes": 1,
            "max_nodes": 4,
        },
        {
            "name": "a10g-spot",
            "machine_type": "g5.2xlarge",
            "capacity_type": "spot",
            "min_nodes": 0,
            "max_nodes": 8,
        },
    ],
}


def make_spec(base: dict[str, Any] | None = None, **overrides: Any) -> PlatformSpec:
    data = copy.deepcopy(base or BASE_SPEC)
    data.update(overrides)
    return PlatformSpec.load(data)


def plan_of(
    program: Callable[[], Any],
    stack: str = "test",
    region: str = "us-west-2",
    config: dict[str, str] | None = None,
) -> Plan:
    """Run `program` (which registers resources) under the offline engine."""
    return run_program(program, stack=stack, project="mlinfra-test", region=region, config=config)


@pytest.fixture
def dev_spec() -> PlatformSpec:
    return make_spec()


@pytest.fixture
def prod_spec() -> PlatformSpec:
    return make_spec(PROD_SPEC)


def deployed_plan_of(spec: PlatformSpec, stack: str = "test") -> Plan:
    """What a deployment of `spec` registers, whatever its path: the platform, plus (api_access
    private) the in-cluster layer the in-cluster stack installs from the platform's outputs, in one
    plan (mlinfra.platform.install_in_cluster is the function that stack runs)."""
    from mlinfra.platform import MlPlatform, PlatformSecrets, install_in_cluster, installs_in_cluster_layer

    def program():
        platform = MlPlatform(spec.prefix, spec)
        if not installs_in_cluster_layer(spec):
            install_in_cluster(
                spec.prefix,
                spec,
                kubeconfig=platform.kubeconfig,
                values=platform.in_cluster,
                secrets=PlatformSecrets(),
                parent=platform,
                # The in-cluster stack runs after the platform stack: its pools exist by then.
                pool_dependencies={p.pool.name: p for p in getattr(platform, "gpu_pools", [])},
            )

    return plan_of(program, stack=stack, region=spec.region)
