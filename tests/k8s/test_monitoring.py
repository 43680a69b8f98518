"""MonitoringStack: kube-prometheus-stack values, secrets kept out of Helm values, alert rules, scraping."""

from __future__ import annotations

import json
import re

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from mlinfra.catalog import SUPPORTED_KUBERNETES_VERSIONS
from mlinfra.k8s import metrics as m
from mlinfra.k8s.charts import KUBE_PROMETHEUS_STACK
from mlinfra.k8s.monitoring import MonitoringStack, MonitoringStackArgs, alert_rules, alertmanager_config
from mlinfra.offline.engine import SECRET_MARK
from mlinfra.spec import ModelSpec, MonitoringSpec, SpecError
from tests.conftest import PROD_SPEC, make_spec, plan_of
from tests.k8s.k8s_schema import validate_core_objects

LABELS = {"owner": "ml-platform", "cost-center": "cc-1234"}
RELEASE = "kubernetes:helm.sh/v3:Release"
RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
SECRET = "kubernetes:core/v1:Secret"
PROVIDER_URN = "urn:pulumi:test::mlinfra-test::pulumi:providers:kubernetes::k8s"
SLACK_URL = "https://hooks.slack.com/services/T000/B000/very-secret-token"
PD_KEY = "pd-routing-key-0123456789abcdef"
PASSWORD = "literal-admin-password-never-in-values"
DURATION = re.compile(r"^\d+[smh]$")
MODELS = [ModelSpec(name="llm", latency_slo_ms=250), ModelSpec(name="embedder", latency_slo_ms=1500)]


def dev_monitoring(**alerting) -> MonitoringSpec:
    return make_spec(monitoring={"alerting": alerting} if alerting else {}).monitoring


def run(spec: MonitoringSpec | None = None, environment: str = "dev", **kw):
    args = MonitoringStackArgs(
        spec=spec or dev_monitoring(), environment=environment, labels=kw.pop("labels", LABELS), **kw
    )

    def program():
        provider = k8s.Provider("k8s", kubeconfig="{}")
        stack = MonitoringStack("mon", args, pulumi.ResourceOptions(providers={"kubernetes": provider}))
        pulumi.export("password", stack.grafana_admin_password)
        pulumi.export("namespace", stack.namespace)
        pulumi.export("release", stack.release_name)

    return plan_of(program)


def kps(plan) -> dict:
    return plan.one(RELEASE, "mon-kube-prometheus-stack").inputs


def test_chart_is_pinned():
    rel = kps(run())
    assert rel["chart"] == "kube-prometheus-stack"
    assert rel["version"] == KUBE_PROMETHEUS_STACK.version == "81.4.3"
    assert rel["repositoryOpts"]["repo"] == "https://prometheus-community.github.io/helm-charts"
    assert rel["name"] == m.MONITORING_RELEASE_NAME
    assert rel["namespace"] == "monitoring"


def test_prometheus_retention_and_storage_follow_the_dev_profile():
    v = kps(run(storage_class="gp3-encrypted"))["values"]
    spec = v["prometheus"]["prometheusSpec"]
    assert spec["retention"] == "3d"
    assert spec["retentionSize"] == "17GB"
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"]["storage"] == "20Gi"
    assert claim["storageClassName"] == "gp3-encrypted"
    assert claim["accessModes"] == ["ReadWriteOnce"]
    for flag in ("serviceMonitor", "podMonitor", "rule", "probe"):
        assert spec[f"{flag}SelectorNilUsesHelmValues"] is False


def test_prod_profile_sizes_the_stack():
    prod = make_spec(PROD_SPEC).monitoring
    v = kps(run(prod, environment="prod"))["values"]
    spec = v["prometheus"]["prometheusSpec"]
    assert spec["retention"] == "30d"
    assert spec["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == "500Gi"
    assert "storageClassName" not in spec["storageSpec"]["volumeClaimTemplate"]["spec"]  # cluster default
    assert spec["resources"]["requests"]["memory"] == "4Gi"
    assert v["alertmanager"]["alertmanagerSpec"]["replicas"] == 2


def test_alertmanager_and_grafana_persist_and_reference_secrets_by_name():
    plan = run(storage_class="gp3-encrypted")
    v = kps(plan)["values"]
    am = v["alertmanager"]["alertmanagerSpec"]
    am_secret = plan.one(SECRET, "mon-alertmanager-config").inputs
    assert am["useExistingSecret"] is True
    assert am["configSecret"] == am_secret["metadata"]["name"]
    assert am["storage"]["volumeClaimTemplate"]["spec"]["storageClassName"] == "gp3-encrypted"
    assert "config" not in v["alertmanager"]
    g = v["grafana"]
    gf_secret = plan.one(SECRET, "mon-grafana-admin").inputs
    assert g["admin"] == {
        "existingSecret": gf_secret["metadata"]["name"],
        "userKey": "admin-user",
        "passwordKey": "admin-password",
    }
    assert "adminPassword" not in g
    assert g["persistence"]["enabled"] is True
    assert g["persistence"]["size"] == "10Gi"
    assert g["persistence"]["storageClassName"] == "gp3-encrypted"
    dash = g["sidecar"]["dashboards"]
    assert dash["enabled"] is True and dash["label"] == "grafana_dashboard" and dash["labelValue"] == "1"
    assert g["rbac"]["namespaced"] is True


def test_everything_runs_on_the_system_nodes():
    sel = {"mlinfra.io/pool": "system"}
    v = kps(run(node_selector=sel))["values"]
    assert v["prometheus"]["prometheusSpec"]["nodeSelector"] == sel
    assert v["alertmanager"]["alertmanagerSpec"]["nodeSelector"] == sel
    assert v["grafana"]["nodeSelector"] == sel
    assert v["prometheusOperator"]["nodeSelector"] == sel
    assert v["prometheusOperator"]["admissionWebhooks"]["patch"]["nodeSelector"] == sel
    assert v["kube-state-metrics"]["nodeSelector"] == sel
    assert v["kube-state-metrics"]["metricLabelsAllowlist"] == [
        "nodes=[mlinfra.io/pool,mlinfra.io/gpu-node,mlinfra.io/accelerator]",
        "pods=[mlinfra.io/model,mlinfra.io/track]",
    ]
    assert v["crds"]["upgradeJob"]["nodeSelector"] == sel


def test_generated_grafana_password_is_a_secret():
    plan = run()
    assert len(plan.of_type("random:index/randomPassword:RandomPassword")) == 1
    assert plan.outputs["password"] == SECRET_MARK
    assert plan.one(SECRET, "mon-grafana-admin").inputs["stringData"] == SECRET_MARK


def test_given_secrets_never_appear_in_plain_text():
    spec = dev_monitoring(slack_channel="#ml-alerts", pagerduty=True)
    plan = run(
        spec,
        grafana_admin_password=pulumi.Output.secret(PASSWORD),
        alert_receivers={"slack": pulumi.Output.secret(SLACK_URL), "pagerduty": pulumi.Output.secret(PD_KEY)},
    )
    assert plan.of_type("random:index/randomPassword:RandomPassword") == []
    everything = json.dumps([r.inputs for r in plan.resources]) + json.dumps(plan.outputs)
    for secret in (PASSWORD, SLACK_URL, PD_KEY):
        assert secret not in everything
    assert SECRET_MARK not in json.dumps(kps(plan)["values"])  # no secret in the Helm values at all
    assert plan.one(SECRET, "mon-alertmanager-config").inputs["stringData"] == SECRET_MARK
    assert plan.outputs["password"] == SECRET_MARK


def test_plain_password_input_is_still_kept_secret():
    plan = run(grafana_admin_password=PASSWORD)
    assert PASSWORD not in json.dumps([r.inputs for r in plan.resources])
    assert plan.outputs["password"] == SECRET_MARK


def test_alertmanager_routes_by_severity_with_a_null_default():
    spec = dev_monitoring(slack_channel="#ml-alerts", pagerduty=True, webhook=True)
    cfg = alertmanager_config(spec, {"slack": SLACK_URL, "pagerduty": PD_KEY, "webhook": "https://hook"})
    assert cfg["route"]["receiver"] == "null"
    routes = {r["receiver"]: r["matchers"] for r in cfg["route"]["routes"]}
    assert routes["pagerduty"] == ['severity = "critical"']
    assert routes["slack"] == ['severity =~ "critical|warning"']
    receivers = {r["name"]: r for r in cfg["receivers"]}
    assert set(receivers) == {"null", "pagerduty", "slack", "webhook"}
    assert receivers["pagerduty"]["pagerduty_configs"][0]["routing_key"] == PD_KEY
    assert receivers["slack"]["slack_configs"][0]["api_url"] == SLACK_URL
    assert receivers["slack"]["slack_configs"][0]["channel"] == "#ml-alerts"
    assert receivers["webhook"]["webhook_configs"][0]["url"] == "https://hook"
    yaml.safe_load(yaml.safe_dump(cfg))  # serialisable as the Secret's alertmanager.yaml
    only_null = alertmanager_config(dev_monitoring(), {})
    assert [r["name"] for r in only_null["receivers"]] == ["null"]


def test_receiver_without_its_secret_warns_and_is_left_out():
    plan = plan_of(
        lambda: MonitoringStack(
            "mon",
            MonitoringStackArgs(
                spec=dev_monitoring(pagerduty=True, slack_channel="#ml"),
                environment="dev",
                alert_receivers={"slack": pulumi.Output.secret(SLACK_URL)},
                labels=LABELS,
            ),
            opts=pulumi.ResourceOptions(provider=k8s.Provider("k8s", kubeconfig="{}")),
        )
    )
    assert len(plan.warnings) == 1
    assert "pagerduty" in plan.warnings[0] and "mlinfra:pagerdutyKey" in plan.warnings[0]


@pytest.mark.parametrize(
    "alerting,receivers,match",
    [
        ({}, {"email": "x"}, "unknown receivers"),
        ({}, {"slack": "https://hooks"}, "not enabled"),
    ],
)
def test_receiver_mismatches_are_refused(alerting, receivers, match):
    with pytest.raises(SpecError, match=match) as err:
        MonitoringStack(
            "x",
            MonitoringStackArgs(
                spec=dev_monitoring(**alerting), environment="dev", alert_receivers=receivers, labels=LABELS
            ),
        )
    assert err.value.field == "alert_receivers"


@pytest.mark.parametrize(
    "kw,field",
    [
        ({"environment": "qa"}, "environment"),
        ({"labels": {"owner": "x"}}, "labels"),
        ({"serving_namespace": "Serving"}, "serving_namespace"),
        ({"storage_class": "GP3 encrypted"}, "storage_class"),
        ({"models": [ModelSpec(name="a"), ModelSpec(name="a")]}, "models.1"),
    ],
)
def test_bad_args_name_the_field(kw, field):
    args = {"spec": dev_monitoring(), "environment": "dev", "labels": LABELS, **kw}
    with pytest.raises(SpecError) as err:
        MonitoringStack("x", MonitoringStackArgs(**args))
    assert err.value.field == field


def _rules(plan) -> list[dict]:
    groups = plan.one(RULE, "mon-alert-rules").inputs["spec"]["groups"]
    return [rule for g in groups for rule in g["rules"]]


def test_every_alert_rule_is_complete_and_uses_known_metrics():
    rules = _rules(run(models=MODELS))
    assert {r["alert"] for r in rules} == {
        "GpuXidError",
        "GpuXidApplicationError",
        "ModelGpuIdle",
        "DcgmExporterDown",
        "DcgmExporterMissing",
        "GpuNodeIdle",
        "GpuMemorySaturation",
        "GpuPodsPending",
        "ModelLatencySloBreached",
        "ModelHighErrorRatio",
    }
    for rule in rules:
        assert rule["expr"].strip(), rule["alert"]
        assert DURATION.match(rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert m.metric_names(rule["expr"]), rule["alert"]
        assert m.unknown_metrics(rule["expr"]) == set(), rule["alert"]


def test_rule_thresholds_come_from_the_spec():
    spec = make_spec(
        monitoring={"gpu_idle_minutes": 45, "gpu_memory_saturation": 0.9, "error_ratio_threshold": 0.02}
    ).monitoring
    by_name: dict[str, list[dict]] = {}
    for group in alert_rules(spec, MODELS, "dev"):
        for r in group["rules"]:
            by_name.setdefault(r["alert"], []).append(r)
    idle = by_name["GpuNodeIdle"][0]
    assert idle["for"] == "45m" and "DCGM_FI_DEV_GPU_UTIL" in idle["expr"] and idle["expr"].endswith("== 0")
    assert idle["labels"]["category"] == "cost"
    sat = by_name["GpuMemorySaturation"][0]["expr"]
    assert sat.endswith(") > 0.9")
    assert (
        "(DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_RESERVED) / "
        "(DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE + DCGM_FI_DEV_FB_RESERVED)"
    ) in sat
    assert "> 0.02 " in by_name["ModelHighErrorRatio"][0]["expr"]
    assert 'status=~"5.."' in by_name["ModelHighErrorRatio"][0]["expr"]
    xid = by_name["GpuXidError"][0]
    assert "DCGM_FI_DEV_XID_ERRORS" in xid["expr"] and xid["labels"]["severity"] == "critical"
    model_idle = by_name["ModelGpuIdle"][0]
    assert model_idle["for"] == "45m" and model_idle["labels"]["category"] == "cost"
    assert 'kube_pod_labels{label_mlinfra_io_model!=""}' in model_idle["expr"]
    assert "group_left (label_mlinfra_io_model)" in model_idle["expr"]
    pending = by_name["GpuPodsPending"][0]["expr"]
    assert 'kube_pod_status_phase{phase="Pending"}' in pending
    assert 'kube_pod_container_resource_requests{resource="nvidia_com_gpu"}' in pending
    assert "absent(" not in by_name["DcgmExporterMissing"][0]["expr"]  # pools scale to zero


def test_one_latency_slo_rule_per_model():
    rules = [
        r
        for g in alert_rules(dev_monitoring(), MODELS, "dev")
        for r in g["rules"]
        if r["alert"] == "ModelLatencySloBreached"
    ]
    assert [r["labels"]["model"] for r in rules] == ["llm", "embedder"]
    llm, embedder = rules
    assert llm["expr"].startswith("histogram_quantile(0.99, ")
    assert "nginx_ingress_controller_request_duration_seconds_bucket" in llm["expr"]
    assert 'host=~"llm\\\\..+"' in llm["expr"]
    assert llm["expr"].endswith("> 0.25")
    assert embedder["expr"].endswith("> 1.5")
    assert llm["labels"]["severity"] == "warning"
    prod = [
        r
        for g in alert_rules(dev_monitoring(), MODELS, "prod")
        for r in g["rules"]
        if r["labels"].get("category") == "slo"
    ]
    assert prod and all(r["labels"]["severity"] == "critical" for r in prod)


def test_model_server_service_monitor_matches_the_serving_contract():
    plan = run(serving_namespace="models")
    sm = plan.one(MONITOR, "mon-model-servers").inputs
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["metadata"]["labels"]["release"] == m.MONITORING_RELEASE_NAME
    spec = sm["spec"]
    assert spec["selector"] == {"matchLabels": {"mlinfra.io/model-server": "true"}}
    assert spec["namespaceSelector"] == {"matchNames": ["models"]}
    assert spec["endpoints"][0]["port"] == "metrics"
    assert spec["targetLabels"] == ["mlinfra.io/model", "mlinfra.io/track"]
    release_urn = plan.one(RELEASE, "mon-kube-prometheus-stack").urn
    assert release_urn in plan.one(MONITOR, "mon-model-servers").dependencies
    assert release_urn in plan.one(RULE, "mon-alert-rules").dependencies


def test_namespaces_pod_security_and_labels():
    plan = run()
    ns = {
        r.inputs["metadata"]["name"]: r.inputs["metadata"]["labels"]
        for r in plan.of_type("kubernetes:core/v1:Namespace")
    }
    assert ns["monitoring"]["pod-security.kubernetes.io/enforce"] == "baseline"
    # node-exporter needs host access: isolated in its own namespace
    assert ns["monitoring-node-exporter"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert kps(plan)["values"]["prometheus-node-exporter"]["namespaceOverride"] == "monitoring-node-exporter"


def test_every_object_has_standard_labels_and_the_explicit_provider():
    plan = run(models=MODELS)
    expected = {**LABELS, "environment": "dev"}
    k8s_records = [r for r in plan.resources if r.type.startswith("kubernetes:")]
    assert len(k8s_records) == 9  # 2 Namespaces, 2 Secrets, 2 ConfigMaps, Release, ServiceMonitor, rules
    for r in k8s_records:
        assert r.provider == PROVIDER_URN, r.name
        if r.type != RELEASE:
            labels = r.inputs["metadata"]["labels"]
            assert {k: labels[k] for k in expected} == expected, r.name
    common = kps(plan)["values"]["commonLabels"]
    assert {k: common[k] for k in expected} == expected
    assert plan.outputs["namespace"] == "monitoring"
    assert plan.outputs["release"] == m.MONITORING_RELEASE_NAME
    assert plan.warnings == []


def test_disabled_monitoring_is_refused():
    spec = make_spec(monitoring={"enabled": False}).monitoring
    with pytest.raises(SpecError, match="disabled"):
        MonitoringStack("x", MonitoringStackArgs(spec=spec, environment="dev", labels=LABELS))


@pytest.mark.parametrize("version", SUPPORTED_KUBERNETES_VERSIONS)
def test_core_objects_validate_against_the_kubernetes_schema(version):
    plan = run(models=MODELS, storage_class="gp3-encrypted")
    # The engine masks a secret-bearing map as a whole ("[secret]"); validate the Secrets with the
    # keys the component writes, masked values in place, so the rest of the object is still checked.
    keys = {
        "mon-grafana-admin": ("admin-user", "admin-password"),
        "mon-alertmanager-config": ("alertmanager.yaml",),
    }
    for record in plan.of_type(SECRET):
        assert record.inputs["stringData"] == SECRET_MARK
        record.inputs["stringData"] = {k: SECRET_MARK for k in keys[record.name]}
    # 2 Namespaces, 2 Secrets, 2 dashboard ConfigMaps
    assert validate_core_objects(plan, version) == 6


@pytest.mark.parametrize(
    "expr,names",
    [
        ('sum by (node) (rate(foo_total{a="b"}[5m]))', {"foo_total"}),
        ("a / (b + c) > 0.9", {"a", "b", "c"}),
        ('x > 0 and on (ns, pod) sum by (ns) (y{r="nvidia_com_gpu"}) > 0', {"x", "y"}),
        ("(count(a) or on() vector(0)) > 1e3", {"a"}),
        (
            "histogram_quantile(0.99, sum by (le) (rate(vllm:e2e_request_latency_seconds_bucket[$__rate_interval])))",
            {"vllm:e2e_request_latency_seconds_bucket"},
        ),
        ('avg by (p) (u * on (node) group_left (p) kube_node_labels{p=~"$pool"})', {"u", "kube_node_labels"}),
    ],
)
def test_metric_name_parser(expr, names):
    assert m.metric_names(expr) == names
    assert m.unknown_metrics("DCGM_FI_DEV_GPU_UTILS > 0") == {"DCGM_FI_DEV_GPU_UTILS"}  # a typo is caught


# --------------------------------------------------------------------------- issue 9: alerts that fire for the right reasons


def _rule(name: str, spec: MonitoringSpec | None = None) -> dict:
    rules = [r for g in alert_rules(spec or dev_monitoring(), MODELS, "prod") for r in g["rules"]]
    (rule,) = [r for r in rules if r["alert"] == name]
    return rule


def test_hardware_xids_page_and_application_xids_warn():
    hardware, application = _rule("GpuXidError"), _rule("GpuXidApplicationError")
    assert hardware["labels"]["severity"] == "critical" and application["labels"]["severity"] == "warning"
    # NVIDIA's Xid catalog: these need a GPU reset / node replacement
    for xid in (48, 63, 64, 74, 79, 92, 94, 95):
        assert f"== {xid}" in hardware["expr"], xid
    for xid in (13, 31, 43):  # application faults: restart the app
        assert f"== {xid}" not in hardware["expr"], xid
    for rule in (hardware, application):
        assert m.unknown_metrics(rule["expr"]) == set()


def test_application_xids_warn_per_occurrence_not_forever():
    """DCGM_FI_DEV_XID_ERRORS keeps the last XID until the exporter restarts (NVIDIA/dcgm-exporter#500):
    a warning on it never resolves and a second XID 31 is invisible. The exporter's windowed counter
    (DCGM_EXP_XID_ERRORS_COUNT, label xid) reports each XID for its window, and the exporter only
    collects it when the counters file lists it (xid_collector.go IsDCGMExpXIDErrorsCountEnabled)."""
    application = _rule("GpuXidApplicationError")
    assert m.metric_names(application["expr"]) == {m.DCGM_XID_COUNT}
    assert 'xid!~"48|63|64|74|79|92|94|95"' in application["expr"]
    assert 'xid!="0"' in application["expr"]  # no XID is not an application fault
    assert "$labels.xid" in application["annotations"]["summary"]
    assert m.DCGM_XID_COUNT in {name for name, _, _ in m.DCGM_COUNTERS}


def test_watchdog_goes_to_the_dead_mans_switch_when_configured():
    spec = dev_monitoring(dead_mans_switch=True, slack_channel="#ml")
    cfg = alertmanager_config(spec, {"deadmansswitch": "https://hc-ping.com/uuid", "slack": SLACK_URL})
    watchdog = cfg["route"]["routes"][0]
    assert watchdog["matchers"] == ['alertname = "Watchdog"']
    assert watchdog["receiver"] == "deadmansswitch" and "continue" not in watchdog
    assert watchdog["repeat_interval"] == "1m"  # the switch pages when the pings stop
    receivers = {r["name"]: r for r in cfg["receivers"]}
    assert receivers["deadmansswitch"]["webhook_configs"][0]["url"] == "https://hc-ping.com/uuid"
    # without one, the Watchdog is dropped, as before
    plain = alertmanager_config(dev_monitoring(), {})
    assert plain["route"]["routes"][0]["receiver"] == "null"


def test_dead_mans_switch_secret_follows_the_receiver_table():
    from mlinfra.spec import RECEIVER_SECRET_KEYS

    assert RECEIVER_SECRET_KEYS["deadmansswitch"] == "deadMansSwitchUrl"
    plan = plan_of(
        lambda: MonitoringStack(
            "mon",
            MonitoringStackArgs(spec=dev_monitoring(dead_mans_switch=True), environment="dev", labels=LABELS),
            opts=pulumi.ResourceOptions(provider=k8s.Provider("k8s", kubeconfig="{}")),
        )
    )
    assert len(plan.warnings) == 1 and "mlinfra:deadMansSwitchUrl" in plan.warnings[0]


def test_prometheus_operator_crds_upgrade_with_the_chart():
    crds = kps(run(kubernetes_version="1.34"))["values"]["crds"]
    job = crds["upgradeJob"]
    assert crds["enabled"] is True and job["enabled"] is True
    assert job["image"]["busybox"]["tag"] != "latest"  # the chart's default drifts
    assert job["image"]["kubectl"]["tag"] == "v1.34.0"


def test_every_kube_prometheus_stack_value_is_read_by_the_pinned_chart():
    from tests.k8s.chart_data import schema_errors, unread_keys

    # Keys only the chart's templates read (configSecret, grafana's persistence.storageClassName) are
    # in the one exception table, mlinfra.charts.values.EXCEPTIONS, with the template that reads each.
    for plan in (run(storage_class="gp3"), run(make_spec(PROD_SPEC).monitoring, environment="prod")):
        values = kps(plan)["values"]
        assert unread_keys(values, KUBE_PROMETHEUS_STACK) == []
        assert schema_errors(values, KUBE_PROMETHEUS_STACK) == []
    assert unread_keys({"crds": {"upgradeJobs": {}}}, KUBE_PROMETHEUS_STACK) == ["crds.upgradeJobs"]
