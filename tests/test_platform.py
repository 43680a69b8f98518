"""MlPlatform dispatches on spec.cloud; clouds not built yet are refused clearly."""

from __future__ import annotations

import pytest

from mlinfra.platform import MlPlatform
from mlinfra.spec import PlatformSpec, SpecError
from tests.conftest import BASE_SPEC, make_spec, plan_of


@pytest.mark.parametrize(("cloud", "region"), [("gcp", "us-central1"), ("azure", "westeurope")])
def test_unbuilt_clouds_are_refused_naming_the_field(cloud, region):
    data = {**BASE_SPEC, "cloud": cloud, "region": region, "gpu_pools": []}
    spec = PlatformSpec.load(data)
    with pytest.raises(
        SpecError, match=r"cloud: cloud '.*' is accepted by the spec but its platform is not built"
    ):
        MlPlatform("x", spec)


def test_aws_platform_from_mlplatform():
    spec = make_spec()
    plan = plan_of(lambda: MlPlatform(spec.prefix, spec), region=spec.region)
    platform = plan.one("mlinfra:aws:Platform")
    assert platform.name == "acme-dev"
    children = {r.type for r in plan.children(platform.urn)}
    assert {"mlinfra:aws:Network", "mlinfra:aws:Cluster", "mlinfra:aws:GpuNodePool"} <= children
