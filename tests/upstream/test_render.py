"""`mlinfra render` end to end with real Helm v3 and test-owned charts, and its failure paths."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml
from typer.testing import CliRunner

from mlinfra.charts.checks import releases
from mlinfra.charts.data import ChartData
from mlinfra.charts.helm import ENV_VAR as HELM_ENV
from mlinfra.charts.helm import HelmError, find_helm
from mlinfra.charts.render import (
    CHART_EXEMPTIONS,
    RenderedRelease,
    RenderError,
    check_rendered_policy,
    helm_values,
    kube_version_of,
    render_plan,
)
from mlinfra.cli import app
from mlinfra.k8s.charts import DCGM_EXPORTER
from mlinfra.k8s.objects import helm_release
from mlinfra.offline.engine import SECRET_MARK, UNKNOWN_MARK
from tests.conftest import plan_of
from tests.plans import ROOT, case_with, plan_with, planned
from tests.upstream.support import package


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _with_layer(plan) -> bool:
    return {"dcgm-exporter", "kube-prometheus-stack"} <= {r.chart_name for r in releases(plan.resources)}


def test_render_a_dev_stack_end_to_end(standin_charts, tmp_path, monkeypatch):
    out = tmp_path / "out"
    stack_dir, stack = case_with(_with_layer, prefer=("dev",))
    # The command as a user runs it; the offline plan is the cached one (planning has its own tests).
    monkeypatch.setattr("mlinfra.offline.plan_stack", lambda d, s: planned(stack_dir, s))
    result = CliRunner().invoke(
        app,
        [
            "render",
            str(ROOT / stack_dir),
            "--stack",
            stack,
            "--charts",
            str(standin_charts),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    plan = planned(stack_dir, stack)
    rels = releases(plan.resources)
    files = {p.name for p in out.iterdir()}
    assert files == {"plan.yaml", "all.yaml", *(f"{r.namespace}.{r.release_name}.yaml" for r in rels)}

    # all.yaml = the plan's own objects + every release's objects
    plan_docs = _docs(out / "plan.yaml")
    release_docs = [d for r in rels for d in _docs(out / f"{r.namespace}.{r.release_name}.yaml")]
    assert len(plan_docs) == len(
        [r for r in plan.resources if r.type.startswith("kubernetes:") and "helm.sh" not in r.type]
    )
    assert len(_docs(out / "all.yaml")) == len(plan_docs) + len(release_docs)

    # The values, the cluster's Kubernetes version and the CRD API versions reached Helm.
    dcgm = _docs(out / "gpu-system.dcgm-exporter.yaml")
    values = yaml.safe_load(next(d for d in dcgm if d["kind"] == "ConfigMap")["data"]["values.yaml"])
    assert values["fullnameOverride"] == "dcgm-exporter" and values["serviceMonitor"]["interval"] == "15s"
    daemonset = next(d for d in dcgm if d["kind"] == "DaemonSet")
    assert daemonset["metadata"]["name"] == "dcgm-exporter"
    assert daemonset["metadata"]["annotations"]["standin.mlinfra.io/kube-version"] == "v1.33.0"
    assert daemonset["metadata"]["namespace"] == "gpu-system"  # Helm's release namespace
    assert any(d["kind"] == "ServiceMonitor" for d in dcgm)  # --api-versions monitoring.coreos.com/v1
    # The node daemons pass policy only through their named exemption, printed with its reason.
    assert "exempt pod-security-restricted on dcgm-exporter:DaemonSet/dcgm-exporter" in result.output
    assert f"Render {plan.project}/{stack}:" in result.output and "OK" in result.output.splitlines()[-1]


def test_kube_version_comes_from_the_cluster_spec():
    assert kube_version_of(ROOT / "stacks/aws", "prod") == "1.33"
    assert kube_version_of(ROOT / "examples/existing-cluster", "dev") == "1.33"


def test_rendered_chart_objects_are_checked_like_the_plan(standin_charts, tmp_path, chart_data, helm):
    """A chart object that breaks wiring or its CRD fails the render (exit 1 in the CLI)."""
    plan = plan_with(_with_layer)
    result = render_plan(plan, ChartData(standin_charts), tmp_path / "ok", helm, "1.33")
    assert result.problems == [] and not result.failed
    assert {r.release.chart_name for r in result.releases} >= {"kube-prometheus-stack", "ingress-nginx"}
    # Break one rendered chart's ServiceMonitor: it now selects nothing and misspells a field.
    sm = next(o for r in result.releases for o in r.objects if o["kind"] == "ServiceMonitor")
    sm["spec"]["selector"]["matchLabels"] = {"app.kubernetes.io/name": "nothing"}
    sm["spec"]["endpoints"][0]["intervall"] = "30s"
    from mlinfra.charts.checks import check_custom_resources
    from mlinfra.charts.crds import CrdIndex
    from mlinfra.charts.wiring import check_wiring

    objects = result.plan_objects + [o for r in result.releases for o in r.objects]
    index = CrdIndex()
    index.add(chart_data.crds("kube-prometheus-stack", "81.4.3"), "kube-prometheus-stack")
    assert "intervall" in check_custom_resources(index, [sm])[0].message
    assert any(p.check == "monitor-selects" for p in check_wiring(objects))


def _privileged_daemonset(name: str) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": "gpu-system"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {
                    "hostPID": True,
                    "containers": [
                        {
                            "name": "c",
                            "image": "x:1",
                            "resources": {
                                "requests": {"cpu": "1", "memory": "1"},
                                "limits": {"cpu": "1", "memory": "1"},
                            },
                            "securityContext": {"privileged": True},
                        }
                    ],
                },
            },
        },
    }


def test_a_chart_pod_needing_privilege_passes_only_through_a_named_exemption():
    plan = plan_with(
        lambda p: {"dcgm-exporter", "ingress-nginx"} <= {r.chart_name for r in releases(p.resources)}
    )
    rels = {r.chart_name: r for r in releases(plan.resources)}
    exempt = RenderedRelease(rels["dcgm-exporter"], Path("x"), [_privileged_daemonset("dcgm-exporter")], [])
    other = RenderedRelease(rels["ingress-nginx"], Path("y"), [_privileged_daemonset("sneaky")], [])
    report = check_rendered_policy(plan, [exempt, other], None)
    flagged = [v for v in report.violations if v.policy == "pod-security-restricted"]
    assert {v.resource for v in flagged} == {"ingress-nginx:DaemonSet/sneaky"}
    assert all(v.level == "mandatory" for v in flagged) and report.mandatory_failed
    reasons = [
        why for policy, res, why in report.exemptions if res == "dcgm-exporter:DaemonSet/dcgm-exporter"
    ]
    assert reasons == [CHART_EXEMPTIONS[("dcgm-exporter", "DaemonSet", "*", "pod-security-restricted")]]


def _dcgm_only(values_extra=None):
    """A one-release plan (the DCGM pin), cheaper to render than a whole stack."""

    def program():
        ns = k8s.core.v1.Namespace("gpu", metadata={"name": "gpu-system"})
        extra = values_extra(ns) if values_extra else {}
        helm_release(
            pulumi.ComponentResource("test:index:Parent", "parent"),
            "dcgm",
            release_name="dcgm-exporter",
            pin=DCGM_EXPORTER,
            namespace="gpu-system",
            values={"fullnameOverride": "dcgm-exporter", **extra},
        )

    return plan_of(program)


def test_unknown_and_secret_values_become_labelled_placeholders():
    values, found = helm_values(
        {"a": UNKNOWN_MARK, "b": {"c": SECRET_MARK}, "n": 2.0, "l": [UNKNOWN_MARK], "x": 1.5}
    )
    assert values == {
        "a": "<unknown offline: a>",
        "b": {"c": "<secret: b.c>"},
        "n": 2,
        "l": ["<unknown offline: l[0]>"],
        "x": 1.5,
    }
    assert found == ["a", "b.c", "l[0]"]


def test_a_release_whose_values_are_unknown_offline_renders_with_placeholders(standin_charts, tmp_path, helm):
    plan = _dcgm_only(lambda ns: {"priorityClassName": ns.status.apply(lambda s: str(s))})
    # the offline engine records an Output unknown in preview as one stable marker
    assert releases(plan.resources)[0].values["priorityClassName"] == UNKNOWN_MARK
    result = render_plan(plan, ChartData(standin_charts), tmp_path, helm, "1.33")
    (rendered,) = result.releases
    assert rendered.placeholders == ["priorityClassName"]
    cm = next(o for o in rendered.objects if o["kind"] == "ConfigMap")
    assert "priorityClassName: '<unknown offline: priorityClassName>'" in cm["data"]["values.yaml"]


def test_a_release_whose_values_hold_a_secret_is_reported(standin_charts, tmp_path, helm):
    plan = _dcgm_only(lambda ns: {"token": pulumi.Output.secret("s3cr3t")})
    result = render_plan(plan, ChartData(standin_charts), tmp_path, helm, "1.33")
    assert "s3cr3t" not in (tmp_path / "all.yaml").read_text()
    assert any("a secret among them" in p.message for p in result.problems) and result.failed


# ---------------------------------------------------------------- failure paths


def _copy(standin_charts: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "charts"
    shutil.copytree(standin_charts, dest, symlinks=True)
    return dest


def test_a_chart_missing_from_the_directory_is_named_with_where_it_was_expected(
    standin_charts, tmp_path, helm
):
    charts = _copy(standin_charts, tmp_path)
    (charts / "dcgm-exporter" / "4.8.2" / "dcgm-exporter-4.8.2.tgz").unlink()
    with pytest.raises(RenderError) as e:
        render_plan(_dcgm_only(), ChartData(charts), tmp_path / "out", helm, "1.33")
    assert "dcgm-exporter 4.8.2" in str(e.value) and "dcgm-exporter-4.8.2.tgz" in str(e.value)
    assert "mlinfra charts pull" in str(e.value)
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_an_unpacked_chart_directory_renders_too(standin_charts, tmp_path, helm):
    charts = _copy(standin_charts, tmp_path)
    vdir = charts / "dcgm-exporter" / "4.8.2"
    (vdir / "dcgm-exporter-4.8.2.tgz").unlink()
    shutil.copytree(Path(__file__).parent / "charts" / "standin" / "templates", vdir / "templates")
    result = render_plan(_dcgm_only(), ChartData(charts), tmp_path / "out", helm, "1.33")
    (dcgm,) = result.releases
    assert any(o["kind"] == "DaemonSet" for o in dcgm.objects)


def test_a_chart_that_fails_to_render_names_the_release_and_helms_error(standin_charts, tmp_path, helm):
    charts = _copy(standin_charts, tmp_path)
    vdir = charts / "dcgm-exporter" / "4.8.2"
    (vdir / "dcgm-exporter-4.8.2.tgz").unlink()
    package(helm, "broken", "dcgm-exporter", "4.8.2", vdir)
    with pytest.raises(RenderError) as e:
        render_plan(_dcgm_only(), ChartData(charts), tmp_path / "out", helm, "1.33")
    assert "Release gpu-system/dcgm-exporter" in str(e.value) and "broken on purpose" in str(e.value)


def test_cli_without_helm_exits_two_saying_how_to_get_it(monkeypatch, standin_charts):
    monkeypatch.setenv(HELM_ENV, "/nonexistent/helm")
    result = CliRunner().invoke(
        app, ["render", str(ROOT / "stacks/aws"), "--stack", "dev", "--charts", str(standin_charts)]
    )
    assert result.exit_code == 2
    assert "MLINFRA_HELM=/nonexistent/helm is not an executable file" in result.output
    assert "scripts/install-helm.sh" in result.output and "Traceback" not in result.output


def test_cli_without_a_chart_directory_exits_two_saying_what_it_is_for(tmp_path):
    result = CliRunner().invoke(
        app, ["render", str(ROOT / "stacks/aws"), "--stack", "dev", "--charts", str(tmp_path / "no")]
    )
    assert result.exit_code == 2
    assert "chart data directory" in result.output and "mlinfra charts pull --dir DIR" in result.output


def _fake_helm(tmp_path: Path, version: str) -> Path:
    script = tmp_path / "helm"
    script.write_text(f"#!/bin/sh\necho '{version}'\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_helm_v4_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv(HELM_ENV, str(_fake_helm(tmp_path, "v4.0.0")))
    with pytest.raises(HelmError) as e:
        find_helm()
    assert "is Helm v4.0.0" in str(e.value) and "Helm v3" in str(e.value)


def test_helm_is_found_on_path_before_the_set_up_copy(monkeypatch, tmp_path, helm):
    monkeypatch.delenv(HELM_ENV, raising=False)
    monkeypatch.setenv("PATH", f"{_fake_helm(tmp_path, 'v3.99.0').parent}{os.pathsep}{os.environ['PATH']}")
    assert find_helm().version == "v3.99.0"
    # a v4 on PATH does not hide a v3 elsewhere (here: the real one through MLINFRA_HELM)
    monkeypatch.setenv(HELM_ENV, helm.path)
    assert find_helm().path == helm.path


def test_rendered_builtin_objects_are_validated_against_the_kubernetes_schema():
    from mlinfra.charts.render import schema_problems

    good = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "namespace": "y"},
        "data": {"a": "b"},
    }
    bad = {**good, "data": {"a": 1}, "dta": {}}
    assert schema_problems([good], "1.33") == []
    problems = schema_problems([bad], "1.33")
    assert problems and {p.check for p in problems} == {"k8s-schema"}


def test_a_secret_known_only_at_deploy_time_is_written_as_a_labelled_empty_map():
    from mlinfra.charts.render import SECRET_FIELDS_ANNOTATION, offline_object

    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": SECRET_MARK}
    out = offline_object(secret)
    assert out["stringData"] == {} and out["metadata"]["annotations"] == {
        SECRET_FIELDS_ANNOTATION: "stringData"
    }
    assert offline_object({"kind": "ConfigMap", "data": {"k": UNKNOWN_MARK}})["data"] == {
        "k": "<unknown offline: data.k>"
    }
