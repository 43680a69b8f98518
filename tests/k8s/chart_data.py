"""Upstream chart data for the component tests: values keys the pinned chart version reads, its
values schema, and its CRD schemas.

A thin adapter over `mlinfra.charts` (one chart-data resolver, one values-key check with one
table of exceptions, one CRD validator: the same ones the upstream-chart tests and `mlinfra render`
use), so a typo or a key the chart dropped fails here rather than being silently ignored by Helm
at `pulumi up`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from mlinfra.charts import values as chart_values
from mlinfra.charts.crds import CrdIndex, integral, validator_for
from mlinfra.charts.data import ChartData, ChartDataError, resolve_charts_dir
from mlinfra.k8s.charts import ChartPin


def _data() -> ChartData:
    try:
        return ChartData(resolve_charts_dir())
    except ChartDataError as e:
        pytest.fail(str(e), pytrace=False)


def defaults(pin: ChartPin) -> dict[str, Any]:
    """The pinned chart version's default values, subcharts' defaults under their keys."""
    return chart_values.chart_defaults_and_schema(_data(), pin.name, pin.version)[0]


def unread_keys(values: Mapping[str, Any], pin: ChartPin) -> list[str]:
    """Paths of keys in `values` the pinned chart version does not read. Keys the chart's templates
    read although values.yaml leaves them out belong in `mlinfra.charts.values.EXCEPTIONS` (one
    table, with the template that reads each)."""
    defaults, schema = chart_values.chart_defaults_and_schema(_data(), pin.name, pin.version)
    found = chart_values.unknown_keys(values, defaults, schema, pin.name)
    return sorted(path for path, _ in found)


def schema_errors(values: Mapping[str, Any], pin: ChartPin) -> list[str]:
    """The errors Helm would stop the install with: `values` over the chart's defaults, against its
    values.schema.json (none when the chart has no schema)."""
    return chart_values.schema_errors(values, _data(), pin.name, pin.version)


def validate_custom_resource(obj: Mapping[str, Any], pin: ChartPin) -> None:
    """Raise jsonschema.ValidationError when `obj` does not match its CRD version in `pin`'s chart
    (unknown fields refused where the CRD does not preserve them: the API server would prune them)."""
    index = CrdIndex()
    index.add(_data().crds(pin.name, pin.version), f"{pin.name} {pin.version}")
    cv = index.lookup(str(obj.get("apiVersion")), str(obj.get("kind")))
    if cv is None:
        raise LookupError(
            f"{pin.name} {pin.version} installs no CRD for {obj.get('kind')} {obj.get('apiVersion')}"
        )
    validator_for(cv).validate(integral(dict(obj)))
