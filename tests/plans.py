"""Shipped stacks and examples, discovered from the file system, each planned once per test process."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from mlinfra.offline import Plan, plan_stack

ROOT = Path(__file__).resolve().parents[1]


def shipped_stacks() -> list[tuple[str, str]]:
    """(project directory, stack) for every `Pulumi.<stack>.yaml` under stacks/* and examples/*."""
    cases = []
    for top in ("stacks", "examples"):
        for project in sorted(p for p in (ROOT / top).iterdir() if (p / "Pulumi.yaml").is_file()):
            for stack_file in sorted(project.glob("Pulumi.*.yaml")):
                stack = stack_file.name[len("Pulumi.") : -len(".yaml")]
                cases.append((f"{top}/{project.name}", stack))
    return cases


@cache
def planned(stack_dir: str, stack: str) -> Plan:
    """The offline plan of a shipped stack (cached: plans are deterministic and read-only in tests)."""
    return plan_stack(ROOT / stack_dir, stack)


def case_id(case: tuple[str, str]) -> str:
    return f"{case[0]}:{case[1]}"
