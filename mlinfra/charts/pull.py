"""`mlinfra charts pull`: fetch every pinned chart with Helm and write the chart data directory.

It writes the layout `mlinfra.charts.data` reads (the same as ../shared/charts), plus the chart
archives `mlinfra render` renders:

    published/<chart>.txt                      versions in the repository, oldest first
    <chart>/<version>/<chart>-<version>.tgz    `helm pull`
    <chart>/<version>/Chart.yaml, values.yaml  `helm show chart|values`
    <chart>/<version>/values.schema.json       from the archive, where the chart has one
    <chart>/<version>/charts/<sub>/values.yaml (+ values.schema.json) of each bundled subchart
    <chart>/<version>/crds.yaml                every CRD the version installs: its crds/ directories and
                                               the CRDs its templates render (CRD_VALUES turns those on)

Classic repositories: versions from the repository's index.yaml. OCI registries (KServe): versions
from the registry's tag list (Docker registry v2 API, anonymous token where the registry asks for one).
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from mlinfra.charts.helm import Helm, HelmError
from mlinfra.k8s.charts import ChartPin

# Values that make a chart render the CRDs it templates instead of shipping them in crds/ (the
# chart data must hold every CRD a version can install). cert-manager: templates/crds.yaml is
# gated by `crds.enabled` (deploy/charts/cert-manager/values.yaml, v1.18.2).
CRD_VALUES: dict[str, dict[str, Any]] = {"cert-manager": {"crds": {"enabled": True}}}

TIMEOUT = 60


class PullError(Exception):
    """A chart could not be fetched (network, repository, or Helm)."""


def version_key(version: str) -> tuple[Any, ...]:
    """Semantic-version order: v1.2.10 after v1.2.9, a pre-release before its release."""
    core, _, pre = version.lstrip("v").partition("-")
    core = core.split("+", 1)[0]
    nums = tuple(int(p) if p.isdigit() else 0 for p in re.split(r"[.]", core))
    pre_key = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")) if pre else ()
    return (nums, 0 if pre else 1, pre_key)


def _get(url: str, headers: dict[str, str] | None = None) -> bytes:
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:  # noqa: S310 (https/http chart repositories)
        return resp.read()


def repo_versions(repo: str, chart: str) -> list[str]:
    """Versions of `chart` in a classic Helm repository's index.yaml, oldest first."""
    url = repo.rstrip("/") + "/index.yaml"
    try:
        index = yaml.safe_load(_get(url)) or {}
    except (urllib.error.URLError, OSError) as e:
        raise PullError(f"{url}: {e}") from None
    entries = (index.get("entries") or {}).get(chart)
    if not entries:
        raise PullError(f"{url} lists no chart {chart!r}")
    return sorted({str(e["version"]) for e in entries}, key=version_key)


_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


def plain_http(reference: str) -> bool:
    """A registry on this machine (a local mirror, the tests') speaks plain HTTP, as Docker assumes for
    localhost; `helm pull` then needs `--plain-http`. Every other registry is HTTPS."""
    host = urllib.parse.urlparse(reference).netloc
    return host.rsplit(":", 1)[0] in _LOOPBACK or host in _LOOPBACK


def oci_versions(reference: str) -> list[str]:
    """Tags of an OCI chart (`oci://host/path`), oldest first (registry v2 API, anonymous bearer token)."""
    parsed = urllib.parse.urlparse(reference)
    host, name = parsed.netloc, parsed.path.strip("/")
    scheme = "http" if plain_http(reference) else "https"
    url = f"{scheme}://{host}/v2/{name}/tags/list?n=10000"
    try:
        try:
            body = _get(url)
        except urllib.error.HTTPError as e:
            if e.code != 401:
                raise
            challenge = e.headers.get("WWW-Authenticate", "")
            params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
            if not params.get("realm"):
                raise
            query = urllib.parse.urlencode(
                {
                    "service": params.get("service", host),
                    "scope": params.get("scope", f"repository:{name}:pull"),
                }
            )
            token = json.loads(_get(f"{params['realm']}?{query}"))
            bearer = token.get("token") or token.get("access_token")
            body = _get(url, {"Authorization": f"Bearer {bearer}"})
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise PullError(f"{url}: {e}") from None
    tags = json.loads(body).get("tags") or []
    return sorted({str(t) for t in tags}, key=version_key)


def published_versions(pin: ChartPin) -> list[str]:
    return oci_versions(pin.chart) if pin.oci else repo_versions(str(pin.repo), pin.chart)


def _members(tgz: Path) -> dict[str, bytes]:
    """Files of a chart archive by path below the chart's top directory; nested subchart archives
    (charts/<sub>-<v>.tgz) are expanded to charts/<sub>/..."""
    out: dict[str, bytes] = {}

    def read(data: bytes, prefix: str) -> None:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar.getmembers():
                if not member.isfile():
                    continue
                f = tar.extractfile(member)
                if f is None:
                    continue
                _, _, rel = member.name.partition("/")  # drop the chart's top directory
                content = f.read()
                if re.fullmatch(r"charts/[^/]+\.tgz", rel):
                    sub = _chart_name(content) or Path(rel).name.rsplit("-", 1)[0]
                    read(content, f"{prefix}charts/{sub}/")
                else:
                    out[prefix + rel] = content

    read(tgz.read_bytes(), "")
    return out


def _chart_name(archive: bytes) -> str | None:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.name.count("/") == 1 and member.name.endswith("/Chart.yaml"):
                f = tar.extractfile(member)
                return (yaml.safe_load(f.read()) or {}).get("name") if f else None
    return None


def pull_chart(helm: Helm, pin: ChartPin, dest: Path) -> Path:
    """`helm pull` one pin into `dest/<chart>/<version>/` and write its data files; the version dir."""
    vdir = dest / pin.name / pin.version
    vdir.mkdir(parents=True, exist_ok=True)
    args = ["pull", pin.chart, "--version", pin.version, "--destination", str(vdir)]
    if not pin.oci:
        args += ["--repo", str(pin.repo)]
    elif plain_http(pin.chart):
        args.append("--plain-http")
    try:
        helm.run(args)
    except HelmError as e:
        raise PullError(f"{pin.name} {pin.version}: {e}") from None
    tgz = vdir / f"{pin.name}-{pin.version}.tgz"
    if not tgz.is_file():
        found = sorted(p.name for p in vdir.glob("*.tgz"))
        raise PullError(f"{pin.name} {pin.version}: helm pull wrote {found}, expected {tgz.name}")
    (vdir / "Chart.yaml").write_text(helm.run(["show", "chart", str(tgz)]))
    (vdir / "values.yaml").write_text(helm.run(["show", "values", str(tgz)]))
    files = _members(tgz)
    for rel, content in files.items():
        keep = rel == "values.schema.json" or re.fullmatch(
            r"(charts/[^/]+/)+values(\.schema\.json|\.yaml)", rel
        )
        if keep:
            target = vdir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
    (vdir / "crds.yaml").write_text(_crds(helm, pin, tgz))
    return vdir


def _crds(helm: Helm, pin: ChartPin, tgz: Path) -> str:
    """Every CRD the version installs: crds/ directories and CRDs its templates render."""
    with tempfile.TemporaryDirectory(prefix="mlinfra-pull-") as tmp:
        values = Path(tmp) / "values.yaml"
        values.write_text(yaml.safe_dump(CRD_VALUES.get(pin.name, {})))
        text = helm.run(["template", pin.name, str(tgz), "--include-crds", "--values", str(values)])
    crds = {}
    for doc in yaml.safe_load_all(text):
        if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
            crds[doc["metadata"]["name"]] = doc
    return yaml.safe_dump_all([crds[k] for k in sorted(crds)], sort_keys=False)


def pull(helm: Helm, pins: Sequence[ChartPin], dest: Path) -> list[Path]:
    """Fetch every pin and its published versions into `dest`; the version directories written."""
    (dest / "published").mkdir(parents=True, exist_ok=True)
    written = []
    for name in sorted({p.name for p in pins}):
        first = next(p for p in pins if p.name == name)
        versions = published_versions(first)
        (dest / "published" / f"{name}.txt").write_text("\n".join(versions) + "\n")
    for pin in pins:
        written.append(pull_chart(helm, pin, dest))
    return written
