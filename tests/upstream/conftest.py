"""The chart data directory for the upstream-chart tests: a missing directory fails, it never skips."""

from __future__ import annotations

import pytest

from mlinfra.charts.data import ChartData, ChartDataError, resolve_charts_dir


@pytest.fixture(scope="session")
def chart_data() -> ChartData:
    try:
        return ChartData(resolve_charts_dir())
    except ChartDataError as e:
        pytest.fail(str(e), pytrace=False)
