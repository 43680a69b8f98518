"""The upstream-chart checks over one offline plan: pins published, values read, CRs valid, wiring whole.

Each check returns `Problem`s (empty when it holds). The tests run them over every shipped stack
and example; `mlinfra render` prints them next to the rendered manifests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from mlinfra.charts.crds import CrdIndex, errors, sub_schema, to_json_schema, validate_object
from mlinfra.charts.data import ChartData, ChartDataError
from mlinfra.charts.values import (
    EXCEPTIONS,
    PASS_THROUGH,
    chart_defaults_and_schema,
    schema_errors,
    unknown_keys,
)
from mlinfra.charts.wiring import (
    Problem,
    check_wiring,
    modelled_chart_objects,
    plan_objects,
    subject,
)
from mlinfra.k8s.charts import ALL_PINS, ChartPin

RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
# Groups whose objects kubernetes-validate's built-in schemas cover; everything else is a custom resource.
BUILTIN_GROUPS = frozenset(
    {
        "core",
        "apps",
        "batch",
        "autoscaling",
        "policy",
        "networking.k8s.io",
        "rbac.authorization.k8s.io",
        "storage.k8s.io",
        "scheduling.k8s.io",
        "apiextensions.k8s.io",
        "admissionregistration.k8s.io",
        "apiregistration.k8s.io",
        "authentication.k8s.io",
        "authorization.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "node.k8s.io",
        "certificates.k8s.io",
        "helm.sh",
    }
)


@dataclass(frozen=True)
class PlannedRelease:
    """A `helm.v3.Release` as the plan records it."""

    urn: str
    resource_name: str
    release_name: str
    chart: str  # as given to the Release: a name or an oci:// reference
    version: str
    repo: str | None
    namespace: str
    values: Mapping[str, Any]

    @property
    def chart_name(self) -> str:
        """The chart's own name (its directory in the chart data)."""
        return self.chart.rstrip("/").rsplit("/", 1)[-1]

    @property
    def subject(self) -> str:
        return f"Release {self.namespace}/{self.release_name} ({self.chart_name} {self.version})"


def releases(resources: Iterable[Any]) -> list[PlannedRelease]:
    out = []
    for r in resources:
        if r.type != RELEASE_TYPE:
            continue
        i = r.inputs
        out.append(
            PlannedRelease(
                urn=r.urn,
                resource_name=r.name,
                release_name=str(i.get("name") or r.name),
                chart=str(i.get("chart", "")),
                version=str(i.get("version", "")),
                repo=(i.get("repositoryOpts") or {}).get("repo"),
                namespace=str(i.get("namespace") or "default"),
                values=i.get("values") or {},
            )
        )
    return out


def custom_resources(objects: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    out = []
    for obj in objects:
        api_version = str(obj.get("apiVersion", ""))
        group = api_version.rsplit("/", 1)[0] if "/" in api_version else "core"
        if group not in BUILTIN_GROUPS:
            out.append(obj)
    return out


@lru_cache(maxsize=8)
def _crd_index(root: str, pins: tuple[ChartPin, ...]) -> CrdIndex:
    data = ChartData(Path(root))
    index = CrdIndex()
    for pin in pins:
        index.add(data.crds(pin.name, pin.version), f"{pin.name} {pin.version}")
    return index


def crd_index(data: ChartData, pins: Sequence[ChartPin] = ALL_PINS) -> CrdIndex:
    """Every CRD version installed by the pinned charts (parsed once per process)."""
    return _crd_index(str(data.root), tuple(pins))


# --------------------------------------------------------------------------- the checks


def check_pins(data: ChartData, pins: Sequence[ChartPin] = ALL_PINS) -> list[Problem]:
    """Every pin is a published version whose data (values, CRDs) is in the chart data directory."""
    problems = []
    for pin in pins:
        subj = f"ChartPin {pin.name} {pin.version}"
        try:
            published = data.published(pin.name)
        except ChartDataError as e:
            problems.append(Problem("published", subj, str(e)))
            continue
        if pin.version not in published:
            newer = published[-3:]
            problems.append(
                Problem(
                    "published",
                    subj,
                    f"version {pin.version} was never published upstream (newest: {', '.join(newer)})",
                )
            )
        if not data.has_version(pin.name, pin.version):
            problems.append(
                Problem(
                    "published",
                    subj,
                    f"no chart data in {data.version_dir(pin.name, pin.version)} (values.yaml, crds.yaml)",
                )
            )
    return problems


def check_releases_pinned(
    rels: Sequence[PlannedRelease], pins: Sequence[ChartPin] = ALL_PINS
) -> list[Problem]:
    """Every Release of the plan installs exactly a pin of mlinfra/k8s/charts.py (chart, version, repo)."""
    table = {(p.chart, p.version, p.repo) for p in pins}
    return [
        Problem(
            "pinned",
            r.subject,
            f"chart {r.chart!r} {r.version} from {r.repo!r} is not a ChartPin of mlinfra/k8s/charts.py",
        )
        for r in rels
        if (r.chart, r.version, r.repo) not in table
    ]


def check_values(
    data: ChartData, rels: Sequence[PlannedRelease], index: CrdIndex | None = None
) -> list[Problem]:
    """Every values key is read by the chart version; the values pass its values.schema.json; values
    the chart copies into a custom resource validate against that CRD field's schema."""
    problems = []
    for rel in rels:
        if not isinstance(rel.values, Mapping):
            problems.append(
                Problem(
                    "values",
                    rel.subject,
                    f"values are {rel.values!r} in the plan: a secret among them makes Pulumi store them all as "
                    "one secret (in the Helm release and the state) and hides them from every check; pass "
                    "credentials in a Kubernetes Secret the chart references by name",
                )
            )
            continue
        if not data.has_version(rel.chart_name, rel.version):
            problems.append(
                Problem(
                    "values", rel.subject, f"no chart data in {data.version_dir(rel.chart_name, rel.version)}"
                )
            )
            continue
        defaults, schema = chart_defaults_and_schema(data, rel.chart_name, rel.version)
        for path, why in unknown_keys(rel.values, defaults, schema, rel.chart_name):
            problems.append(Problem("values", rel.subject, f"{path}: {why}"))
        for err in schema_errors(rel.values, data, rel.chart_name, rel.version):
            problems.append(Problem("values-schema", rel.subject, err))
        if index is not None:
            problems.extend(_pass_through(index, rel))
    return problems


def _pass_through(index: CrdIndex, rel: PlannedRelease) -> list[Problem]:
    from jsonschema import Draft4Validator

    problems = []
    for (chart, path), (api_version, kind, field) in PASS_THROUGH.items():
        if chart != rel.chart_name:
            continue
        value: Any = rel.values
        for part in path.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if value is None:
            continue
        cv = index.lookup(api_version, kind)
        sub = None if cv is None else sub_schema(cv, field)
        if sub is None:
            problems.append(
                Problem(
                    "values",
                    rel.subject,
                    f"{path}: the chart copies it into {kind} {field}, which the pinned CRD does not declare",
                )
            )
            continue
        for err in errors(Draft4Validator(to_json_schema(sub)), value):
            problems.append(Problem("values", rel.subject, f"{path} (-> {kind} {field}): {err}"))
    return problems


def check_custom_resources(index: CrdIndex, objects: Iterable[Mapping[str, Any]]) -> list[Problem]:
    """Every custom resource validates against its CRD version's openAPIV3Schema."""
    return [
        Problem("crd-schema", subject(obj), err)
        for obj in custom_resources(objects)
        for err in validate_object(index, obj)
    ]


def wiring_objects(resources: Iterable[Any]) -> list[dict[str, Any]]:
    """The plan's objects + the chart pods modelled from values (`check_wiring` adds what controllers create)."""
    resources = list(resources)
    return plan_objects(resources) + modelled_chart_objects(releases(resources))


def check_plan(data: ChartData, resources: Sequence[Any]) -> list[Problem]:
    """Every check over a plan's resource records."""
    index = crd_index(data)
    rels = releases(resources)
    objs = plan_objects(resources)
    return [
        *check_pins(data),
        *check_releases_pinned(rels),
        *check_values(data, rels, index),
        *check_custom_resources(index, objs),
        *check_wiring(wiring_objects(resources)),
    ]


__all__ = [
    "EXCEPTIONS",
    "PASS_THROUGH",
    "PlannedRelease",
    "Problem",
    "check_custom_resources",
    "check_pins",
    "check_plan",
    "check_releases_pinned",
    "check_values",
    "check_wiring",
    "crd_index",
    "releases",
]
