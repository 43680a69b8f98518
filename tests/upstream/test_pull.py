"""`mlinfra charts pull` against a local chart repository served on loopback (real `helm package`,
`helm repo index`, `helm pull`), writing the chart data layout the checks and `render` read."""

from __future__ import annotations

import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from typer.testing import CliRunner

from mlinfra.charts import pull as pull_module
from mlinfra.charts.data import ChartData
from mlinfra.charts.pull import PullError, pull, version_key
from mlinfra.cli import app
from mlinfra.k8s import charts as pins_module
from mlinfra.k8s.charts import ChartPin
from tests.upstream.support import package


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's signature)
        pass


@pytest.fixture
def chart_repo(tmp_path, helm, monkeypatch):
    """A classic Helm repository on 127.0.0.1 holding the demo chart at three versions."""
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        monkeypatch.setenv(var, str(tmp_path / "helm-home" / var.lower()))
    repo = tmp_path / "repo"
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(repo)))
    url = f"http://127.0.0.1:{server.server_address[1]}"
    for version in ("1.0.0", "1.1.0", "0.9.0-rc.1"):
        package(helm, "demo", "demo", version, repo)
    helm.run(["repo", "index", str(repo), "--url", url])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield url
    server.shutdown()
    server.server_close()


def _pins(url: str) -> list[ChartPin]:
    return [ChartPin("demo", "demo", url, v, f"test/demo@{v}") for v in ("1.0.0", "1.1.0")]


def test_pull_writes_the_chart_data_layout(chart_repo, helm, tmp_path, monkeypatch):
    monkeypatch.setitem(pull_module.CRD_VALUES, "demo", {"crds": {"templated": True}})
    dest = tmp_path / "charts"
    written = pull(helm, _pins(chart_repo), dest)
    assert written == [dest / "demo" / "1.0.0", dest / "demo" / "1.1.0"]
    assert (dest / "published" / "demo.txt").read_text() == "0.9.0-rc.1\n1.0.0\n1.1.0\n"
    vdir = dest / "demo" / "1.0.0"
    assert {p.name for p in vdir.iterdir()} == {
        "demo-1.0.0.tgz",
        "Chart.yaml",
        "values.yaml",
        "values.schema.json",
        "charts",
        "crds.yaml",
    }
    assert (vdir / "charts" / "helper" / "values.yaml").is_file()

    data = ChartData(dest)  # what the checks and render read
    assert data.published("demo") == ["0.9.0-rc.1", "1.0.0", "1.1.0"]
    assert data.chart_yaml("demo", "1.0.0")["version"] == "1.0.0"
    assert data.default_values("demo", "1.0.0")["helper"] == {"enabled": True, "greeting": "hello"}
    assert data.schema("demo", "1.0.0")["properties"]["replicas"]["type"] == "integer"
    kinds = sorted(c["spec"]["names"]["kind"] for c in data.crds("demo", "1.0.0"))
    assert kinds == ["Gadget", "Widget"]  # crds/ and the templated one (CRD_VALUES)
    assert data.archive("demo", "1.0.0") == vdir / "demo-1.0.0.tgz"
    out = helm.template(
        "d", vdir / "demo-1.0.0.tgz", namespace="x", values_file=vdir / "values.yaml", kube_version="v1.33.0"
    )
    assert "d-helper" in out


def test_cli_pull_uses_the_pin_table(chart_repo, tmp_path, monkeypatch):
    monkeypatch.setattr(pins_module, "ALL_PINS", tuple(_pins(chart_repo)))
    dest = tmp_path / "pulled"
    result = CliRunner().invoke(app, ["charts", "pull", "--dir", str(dest)])
    assert result.exit_code == 0, result.output
    assert "2 chart version(s)" in result.output
    assert yaml.safe_load((dest / "demo" / "1.1.0" / "Chart.yaml").read_text())["version"] == "1.1.0"


def test_pull_of_a_version_the_repository_does_not_have_fails_naming_it(chart_repo, helm, tmp_path):
    with pytest.raises(PullError) as e:
        pull(helm, [ChartPin("demo", "demo", chart_repo, "2.0.0", "x")], tmp_path / "c")
    assert "demo 2.0.0" in str(e.value)


def test_pull_of_a_chart_the_repository_does_not_list_fails(chart_repo, helm, tmp_path):
    with pytest.raises(PullError) as e:
        pull(helm, [ChartPin("other", "other", chart_repo, "1.0.0", "x")], tmp_path / "c")
    assert "lists no chart 'other'" in str(e.value)


def test_cli_pull_failure_exits_two(chart_repo, tmp_path, monkeypatch):
    monkeypatch.setattr(pins_module, "ALL_PINS", (ChartPin("demo", "demo", chart_repo, "9.9.9", "x"),))
    result = CliRunner().invoke(app, ["charts", "pull", "--dir", str(tmp_path / "c")])
    assert result.exit_code == 2 and "demo 9.9.9" in result.output


def test_versions_sort_semantically():
    versions = ["v1.10.0", "v1.9.2", "v1.10.0-rc.1", "v1.2.0", "81.4.3", "9.3.4"]
    assert sorted(versions, key=version_key) == [
        "v1.2.0",
        "v1.9.2",
        "v1.10.0-rc.1",
        "v1.10.0",
        "9.3.4",
        "81.4.3",
    ]


@pytest.fixture
def oci_registry(tmp_path, helm, monkeypatch):
    from tests.upstream.oci_registry import Registry

    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        monkeypatch.setenv(var, str(tmp_path / "helm-home" / var.lower()))
    registry = Registry()
    for version in ("v0.1.0", "v0.2.0", "v0.10.0"):
        registry.add_chart("charts/demo", package(helm, "demo", "demo", version, tmp_path / "pkg"))
    registry.start()
    yield registry
    registry.stop()


def test_pull_from_an_oci_registry(oci_registry, helm, tmp_path):
    """As KServe publishes its charts: oci://, versions from the registry's tag list (token challenge)."""
    pin = ChartPin("demo", f"oci://{oci_registry.host}/charts/demo", None, "v0.2.0", "test/demo@v0.2.0")
    assert pin.oci
    dest = tmp_path / "charts"
    pull(helm, [pin], dest)
    assert ChartData(dest).published("demo") == ["v0.1.0", "v0.2.0", "v0.10.0"]
    vdir = dest / "demo" / "v0.2.0"
    assert (vdir / "demo-v0.2.0.tgz").is_file() and (vdir / "charts" / "helper" / "values.yaml").is_file()
    assert yaml.safe_load((vdir / "Chart.yaml").read_text())["version"] == "v0.2.0"
