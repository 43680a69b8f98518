"""MlPlatform dispatches on spec.cloud; each cloud's platform loads only its own provider SDK."""

from __future__ import annotations

import pytest

from mlinfra.platform import MlPlatform
from mlinfra.spec import PlatformSpec, SpecError
from tests.conftest import make_spec, plan_of


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


def test_azure_blocks_load_only_the_azure_sdk():
    loaded = {m.split(".")[0] for m in _modules_after("import mlinfra.azure.platform")}
    assert "pulumi_azure_native" in loaded
    assert not loaded & {"pulumi_gcp", "pulumi_aws"}


def test_gcp_blocks_load_only_the_gcp_sdk():
    loaded = {m.split(".")[0] for m in _modules_after("import mlinfra.gcp.platform")}
    assert "pulumi_gcp" in loaded
    assert not loaded & {"pulumi_aws", "pulumi_azure_native"}


# ---------------------------------------------------------------- the deployment path (contract C)


def test_in_cluster_platform_refuses_a_spec_whose_platform_stack_installs_the_layer():
    from mlinfra.platform import InClusterPlatform

    spec = make_spec()  # dev, api_access public
    caught = []

    def program():
        try:
            InClusterPlatform(spec.prefix, spec, "organization/mlinfra-aws/dev")
        except SpecError as e:
            caught.append(e)

    plan = plan_of(program)
    assert caught and caught[0].field == "cluster.api_access" and plan.resources == []


def test_a_platform_stack_deployed_with_another_spec_is_refused_on_up_and_warned_on_preview(monkeypatch):
    import pulumi

    from mlinfra.platform import _check_platform_values, spec_digest

    spec = make_spec(cluster={"api_access": "private"})
    values = {"api_access": "private", "spec_sha256": spec_digest(spec), "cloud": {}}
    assert _check_platform_values(values, spec_digest(spec), "org/p/s") is values
    other = make_spec(cluster={"api_access": "private"}, name="other")
    warnings = []
    monkeypatch.setattr(pulumi.runtime, "is_dry_run", lambda: True)
    monkeypatch.setattr(pulumi.log, "warn", lambda msg, *a, **k: warnings.append(msg))
    _check_platform_values(values, spec_digest(other), "org/p/s")
    assert warnings and "run `pulumi up` on the platform stack first" in warnings[0]
    monkeypatch.setattr(pulumi.runtime, "is_dry_run", lambda: False)
    with pytest.raises(SpecError, match="deployed with a different spec"):
        _check_platform_values(values, spec_digest(other), "org/p/s")
    with pytest.raises(SpecError, match="exports no usable 'in_cluster' output"):
        _check_platform_values({"kubeconfig": "x"}, spec_digest(spec), "org/p/s")


def test_the_in_cluster_stack_reads_the_spec_of_the_platform_stack_file():
    """One spec: stacks/aws-in-cluster has none of its own; it reads ../aws/Pulumi.<stack>.yaml."""
    from pathlib import Path

    import yaml

    from mlinfra.platform import platform_spec_from_file, spec_digest

    root = Path(__file__).resolve().parents[1]
    for stack in ("staging", "prod"):
        doc = yaml.safe_load((root / "stacks/aws-in-cluster" / f"Pulumi.{stack}.yaml").read_text())
        assert "mlinfra:platform" not in (doc.get("config") or {})
        spec = platform_spec_from_file(root / "stacks/aws", stack)
        assert spec.cluster.api_access == "private"
        platform_doc = yaml.safe_load((root / "stacks/aws" / f"Pulumi.{stack}.yaml").read_text())
        assert spec_digest(spec) == spec_digest(PlatformSpec.load(platform_doc["config"]["mlinfra:platform"]))


def test_the_in_cluster_stack_reads_scalars_as_the_platform_stack_does(tmp_path):
    """A date-like value is the string written on both sides (the Pulumi CLI's reading), so the
    in-cluster stack's spec is the platform's, not a `datetime.date` the spec refuses."""
    from pathlib import Path

    from mlinfra.platform import platform_spec_from_file

    root = Path(__file__).resolve().parents[1]
    text = (root / "stacks/aws/Pulumi.dev.yaml").read_text()
    (tmp_path / "Pulumi.dev.yaml").write_text(text.replace("cost_center: cc-4711", "cost_center: 2026-01-01"))
    assert platform_spec_from_file(tmp_path, "dev").tags.cost_center == "2026-01-01"
