"""The chart data directory: what each pinned chart version really is, upstream.

Layout (the same for `../shared/charts` and for what `mlinfra charts pull --dir DIR` writes):

    published/<chart>.txt                      every version published upstream, one per line
    <chart>/<version>/Chart.yaml               the chart's metadata (dependencies: subcharts)
    <chart>/<version>/values.yaml              the chart's default values
    <chart>/<version>/values.schema.json       where the chart has one (Helm validates values with it)
    <chart>/<version>/charts/<sub>/values.yaml default values of each bundled subchart
    <chart>/<version>/crds.yaml                every CustomResourceDefinition that version installs
    <chart>/<version>/<chart>-<version>.tgz    the chart archive (`mlinfra charts pull`; `mlinfra render` needs it)

One resolver decides where the directory is, for the tests and the CLI alike: the `--charts DIR`
option, else the `MLINFRA_CHARTS_DIR` environment variable, else `../shared/charts` beside the
repository checkout.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

ENV_VAR = "MLINFRA_CHARTS_DIR"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CHARTS_DIR = REPO_ROOT.parent / "shared" / "charts"


class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML as Kubernetes reads it (libyaml when available: the CRD files are megabytes).

    A plain `=` (an enum value in CRDs) is YAML 1.1's `!!value` tag to PyYAML; Kubernetes, like
    YAML 1.2, reads a string.
    """


Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


class ChartDataError(Exception):
    """The chart data directory, or a file the check needs in it, is missing or unreadable."""


def missing_dir_message(path: Path, source: str) -> str:
    return (
        f"chart data directory {path} ({source}) does not exist. It holds, for every Helm chart mlinfra "
        "pins, the versions published upstream and each pinned version's default values, values schema "
        "and CRDs (plus the chart archives `mlinfra render` renders); the upstream-chart checks and "
        "`mlinfra render` read it. Get one with `mlinfra charts pull --dir DIR` (needs internet and Helm v3), "
        f"then pass `--charts DIR` or set {ENV_VAR}=DIR."
    )


def resolve_charts_dir(option: str | os.PathLike[str] | None = None) -> Path:
    """`--charts DIR` > `MLINFRA_CHARTS_DIR` > `../shared/charts` beside the repository; must exist."""
    if option:
        path, source = Path(option), "--charts"
    elif os.environ.get(ENV_VAR):
        path, source = Path(os.environ[ENV_VAR]), ENV_VAR
    else:
        path, source = DEFAULT_CHARTS_DIR, "default: ../shared/charts beside the repository"
    if not path.is_dir():
        raise ChartDataError(missing_dir_message(path, source))
    return path


def load_yaml(path: Path) -> Any:
    return _load_yaml(os.path.realpath(path))


@lru_cache(maxsize=256)
def _load_yaml(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=Loader)


@lru_cache(maxsize=64)
def _load_yaml_all(path: str) -> tuple[Any, ...]:
    with open(path, encoding="utf-8") as f:
        return tuple(d for d in yaml.load_all(f, Loader=Loader) if d)


@lru_cache(maxsize=64)
def _load_json(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@dataclass(frozen=True)
class Subchart:
    key: str  # where its values live in the parent's values (alias, else name)
    name: str  # its directory under charts/
    condition: str | None


@dataclass(frozen=True)
class ChartData:
    """Read access to one chart data directory (files are parsed once per process)."""

    root: Path

    def published_file(self, chart: str) -> Path:
        return self.root / "published" / f"{chart}.txt"

    def published(self, chart: str) -> list[str]:
        path = self.published_file(chart)
        if not path.is_file():
            raise ChartDataError(
                f"{path} is missing: no list of the versions of chart {chart!r} published upstream"
            )
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]

    def version_dir(self, chart: str, version: str) -> Path:
        return self.root / chart / version

    def has_version(self, chart: str, version: str) -> bool:
        return (self.version_dir(chart, version) / "values.yaml").is_file()

    def _file(self, chart: str, version: str, name: str) -> Path:
        path = self.version_dir(chart, version) / name
        if not path.is_file():
            raise ChartDataError(f"{path} is missing: no data for chart {chart} {version}")
        return path

    def chart_yaml(self, chart: str, version: str) -> dict[str, Any]:
        return load_yaml(self._file(chart, version, "Chart.yaml")) or {}

    def subcharts(self, chart: str, version: str) -> list[Subchart]:
        deps = self.chart_yaml(chart, version).get("dependencies") or []
        return [Subchart(d.get("alias") or d["name"], d["name"], d.get("condition")) for d in deps]

    def own_values(self, chart: str, version: str) -> dict[str, Any]:
        return load_yaml(self._file(chart, version, "values.yaml")) or {}

    def default_values(self, chart: str, version: str) -> dict[str, Any]:
        """The chart's defaults as Helm coalesces them: each subchart's values.yaml under its key,
        overridden by what the parent's values.yaml sets there."""
        merged = dict(self.own_values(chart, version))
        for sub in self.subcharts(chart, version):
            path = self.version_dir(chart, version) / "charts" / sub.name / "values.yaml"
            if not path.is_file():
                continue
            sub_values = load_yaml(path) or {}
            merged[sub.key] = coalesce(merged.get(sub.key), sub_values)
        return merged

    def schema(self, chart: str, version: str) -> dict[str, Any] | None:
        path = self.version_dir(chart, version) / "values.schema.json"
        return _load_json(os.path.realpath(path)) if path.is_file() else None

    def subchart_schema(self, chart: str, version: str, sub: Subchart) -> dict[str, Any] | None:
        path = self.version_dir(chart, version) / "charts" / sub.name / "values.schema.json"
        return _load_json(os.path.realpath(path)) if path.is_file() else None

    def crds(self, chart: str, version: str) -> tuple[dict[str, Any], ...]:
        """Every CustomResourceDefinition the version installs (empty when it installs none)."""
        path = self.version_dir(chart, version) / "crds.yaml"
        if not path.is_file():
            return ()
        crds = _load_yaml_all(os.path.realpath(path))  # parsed once, also through symlinks
        return tuple(d for d in crds if d.get("kind") == "CustomResourceDefinition")

    def archive(self, chart: str, version: str) -> Path | None:
        """The chart itself, for `helm template`: `<chart>-<version>.tgz`, or the version directory
        when it is an unpacked chart (it has `templates/`)."""
        vdir = self.version_dir(chart, version)
        tgz = vdir / f"{chart}-{version}.tgz"
        if tgz.is_file():
            return tgz
        if (vdir / "templates").is_dir() and (vdir / "Chart.yaml").is_file():
            return vdir
        return None


def coalesce(user: Any, defaults: Any) -> Any:
    """Helm's merge of user values over defaults: maps merge key by key, anything else replaces."""
    if isinstance(user, dict) and isinstance(defaults, dict):
        out = dict(defaults)
        for k, v in user.items():
            out[k] = coalesce(v, defaults.get(k))
        return out
    return defaults if user is None else user
