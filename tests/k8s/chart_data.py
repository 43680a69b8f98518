"""Upstream chart data (../shared/charts, or $MLINFRA_CHART_DATA): the pinned versions' default values.

Checks our Helm values against the keys the pinned chart version really reads, so a typo or a
key the chart dropped fails here rather than being silently ignored by Helm at `pulumi up`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from mlinfra.k8s.charts import ChartPin

ROOT = Path(__file__).resolve().parents[2]
CHART_DATA = Path(os.environ.get("MLINFRA_CHART_DATA", ROOT.parent / "shared" / "charts"))


def chart_dir(pin: ChartPin) -> Path:
    return CHART_DATA / pin.name / pin.version


@cache
def _defaults(pin: ChartPin) -> dict[str, Any]:
    return yaml.safe_load((chart_dir(pin) / "values.yaml").read_text()) or {}


def defaults(pin: ChartPin) -> dict[str, Any]:
    """The chart's default values (values.yaml at the pinned tag)."""
    return _defaults(pin)


def unread_keys(
    values: Mapping[str, Any], pin: ChartPin, free_form: frozenset[str] = frozenset()
) -> list[str]:
    """Paths of keys in `values` that the chart's defaults do not have.

    A default that is an empty map or not a map (nodeSelector: {}, tolerations: [], a string)
    takes any content below it; `free_form` names further paths (dotted) whose content is the
    user's (e.g. a map with commented-out examples only).
    """
    return sorted(_unread(values, defaults(pin), "", free_form))


def _unread(values: Mapping[str, Any], known: Any, path: str, free_form: frozenset[str]) -> Iterator[str]:
    if not isinstance(known, Mapping) or not known or path in free_form:
        return
    for key, value in values.items():
        here = f"{path}.{key}" if path else str(key)
        if key not in known:
            yield here
            continue
        if isinstance(value, Mapping) and here not in free_form:
            yield from _unread(value, known[key], here, free_form)
