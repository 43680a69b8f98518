"""The CrossGuard packs: each directory is runnable by `pulumi preview --policy-pack`, its entry point
imports without serving gRPC, and it holds exactly the catalogue's rules for its pack. The policies
are then driven the way the analyzer drives them (unknown-checking proxy, pack config)."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest
import yaml
from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import PolicyCustomTimeouts, _NotApplicableError
from pulumi_policy.proxy import UNKNOWN_BOOLEAN_VALUE, unknown_checking_proxy

from mlinfra.policy import PACKS, catalogue
from mlinfra.policy.crossguard import pack_policies, runtime_environment
from tests.policy.fixtures import ecr, s3_stack

ROOT = Path(__file__).resolve().parents[2]


def _load(pack: str) -> dict:
    # Any run_name but "__main__": the module builds its policies, never the (gRPC-serving) PolicyPack.
    return runpy.run_path(str(ROOT / "policies" / pack / "__main__.py"), run_name="mlinfra_pack_under_test")


@pytest.mark.parametrize("pack", PACKS)
def test_pack_directory_is_runnable(pack):
    d = ROOT / "policies" / pack
    doc = yaml.safe_load((d / "PulumiPolicy.yaml").read_text())
    assert doc["runtime"]["name"] == "python"
    reqs = (d / "requirements.txt").read_text()
    assert reqs.strip().splitlines()[-1] == "-e ../.."  # the checkout (tests/test_release.py)
    main = (d / "__main__.py").read_text()
    assert (
        'if __name__ == "__main__":' in main and "PolicyPack(" in main.split('if __name__ == "__main__":')[1]
    )


@pytest.mark.parametrize("pack", PACKS)
def test_entry_point_imports_cleanly_and_matches_catalogue(pack):
    module = _load(pack)
    names = [p.name for p in module["POLICIES"]]
    assert names == [p.name for p in catalogue(pack)]
    for policy, info in zip(module["POLICIES"], catalogue(pack), strict=True):
        kind = StackValidationPolicy if info.kind == "stack" else ResourceValidationPolicy
        assert isinstance(policy, kind)
        assert policy.description == info.description and policy.remediation_steps == info.remediation
        assert policy.severity.value == info.severity


def test_every_rule_is_in_exactly_one_pack():
    names = [p.name for pack in PACKS for p in catalogue(pack)]
    assert sorted(names) == sorted(p.name for p in catalogue()) and len(names) == len(set(names)) == 27


def test_enforcement_follows_the_runtime_environment():
    assert runtime_environment({"PULUMI_STACK": "prod"}) == "prod"
    cfg = {"mlinfra:platform": json.dumps({"environment": "staging", "cloud": "aws"})}
    assert runtime_environment({"PULUMI_CONFIG": json.dumps(cfg), "PULUMI_STACK": "prod"}) == "staging"
    assert runtime_environment({"MLINFRA_ENVIRONMENT": "prod"}) == "prod"
    assert runtime_environment({}) == "dev"
    levels = {p.enforcement_level for p in pack_policies("access", "dev")}
    assert levels == {EnforcementLevel.ADVISORY}
    assert {p.enforcement_level for p in pack_policies("access", "prod")} == {EnforcementLevel.MANDATORY}


def _opts(protect: bool = False) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def _validate_resource(policy, r, config=None):
    reported: list[str] = []
    args = ResourceValidationArgs(
        r.type,
        unknown_checking_proxy(json.loads(json.dumps(r.props))),
        r.urn,
        r.name,
        _opts(r.protect),
        None,
        config,
    )
    policy.validate(args, lambda msg, urn=None: reported.append(msg))
    return reported


def _policy(pack: str, name: str, env: str = "prod"):
    return next(p for p in pack_policies(pack, env) if p.name == name)


def test_resource_policy_reports_with_remediation_and_honours_exemptions():
    policy = _policy("access", "ecr-immutable-scanned")
    repo = ecr()
    assert _validate_resource(policy, repo) == []
    repo.props["imageTagMutability"] = "MUTABLE"
    (msg,) = _validate_resource(policy, repo)
    assert "imageTagMutability is 'MUTABLE'" in msg and "Remediation: image_tag_mutability='IMMUTABLE'" in msg
    with pytest.raises(_NotApplicableError) as e:
        _validate_resource(
            policy, repo, {"exemptions": [{"resource": "models", "reason": "upstream mirror"}]}
        )
    assert e.value.reason == "models exempt: upstream mirror"


def test_resource_policy_survives_unknown_values():
    policy = _policy("access", "ecr-immutable-scanned")
    repo = ecr()
    repo.props["imageScanningConfiguration"]["scanOnPush"] = UNKNOWN_BOOLEAN_VALUE
    assert _validate_resource(policy, repo) == []


def test_environment_from_policy_config_wins():
    policy = _policy("encryption", "registry-cmk-encryption", env="prod")
    repo = ecr()
    repo.props["encryptionConfigurations"] = [{"encryptionType": "AES256"}]
    assert _validate_resource(policy, repo)
    assert _validate_resource(policy, repo, {"environment": "dev"}) == []


def _stack_args(resources, config=None):
    prs = {}
    out = []
    for r in resources:
        pr = PolicyResource(
            r.type,
            unknown_checking_proxy(json.loads(json.dumps(r.props))),
            r.urn,
            r.name,
            _opts(r.protect),
            None,
            None,
            [],
            {},
        )
        prs[r.urn] = pr
        out.append(pr)
    for r, pr in zip(resources, out, strict=True):
        pr.dependencies = [prs[u] for u in r.dependencies if u in prs]
    return StackValidationArgs(out, config)


def test_stack_policy_joins_and_reads_protect():
    enc = _policy("encryption", "storage-cmk-encryption")
    stack = s3_stack()
    reported: list[tuple[str, str]] = []
    enc.validate(_stack_args(stack), lambda m, urn=None: reported.append((m, urn)))
    assert reported == []
    stack[1].props["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] = "AES256"
    enc.validate(_stack_args(stack), lambda m, urn=None: reported.append((m, urn)))
    assert [urn for _, urn in reported] == [stack[0].urn]

    protect = _policy("guardrails", "protect-stateful-resources")
    reported.clear()
    stack[0].protect = False
    protect.validate(_stack_args(stack), lambda m, urn=None: reported.append((m, urn)))
    assert [urn for _, urn in reported] == [stack[0].urn]
    with pytest.raises(_NotApplicableError):
        protect.validate(
            _stack_args(stack, {"exemptions": [{"resource": "artifacts", "reason": "scratch bucket"}]}),
            lambda m, urn=None: reported.append((m, urn)),
        )
