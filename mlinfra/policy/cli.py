"""`mlinfra policy ...`: list the catalogue, check a saved plan, export CrossGuard config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from mlinfra.catalog import ENVIRONMENTS
from mlinfra.policy.config import PackConfigError, load_pack_config
from mlinfra.policy.engine import catalogue, check_plan
from mlinfra.policy.model import PACKS, RULES

policy_app = typer.Typer(help="Policy packs: list the rules, check a saved plan.", no_args_is_help=True)


def _config(path: Path | None):
    if path is None:
        return None
    try:
        return load_pack_config(path, {r.name for r in RULES})
    except PackConfigError as e:
        raise typer.BadParameter(str(e), param_hint="--config") from None


def _environment(value: str | None) -> str | None:
    if value is not None and value not in ENVIRONMENTS:
        raise typer.BadParameter(f"{value!r}; allowed: {', '.join(ENVIRONMENTS)}", param_hint="--environment")
    return value


@policy_app.command("list")
def list_(
    pack: Annotated[str | None, typer.Option(help=f"Only this pack ({', '.join(PACKS)}).")] = None,
) -> None:
    """Print the catalogue: every policy with its pack, kind, severity and description."""
    if pack is not None and pack not in PACKS:
        raise typer.BadParameter(f"{pack!r}; allowed: {', '.join(PACKS)}", param_hint="--pack")
    table = Table("pack", "policy", "kind", "severity", "description", "remediation")
    infos = catalogue(pack)
    for p in infos:
        table.add_row(p.pack, p.name, p.kind, p.severity, p.description, p.remediation)
    Console(width=200).print(table)
    typer.echo(f"{len(infos)} policies")


@policy_app.command("check")
def check(
    plan_json: Annotated[Path, typer.Argument(help="A plan saved with `mlinfra plan --json FILE`.")],
    environment: Annotated[
        str | None, typer.Option(help="dev, staging or prod (default: from the plan).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="Pack config JSON (enforcement, disabled, exemptions).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="text, or markdown (a pull-request comment body).")
    ] = "text",
) -> None:
    """Run every pack over a saved plan; exit 1 when a mandatory policy is violated."""
    from mlinfra.offline import Plan

    if fmt not in ("text", "markdown"):
        raise typer.BadParameter(f"{fmt!r}; allowed: text, markdown", param_hint="--format")
    env = _environment(environment)
    cfg = _config(config)
    try:
        plan = Plan.from_json(json.loads(plan_json.read_text()))
    except OSError as e:
        raise typer.BadParameter(f"{plan_json}: {e.strerror}", param_hint="PLAN_JSON") from None
    except (ValueError, KeyError, TypeError) as e:
        raise typer.BadParameter(f"{plan_json}: not a saved plan ({e})", param_hint="PLAN_JSON") from None
    report = check_plan(plan, env, cfg)
    if json_out:
        typer.echo(json.dumps(report.to_json(), indent=2))
    elif fmt == "markdown":
        from mlinfra.delivery.markdown import render_policy

        typer.echo(render_policy(plan.project, plan.stack, report.to_json()), nl=False)
    else:
        report.render(Console(width=200))
    raise typer.Exit(1 if report.mandatory_failed else 0)


@policy_app.command("export-config")
def export_config(
    pack: Annotated[str, typer.Option(help=f"Pack to configure ({', '.join(PACKS)}).")],
    environment: Annotated[str, typer.Option(help="dev, staging or prod.")],
    config: Annotated[Path | None, typer.Option(help="Pack config JSON to translate.")] = None,
) -> None:
    """Print the `pulumi preview --policy-pack-config` JSON for one pack and environment."""
    if pack not in PACKS:
        raise typer.BadParameter(f"{pack!r}; allowed: {', '.join(PACKS)}", param_hint="--pack")
    from mlinfra.policy.config import PackConfig

    cfg = _config(config) or PackConfig()
    env = _environment(environment) or "dev"
    typer.echo(json.dumps(cfg.to_policy_pack_config([p.name for p in catalogue(pack)], env), indent=2))
