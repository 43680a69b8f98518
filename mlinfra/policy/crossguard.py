"""The same rules as `pulumi_policy` policies, for `pulumi preview --policy-pack policies/<pack>`.

Building policies is side-effect free; only `pulumi_policy.PolicyPack(...)` serves gRPC, and
only a pack's `__main__.py` constructs it (under `if __name__ == "__main__":`).

Environment: a policy's config property `environment` (written by `mlinfra policy export-config`)
wins; otherwise the stack config `mlinfra:platform` (its `environment`), then `MLINFRA_ENVIRONMENT`,
then the stack name when it is dev/staging/prod, else dev. The pack's default enforcement
follows it (advisory in dev, mandatory in staging and prod); `--policy-pack-config` overrides
per policy, as CrossGuard does. Exemptions come from each policy's `exemptions` property and
are reported as "not applicable" with their reason.
"""

from __future__ import annotations

import json
import os
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from mlinfra.catalog import ENVIRONMENTS
from mlinfra.policy.config import DEFAULT_ENFORCEMENT
from mlinfra.policy.engine import rules_of
from mlinfra.policy.model import Ctx, Res, Rule

CONFIG_SCHEMA = PolicyConfigSchema(
    properties={
        "environment": {"type": "string", "enum": list(ENVIRONMENTS)},
        "reason": {"type": "string"},
        "exemptions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"resource": {"type": "string"}, "reason": {"type": "string", "minLength": 1}},
                "required": ["resource", "reason"],
            },
        },
    }
)
_SEVERITY = {
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.CRITICAL,
}
_LEVEL = {"advisory": EnforcementLevel.ADVISORY, "mandatory": EnforcementLevel.MANDATORY}


def runtime_environment(environ: dict[str, str] | None = None) -> str:
    """The environment of the stack being previewed, from what the analyzer process is given."""
    env = os.environ if environ is None else environ
    raw_config = env.get("PULUMI_CONFIG")
    if raw_config:
        try:
            config = json.loads(raw_config)
            raw = config.get("mlinfra:platform") or config.get("mlinfra:config:platform")
            if raw:
                value = json.loads(raw).get("environment") if isinstance(raw, str) else raw.get("environment")
                if value in ENVIRONMENTS:
                    return value
        except (ValueError, AttributeError):
            pass
    if env.get("MLINFRA_ENVIRONMENT") in ENVIRONMENTS:
        return env["MLINFRA_ENVIRONMENT"]
    if env.get("PULUMI_STACK") in ENVIRONMENTS:
        return env["PULUMI_STACK"]
    return "dev"


def _exemption(config: Any, res: Res) -> str | None:
    for e in config.get("exemptions") or []:
        if e.get("resource") in (res.name, res.urn) and e.get("reason"):
            return str(e["reason"])
    return None


def _ctx(config: Any, environment: str) -> Ctx:
    env = config.get("environment")
    return Ctx(env if env in ENVIRONMENTS else environment)


def _message(rule: Rule, message: str) -> str:
    return f"{message}\nRemediation: {rule.remediation}"


def _res(r: ResourceValidationArgs | PolicyResource, graph: bool = False) -> Res:
    """A resource as rules see it; `graph`: with its dependencies and parent (stack policies)."""
    return Res(
        type=r.resource_type,
        name=r.name,
        props=r.props,
        urn=r.urn,
        protect=bool(r.opts.protect) if r.opts else False,
        provider_props=r.provider.props if r.provider else None,
        dependencies=[d.urn for d in r.dependencies] if graph else [],
        parent=r.parent.urn if graph and r.parent else None,
    )


def _policy_settings(rule: Rule, environment: str) -> dict[str, Any]:
    """What every policy of a rule carries, resource or stack."""
    return {
        "name": rule.name,
        "description": rule.description,
        "enforcement_level": _LEVEL[DEFAULT_ENFORCEMENT[environment]],
        "config_schema": CONFIG_SCHEMA,
        "severity": _SEVERITY[rule.severity],
        "remediation_steps": rule.remediation,
        "tags": ["mlinfra", rule.pack],
    }


def resource_policy(rule: Rule, environment: str) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if not rule.applies_to(args.resource_type):
            return
        config = args.get_config() or {}
        res = _res(args)
        messages = list(rule.check(res, _ctx(config, environment)))
        if not messages:
            return
        reason = _exemption(config, res) or (rule.self_exemption(res) if rule.self_exemption else None)
        if reason:
            args.not_applicable(f"{res.name} exempt: {reason}")
        for m in messages:
            report_violation(_message(rule, m), None)

    return ResourceValidationPolicy(validate=validate, **_policy_settings(rule, environment))


def stack_policy(rule: Rule, environment: str) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        config = args.get_config() or {}
        resources = [_res(r, graph=True) for r in args.resources if not r.resource_type.startswith("pulumi:")]
        exempted = []
        reported = 0
        for res, m in rule.check(resources, _ctx(config, environment)):
            reason = _exemption(config, res) or (rule.self_exemption(res) if rule.self_exemption else None)
            if reason:
                exempted.append(f"{res.name} exempt: {reason}")
                continue
            reported += 1
            report_violation(_message(rule, m), res.urn)
        if exempted and not reported:
            args.not_applicable("; ".join(sorted(set(exempted))))

    return StackValidationPolicy(validate=validate, **_policy_settings(rule, environment))


def pack_policies(pack: str, environment: str | None = None) -> list[Policy]:
    """The CrossGuard policies of one pack (building them starts nothing)."""
    env = environment or runtime_environment()
    return [stack_policy(r, env) if r.kind == "stack" else resource_policy(r, env) for r in rules_of(pack)]


def pack_name(pack: str) -> str:
    return f"mlinfra-{pack}"
