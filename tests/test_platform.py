"""MlPlatform dispatches on spec.cloud; clouds not built yet are refused clearly."""

from __future__ import annotations

import pytest

from mlinfra.platform import MlPlatform
from mlinfra.spec import PlatformSpec, SpecError
from tests.conftest import BASE_SPEC, make_spec, plan_of


@pytest.mark.parametrize(("cloud", "region"), [("azure", "westeurope")])
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


def _modules_after(statement: str) -> set[str]:
    import subprocess
    import sys

    code = (
        f"{statement}; import sys; print(' '.join(sorted(m for m in sys.modules if m.startswith('pulumi_'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_top_level_import_loads_no_cloud_sdk():
    loaded = _modules_after("import mlinfra, mlinfra.spec, mlinfra.platform")
    assert not {m for m in loaded if m.split(".")[0] in ("pulumi_aws", "pulumi_gcp", "pulumi_azure_native")}


def test_aws_blocks_load_only_the_aws_sdk():
    loaded = {m.split(".")[0] for m in _modules_after("import mlinfra.aws.platform")}
    assert "pulumi_aws" in loaded
    assert not loaded & {"pulumi_gcp", "pulumi_azure_native"}


def test_gcp_blocks_load_only_the_gcp_sdk():
    loaded = {m.split(".")[0] for m in _modules_after("import mlinfra.gcp.platform")}
    assert "pulumi_gcp" in loaded
    assert not loaded & {"pulumi_aws", "pulumi_azure_native"}
