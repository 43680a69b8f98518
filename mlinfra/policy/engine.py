"""The offline policy engine: run every rule over a captured plan and report the verdict."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mlinfra.catalog import ENVIRONMENTS
from mlinfra.policy import rules as _rules  # noqa: F401  (fills the catalogue)
from mlinfra.policy.config import PackConfig, PackConfigError
from mlinfra.policy.model import PACKS, RULES, Ctx, Res, Rule
from mlinfra.wording import plural

if TYPE_CHECKING:
    from rich.console import Console

    from mlinfra.offline import Plan


@dataclass(frozen=True)
class PolicyInfo:
    name: str
    pack: str
    description: str
    severity: str
    remediation: str
    kind: str


def catalogue(pack: str | None = None) -> list[PolicyInfo]:
    """Every policy (or one pack's), in pack order."""
    if pack is not None and pack not in PACKS:
        raise ValueError(f"unknown pack {pack!r}; allowed: {', '.join(PACKS)}")
    ordered = sorted(RULES, key=lambda r: PACKS.index(r.pack))
    return [
        PolicyInfo(r.name, r.pack, r.description, r.severity, r.remediation, r.kind)
        for r in ordered
        if pack is None or r.pack == pack
    ]


def rules_of(pack: str | None = None) -> list[Rule]:
    return [r for r in sorted(RULES, key=lambda r: PACKS.index(r.pack)) if pack is None or r.pack == pack]


@dataclass
class Violation:
    pack: str
    policy: str
    urn: str
    level: str
    message: str
    remediation: str
    resource: str = ""
    type: str = ""
    severity: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PolicyReport:
    environment: str
    violations: list[Violation] = field(default_factory=list)
    exemptions: list[tuple[str, str, str]] = field(default_factory=list)  # (policy, resource name, reason)
    disabled: list[tuple[str, str]] = field(default_factory=list)  # (policy, reason)
    warnings: list[str] = field(default_factory=list)  # e.g. an exemption that names no resource

    @property
    def mandatory_failed(self) -> bool:
        return any(v.level == "mandatory" for v in self.violations)

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "violations": [v.to_json() for v in self.violations],
            "exemptions": [{"policy": p, "resource": r, "reason": why} for p, r, why in self.exemptions],
            "disabled": [{"policy": p, "reason": why} for p, why in self.disabled],
            "warnings": list(self.warnings),
            "mandatory_failed": self.mandatory_failed,
        }

    def by_resource(self) -> dict[str, list[Violation]]:
        out: dict[str, list[Violation]] = {}
        for v in self.violations:
            out.setdefault(v.urn, []).append(v)
        return out

    def render(self, console: Console) -> None:
        """Violations grouped by resource, each with its remediation; then exemptions and disabled rules."""
        from rich.markup import escape

        groups = self.by_resource()
        for urn, vs in groups.items():
            head = vs[0]
            console.print(
                f"[bold]{escape(head.type)}[/bold] {escape(head.resource)}  [dim]{escape(urn)}[/dim]"
            )
            for v in vs:
                style = "red" if v.level == "mandatory" else "yellow"
                console.print(
                    f"  [{style}]{v.level}[/{style}] {escape(v.pack)}/{escape(v.policy)} ({v.severity}): {escape(v.message)}"
                )
                console.print(f"    [dim]fix:[/dim] {escape(v.remediation)}")
        for policy, resource, reason in self.exemptions:
            console.print(f"[cyan]exempt[/cyan] {escape(policy)} on {escape(resource)}: {escape(reason)}")
        for policy, reason in self.disabled:
            console.print(f"[cyan]disabled[/cyan] {escape(policy)}: {escape(reason)}")
        for warning in self.warnings:
            console.print(f"[yellow]warning:[/yellow] {escape(warning)}")
        mandatory = sum(v.level == "mandatory" for v in self.violations)
        advisory = len(self.violations) - mandatory
        verdict = "[red]FAIL[/red]" if self.mandatory_failed else "[green]PASS[/green]"
        violations = "violation" if mandatory + advisory == 1 else "violations"
        console.print(
            f"policy ({self.environment}): {verdict} - {mandatory} mandatory, {advisory} advisory {violations} "
            f"on {plural(len(groups), 'resource')}; {plural(len(self.exemptions), 'exemption')}, "
            f"{len(self.disabled)} disabled"
        )


def resources_of(plan: Plan) -> list[Res]:
    """The plan's custom resources as rules see them (components and providers are not checked)."""
    by_urn = {r.urn: r for r in plan.resources}
    out = []
    for r in plan.resources:
        if not r.custom or r.type.startswith("pulumi:providers:"):
            continue
        prov = by_urn.get(r.provider) if r.provider else None
        out.append(
            Res(
                type=r.type,
                name=r.name,
                props=r.inputs,
                urn=r.urn,
                protect=r.protect,
                provider_props=prov.inputs if prov is not None else None,
                dependencies=list(r.dependencies),
                parent=r.parent,
            )
        )
    return out


def environment_of(plan: Plan, environment: str | None, config: PackConfig | None) -> str:
    for candidate in (
        environment,
        config.environment if config else None,
        getattr(plan, "environment", None),
    ):
        if candidate is not None:
            if candidate not in ENVIRONMENTS:
                raise ValueError(f"environment {candidate!r} is not one of {', '.join(ENVIRONMENTS)}")
            return candidate
    return plan.stack if plan.stack in ENVIRONMENTS else "dev"


def check_plan(plan: Plan, environment: str | None = None, config: PackConfig | None = None) -> PolicyReport:
    """Run every pack over a plan. The environment comes from the argument, the config, the plan, or
    the stack name (dev/staging/prod), in that order, and is "dev" otherwise."""
    env = environment_of(plan, environment, config)
    return check_resources(resources_of(plan), env, config)


def check_resources(
    resources: list[Res],
    environment: str,
    config: PackConfig | None = None,
    packs: Iterable[str] | None = None,
) -> PolicyReport:
    config = config or PackConfig()
    known = {r.name for r in RULES}
    named = set(config.overrides) | set(config.disabled) | {e.policy for e in config.exemptions}
    if named - known:
        raise PackConfigError(
            f"unknown policies {sorted(named - known)}; allowed: {', '.join(sorted(known))}"
        )
    ctx = Ctx(environment)
    report = PolicyReport(environment=environment)
    selected = [r for r in rules_of() if packs is None or r.pack in set(packs)]
    for rule in selected:
        level = config.level(rule.name, environment)
        if level == "disabled":
            report.disabled.append(
                (rule.name, config.disabled.get(rule.name, "disabled by enforcement level"))
            )
            continue
        for res, message in _findings(rule, resources, ctx):
            exempt = config.exemption(rule.name, res.name, res.urn)
            reason = exempt.reason if exempt else (rule.self_exemption(res) if rule.self_exemption else None)
            if reason:
                if (rule.name, res.name, reason) not in report.exemptions:
                    report.exemptions.append((rule.name, res.name, reason))
                continue
            report.violations.append(
                Violation(
                    pack=rule.pack,
                    policy=rule.name,
                    urn=res.urn,
                    level=level,
                    message=message,
                    remediation=rule.remediation,
                    resource=res.name,
                    type=res.type,
                    severity=rule.severity,
                )
            )
    names = {r.name for r in resources} | {r.urn for r in resources}
    for e in config.exemptions:
        if e.resource not in names:
            report.warnings.append(
                f"the exemption of {e.policy} names {e.resource!r}, which is no resource of this plan "
                "(a name or URN of a cloud or Kubernetes resource); it exempts nothing"
            )
    return report


def _findings(rule: Rule, resources: list[Res], ctx: Ctx) -> Iterable[tuple[Res, str]]:
    if rule.kind == "stack":
        try:
            yield from list(rule.check(resources, ctx))
        except Exception as e:
            raise RuntimeError(f"policy {rule.name!r} failed: {type(e).__name__}: {e}") from e
        return
    for res in resources:
        if not rule.applies_to(res.type):
            continue
        try:
            messages = list(rule.check(res, ctx))
        except Exception as e:
            raise RuntimeError(
                f"policy {rule.name!r} failed on {res.urn or res.name}: {type(e).__name__}: {e}"
            ) from e
        for m in messages:
            yield res, m


def run_rule(rule_name: str, resources: list[Res] | Res, environment: str = "dev") -> list[str]:
    """Messages one rule reports for a resource (or a resource list, for stack rules); for tests and debugging."""
    rule = next((r for r in RULES if r.name == rule_name), None)
    if rule is None:
        raise KeyError(f"unknown policy {rule_name!r}")
    items = resources if isinstance(resources, list) else [resources]
    return [m for _, m in _findings(rule, items, Ctx(environment))]
