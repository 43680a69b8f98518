"""Shipped stacks and examples, discovered from the file system, each planned once per test process."""

from __future__ import annotations

from collections.abc import Callable
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


def case_with(
    has: Callable[[Plan], bool], prefer: tuple[str, ...] = ("prod", "staging", "dev")
) -> tuple[str, str]:
    """The first shipped stack, by environment preference, whose plan satisfies `has` (a stack may move
    its in-cluster layer into another project, e.g. a private cluster's in-cluster stack)."""
    cases = sorted(shipped_stacks(), key=lambda c: (prefer.index(c[1]) if c[1] in prefer else len(prefer), c))
    for case in cases:
        if has(planned(*case)):
            return case
    raise LookupError("no shipped stack plans what this test needs")


def plan_with(has: Callable[[Plan], bool], prefer: tuple[str, ...] = ("prod", "staging", "dev")) -> Plan:
    return planned(*case_with(has, prefer))
