"""Human output: whole numbers print as integers, counts are pluralised, piped text is never
hard-wrapped, the cost line says whose prices it uses, exemptions that exempt nothing warn."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from mlinfra.cli import app, cost_line, summary_line
from mlinfra.cli_support import PIPE_WIDTH, console
from mlinfra.cost import estimate_plan
from mlinfra.cost.estimator import prices_for
from mlinfra.offline import Plan, ResourceRecord
from mlinfra.policy import check_plan
from mlinfra.policy.config import PackConfig

ROOT = Path(__file__).resolve().parents[1]


def test_spec_prints_whole_numbers_as_integers():
    r = CliRunner().invoke(app, ["spec", str(ROOT / "stacks/aws"), "--stack", "prod"])
    assert r.exit_code == 0, r.output
    spec = json.loads(r.stdout)
    assert spec["budget"]["monthly_limit_usd"] == 40000 and '"monthly_limit_usd": 40000,' in r.stdout
    assert spec["monitoring"]["gpu_memory_saturation"] == 0.95


def _plan(n_resources: int, cloud: str = "aws", region: str | None = "us-west-2") -> Plan:
    resources = [
        ResourceRecord(
            urn=f"urn:pulumi:dev::p::aws:s3/bucket:Bucket::b{i}",
            type="aws:s3/bucket:Bucket",
            name=f"b{i}",
            parent=None,
            provider=None,
            inputs={},
        )
        for i in range(n_resources)
    ]
    if region is not None:
        resources.append(
            ResourceRecord(
                urn="urn:pulumi:dev::p::pulumi:providers:aws::aws",
                type="pulumi:providers:aws",
                name="aws",
                parent=None,
                provider=None,
                inputs={"region": region},
            )
        )
    return Plan(stack="dev", project="p", cloud=cloud, resources=resources, environment="dev")


def test_counts_are_pluralised():
    one = summary_line(_plan(0), False, 1)
    assert "1 resource to create" in one and "1 provider)" in one and "1 policy violation;" in one
    assert "0 components" in one and "0 cloud/k8s resources" in one
    many = summary_line(_plan(2), False, 2)
    assert (
        "3 resources to create" in many and "2 cloud/k8s resources" in many and "2 policy violations" in many
    )


def test_cost_line_says_which_regions_prices_it_uses():
    plan = _plan(0)
    plan.resources.append(
        ResourceRecord(
            urn="urn:pulumi:dev::p::aws:ec2/natGateway:NatGateway::n",
            type="aws:ec2/natGateway:NatGateway",
            name="n",
            parent=None,
            provider=None,
            inputs={},
        )
    )
    cost = estimate_plan(plan)
    assert cost["plan_region"] == "us-west-2" and cost["region"] == "us-east-1"
    assert "us-east-1 prices: no price table for us-west-2" in cost_line(cost)
    plan.resources[0].inputs["region"] = "us-east-1"
    cost = estimate_plan(plan)
    assert cost["region"] == "us-east-1" and "no price table" not in cost_line(cost)


def test_region_overlays_replace_the_figures_of_their_region():
    prices = {"region": "r1", "hourly": {"nat": 1.0, "lb": 2.0}, "regions": {"r2": {"hourly": {"nat": 3.0}}}}
    table, region = prices_for(prices, "r2")
    assert region == "r2" and table["hourly"] == {"nat": 3.0, "lb": 2.0}
    assert prices_for(prices, "r3") == (prices, "r1") and prices["hourly"]["nat"] == 1.0


def test_an_exemption_naming_no_resource_warns():
    plan = _plan(1)
    cfg = PackConfig.from_dict(
        {"exemptions": [{"policy": "required-tags", "resource": "legacy-bucket", "reason": "imported"}]}
    )
    report = check_plan(plan, config=cfg)
    (warning,) = report.warnings
    assert "'legacy-bucket'" in warning and "required-tags" in warning and "exempts nothing" in warning
    assert report.to_json()["warnings"] == [warning]
    cfg = PackConfig.from_dict({"exemptions": [{"policy": "required-tags", "resource": "b0", "reason": "x"}]})
    assert check_plan(plan, config=cfg).warnings == []


def test_piped_output_is_never_hard_wrapped(monkeypatch):
    out = console()  # stdout is captured here, not a terminal
    assert out.soft_wrap and out.width == PIPE_WIDTH
    long = "x" * 500
    with out.capture() as captured:
        out.print(long)
    assert long in captured.get()


def test_a_terminal_gets_its_own_width(monkeypatch):
    import sys

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setenv("COLUMNS", "100")
    out = console()
    assert not out.soft_wrap and out.width == 100
    assert isinstance(out, Console)
