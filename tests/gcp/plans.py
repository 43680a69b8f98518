"""The shipped GCP stacks planned once per test process."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from mlinfra.offline import Plan, plan_stack

ROOT = Path(__file__).resolve().parents[2]


@cache
def planned(stack: str) -> Plan:
    return plan_stack(ROOT / "stacks" / "gcp", stack)
