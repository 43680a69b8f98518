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


@pytest.fixture(scope="session")
def helm():
    """Real Helm v3 (the README's set-up installs it into .tools/bin): missing fails, never skips."""
    from mlinfra.charts.helm import HelmError, find_helm

    try:
        return find_helm()
    except HelmError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def standin_charts(tmp_path_factory, chart_data, helm):
    """A chart directory for every pin: the real upstream data files (values, schema, CRDs,
    published versions) and, as the chart archive, the test-owned stand-in chart packaged under
    the pin's name and version (the real charts cannot be downloaded here)."""
    from tests.upstream.support import standin_directory

    return standin_directory(tmp_path_factory.mktemp("charts"), chart_data, helm)
