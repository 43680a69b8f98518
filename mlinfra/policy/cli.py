"""`mlinfra policy ...`: list the catalogue, check a saved plan, export CrossGuard config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mlinfra.catalog import ENVIRONMENTS
from mlinfra.cli_support import console, plural, user_errors
from mlinfra.errors import InputError
from mlinfra.policy.config import load_pack_config
from mlinfra.policy.engine import catalogue, check_plan
from mlinfra.policy.model import PACKS, RULES

policy_app = typer.Typer(help="Policy packs: list the rules, check a saved plan.", no_args_is_help=True)


def _config(path: Path | None):
    return None if path is None else load_pack_config(path, {r.name for r in RULES})


def _environment(value: str | None) -> str | None:
    if value is not None and value not in ENVIRONMENTS:
        raise InputError(
            f"{value!r} is not an environment; allowed: {', '.join(ENVIRONMENTS)}", field="--environment"
        )
    return value


def _pack(value: str | None) -> str | None:
    if value is not None and value not in PACKS:
        raise InputError(f"{value!r} is not a pack; allowed: {', '.join(PACKS)}", field="--pack")
    return value


@policy_app.command("list")
@user_errors
def list_(
    pack: Annotated[str | None, typer.Option(help=f"Only this pack ({', '.join(PACKS)}).")] = None,
) -> None:
    """Print the catalogue: every policy with its pack, kind, severity and description."""
    table = Table("pack", "policy", "kind", "severity", "description", "remediation")
    infos = catalogue(_pack(pack))
    for p in infos:
        table.add_row(p.pack, p.name, p.kind, p.severity, p.description, p.remediation)
    out = console()  # a terminal: the table wraps at its width; piped: PIPE_WIDTH
    out.print(table)
    out.print(plural(len(infos), "policy", "policies"))


@policy_app.command("check")
@user_errors
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
    from mlinfra.offline import load_plan_file

    if fmt not in ("text", "markdown"):
        raise InputError(f"{fmt!r}; allowed: text, markdown", field="--format")
    env = _environment(environment)
    cfg = _config(config)
    plan = load_plan_file(plan_json)
    report = check_plan(plan, env, cfg)
    if json_out:
        typer.echo(json.dumps(report.to_json(), indent=2))
    elif fmt == "markdown":
        from mlinfra.delivery.markdown import render_policy

        typer.echo(render_policy(plan.project, plan.stack, report.to_json()), nl=False)
    else:
        report.render(console())
    raise typer.Exit(1 if report.mandatory_failed else 0)


@policy_app.command("export-config")
@user_errors
def export_config(
    pack: Annotated[str, typer.Option(help=f"Pack to configure ({', '.join(PACKS)}).")],
    environment: Annotated[str, typer.Option(help="dev, staging or prod.")],
    config: Annotated[Path | None, typer.Option(help="Pack config JSON to translate.")] = None,
) -> None:
    """Print the `pulumi preview --policy-pack-config` JSON for one pack and environment."""
    from mlinfra.policy.config import PackConfig

    _pack(pack)
    env = _environment(environment) or "dev"
    cfg = _config(config) or PackConfig()
    typer.echo(json.dumps(cfg.to_policy_pack_config([p.name for p in catalogue(pack)], env), indent=2))
