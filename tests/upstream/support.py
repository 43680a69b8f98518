"""Helpers of the render and pull tests: package the test-owned charts with real Helm."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import yaml

from mlinfra.charts.data import ChartData
from mlinfra.charts.helm import Helm
from mlinfra.k8s.charts import ALL_PINS

CHARTS = Path(__file__).parent / "charts"


def package(helm: Helm, source: str, name: str, version: str, dest: Path) -> Path:
    """`helm package` a copy of tests/upstream/charts/<source> named `name`, at `version`, into `dest`."""
    with tempfile.TemporaryDirectory(prefix="mlinfra-chart-") as tmp:
        work = Path(tmp) / name
        shutil.copytree(CHARTS / source, work)
        chart_yaml = work / "Chart.yaml"
        doc = yaml.safe_load(chart_yaml.read_text())
        doc.update(name=name, version=version)
        chart_yaml.write_text(yaml.safe_dump(doc, sort_keys=False))
        dest.mkdir(parents=True, exist_ok=True)
        helm.run(["package", str(work), "--destination", str(dest)])
    return dest / f"{name}-{version}.tgz"


def standin_directory(root: Path, data: ChartData, helm: Helm) -> Path:
    """Real chart data of every pin (symlinked) + the stand-in chart as each pin's archive."""
    (root / "published").mkdir(parents=True)
    for pin in ALL_PINS:
        published = data.published_file(pin.name)
        link = root / "published" / published.name
        if not link.exists():
            link.symlink_to(published)
        vdir = root / pin.name / pin.version
        vdir.mkdir(parents=True)
        for item in data.version_dir(pin.name, pin.version).iterdir():
            (vdir / item.name).symlink_to(item)
        package(helm, "standin", pin.name, pin.version, vdir)
    return root
