"""Upstream chart data for the component tests: which values keys the pinned chart version reads.

A thin adapter over `mlinfra.charts` (one chart-data resolver, one values-key check, the same ones
the upstream-chart tests and `mlinfra render` use), so a typo or a key the chart dropped fails here
rather than being silently ignored by Helm at `pulumi up`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from mlinfra.charts.data import ChartData, ChartDataError, resolve_charts_dir
from mlinfra.charts.values import chart_defaults_and_schema, unknown_keys
from mlinfra.k8s.charts import ChartPin


def unread_keys(
    values: Mapping[str, Any], pin: ChartPin, free_form: frozenset[str] = frozenset()
) -> list[str]:
    """Paths of keys in `values` the chart version does not read (`free_form`: dotted paths whose
    content is the user's, not checked)."""
    try:
        data = ChartData(resolve_charts_dir())
    except ChartDataError as e:
        pytest.fail(str(e), pytrace=False)
    defaults, schema = chart_defaults_and_schema(data, pin.name, pin.version)
    return sorted(path for path, _ in unknown_keys(values, defaults, schema, pin.name, skip=free_form))
