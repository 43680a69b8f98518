"""Reading resource properties safely, whatever delivers them.

CrossGuard hands rules an unknown-checking proxy (`pulumi_policy.proxy`): a Mapping/Sequence
that raises `UnknownValueError` when a value is not known during preview. The offline engine
hands plain dicts, in which an unknown may appear as the engine's sentinel string. Rules read
through `get()` and treat `UNKNOWN` as "cannot tell yet": they never flag, and never crash, on it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy.proxy import UnknownValueError, _is_unknown


class _Unknown:
    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:  # an unknown is never "set" nor "true"
        return False


UNKNOWN: Any = _Unknown()


def is_map(v: Any) -> bool:
    return isinstance(v, Mapping)


def is_seq(v: Any) -> bool:
    return isinstance(v, Sequence) and not isinstance(v, str | bytes)


def get(obj: Any, *path: str | int, default: Any = None) -> Any:
    """Walk `path` through maps and lists; `default` when absent, `UNKNOWN` when not known yet."""
    cur = obj
    for key in path:
        if cur is UNKNOWN:
            return UNKNOWN
        try:
            if isinstance(key, int):
                if not is_seq(cur) or key >= len(cur):
                    return default
                cur = cur[key]
            else:
                if not is_map(cur) or key not in cur:
                    return default
                cur = cur[key]
        except UnknownValueError:
            return UNKNOWN
        if _is_unknown(cur):
            return UNKNOWN
    return default if cur is None else cur


def items(obj: Any) -> Iterator[tuple[str, Any]]:
    """(key, value) pairs of a map; unknown values come out as `UNKNOWN`."""
    if not is_map(obj):
        return
    for k in list(obj):
        yield k, get(obj, k)


def elements(obj: Any) -> list[Any]:
    """Elements of a list (a lone value becomes a one-element list); unknown ones as `UNKNOWN`."""
    if obj is None:
        return []
    if obj is UNKNOWN:
        return [UNKNOWN]
    if not is_seq(obj):
        return [obj]
    return [get(obj, i) for i in range(len(obj))]


def plain(obj: Any) -> Any:
    """A plain copy of a (possibly proxied) value, unknowns as `UNKNOWN`."""
    if is_map(obj):
        return {k: plain(v) for k, v in items(obj)}
    if is_seq(obj):
        return [plain(v) for v in elements(obj)]
    if isinstance(obj, str) and _is_unknown(obj):
        return UNKNOWN
    return obj


def as_bool(v: Any) -> bool | None | _Unknown:
    """Booleans as providers deliver them: real bools, or "true"/"false" strings (EC2 launch templates)."""
    if v is UNKNOWN:
        return UNKNOWN
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    return None


def not_true(v: Any) -> bool:
    """A flag that is known and not true: false, absent or unreadable (rules require it set)."""
    b = as_bool(v)
    return b is not UNKNOWN and b is not True


def as_number(v: Any) -> float | None | _Unknown:
    if v is UNKNOWN:
        return UNKNOWN
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.removesuffix("s"))
        except ValueError:
            return None
    return None


def json_doc(v: Any) -> Any:
    """A JSON policy document given as a string or as an object; `UNKNOWN`/None when it cannot be read."""
    if v is UNKNOWN or v is None:
        return v
    if isinstance(v, str):
        try:
            return json.loads(v)
        except ValueError:
            return None
    return plain(v)
