"""`mlinfra` command: plan a stack offline, check plans against the policy packs.

Exit codes: 0 plan built (and no mandatory policy violated), 1 a mandatory policy is
violated, 2 the program could not be planned (bad config, an exception in the program).
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import typer
from rich.markup import escape
from rich.tree import Tree

from mlinfra.charts.cli import charts_app, render
from mlinfra.cli_support import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_POLICY,
    check_output_path,
    console,
    integral,
    plural,
    user_errors,
    write_output,
)
from mlinfra.delivery.cli import register as register_delivery
from mlinfra.errors import InputError
from mlinfra.offline import Plan, plan_stack
from mlinfra.offline.reach import UNREACHABLE
from mlinfra.policy.cli import policy_app

app = typer.Typer(
    help="mlinfra: plan ML platform stacks offline and check them against the policy packs.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(policy_app, name="policy", help="List the policy catalogue or check a saved plan.")
app.add_typer(charts_app, name="charts", help="The pinned Helm charts: list them, or pull them for render.")
app.command()(user_errors(render))  # the one error contract (one line, exit 2, --debug) for render too
register_delivery(app)  # diff, graph, preview/up/refresh/destroy

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_POLICY", "app"]

PLAN_FORMATS = ("text", "markdown")


@app.command()
@user_errors
def plan(
    stack_dir: Path = typer.Argument(..., help="Pulumi project directory, e.g. stacks/aws."),
    stack: str = typer.Option(..., "--stack", "-s", help="Stack name: reads Pulumi.<stack>.yaml."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the plan (stable JSON form) to FILE."),
    policy_config: Path | None = typer.Option(
        None, "--policy-config", help="Pack config JSON (enforcement, disabled rules, exemptions)."
    ),
    tree: bool = typer.Option(True, "--tree/--no-tree", help="Print the resource tree."),
    fmt: str = typer.Option(
        "text", "--format", "-f", help="text, or markdown (a pull-request comment body)."
    ),
) -> None:
    """Run a stack program offline (no CLI, no credentials), print its resources and the policy verdict."""
    from mlinfra.cost import estimate_plan
    from mlinfra.policy import check_plan, load_pack_config
    from mlinfra.policy.model import RULES

    # Everything the user gave is checked before the (slower) program runs.
    if fmt not in PLAN_FORMATS:
        raise InputError(f"{fmt!r}; allowed: {', '.join(PLAN_FORMATS)}", field="--format")
    if json_out is not None:
        check_output_path(json_out, "--json")
    config = load_pack_config(policy_config, {r.name for r in RULES}) if policy_config else None
    result = plan_stack(stack_dir, stack)

    report = check_plan(result, config=config)
    result.policy = report.to_json()
    result.cost = estimate_plan(result)

    if fmt == "markdown":
        from mlinfra.delivery.markdown import render_plan

        sys.stdout.write(render_plan(result))
        if json_out is not None:
            write_output(json_out, plan_json(result), "--json")
            console(stderr=True).print(f"plan written to {escape(str(json_out))}")
        raise typer.Exit(EXIT_POLICY if report.mandatory_failed else EXIT_OK)
    out = console()
    if tree:
        out.print(render_tree(result))
    for w in result.warnings:
        out.print(f"[yellow]warning:[/] {escape(w)}")
    report.render(out)
    cost = cost_line(result.cost)
    if cost:
        out.print(cost)
    out.print(summary_line(result, report.mandatory_failed, len(report.violations)))
    if json_out is not None:
        write_output(json_out, plan_json(result), "--json")
        out.print(f"plan written to {escape(str(json_out))}")
    raise typer.Exit(EXIT_POLICY if report.mandatory_failed else EXIT_OK)


def plan_json(plan: Plan) -> str:
    """The plan file's text: the stable JSON form, byte-identical for the same program and config."""
    return json.dumps(plan.to_json(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def render_tree(plan: Plan) -> Tree:
    """The resources as a tree, grouped by component (parent)."""
    by_parent: dict[str | None, list] = defaultdict(list)
    urns = {r.urn for r in plan.resources}
    for r in plan.resources:
        by_parent[r.parent if r.parent in urns else None].append(r)
    root = Tree(
        f"[bold]{escape(plan.project)}[/] / [bold]{escape(plan.stack)}[/] ({plan.cloud}, {plan.environment or '-'})"
    )

    def add(node: Tree, parent: str | None) -> None:
        for r in by_parent.get(parent, []):
            flags = "".join(
                [
                    " [magenta]protect[/]" if r.protect else "",
                    " [magenta]retain[/]" if r.retain_on_delete else "",
                ]
            )
            if r.urn in by_parent:
                child = node.add(f"[bold cyan]{escape(r.type)}[/] {escape(r.name)}{flags}")
                add(child, r.urn)
            else:
                node.add(f"[dim]{escape(r.type)}[/] {escape(r.name)}{flags}")

    add(root, None)
    return root


def summary_line(plan: Plan, mandatory_failed: bool, violations: int) -> str:
    counts = Counter("component" if r.type.startswith("mlinfra:") else "resource" for r in plan.resources)
    providers = sum(1 for r in plan.resources if r.type.startswith("pulumi:providers:"))
    verdict = "[bold red]FAIL[/] (mandatory policy violated)" if mandatory_failed else "[bold green]OK[/]"
    unreachable = sum(1 for w in plan.warnings if w.startswith(UNREACHABLE))
    if unreachable:
        # A deployment path problem, not a policy verdict: the plan is fine, `pulumi up` from here is not.
        verdict += (
            f"; [bold yellow]WARNING[/]: {plural(unreachable, 'provider')} "
            f"{'targets' if unreachable == 1 else 'target'} a cluster this stack cannot reach "
            "(see 'unreachable cluster' above)"
        )
    return (
        f"Plan {escape(plan.project)}/{escape(plan.stack)}: {plural(len(plan.resources), 'resource')} to create "
        f"({plural(counts['component'], 'component')}, {counts['resource'] - providers} cloud/k8s "
        f"{'resource' if counts['resource'] - providers == 1 else 'resources'}, "
        f"{plural(providers, 'provider')}); {plural(violations, 'policy violation')}; {verdict}"
    )


def cost_line(cost: dict) -> str | None:
    """The estimate in one line, saying whose prices: the plan's region's, or the region it fell back to."""
    if not cost or not cost.get("lines"):
        return None
    prices = cost["region"]
    wanted = cost.get("plan_region")
    if wanted and wanted != prices:
        where = f"{prices} prices: no price table for {wanted}"
    else:
        where = f"{prices} prices"
    return (
        f"Estimated monthly cost: ${cost['monthly_min_usd']:,.0f} at minimum scale, "
        f"${cost['monthly_max_usd']:,.0f} at maximum scale (on-demand list prices, {where}; "
        f"as of {cost['prices_date']})"
    )


@app.command()
@user_errors
def spec(
    stack_dir: Path = typer.Argument(..., help="Pulumi project directory."),
    stack: str = typer.Option(..., "--stack", "-s", help="Stack name."),
) -> None:
    """Print the stack's spec with the environment profile's defaults applied."""
    from mlinfra.offline.engine import load_platform_spec, load_stack

    resolved = load_platform_spec(load_stack(stack_dir, stack))
    sys.stdout.write(json.dumps(integral(resolved.model_dump(mode="json")), indent=2) + "\n")


if __name__ == "__main__":  # pragma: no cover
    app()
