"""Small helpers for human-facing text: counts with the right plural, whole numbers as integers."""

from __future__ import annotations

from typing import Any


def plural(n: int, word: str, many: str | None = None) -> str:
    """`1 violation`, `2 violations`, `0 policies` (pass `many` for irregular plurals)."""
    return f"{n} {word if n == 1 else many or word + 's'}"


def integral(value: Any) -> Any:
    """Data with whole floats as integers (40000.0 -> 40000), for human-facing output."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: integral(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [integral(v) for v in value]
    return value


def describe(value: Any) -> str:
    """A value as an error message shows what it got: `the boolean true`, `a list of 2`, ..."""
    if value is None:
        return "null (nothing)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value if len(value) <= 60 else value[:57] + '...'!r}"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object (a mapping)"
    return type(value).__name__
