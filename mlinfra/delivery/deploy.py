"""`mlinfra preview|up|refresh|destroy <stack-dir> --stack NAME`: the real thing, on Pulumi's
Automation API (a LocalWorkspace on the stack directory), with the four policy packs attached and
configured for the stack's environment, progress while it runs, and the summary line of
`mlinfra plan` at the end (changes from the engine, violations from the packs, cost from the
planned resources). These need the Pulumi CLI; without it they stop before doing anything.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlinfra.delivery.summary import summary_line
from mlinfra.errors import InputError

COMMANDS = ("preview", "up", "refresh", "destroy")
INSTALL_HINT = (
    "the Pulumi CLI is not on PATH: install it (https://www.pulumi.com/docs/iac/download-install/ - "
    "`curl -fsSL https://get.pulumi.com | sh`, or `brew install pulumi/tap/pulumi`) and log in; "
    "`mlinfra plan` needs no CLI"
)
# Automation API op names -> the summary's four words.
_OPS = {"create": "create", "update": "update", "replace": "replace", "delete": "delete"}


class DeployError(InputError):
    """The command cannot start (no CLI, no policy packs); one line for the user (exit 2)."""


def find_cli() -> str | None:
    return shutil.which("pulumi")


def find_policy_packs(stack_dir: Path) -> dict[str, Path]:
    """The four CrossGuard packs: `policies/<pack>/` in the stack directory or a parent of it."""
    from mlinfra.policy.model import PACKS

    for d in [stack_dir.resolve(), *stack_dir.resolve().parents]:
        packs = {p: d / "policies" / p for p in PACKS}
        if all((path / "PulumiPolicy.yaml").is_file() for path in packs.values()):
            return packs
    raise DeployError(
        f"no policies/<{'|'.join(PACKS)}>/PulumiPolicy.yaml in {stack_dir} or a parent directory: "
        "copy mlinfra's policies/ directory next to your stacks (its requirements pin the released mlinfra)"
    )


def stack_environment(stack_dir: Path, stack: str) -> str:
    """dev/staging/prod of the stack, as `mlinfra plan` reads it (config `mlinfra:platform`, else the name)."""
    from mlinfra.offline import load_stack
    from mlinfra.offline.engine import _config_environment

    short = stack.rsplit("/", 1)[-1]
    cfg = load_stack(stack_dir, short)  # a bad stack file: ProgramError/YamlFileError naming file and field
    return _config_environment(cfg.config, short) or "dev"


def write_pack_configs(environment: str, config: Any, directory: Path) -> list[str]:
    """One `--policy-pack-config` file per pack, in PACKS order (the order of `policy_packs`)."""
    from mlinfra.policy.config import PackConfig
    from mlinfra.policy.engine import catalogue
    from mlinfra.policy.model import PACKS

    cfg = config or PackConfig()
    paths = []
    for pack in PACKS:
        path = directory / f"{pack}.json"
        path.write_text(json.dumps(cfg.to_policy_pack_config([p.name for p in catalogue(pack)], environment)))
        paths.append(str(path))
    return paths


def options(
    command: str,
    *,
    packs: list[str],
    pack_configs: list[str],
    diff: bool,
    expect_no_changes: bool,
    plan_file: str | None,
    preview_only: bool,
    on_event: Callable[[Any], None],
    on_output: Callable[[str], None],
) -> tuple[str, dict[str, Any]]:
    """The Automation API method and its keyword arguments for one command."""
    common: dict[str, Any] = {
        "on_event": on_event,
        "on_output": on_output,
        "diff": diff or None,
        "color": "never",
    }
    if command == "preview":
        opts = {**common, "policy_packs": packs, "policy_pack_configs": pack_configs}
        opts["expect_no_changes"] = expect_no_changes or None
        opts["plan"] = plan_file  # preview: where the update plan is saved (`--save-plan`)
        return "preview", opts
    if command == "up":
        opts = {**common, "policy_packs": packs, "policy_pack_configs": pack_configs}
        opts["expect_no_changes"] = expect_no_changes or None
        opts["plan"] = plan_file  # up: the saved plan the update must follow (`--plan`)
        return "up", opts
    if command == "refresh":
        opts = {**common, "expect_no_changes": expect_no_changes or None}
        return ("preview_refresh" if preview_only else "refresh"), opts
    if command == "destroy":
        return ("preview_destroy" if preview_only else "destroy"), common
    raise ValueError(f"command {command!r}; allowed: {', '.join(COMMANDS)}")


@dataclass
class Progress:
    """Renders engine events as they arrive and collects what the final summary needs."""

    write: Callable[[str], None]
    counts: Counter = field(default_factory=Counter)
    violations: list[dict[str, Any]] = field(default_factory=list)
    resources: dict[str, Any] = field(default_factory=dict)  # urn -> planned state (type, inputs)
    errors: list[str] = field(default_factory=list)

    def __call__(self, event: Any) -> None:
        pre = getattr(event, "resource_pre_event", None)
        if pre is not None:
            md = pre.metadata
            op = getattr(md.op, "value", str(md.op))
            if op in _OPS:
                self.counts[_OPS[op]] += 1
                self.write(f"  {op:<8} {md.type} {md.urn.rsplit('::', 1)[-1]}")
            if md.new is not None:
                self.resources[md.urn] = md.new
            elif op == "delete":
                self.resources.pop(md.urn, None)
            return
        policy = getattr(event, "policy_event", None)
        if policy is not None:
            v = {
                "pack": policy.policy_pack_name,
                "policy": policy.policy_name,
                "urn": policy.resource_urn or "",
                "level": policy.enforcement_level,
                "message": policy.message.strip(),
            }
            self.violations.append(v)
            self.write(f"  policy {v['level']} {v['pack']}/{v['policy']}: {v['message'].splitlines()[0]}")
            return
        diag = getattr(event, "diagnostic_event", None)
        if diag is not None and diag.severity in ("error", "warning") and not diag.ephemeral:
            line = f"  {diag.severity}: {diag.message.strip()}"
            if diag.severity == "error":
                self.errors.append(diag.message.strip())
            self.write(line)
            return
        summary = getattr(event, "summary_event", None)
        if summary is not None:
            self.counts = Counter(
                {
                    _OPS[k]: v
                    for k, v in ((getattr(k, "value", k), v) for k, v in summary.resource_changes.items())
                    if k in _OPS
                }
            )

    def cost(self, project: str, stack: str) -> dict[str, Any]:
        """The estimate over the resources the operation leaves (from the engine's planned states)."""
        from mlinfra.cost import estimate_plan
        from mlinfra.offline.engine import Plan, ResourceRecord

        records = [
            ResourceRecord(
                urn=urn,
                type=state.type,
                name=urn.rsplit("::", 1)[-1],
                parent=state.parent,
                provider=state.provider,
                inputs=dict(state.inputs or {}),
                custom=bool(state.custom),
            )
            for urn, state in self.resources.items()
        ]
        cloud = next(
            (t.split(":")[0] for t in (r.type for r in records) if t.split(":")[0] in ("aws", "gcp")), ""
        )
        return estimate_plan(Plan(stack=stack, project=project, cloud=cloud, resources=records))

    def summary(self, project: str, stack: str, done: bool) -> str:
        return summary_line(
            project, stack, self.counts, self.violations, self.cost(project, stack), done=done
        )


def run(
    command: str,
    stack_dir: Path,
    stack: str,
    *,
    write: Callable[[str], None],
    policy_config: Any = None,
    diff: bool = False,
    expect_no_changes: bool = False,
    plan_file: str | None = None,
    preview_only: bool = False,
) -> tuple[int, str]:
    """Run one command; returns (exit code, summary line). Raises DeployError before starting."""
    if find_cli() is None:
        raise DeployError(INSTALL_HINT)
    from pulumi import automation as auto

    from mlinfra.offline import load_stack

    project = load_stack(stack_dir, stack.rsplit("/", 1)[-1]).project
    progress = Progress(write)
    with tempfile.TemporaryDirectory(prefix="mlinfra-packs-") as tmp:
        packs: list[str] = []
        configs: list[str] = []
        if command in ("preview", "up"):
            packs = [str(p) for p in find_policy_packs(stack_dir).values()]
            configs = write_pack_configs(stack_environment(stack_dir, stack), policy_config, Path(tmp))
        method, opts = options(
            command,
            packs=packs,
            pack_configs=configs,
            diff=diff,
            expect_no_changes=expect_no_changes,
            plan_file=plan_file,
            preview_only=preview_only,
            on_event=progress,
            on_output=lambda line: None,  # the events carry what is shown
        )
        env = {"PULUMI_EXPERIMENTAL": "true"} if plan_file else {}  # update plans on CLIs that hide them
        ws = auto.LocalWorkspace(work_dir=str(stack_dir), env_vars=env)
        target = auto.Stack.select(stack, ws)
        write(f"{command} {project}/{stack} ({stack_dir})")
        try:
            getattr(target, method)(**opts)
            code = 0
        except auto.errors.CommandError as e:
            write(f"error: {str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__}")
            code = 1
    done = command in ("up", "destroy") and not preview_only or (command == "refresh" and not preview_only)
    return code, progress.summary(project, stack.rsplit("/", 1)[-1], done=done and code == 0)
