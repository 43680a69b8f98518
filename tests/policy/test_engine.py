"""The offline engine: enforcement per environment, disabled rules and exemptions with printed
reasons, the JSON form, and `mlinfra policy check` exit codes on a plan saved from `run_program`."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pytest
from rich.console import Console
from typer.testing import CliRunner

from mlinfra.offline import Plan, run_program
from mlinfra.policy import PackConfig, PackConfigError, check_plan, load_pack_config
from mlinfra.policy.cli import policy_app

TAGS = {"owner": "ml-platform", "cost-center": "cc-1234", "environment": "prod"}


def _program(mutable_ecr: bool):
    def program() -> None:
        import pulumi_aws as aws

        provider = aws.Provider("aws", region="us-east-1")
        opts = pulumi.ResourceOptions(provider=provider, protect=True)
        key = aws.kms.Key("key", enable_key_rotation=True, deletion_window_in_days=30, tags=TAGS, opts=opts)
        aws.ecr.Repository(
            "models",
            image_tag_mutability="MUTABLE" if mutable_ecr else "IMMUTABLE",
            image_scanning_configuration={"scan_on_push": True},
            encryption_configurations=[{"encryption_type": "KMS", "kms_key": key.arn}],
            tags=TAGS,
            opts=opts,
        )

    return program


@pytest.fixture(scope="module")
def plans() -> dict[str, Plan]:
    return {
        "prod-bad": run_program(_program(True), stack="prod", project="mlinfra-test", region="us-east-1"),
        "prod-good": run_program(_program(False), stack="prod", project="mlinfra-test", region="us-east-1"),
        "dev-bad": run_program(_program(True), stack="dev", project="mlinfra-test", region="us-east-1"),
    }


def _save(plan: Plan, tmp_path: Path, name: str = "plan.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(plan.to_json()))
    return path


def test_compliant_plan_has_no_violations(plans):
    report = check_plan(plans["prod-good"])
    assert report.environment == "prod"
    assert report.violations == [] and not report.mandatory_failed


def test_mandatory_in_prod_advisory_in_dev(plans):
    prod = check_plan(plans["prod-bad"])
    assert [(v.policy, v.resource, v.level) for v in prod.violations] == [
        ("ecr-immutable-scanned", "models", "mandatory")
    ]
    assert prod.mandatory_failed
    dev = check_plan(plans["dev-bad"])
    assert [(v.policy, v.level) for v in dev.violations] == [("ecr-immutable-scanned", "advisory")]
    assert not dev.mandatory_failed
    assert check_plan(plans["dev-bad"], environment="staging").mandatory_failed


def test_environment_from_plan_attribute_and_unknown_stack_defaults_to_dev(plans):
    plan = Plan.from_json(plans["prod-bad"].to_json())
    plan.stack = "feature-x"
    plan.environment = None
    assert check_plan(plan).environment == "dev"
    plan.environment = "prod"  # from the stack's `mlinfra:platform` config
    assert check_plan(plan).environment == "prod"
    plan.stack = "prod"
    plan.environment = "staging"
    assert check_plan(plan).environment == "staging"
    with pytest.raises(ValueError, match="allowed|one of"):
        check_plan(plan, environment="qa")


def test_disable_and_exemption_are_reported_with_their_reason(plans):
    disabled = PackConfig(disabled={"ecr-immutable-scanned": "legacy pipeline re-tags images until Q3"})
    report = check_plan(plans["prod-bad"], config=disabled)
    assert report.violations == [] and not report.mandatory_failed
    assert report.disabled == [("ecr-immutable-scanned", "legacy pipeline re-tags images until Q3")]

    cfg = PackConfig.from_dict(
        {
            "exemptions": [
                {
                    "policy": "ecr-immutable-scanned",
                    "resource": "models",
                    "reason": "mirror of an upstream mutable repo",
                }
            ]
        }
    )
    report = check_plan(plans["prod-bad"], config=cfg)
    assert report.violations == []
    assert report.exemptions == [("ecr-immutable-scanned", "models", "mirror of an upstream mutable repo")]
    console = Console(record=True, width=200)
    report.render(console)
    text = console.export_text()
    assert "exempt ecr-immutable-scanned on models: mirror of an upstream mutable repo" in text
    assert "PASS" in text


def test_render_groups_by_resource_with_remediation(plans):
    console = Console(record=True, width=250)
    check_plan(plans["prod-bad"]).render(console)
    text = console.export_text()
    assert "aws:ecr/repository:Repository models" in text
    assert "mandatory access/ecr-immutable-scanned (high): imageTagMutability is 'MUTABLE'" in text
    assert "fix: image_tag_mutability='IMMUTABLE'" in text
    assert "FAIL" in text


def test_json_form(plans):
    data = check_plan(plans["prod-bad"]).to_json()
    (v,) = data["violations"]
    assert {"pack", "policy", "urn", "level", "message", "remediation"} <= set(v)
    assert v["pack"] == "access" and v["level"] == "mandatory"
    assert v["urn"] == "urn:pulumi:prod::mlinfra-test::aws:ecr/repository:Repository::models"
    assert data["exemptions"] == [] and data["mandatory_failed"] is True
    json.dumps(data)


def test_config_errors_name_the_field(tmp_path):
    with pytest.raises(PackConfigError, match="disabled.ecr-immutable-scanned: a non-empty reason"):
        PackConfig.from_dict({"disabled": {"ecr-immutable-scanned": ""}})
    with pytest.raises(PackConfigError, match="enforcement.prod: 'strict' is not an enforcement level"):
        PackConfig.from_dict({"enforcement": {"prod": "strict"}})
    with pytest.raises(PackConfigError, match="overrides.no-such-rule: unknown policy 'no-such-rule'"):
        PackConfig.from_dict(
            {"overrides": {"no-such-rule": "advisory"}}, known_policies={"ecr-immutable-scanned"}
        )
    with pytest.raises(PackConfigError, match="reason"):
        PackConfig.from_dict(
            {"ecr-immutable-scanned": "disabled"}
        )  # CrossGuard form: disabling needs a reason
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(PackConfigError, match="not valid JSON"):
        load_pack_config(bad)


def test_crossguard_config_round_trips(tmp_path):
    cfg = PackConfig(
        disabled={"imdsv2-required": "bare-metal pool without IMDS"},
        overrides={"iam-least-privilege": "advisory"},
    )
    cfg.exemptions.append(
        __import__("mlinfra.policy", fromlist=["Exemption"]).Exemption(
            "ecr-immutable-scanned", "models", "mirror"
        )
    )
    from mlinfra.policy import catalogue

    exported = cfg.to_policy_pack_config([p.name for p in catalogue("access")], "prod")
    assert exported["imdsv2-required"] == {
        "enforcementLevel": "disabled",
        "environment": "prod",
        "reason": "bare-metal pool without IMDS",
    }
    assert exported["iam-least-privilege"]["enforcementLevel"] == "advisory"
    assert exported["no-public-buckets"]["enforcementLevel"] == "mandatory"
    assert exported["ecr-immutable-scanned"]["exemptions"] == [{"resource": "models", "reason": "mirror"}]
    path = tmp_path / "pack-config.json"
    path.write_text(json.dumps(exported))
    back = load_pack_config(path)
    assert back.environment == "prod"
    assert back.disabled == cfg.disabled and back.exemptions == cfg.exemptions
    for p in catalogue("access"):
        assert back.level(p.name, "prod") == cfg.level(p.name, "prod"), p.name


# ------------------------------------------------------------------ CLI

runner = CliRunner()


def test_check_exit_codes(plans, tmp_path):
    bad = _save(plans["prod-bad"], tmp_path, "bad.json")
    good = _save(plans["prod-good"], tmp_path, "good.json")
    r = runner.invoke(policy_app, ["check", str(bad)])
    assert r.exit_code == 1, r.output
    assert "ecr-immutable-scanned" in r.output and "fix:" in r.output
    assert runner.invoke(policy_app, ["check", str(good)]).exit_code == 0
    r = runner.invoke(policy_app, ["check", str(bad), "--environment", "dev"])
    assert r.exit_code == 0 and "advisory" in r.output


def test_check_with_config_prints_reason_and_json(plans, tmp_path):
    bad = _save(plans["prod-bad"], tmp_path)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(
        json.dumps(
            {
                "exemptions": [
                    {"policy": "ecr-immutable-scanned", "resource": "models", "reason": "upstream mirror"}
                ]
            }
        )
    )
    r = runner.invoke(policy_app, ["check", str(bad), "--config", str(cfg)])
    assert r.exit_code == 0, r.output
    assert "upstream mirror" in r.output
    r = runner.invoke(policy_app, ["check", str(bad), "--json"])
    assert r.exit_code == 1
    assert json.loads(r.output)["violations"][0]["policy"] == "ecr-immutable-scanned"


def test_check_bad_inputs(tmp_path):
    r = runner.invoke(policy_app, ["check", str(tmp_path / "missing.json")])
    assert r.exit_code == 2 and "missing.json: cannot read" in r.output
    plan = tmp_path / "p.json"
    plan.write_text(json.dumps({"stack": "dev", "project": "p", "resources": []}))
    r = runner.invoke(policy_app, ["check", str(plan), "--environment", "qa"])
    assert r.exit_code == 2 and "allowed: dev, staging, prod" in r.output


def test_list_and_export_config():
    r = runner.invoke(policy_app, ["list"])
    assert r.exit_code == 0 and "27 policies" in r.output and "storage-cmk-encryption" in r.output
    r = runner.invoke(policy_app, ["export-config", "--pack", "guardrails", "--environment", "dev"])
    assert r.exit_code == 0
    assert json.loads(r.output)["required-tags"] == {"enforcementLevel": "advisory", "environment": "dev"}
