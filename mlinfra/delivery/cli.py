"""`mlinfra diff`, `mlinfra graph` and `mlinfra preview|up|refresh|destroy` (registered on the
main app by `register`).

Exit codes as everywhere in mlinfra: 0 done, 1 the change is refused (`--fail-on-delete` and a
stateful resource is deleted or replaced), 2 bad input: one line naming the file and the field
(`mlinfra.cli_support.user_errors`, the contract of every command).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from mlinfra.cli_support import user_errors
from mlinfra.errors import InputError

DIFF_FORMATS = ("text", "markdown", "json")
GRAPH_FORMATS = ("mermaid", "dot")


def _choice(value: str, allowed: tuple[str, ...], option: str) -> str:
    if value not in allowed:
        raise InputError(f"{value!r}; allowed: {', '.join(allowed)}", field=option)
    return value


def diff(
    base: Path = typer.Argument(
        ..., help="The plan before the change (`mlinfra plan --json` on the base branch)."
    ),
    head: Path = typer.Argument(..., help="The plan after the change."),
    fmt: str = typer.Option("text", "--format", "-f", help="text, markdown (a PR comment body) or json."),
    fail_on_delete: bool = typer.Option(
        False, "--fail-on-delete", help="Exit 1 when a stateful resource is deleted or replaced."
    ),
) -> None:
    """What a change does to a stack: resources added, removed, changed (with paths), replaced,
    renamed without an alias; policy violations new and resolved; the cost change."""
    from mlinfra.delivery.diff import diff_plans, render_text, warning_lines
    from mlinfra.delivery.markdown import render_diff
    from mlinfra.offline import load_plan_file

    _choice(fmt, DIFF_FORMATS, "--format")
    old, new = load_plan_file(base), load_plan_file(head)
    if (old.project, old.stack) != (new.project, new.stack):
        typer.echo(f"warning: comparing {old.project}/{old.stack} with {new.project}/{new.stack}", err=True)
    d = diff_plans(old, new)
    if fmt == "json":
        sys.stdout.write(json.dumps(d.to_json(), indent=2) + "\n")
    elif fmt == "markdown":
        sys.stdout.write(render_diff(d))
    else:
        sys.stdout.write(render_text(d))
    # The warning also goes to stderr, so a CI log shows it whatever the format printed.
    for w in warning_lines(d):
        typer.echo(f"warning: stateful resource {w}", err=True)
    if fail_on_delete and d.stateful_losses:
        typer.echo(
            f"error: {len(d.stateful_losses)} stateful resource(s) deleted or replaced (--fail-on-delete)",
            err=True,
        )
        raise typer.Exit(1)


def graph(
    source: Path = typer.Argument(..., help="A stack directory (with --stack) or a saved plan (.json)."),
    stack: str | None = typer.Option(None, "--stack", "-s", help="Stack name, when SOURCE is a directory."),
    fmt: str = typer.Option("mermaid", "--format", "-f", help="mermaid or dot."),
) -> None:
    """The stack's architecture from its plan: components, their resources, and the request and
    data path (ingress -> service -> model pods -> identity -> bucket)."""
    from mlinfra.delivery.graph import render
    from mlinfra.offline import load_plan_file, plan_stack

    _choice(fmt, GRAPH_FORMATS, "--format")
    if source.is_dir():
        if not stack:
            raise InputError(f"required when {source} is a stack directory", field="--stack")
        plan = plan_stack(source, stack)
    else:
        plan = load_plan_file(source)
    sys.stdout.write(render(plan, fmt))


def _deploy(command: str, doc: str):
    def run_command(
        stack_dir: Path = typer.Argument(..., help="Pulumi project directory, e.g. stacks/aws."),
        stack: str = typer.Option(..., "--stack", "-s", help="Stack name (org/name for Pulumi Cloud)."),
        policy_config: Path | None = typer.Option(
            None, "--policy-config", help="Pack config JSON (disabled rules, exemptions) for the four packs."
        ),
        show_diff: bool = typer.Option(False, "--diff", help="Show the property-level diff."),
        expect_no_changes: bool = typer.Option(
            False, "--expect-no-changes", help="Fail if anything would change (drift checks)."
        ),
        plan_file: str | None = typer.Option(
            None,
            "--plan",
            help="preview: save the update plan to FILE; up: apply only what the saved plan FILE holds.",
        ),
        preview_only: bool = typer.Option(
            False, "--preview-only", help="refresh/destroy: show what would happen, change nothing."
        ),
    ) -> None:
        from mlinfra.delivery.deploy import run
        from mlinfra.policy.config import load_pack_config
        from mlinfra.policy.model import RULES

        config = load_pack_config(policy_config, {r.name for r in RULES}) if policy_config else None
        code, summary = run(
            command,
            stack_dir,
            stack,
            write=typer.echo,
            policy_config=config,
            diff=show_diff,
            expect_no_changes=expect_no_changes,
            plan_file=plan_file,
            preview_only=preview_only,
        )
        typer.echo(summary)
        raise typer.Exit(code)

    run_command.__doc__ = doc
    run_command.__name__ = command
    return run_command


DEPLOY_DOCS = {
    "preview": "pulumi preview on the Automation API with the four policy packs (needs the Pulumi CLI).",
    "up": "pulumi up on the Automation API with the four policy packs (needs the Pulumi CLI).",
    "refresh": "pulumi refresh (--preview-only: report drift, change nothing; needs the Pulumi CLI).",
    "destroy": "pulumi destroy (--preview-only: show what would go; needs the Pulumi CLI).",
}


def register(app: typer.Typer) -> None:
    app.command("diff")(user_errors(diff))
    app.command("graph")(user_errors(graph))
    for command, doc in DEPLOY_DOCS.items():
        app.command(command)(user_errors(_deploy(command, doc)))
