"""`mlinfra` command: plan a stack offline, check plans against the policy packs.

Exit codes: 0 plan built (and no mandatory policy violated), 1 a mandatory policy is
violated, 2 the program could not be planned (bad config, an exception in the program).
"""

from __future__ import annotations

import json
import sys
import traceback
from collections import Counter, defaultdict
from pathlib import Path

import typer
from rich.console import Console
from rich.tree import Tree

from mlinfra.delivery.cli import register as register_delivery
from mlinfra.offline import Plan, ProgramError, plan_stack
from mlinfra.policy.cli import policy_app

app = typer.Typer(
    help="mlinfra: plan ML platform stacks offline and check them against the policy packs.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(policy_app, name="policy", help="List the policy catalogue or check a saved plan.")
register_delivery(app)

EXIT_OK, EXIT_POLICY, EXIT_ERROR = 0, 1, 2


@app.command()
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
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of a program error."),
) -> None:
    """Run a stack program offline (no CLI, no credentials), print its resources and the policy verdict."""
    from mlinfra.policy import check_plan, load_pack_config

    if fmt not in ("text", "markdown"):
        raise typer.BadParameter(f"{fmt!r}; allowed: text, markdown", param_hint="--format")

    # Piped (CI logs, PR comments): wide enough that resource names are never cropped.
    width = None if sys.stdout.isatty() else 240
    console = Console(highlight=False, soft_wrap=True, width=width)
    err = Console(stderr=True, highlight=False, soft_wrap=True, width=width)
    try:
        result = plan_stack(stack_dir, stack)
    except ProgramError as e:
        err.print(f"[bold red]error:[/] {e}")
        if debug and e.cause is not None:
            err.print("".join(traceback.format_exception(e.cause)))
        elif e.cause is not None:
            err.print("[dim](run with --debug for the traceback)[/]")
        raise typer.Exit(EXIT_ERROR) from None

    config = load_pack_config(policy_config) if policy_config else None
    report = check_plan(result, config=config)
    result.policy = report.to_json()
    from mlinfra.cost import estimate_plan

    result.cost = estimate_plan(result)

    if fmt == "markdown":
        from mlinfra.delivery.markdown import render_plan

        sys.stdout.write(render_plan(result))
    else:
        _print_plan(console, result, report, tree)
    if json_out:
        json_out.write_text(json.dumps(result.to_json(), indent=2, sort_keys=False) + "\n")
        (err if fmt == "markdown" else console).print(f"plan written to {json_out}")
    raise typer.Exit(EXIT_POLICY if report.mandatory_failed else EXIT_OK)


def _print_plan(console: Console, result: Plan, report, tree: bool) -> None:
    if tree:
        console.print(render_tree(result))
    for w in result.warnings:
        console.print(f"[yellow]warning:[/] {w}")
    report.render(console)
    _print_cost(console, result.cost)
    console.print(summary_line(result, report.mandatory_failed, len(report.violations)))


def render_tree(plan: Plan) -> Tree:
    """The resources as a tree, grouped by component (parent)."""
    by_parent: dict[str | None, list] = defaultdict(list)
    urns = {r.urn for r in plan.resources}
    for r in plan.resources:
        by_parent[r.parent if r.parent in urns else None].append(r)
    root = Tree(f"[bold]{plan.project}[/] / [bold]{plan.stack}[/] ({plan.cloud}, {plan.environment or '-'})")

    def add(node: Tree, parent: str | None) -> None:
        for r in by_parent.get(parent, []):
            flags = "".join(
                [
                    " [magenta]protect[/]" if r.protect else "",
                    " [magenta]retain[/]" if r.retain_on_delete else "",
                ]
            )
            if r.urn in by_parent:
                child = node.add(f"[bold cyan]{r.type}[/] {r.name}{flags}")
                add(child, r.urn)
            else:
                node.add(f"[dim]{r.type}[/] {r.name}{flags}")

    add(root, None)
    return root


def summary_line(plan: Plan, mandatory_failed: bool, violations: int) -> str:
    counts = Counter("component" if r.type.startswith("mlinfra:") else "resource" for r in plan.resources)
    providers = sum(1 for r in plan.resources if r.type.startswith("pulumi:providers:"))
    verdict = "[bold red]FAIL[/] (mandatory policy violated)" if mandatory_failed else "[bold green]OK[/]"
    return (
        f"Plan {plan.project}/{plan.stack}: {len(plan.resources)} resources to create "
        f"({counts['component']} components, {counts['resource'] - providers} cloud/k8s resources, "
        f"{providers} providers); {violations} policy violation(s); {verdict}"
    )


def _print_cost(console: Console, cost: dict) -> None:
    if not cost or not cost.get("lines"):
        return
    console.print(
        f"Estimated monthly cost: ${cost['monthly_min_usd']:,.0f} at minimum scale, "
        f"${cost['monthly_max_usd']:,.0f} at maximum scale (on-demand list prices, {cost['region']}; "
        f"prices as of {cost['prices_date']})"
    )


@app.command()
def spec(
    stack_dir: Path = typer.Argument(..., help="Pulumi project directory."),
    stack: str = typer.Option(..., "--stack", "-s", help="Stack name."),
) -> None:
    """Print the stack's spec with the environment profile's defaults applied."""
    from mlinfra.offline import load_stack
    from mlinfra.spec import PlatformSpec, SpecError

    err = Console(stderr=True, highlight=False)
    try:
        cfg = load_stack(stack_dir, stack)
        raw = cfg.config.get("mlinfra:platform")
        if raw is None:
            raise SpecError("config key mlinfra:platform is not set")
        resolved = PlatformSpec.load(json.loads(raw), source=f"config mlinfra:platform of stack {stack!r}")
    except (ProgramError, SpecError) as e:
        err.print(f"[bold red]error:[/] {e}")
        raise typer.Exit(EXIT_ERROR) from None
    sys.stdout.write(json.dumps(resolved.model_dump(mode="json"), indent=2) + "\n")


if __name__ == "__main__":  # pragma: no cover
    app()
