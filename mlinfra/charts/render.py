"""`mlinfra render`: the complete manifest set a stack would apply, rendered with real Helm v3.

The stack is planned offline; every `kubernetes:helm.sh/v3:Release` of the plan is rendered with
`helm template` (chart and version from the local chart directory, the release's values, name and
namespace, `--kube-version` of the cluster, `--api-versions` for the CRDs the layer installs) and
written next to the plan's own objects:

    <out>/plan.yaml                 the plan's own Kubernetes objects
    <out>/<namespace>.<release>.yaml one file per release, as Helm renders it (CRDs and hooks included)
    <out>/all.yaml                  everything above, in that order

The rendered set is then checked like the plan (chart checks, custom resources against their
CRDs, cross-object wiring over the real chart objects) and the policy packs run over the plan and
over every chart workload; a chart pod that needs privilege passes only through an entry of
`CHART_EXEMPTIONS`, with its reason.

Values that are unknown offline (Outputs of resources not created yet) or secret become labelled
placeholders (`<unknown offline: values.path>`, `<secret: values.path>`), never real-looking values.
"""

from __future__ import annotations

import fnmatch
import json
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlinfra.charts.checks import (
    PlannedRelease,
    check_custom_resources,
    check_pins,
    check_releases_pinned,
    check_values,
    custom_resources,
    releases,
)
from mlinfra.charts.crds import CrdIndex, integral
from mlinfra.charts.data import ChartData, Loader
from mlinfra.charts.helm import Helm, HelmError
from mlinfra.charts.wiring import (
    CLUSTER_SCOPED,
    Problem,
    check_wiring,
    kubernetes_type,
    plan_objects,
    subject,
)
from mlinfra.offline.engine import SECRET_MARK, SECRET_PLACEHOLDER, UNKNOWN_MARK, Plan, load_stack
from mlinfra.policy.config import Exemption, PackConfig
from mlinfra.policy.engine import PolicyReport, check_resources, environment_of, resources_of
from mlinfra.policy.model import Res


class RenderError(Exception):
    """The stack cannot be rendered: a chart is missing from the directory, or Helm refused a chart."""


EXEMPT_POLICY = "pod-security-restricted"
RESOURCES_POLICY = "resource-requests-limits"
# Chart workloads that need more than the `restricted` Pod Security level (or mlinfra's read-only root
# filesystem on top of it), or that render a container the chart gives no value to size, each with
# its reason. (chart, workload kind, workload name pattern, policy) -> reason.
CHART_EXEMPTIONS: dict[tuple[str, str, str, str], str] = {
    ("nvidia-device-plugin", "DaemonSet", "*device-plugin", EXEMPT_POLICY): (
        "the NVIDIA device plugin registers GPUs with the kubelet through the host paths "
        "/var/lib/kubelet/device-plugins, /run/nvidia/mps and the CDI root (hostPath volumes); it runs alone "
        "in the privileged gpu-system namespace"
    ),
    ("nvidia-device-plugin", "DaemonSet", "*-mps-control-daemon", EXEMPT_POLICY): (
        "chart 0.18.2 always renders the MPS control daemon (privileged, hostPID), but it schedules only on "
        "nodes labelled nvidia.com/mps.capable=true, set only under an MPS sharing strategy (NVIDIA/"
        "k8s-device-plugin@v0.18.2 internal/lm/nvml.go newSharingLabeler); mlinfra configures time-slicing "
        "only, so it never runs"
    ),
    ("dcgm-exporter", "DaemonSet", "*", EXEMPT_POLICY): (
        "DCGM reads GPU telemetry with SYS_ADMIN as root and maps GPUs to pods through the host path "
        "/var/lib/kubelet/pod-resources; it runs alone in the privileged gpu-system namespace"
    ),
    ("ingress-nginx", "Deployment", "*-controller", EXEMPT_POLICY): (
        "nginx writes its generated config and temp files under its root filesystem and the chart mounts "
        "no scratch volume, so readOnlyRootFilesystem is false (mlinfra/k8s/serving/controllers.py "
        "controller.image); "
        "the rest of the restricted level is set"
    ),
    ("kube-prometheus-stack", "DaemonSet", "*-prometheus-node-exporter", EXEMPT_POLICY): (
        "node-exporter reads the host's /proc, /sys and root filesystem with hostNetwork and hostPID; "
        "it runs alone in the privileged <monitoring>-node-exporter namespace"
    ),
    **{
        ("nvidia-device-plugin", "DaemonSet", pattern, RESOURCES_POLICY): (
            "with a time-slicing config the chart renders its config-manager init container and sidecar "
            "without `resources` and reads no value for them (templates/daemonset-device-plugin.yml and "
            "daemonset-mps-control-daemon.yml, NVIDIA/k8s-device-plugin@v0.18.2); the gpu-system "
            "LimitRange (GpuEnablement, `gpu-daemon-defaults`) gives them requests and limits at "
            "admission; the plugin's own containers are sized from `resources`"
        )
        for pattern in ("*device-plugin", "*-mps-control-daemon")
    },
}
# The resource exemptions above hold only while every unsized container is the chart's config-manager:
# a main container without resources is still a violation.
UNSIZED_CHART_COMMAND = "config-manager"


def _unsized_containers_are_config_managers(obj: Mapping[str, Any]) -> bool:
    spec = (((obj.get("spec") or {}).get("template") or {}).get("spec")) or {}
    for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        res = c.get("resources") or {}
        sized = all(
            (res.get(kind) or {}).get(r) is not None
            for kind in ("requests", "limits")
            for r in ("cpu", "memory")
        )
        if not sized and list(c.get("command") or [])[:1] != [UNSIZED_CHART_COMMAND]:
            return False
    return True


KUBERNETES_PACK = "kubernetes"


@dataclass
class RenderedRelease:
    release: PlannedRelease
    file: Path
    objects: list[dict[str, Any]]
    placeholders: list[str]


@dataclass
class RenderResult:
    out_dir: Path
    kube_version: str
    api_versions: list[str]
    plan_objects: list[dict[str, Any]]
    releases: list[RenderedRelease]
    problems: list[Problem]
    report: PolicyReport
    files: list[Path] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.problems) or self.report.mandatory_failed


# --------------------------------------------------------------------------- inputs


def kube_version_of(stack_dir: str | Path, stack: str) -> str:
    """The cluster's Kubernetes minor from the stack config: the platform spec's
    `cluster.kubernetes_version`, else `<project>:kubernetesVersion`, else mlinfra's default."""
    from mlinfra.catalog import DEFAULT_KUBERNETES_VERSION
    from mlinfra.spec import PlatformSpec

    cfg = load_stack(stack_dir, stack)
    raw = cfg.config.get("mlinfra:platform")
    if raw:
        return PlatformSpec.load(json.loads(raw)).cluster.kubernetes_version
    return cfg.config.get(f"{cfg.project}:kubernetesVersion") or DEFAULT_KUBERNETES_VERSION


def helm_values(values: Any, path: str = "") -> tuple[Any, list[str]]:
    """Values as Helm gets them: integral numbers as integers, unknown and secret values as labelled
    placeholders. Returns (values, placeholder paths)."""
    found: list[str] = []

    def walk(v: Any, here: str) -> Any:
        if isinstance(v, Mapping):
            return {k: walk(x, f"{here}.{k}" if here else str(k)) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x, f"{here}[{i}]") for i, x in enumerate(v)]
        if v == UNKNOWN_MARK:
            found.append(here)
            return f"<unknown offline: {here}>"
        if v in (SECRET_MARK, SECRET_PLACEHOLDER):
            found.append(here)
            return f"<secret: {here}>"
        return integral(v)

    return walk(values, path), found


SECRET_FIELDS_ANNOTATION = "render.mlinfra.io/secret-fields"


def offline_object(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A plan object as written by render: placeholders for unknown and secret values; a Secret whose
    whole `data`/`stringData` is secret offline gets `{}` and names the field in an annotation."""
    obj = dict(obj)
    hidden = [k for k in ("data", "stringData") if obj.get(k) in (SECRET_MARK, SECRET_PLACEHOLDER)]
    for k in hidden:
        obj[k] = {}
    out, _ = helm_values(obj)
    if hidden:
        meta = out.setdefault("metadata", {})
        meta["annotations"] = {**(meta.get("annotations") or {}), SECRET_FIELDS_ANNOTATION: ",".join(hidden)}
    return out


def schema_problems(objects: Sequence[Mapping[str, Any]], kube_version: str) -> list[Problem]:
    """Built-in objects against the Kubernetes OpenAPI schema of the cluster's version, where the
    `kubernetes-validate` package is installed (the [test] extra); [] otherwise."""
    try:
        import kubernetes_validate
    except ImportError:
        return []
    problems = []
    for obj in objects:
        if custom_resources([obj]):
            continue
        try:
            kubernetes_validate.validate(dict(obj), f"{kube_version}.0", strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            continue
        except kubernetes_validate.ValidationError as e:
            where = ".".join(str(p) for p in e.path) or "<root>"
            problems.append(Problem("k8s-schema", subject(obj), f"{where}: {e.message}"))
    return problems


def missing_charts(data: ChartData, rels: Sequence[PlannedRelease]) -> list[str]:
    return [
        f"{r.chart_name} {r.version} (release {r.release_name}): expected "
        f"{data.version_dir(r.chart_name, r.version) / f'{r.chart_name}-{r.version}.tgz'} "
        "or an unpacked chart (Chart.yaml + templates/) in that directory"
        for r in rels
        if data.archive(r.chart_name, r.version) is None
    ]


def _crd_index_of(
    data: ChartData, rels: Sequence[PlannedRelease], rendered: Sequence[Mapping[str, Any]]
) -> CrdIndex:
    """CRDs the layer installs: the releases' crds.yaml in the chart directory, plus every CRD rendered."""
    index = CrdIndex()
    for r in rels:
        index.add(data.crds(r.chart_name, r.version), f"{r.chart_name} {r.version}")
    index.add([o for o in rendered if o.get("kind") == "CustomResourceDefinition"], "rendered charts")
    return index


# --------------------------------------------------------------------------- rendering


def _documents(text: str, namespace: str) -> list[tuple[str, dict[str, Any]]]:
    """(Helm's `# Source:` line, object) of every document Helm rendered, each namespaced object in
    the release namespace when its template names none (Helm installs it there)."""
    docs = []
    for chunk in re.split(r"^---\s*$", text, flags=re.MULTILINE):
        try:
            doc = yaml.load(chunk, Loader=Loader)
        except yaml.YAMLError as e:
            raise RenderError(f"Helm rendered a document that is not YAML: {e}") from None
        if not isinstance(doc, dict) or not doc.get("kind"):
            continue
        source = next((line for line in chunk.splitlines() if line.startswith("# Source:")), "")
        meta = doc.setdefault("metadata", {})
        if doc["kind"] not in CLUSTER_SCOPED and not meta.get("namespace"):
            meta["namespace"] = namespace
        docs.append((source, doc))
    return docs


def _manifest(docs: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    return "".join(
        f"---\n{source + chr(10) if source else ''}{yaml.safe_dump(dict(obj), sort_keys=False)}"
        for source, obj in docs
    )


def _render_all(
    helm: Helm,
    data: ChartData,
    rels: Sequence[PlannedRelease],
    kube_version: str,
    api_versions: set[str],
    tmp: Path,
) -> list[tuple[PlannedRelease, str, list[str]]]:
    out = []
    for i, rel in enumerate(rels):
        # Values the plan only has as one secret cannot be shown: the chart renders with its
        # defaults and check_values reports the release.
        values, placeholders = helm_values(rel.values if isinstance(rel.values, Mapping) else {})
        if not isinstance(rel.values, Mapping):
            placeholders = ["<all values: secret in the plan>"]
        values_file = tmp / f"values-{i}.yaml"
        values_file.write_text(yaml.safe_dump(values, sort_keys=False))
        chart = data.archive(rel.chart_name, rel.version)
        assert chart is not None  # missing_charts() ran first
        try:
            text = helm.template(
                rel.release_name,
                chart,
                namespace=rel.namespace,
                values_file=values_file,
                kube_version=f"v{kube_version}.0",
                api_versions=sorted(api_versions),
            )
        except HelmError as e:
            raise RenderError(f"{rel.subject}: {e}") from None
        out.append((rel, text, placeholders))
    return out


def render_plan(
    plan: Plan,
    data: ChartData,
    out_dir: Path,
    helm: Helm,
    kube_version: str,
    config: PackConfig | None = None,
) -> RenderResult:
    """Render every release of `plan`, write the manifest set, check it and run the policy packs."""
    rels = releases(plan.resources)
    missing = missing_charts(data, rels)
    if missing:
        raise RenderError(
            f"{len(missing)} chart(s) not in {data.root}:\n  " + "\n  ".join(missing) + "\n"
            f"`mlinfra charts pull --dir {data.root}` fetches them (needs internet)."
        )
    own = [offline_object(o) for o in plan_objects(plan.resources)]
    with tempfile.TemporaryDirectory(prefix="mlinfra-render-") as tmp:
        api = _crd_index_of(data, rels, []).group_versions()
        rendered = _render_all(helm, data, rels, kube_version, api, Path(tmp))
        every = [d for rel, text, _ in rendered for _, d in _documents(text, rel.namespace)]
        more = _crd_index_of(data, rels, every).group_versions() - api
        if more:  # a chart renders CRDs its data directory does not list: render again knowing them
            api |= more
            rendered = _render_all(helm, data, rels, kube_version, api, Path(tmp))

    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    results: list[RenderedRelease] = []
    plan_text = _manifest([("", o) for o in own])
    texts = [f"# mlinfra render: the plan's own objects ({plan.project}/{plan.stack})\n{plan_text}"]
    plan_file = out_dir / "plan.yaml"
    plan_file.write_text(plan_text)
    files.append(plan_file)
    for rel, text, placeholders in rendered:
        docs = _documents(text, rel.namespace)
        release_text = _manifest(docs)
        path = out_dir / f"{rel.namespace}.{rel.release_name}.yaml"
        path.write_text(release_text)
        files.append(path)
        texts.append(
            f"# mlinfra render: release {rel.namespace}/{rel.release_name} ({rel.chart_name} {rel.version})\n{release_text}"
        )
        results.append(RenderedRelease(rel, path, [d for _, d in docs], placeholders))
    all_file = out_dir / "all.yaml"
    all_file.write_text("".join(texts))
    files.append(all_file)

    chart_objects = [o for r in results for o in r.objects]
    index = _crd_index_of(data, rels, chart_objects)
    problems = [
        *check_pins(data, _pins_of(rels)),
        *check_releases_pinned(rels),
        *check_values(data, [r for r in rels if data.has_version(r.chart_name, r.version)], index),
        *check_custom_resources(index, own + chart_objects),
        *check_wiring(own + chart_objects),
        *schema_problems(own + chart_objects, kube_version),
    ]
    report = check_rendered_policy(plan, results, config)
    return RenderResult(
        out_dir=out_dir,
        kube_version=kube_version,
        api_versions=sorted(api),
        plan_objects=own,
        releases=results,
        problems=problems,
        report=report,
        files=files,
    )


def _pins_of(rels: Sequence[PlannedRelease]):
    from mlinfra.k8s.charts import ALL_PINS

    used = {(r.chart, r.version) for r in rels}
    return [p for p in ALL_PINS if (p.chart, p.version) in used]


# --------------------------------------------------------------------------- policy over chart workloads


def chart_resources(results: Sequence[RenderedRelease]) -> list[Res]:
    """Every rendered chart object as the policy rules see it, named `<release>:<Kind>/<name>`."""
    out = []
    for r in results:
        for obj in r.objects:
            name = f"{r.release.release_name}:{obj['kind']}/{obj['metadata'].get('name')}"
            out.append(
                Res(
                    type=kubernetes_type(str(obj.get("apiVersion", "")), str(obj["kind"])),
                    name=name,
                    props=obj,
                    urn=f"chart:{r.release.namespace}/{name}",
                )
            )
    return out


def chart_exemptions(results: Sequence[RenderedRelease]) -> list[Exemption]:
    """`CHART_EXEMPTIONS` as pack-config exemptions for the rendered workloads they name."""
    out = []
    for r in results:
        for obj in r.objects:
            for (chart, kind, pattern, policy), reason in CHART_EXEMPTIONS.items():
                name = str(obj["metadata"].get("name"))
                if (
                    chart == r.release.chart_name
                    and obj["kind"] == kind
                    and fnmatch.fnmatchcase(name, pattern)
                    and (policy != RESOURCES_POLICY or _unsized_containers_are_config_managers(obj))
                ):
                    out.append(Exemption(policy, f"{r.release.release_name}:{kind}/{name}", reason))
    return out


def check_rendered_policy(
    plan: Plan, results: Sequence[RenderedRelease], config: PackConfig | None
) -> PolicyReport:
    """The policy packs over the plan, the kubernetes pack over every rendered chart object, with
    `CHART_EXEMPTIONS`."""
    base = config or PackConfig()
    merged = PackConfig(
        environment=base.environment,
        enforcement=dict(base.enforcement),
        overrides=dict(base.overrides),
        disabled=dict(base.disabled),
        exemptions=[*base.exemptions, *chart_exemptions(results)],
    )
    env = environment_of(plan, None, merged)
    report = check_resources(resources_of(plan), env, merged)
    # Chart objects: the kubernetes pack (pod security, sizing, GPU scheduling, load balancers,
    # TLS, pinned images). The guardrail packs' tagging rules apply to what mlinfra itself creates.
    charts = check_resources(chart_resources(results), env, merged, packs=[KUBERNETES_PACK])
    report.violations.extend(charts.violations)
    report.exemptions.extend(e for e in charts.exemptions if e not in report.exemptions)
    return report
