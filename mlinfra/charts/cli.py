"""`mlinfra render` and `mlinfra charts list|pull`.

Exit codes (as `mlinfra plan`): 0 rendered and clean; 1 the rendered set has a chart-check problem
or a mandatory policy violation; 2 nothing could be rendered (the stack does not plan, Helm or the
chart directory is missing, a chart is missing or fails to render).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlinfra.charts.data import ChartData, ChartDataError, resolve_charts_dir
from mlinfra.charts.helm import HelmError, find_helm

EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2

charts_app = typer.Typer(
    help="The pinned Helm charts: list them, or fetch them (with their upstream data) for render and the checks.",
    no_args_is_help=True,
)


def _consoles() -> tuple[Console, Console]:
    width = None if sys.stdout.isatty() else 240
    return (
        Console(highlight=False, soft_wrap=True, width=width),
        Console(stderr=True, highlight=False, soft_wrap=True, width=width),
    )


def _fail(err: Console, message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(EXIT_ERROR)


@charts_app.command("list")
def list_() -> None:
    """Print every pinned chart: name, version, where it comes from, and the upstream tag it was checked against."""
    from mlinfra.k8s.charts import ALL_PINS

    console, _ = _consoles()
    table = Table("chart", "version", "repository", "upstream tag")
    for pin in ALL_PINS:
        table.add_row(pin.name, pin.version, pin.chart if pin.oci else str(pin.repo), pin.upstream)
    console.print(table)


@charts_app.command("pull")
def pull_(
    directory: Path = typer.Option(
        Path("charts"), "--dir", help="Where to write the chart data directory (created if missing)."
    ),
) -> None:
    """Fetch every pinned chart with `helm pull` (needs internet) and write the chart data directory:
    published versions, each pin's Chart.yaml, values, values schema, subchart values, CRDs and archive."""
    from mlinfra.charts.pull import PullError, pull
    from mlinfra.k8s.charts import ALL_PINS

    console, err = _consoles()
    try:
        helm = find_helm()
        written = pull(helm, ALL_PINS, directory)
    except (HelmError, PullError) as e:
        raise _fail(err, str(e)) from None
    for vdir in written:
        console.print(f"pulled {vdir}")
    console.print(
        f"{len(written)} chart version(s) in {directory}; use it with `--charts {directory}` or MLINFRA_CHARTS_DIR={directory}"
    )


def render(
    stack_dir: Path = typer.Argument(..., help="Pulumi project directory, e.g. stacks/aws."),
    stack: str = typer.Option(..., "--stack", "-s", help="Stack name: reads Pulumi.<stack>.yaml."),
    charts: Path | None = typer.Option(
        None,
        "--charts",
        help="Chart directory (layout of `mlinfra charts pull`); default: MLINFRA_CHARTS_DIR, else ../shared/charts.",
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Where to write the manifests (default: rendered/<stack>)."
    ),
    policy_config: Path | None = typer.Option(
        None, "--policy-config", help="Pack config JSON (enforcement, disabled rules, exemptions)."
    ),
) -> None:
    """Plan a stack offline, render every Helm release with Helm v3, write the complete manifest set
    (one file per release + all.yaml), check it and run the policy packs over the chart workloads too."""
    from mlinfra.charts.render import RenderError, kube_version_of, render_plan
    from mlinfra.offline import ProgramError, plan_stack
    from mlinfra.policy import load_pack_config
    from mlinfra.policy.config import PackConfigError

    console, err = _consoles()
    try:
        data = ChartData(resolve_charts_dir(charts))
        helm = find_helm()
        config = load_pack_config(policy_config) if policy_config else None
        plan = plan_stack(stack_dir, stack)
        kube = kube_version_of(stack_dir, stack)
        result = render_plan(plan, data, out or Path("rendered") / stack, helm, kube, config)
    except (ChartDataError, HelmError, ProgramError, RenderError, PackConfigError) as e:
        raise _fail(err, str(e)) from None

    console.print(
        f"rendered {len(result.releases)} release(s) with Helm {helm.version} for Kubernetes {result.kube_version} "
        f"({len(result.api_versions)} CRD API versions known) from {data.root}"
    )
    for r in result.releases:
        note = f"; placeholders: {', '.join(r.placeholders)}" if r.placeholders else ""
        console.print(
            f"  {r.file}: {len(r.objects)} object(s) from {r.release.chart_name} {r.release.version}{note}"
        )
    console.print(f"  {result.out_dir / 'plan.yaml'}: {len(result.plan_objects)} object(s) of the plan")
    console.print(f"  {result.out_dir / 'all.yaml'}: everything")
    for p in result.problems:
        console.print(f"[red]problem[/] {escape(str(p))}")
    result.report.render(console)
    verdict = "[bold red]FAIL[/]" if result.failed else "[bold green]OK[/]"
    console.print(
        f"Render {plan.project}/{plan.stack}: {sum(len(r.objects) for r in result.releases)} chart object(s), "
        f"{len(result.problems)} chart-check problem(s), {len(result.report.violations)} policy violation(s); {verdict}"
    )
    raise typer.Exit(EXIT_FAIL if result.failed else EXIT_OK)
