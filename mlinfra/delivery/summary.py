"""The one summary line every delivery surface prints: changes, violations by level, monthly cost.

`mlinfra plan --format markdown`, `mlinfra diff` (all formats) and the deploy commands
(`mlinfra preview|up|...`) end with it, so a pull-request comment, a CI log and a terminal agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

ACTIONS = ("create", "update", "replace", "delete")
_WORDS = {"create": "to create", "update": "to change", "replace": "to replace", "delete": "to delete"}


def changes_text(counts: Mapping[str, int], done: bool = False) -> str:
    """`3 to create, 1 to change, 0 to replace, 0 to delete` (or `3 created, ...` once applied)."""
    past = {"create": "created", "update": "changed", "replace": "replaced", "delete": "deleted"}
    return ", ".join(f"{counts.get(a, 0)} {past[a] if done else _WORDS[a]}" for a in ACTIONS)


def violation_counts(violations: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    out = {"mandatory": 0, "advisory": 0}
    for v in violations:
        level = str(v.get("level") or "advisory")
        out[level] = out.get(level, 0) + 1
    return out


def policy_text(violations: Iterable[Mapping[str, Any]]) -> str:
    c = violation_counts(violations)
    return f"policy: {c['mandatory']} mandatory, {c['advisory']} advisory"


def money(v: float) -> str:
    return f"${v:,.0f}"


def signed_money(v: float) -> str:
    return f"{'+' if v >= 0 else '-'}${abs(v):,.0f}"


def cost_text(cost: Mapping[str, Any] | None, base: Mapping[str, Any] | None = None) -> str:
    """`cost $253–$1,568/month` (min scale – max scale), with the change from `base` when given."""
    if not cost or "monthly_min_usd" not in cost:
        return "cost: not estimated"
    lo, hi = float(cost["monthly_min_usd"]), float(cost["monthly_max_usd"])
    text = f"cost {money(lo)}–{money(hi)}/month"
    if base is not None and "monthly_min_usd" in base:
        dlo, dhi = lo - float(base["monthly_min_usd"]), hi - float(base["monthly_max_usd"])
        text += f" ({signed_money(dlo)} min, {signed_money(dhi)} max)"
    return text


def summary_line(
    project: str,
    stack: str,
    counts: Mapping[str, int],
    violations: Iterable[Mapping[str, Any]],
    cost: Mapping[str, Any] | None,
    base_cost: Mapping[str, Any] | None = None,
    done: bool = False,
) -> str:
    return " · ".join(
        [
            f"{project}/{stack}: {changes_text(counts, done)}",
            policy_text(violations),
            cost_text(cost, base_cost),
        ]
    )
