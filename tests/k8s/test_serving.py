"""ServingCluster: pinned charts with the values that matter, the issuer, and a locked-down namespace."""

from __future__ import annotations

import re
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from mlinfra.catalog import SUPPORTED_KUBERNETES_VERSIONS
from mlinfra.k8s.charts import CERT_MANAGER, INGRESS_NGINX, KEDA, KSERVE, KSERVE_CRD, METRICS_SERVER
from mlinfra.k8s.metrics import prometheus_url
from mlinfra.k8s.scheduling import accelerator_scheduling
from mlinfra.k8s.serving import (
    INGRESS_CLASS,
    MODEL_SERVER_LABEL,
    RUNTIME_TABLE,
    ModelDeployment,
    ServingCluster,
    ServingClusterArgs,
)
from mlinfra.offline import Plan
from mlinfra.spec import ServingSpec
from tests.conftest import PROD_SPEC, make_spec, plan_of
from tests.k8s.chart_data import schema_errors, unread_keys, validate_custom_resource
from tests.k8s.k8s_schema import validate_core_objects

OWNER_LABELS = {"owner": "ml-platform", "cost-center": "cc-1234"}
RELEASE = "kubernetes:helm.sh/v3:Release"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
PROVIDER_URN_SUFFIX = "pulumi:providers:kubernetes::k8s"
PROMETHEUS = prometheus_url("monitoring")


def _serving(environment: str = "prod", **overrides: Any) -> ServingSpec:
    base = make_spec(PROD_SPEC) if environment == "prod" else make_spec()
    data = base.serving.model_dump()
    data.update(overrides)
    return ServingSpec.model_validate(data)


def _program(args: ServingClusterArgs, sink: dict[str, Any] | None = None, models=()):
    def program():
        provider = k8s.Provider("k8s", kubeconfig="{}")
        serving = ServingCluster("serving", args, opts=pulumi.ResourceOptions(provider=provider))
        for m in models:
            ModelDeployment(
                m.name,
                serving.model_args(
                    m,
                    storage_uri=f"s3://bucket/models/{m.name}/",
                    scheduling=accelerator_scheduling("a10g", "nvidia-a10g"),
                ),
                opts=pulumi.ResourceOptions(provider=provider),
            )
        if sink is not None:
            sink["serving"] = serving
        pulumi.export("namespace", serving.namespace)

    return program


def _plan(
    environment: str = "prod", cloud: str = "aws", serving: ServingSpec | None = None, **kw: Any
) -> Plan:
    kw.setdefault("prometheus_url", PROMETHEUS)
    args = ServingClusterArgs(
        spec=serving or _serving(environment),
        cloud=cloud,  # type: ignore[arg-type]
        environment=environment,
        labels=OWNER_LABELS,
        node_selector={"mlinfra.io/pool": "system"},
        **kw,
    )
    return plan_of(_program(args))


@pytest.fixture(scope="module")
def prod() -> Plan:
    return _plan("prod")


@pytest.fixture(scope="module")
def dev() -> Plan:
    return _plan("dev")


def _release(plan: Plan, name: str) -> dict[str, Any]:
    return plan.one(RELEASE, f"serving-{name}").inputs


def _policy(plan: Plan, name: str) -> dict[str, Any]:
    return plan.one(NETPOL, f"serving-{name}").inputs["spec"]


# --------------------------------------------------------------------------- schema, providers


@pytest.mark.parametrize("version", SUPPORTED_KUBERNETES_VERSIONS)
def test_core_objects_match_the_kubernetes_schema(prod: Plan, dev: Plan, version: str):
    assert validate_core_objects(prod, version) >= 12
    assert validate_core_objects(dev, version) >= 12


def test_every_kubernetes_resource_uses_the_explicit_provider(prod: Plan):
    records = [r for r in prod.resources if r.type.startswith("kubernetes:")]
    assert records
    for r in records:
        assert r.provider and r.provider.endswith(PROVIDER_URN_SUFFIX), (r.name, r.provider)
        assert r.parent and r.parent.endswith("mlinfra:k8s:ServingCluster::serving")
    assert prod.warnings == []


def test_every_object_carries_owner_cost_center_and_environment(prod: Plan):
    for r in prod.resources:
        if r.type.startswith("kubernetes:") and r.type != RELEASE:
            labels = r.inputs["metadata"]["labels"]
            assert labels["owner"] == "ml-platform", r.name
            assert labels["cost-center"] == "cc-1234", r.name
            assert labels["environment"] == "prod", r.name


# --------------------------------------------------------------------------- namespace guardrails


def test_serving_namespace_enforces_restricted_pinned_to_the_cluster_version():
    plan = _plan("prod", kubernetes_version="1.34")
    labels = plan.one("kubernetes:core/v1:Namespace", "serving-namespace").inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/enforce-version"] == "v1.34"
    assert labels["pod-security.kubernetes.io/audit"] == "restricted"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    assert labels["pod-security.kubernetes.io/warn-version"] == "latest"
    assert (
        plan.one("kubernetes:core/v1:Namespace", "serving-namespace").inputs["metadata"]["name"] == "serving"
    )


def test_controller_namespaces_enforce_at_least_baseline(prod: Plan):
    for role in ("ingress", "cert-manager", "kserve"):
        labels = prod.one("kubernetes:core/v1:Namespace", f"serving-{role}-namespace").inputs["metadata"][
            "labels"
        ]
        assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
        assert labels["pod-security.kubernetes.io/warn"] == "restricted"


def test_resource_quota_includes_gpus_from_the_spec():
    serving = _serving("prod", quota={"gpus": 6, "cpu": "48", "memory": "192Gi", "pods": 30})
    hard = _plan("prod", serving=serving).one("kubernetes:core/v1:ResourceQuota").inputs["spec"]["hard"]
    assert hard == {
        "requests.cpu": "48",
        "requests.memory": "192Gi",
        "limits.cpu": "48",
        "limits.memory": "192Gi",
        "pods": "30",
        "requests.nvidia.com/gpu": "6",
    }


def test_limit_range_gives_defaults_and_a_ceiling(prod: Plan):
    (limit,) = prod.one("kubernetes:core/v1:LimitRange").inputs["spec"]["limits"]
    assert limit["type"] == "Container"
    assert limit["default"] == {"cpu": "500m", "memory": "512Mi"}
    assert limit["defaultRequest"] == {"cpu": "100m", "memory": "128Mi"}
    assert limit["max"] == {"cpu": "32", "memory": "128Gi"}


def test_default_deny_covers_every_pod_in_both_directions(prod: Plan):
    spec = _policy(prod, "default-deny")
    assert spec["podSelector"] == {}
    assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in spec and "egress" not in spec


def test_ingress_controller_may_reach_model_pods_on_the_http_port_only(prod: Plan):
    spec = _policy(prod, "allow-from-ingress")
    assert spec["podSelector"] == {"matchLabels": {MODEL_SERVER_LABEL: "true"}}
    assert spec["policyTypes"] == ["Ingress"]
    (rule,) = spec["ingress"]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    ]
    assert rule["ports"] == [{"protocol": "TCP", "port": "http"}]


def test_dns_egress_only_to_kube_dns_on_53(prod: Plan):
    spec = _policy(prod, "allow-to-dns")
    assert spec["podSelector"] == {} and spec["policyTypes"] == ["Egress"]
    (rule,) = spec["egress"]
    assert rule["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    assert rule["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


def test_model_pods_may_leave_the_cluster_over_https_only(prod: Plan):
    spec = _policy(prod, "allow-egress-https")
    assert spec["podSelector"] == {"matchLabels": {MODEL_SERVER_LABEL: "true"}}
    (rule,) = spec["egress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 443}]
    assert rule["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0"}}]


def test_monitoring_may_scrape_model_pods(prod: Plan):
    (rule,) = _policy(prod, "allow-from-monitoring")["ingress"]
    assert rule["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "monitoring"
    }
    # the HTTP port, and a separate metrics port where the runtime has one (Triton 8002)
    assert rule["ports"] == [{"protocol": "TCP", "port": "http"}, {"protocol": "TCP", "port": "metrics"}]
    plan = _plan("prod", monitoring_namespace=None)
    assert "serving-allow-from-monitoring" not in [r.name for r in plan.of_type(NETPOL)]


@pytest.mark.parametrize(
    ("cloud", "expected"),
    [
        ("aws", [("169.254.170.23/32", 80)]),
        ("gcp", [("169.254.169.254/32", 80), ("169.254.169.252/32", 988), ("127.0.0.1/32", 988)]),
        ("azure", None),
    ],
)
def test_workload_identity_egress_per_cloud(cloud: str, expected):
    plan = _plan("prod", cloud=cloud)
    names = [r.name for r in plan.of_type(NETPOL)]
    if expected is None:
        assert "serving-allow-workload-identity" not in names
        return
    rules = _policy(plan, "allow-workload-identity")["egress"]
    assert [(r["to"][0]["ipBlock"]["cidr"], r["ports"][0]["port"]) for r in rules] == expected
    # the node's instance metadata endpoint is never opened where it is the node's (AWS); on GKE
    # that address is the GKE metadata server (node credentials withheld), which Dataplane V2
    # policies must allow for Workload Identity
    if cloud == "aws":
        assert all(r["to"][0]["ipBlock"]["cidr"] != "169.254.169.254/32" for r in rules)


def test_acme_solver_policy_only_with_an_acme_issuer(prod: Plan):
    assert "serving-allow-acme-solver" not in [r.name for r in prod.of_type(NETPOL)]  # prod: private CA
    acme = _plan("prod", serving=_serving("prod", tls_issuer="letsencrypt", internal_load_balancer=False))
    spec = _policy(acme, "allow-acme-solver")
    assert spec["podSelector"] == {"matchLabels": {"acme.cert-manager.io/http01-solver": "true"}}
    assert spec["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8089}]
    selfsigned = _plan("prod", serving=_serving("prod", tls_issuer="selfsigned"))
    assert "serving-allow-acme-solver" not in [r.name for r in selfsigned.of_type(NETPOL)]


# --------------------------------------------------------------------------- charts


def test_chart_versions_are_pinned(prod: Plan):
    releases = prod.of_type(RELEASE)
    assert len(releases) == 6  # ingress-nginx, cert-manager, kserve-crd, kserve, metrics-server, keda
    for r in releases:
        version = r.inputs["version"]
        assert version and version != "latest"
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", version), (r.name, version)
    assert _release(prod, "ingress-nginx")["version"] == INGRESS_NGINX.version
    assert _release(prod, "cert-manager")["version"] == CERT_MANAGER.version
    assert _release(prod, "kserve-crd")["version"] == _release(prod, "kserve")["version"] == KSERVE.version
    assert _release(prod, "metrics-server")["version"] == METRICS_SERVER.version == "3.13.1"
    assert _release(prod, "keda")["version"] == KEDA.version == "2.20.2"


def test_charts_come_from_their_upstream_repositories(prod: Plan):
    ingress = _release(prod, "ingress-nginx")
    assert ingress["chart"] == "ingress-nginx"
    assert ingress["repositoryOpts"]["repo"] == "https://kubernetes.github.io/ingress-nginx"
    cert = _release(prod, "cert-manager")
    assert (cert["chart"], cert["repositoryOpts"]["repo"]) == ("cert-manager", "https://charts.jetstack.io")
    assert _release(prod, "kserve-crd")["chart"] == "oci://ghcr.io/kserve/charts/kserve-crd"
    assert _release(prod, "kserve")["chart"] == "oci://ghcr.io/kserve/charts/kserve"
    metrics = _release(prod, "metrics-server")
    assert metrics["repositoryOpts"]["repo"] == "https://kubernetes-sigs.github.io/metrics-server/"
    assert _release(prod, "keda")["repositoryOpts"]["repo"] == "https://kedacore.github.io/charts"


# Keys the charts' templates read although values.yaml does not list them: mlinfra.charts.values.EXCEPTIONS.
@pytest.mark.parametrize(
    ("release", "pin"),
    [
        ("ingress-nginx", INGRESS_NGINX),
        ("cert-manager", CERT_MANAGER),
        ("kserve", KSERVE),
        ("keda", KEDA),
        ("metrics-server", METRICS_SERVER),
    ],
)
def test_every_values_key_is_read_by_the_pinned_chart(prod: Plan, dev: Plan, release, pin):
    for plan in (prod, dev):
        values = _release(plan, release).get("values") or {}
        assert unread_keys(values, pin) == [], release
        assert schema_errors(values, pin) == [], release  # Helm validates values.schema.json (cert-manager)


def test_releases_depend_on_their_namespaces(prod: Plan):
    ns_urn = {r.name: r.urn for r in prod.of_type("kubernetes:core/v1:Namespace")}
    expected = {
        "ingress-nginx": ("serving-ingress-namespace", "ingress-nginx"),
        "cert-manager": ("serving-cert-manager-namespace", "cert-manager"),
        "kserve-crd": ("serving-kserve-namespace", "kserve"),
        "kserve": ("serving-kserve-namespace", "kserve"),
        "keda": ("serving-keda-namespace", "keda"),
    }
    for release, (ns_resource, ns_name) in expected.items():
        r = prod.one(RELEASE, f"serving-{release}")
        assert ns_urn[ns_resource] in r.dependencies, release
        assert r.inputs["namespace"] == ns_name


def test_ingress_nginx_values(prod: Plan):
    c = _release(prod, "ingress-nginx")["values"]["controller"]
    assert c["replicaCount"] == 2 and c["minAvailable"] == 1
    assert c["ingressClass"] == INGRESS_CLASS
    assert c["ingressClassResource"]["name"] == INGRESS_CLASS
    assert c["ingressClassResource"]["default"] is False
    assert c["allowSnippetAnnotations"] is False
    assert c["metrics"]["enabled"] is True and c["metrics"]["serviceMonitor"]["enabled"] is True
    assert c["nodeSelector"] == {"kubernetes.io/os": "linux", "mlinfra.io/pool": "system"}
    assert c["admissionWebhooks"]["patch"]["nodeSelector"] == c["nodeSelector"]
    img = c["image"]
    assert img["runAsNonRoot"] is True and img["allowPrivilegeEscalation"] is False
    assert img["seccompProfile"] == {"type": "RuntimeDefault"}


def test_dev_runs_single_controllers(dev: Plan):
    assert _release(dev, "ingress-nginx")["values"]["controller"]["replicaCount"] == 1
    cert = _release(dev, "cert-manager")["values"]
    assert cert["replicaCount"] == 1 and cert["podDisruptionBudget"]["enabled"] is False


@pytest.mark.parametrize(
    ("cloud", "annotations"),
    [
        (
            "aws",
            {
                "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
                "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
            },
        ),
        ("gcp", {"networking.gke.io/load-balancer-type": "Internal"}),
        ("azure", {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}),
    ],
)
def test_prod_ingress_load_balancer_is_internal(cloud: str, annotations: dict[str, str]):
    values = _release(_plan("prod", cloud=cloud), "ingress-nginx")["values"]
    assert values["controller"]["service"]["annotations"] == annotations


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_dev_ingress_load_balancer_is_not_internal(cloud: str):
    annotations = _release(_plan("dev", cloud=cloud), "ingress-nginx")["values"]["controller"]["service"][
        "annotations"
    ]
    assert not any("internal" in k.lower() or str(v).lower() == "internal" for k, v in annotations.items())


def test_cert_manager_installs_its_crds_and_keeps_them(prod: Plan):
    values = _release(prod, "cert-manager")["values"]
    assert values["crds"] == {"enabled": True, "keep": True}
    assert "installCRDs" not in values
    assert values["replicaCount"] == 2 and values["podDisruptionBudget"]["enabled"] is True
    assert values["webhook"]["nodeSelector"]["mlinfra.io/pool"] == "system"


@pytest.mark.parametrize(
    ("issuer", "server"),
    [
        ("letsencrypt", "https://acme-v02.api.letsencrypt.org/directory"),
        ("letsencrypt-staging", "https://acme-staging-v02.api.letsencrypt.org/directory"),
    ],
)
def test_acme_cluster_issuer_solves_http01_on_our_ingress_class(issuer: str, server: str):
    public = _serving("prod", tls_issuer=issuer, acme_email="pki@acme.test", internal_load_balancer=False)
    plan = _plan("prod", serving=public)
    record = plan.one("kubernetes:cert-manager.io/v1:ClusterIssuer")
    acme = record.inputs["spec"]["acme"]
    assert record.inputs["metadata"]["name"] == f"mlinfra-{issuer}"
    assert acme["server"] == server and acme["email"] == "pki@acme.test"
    assert acme["solvers"] == [{"http01": {"ingress": {"ingressClassName": INGRESS_CLASS}}}]
    assert plan.one(RELEASE, "serving-cert-manager").urn in record.dependencies


def test_private_ca_issuer_chain_for_internal_endpoints(prod: Plan):
    issuers = {
        r.inputs["metadata"]["name"]: r for r in prod.of_type("kubernetes:cert-manager.io/v1:ClusterIssuer")
    }
    assert issuers["mlinfra-private-ca"].inputs["spec"] == {"ca": {"secretName": "mlinfra-private-ca"}}
    assert issuers["mlinfra-selfsigned-root"].inputs["spec"] == {"selfSigned": {}}
    ca = prod.one("kubernetes:cert-manager.io/v1:Certificate")
    assert ca.inputs["spec"]["isCA"] is True
    assert ca.inputs["spec"]["secretName"] == "mlinfra-private-ca"
    assert ca.inputs["spec"]["issuerRef"]["name"] == "mlinfra-selfsigned-root"
    assert ca.urn in issuers["mlinfra-private-ca"].dependencies
    ingress = prod.of_type("kubernetes:networking.k8s.io/v1:Ingress")
    assert all(
        i.inputs["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "mlinfra-private-ca"
        for i in ingress
    )


def test_selfsigned_cluster_issuer():
    plan = _plan("prod", serving=_serving("prod", tls_issuer="selfsigned"))
    assert plan.one("kubernetes:cert-manager.io/v1:ClusterIssuer").inputs["spec"] == {"selfSigned": {}}


def test_kserve_runs_in_raw_deployment_mode_without_its_own_ingress(prod: Plan):
    controller = _release(prod, "kserve")["values"]["kserve"]["controller"]
    assert controller["deploymentMode"] == "RawDeployment"
    assert controller["gateway"]["disableIngressCreation"] is True
    assert controller["gateway"]["ingressGateway"]["className"] == INGRESS_CLASS
    assert controller["nodeSelector"]["mlinfra.io/pool"] == "system"
    storage = _release(prod, "kserve")["values"]["kserve"]["storage"]["containerSecurityContext"]
    assert storage["allowPrivilegeEscalation"] is False and storage["capabilities"] == {"drop": ["ALL"]}


def test_kserve_waits_for_its_crds_and_cert_manager(prod: Plan):
    deps = prod.one(RELEASE, "serving-kserve").dependencies
    assert prod.one(RELEASE, "serving-kserve-crd").urn in deps
    assert prod.one(RELEASE, "serving-cert-manager").urn in deps


def test_kserve_install_converges_on_a_fresh_cluster(prod: Plan):
    # kserve/kserve#5037: not atomic (a failed attempt keeps the controller and its webhooks, the
    # next `up` upgrades in place), and our runtime is created only after the release is ready.
    kserve = _release(prod, "kserve")
    assert kserve.get("atomic") in (None, False) and kserve.get("cleanupOnFail") in (None, False)
    runtime = prod.one("kubernetes:serving.kserve.io/v1alpha1:ServingRuntime")
    assert prod.one(RELEASE, "serving-kserve").urn in runtime.dependencies
    spec = runtime.inputs["spec"]
    assert runtime.inputs["metadata"] == {
        **runtime.inputs["metadata"],
        "name": "mlinfra-huggingface",
        "namespace": "serving",
    }
    assert spec["containers"] == [{"name": "kserve-container", "image": RUNTIME_TABLE["kserve"].image}]
    assert spec["storageHelper"] == {"disabled": True}
    assert spec["supportedModelFormats"][0]["name"] == "huggingface"
    validate_custom_resource(runtime.inputs, KSERVE_CRD)
    for other in ("ingress-nginx", "cert-manager", "keda", "metrics-server"):
        assert _release(prod, other)["atomic"] is True, other


def test_keda_and_metrics_server_run_on_the_system_pool(prod: Plan, dev: Plan):
    system = {"kubernetes.io/os": "linux", "mlinfra.io/pool": "system"}
    keda = _release(prod, "keda")["values"]
    for part in ("operator", "metricsServer", "webhooks"):
        assert keda[part]["nodeSelector"] == system, part
        assert keda[part]["replicaCount"] == 2, part
    assert keda["webhooks"]["failurePolicy"] == "Ignore"  # a ScaledObject is never blocked by a cold webhook
    metrics = _release(prod, "metrics-server")
    assert metrics["namespace"] == "kube-system"
    assert metrics["values"]["nodeSelector"] == system
    assert metrics["values"]["podDisruptionBudget"] == {"enabled": True, "minAvailable": 1}
    assert _release(dev, "metrics-server")["values"]["podDisruptionBudget"] == {"enabled": False}
    assert _release(dev, "keda")["values"]["operator"]["replicaCount"] == 1


def test_metrics_server_is_skipped_where_the_cloud_runs_one_and_keda_without_prometheus():
    plan = _plan("prod", install_metrics_server=False, prometheus_url=None)
    names = {r.name for r in plan.of_type(RELEASE)}
    assert "serving-metrics-server" not in names and "serving-keda" not in names
    assert {"serving-kserve", "serving-ingress-nginx", "serving-cert-manager"} <= names


def test_models_are_ordered_after_the_controllers():
    from mlinfra.spec import ModelSpec

    args = ServingClusterArgs(
        spec=_serving("prod"), cloud="aws", environment="prod", labels=OWNER_LABELS, prometheus_url=PROMETHEUS
    )
    model = ModelSpec(name="llm", gpu_pool="a10g", gpus=1)
    plan = plan_of(_program(args, models=[model]))
    isvc = plan.one("kubernetes:serving.kserve.io/v1beta1:InferenceService")
    for release in ("serving-kserve", "serving-ingress-nginx", "serving-cert-manager"):
        assert plan.one(RELEASE, release).urn in isvc.dependencies
    assert plan.one("kubernetes:serving.kserve.io/v1alpha1:ServingRuntime").urn in isvc.dependencies
    scaled = plan.one("kubernetes:keda.sh/v1alpha1:ScaledObject")
    assert plan.one(RELEASE, "serving-keda").urn in scaled.dependencies
    assert isvc.inputs["metadata"]["namespace"] == "serving"
    assert isvc.inputs["metadata"]["labels"]["environment"] == "prod"
    assert plan.outputs["namespace"] == "serving"


# --------------------------------------------------------------------------- bad inputs


def _refused(args_kw: dict[str, Any]) -> tuple[str, Plan]:
    caught: dict[str, str] = {}

    def program():
        provider = k8s.Provider("k8s", kubeconfig="{}")
        kw = dict(spec=_serving("prod"), cloud="aws", environment="prod", labels=OWNER_LABELS)
        kw.update(args_kw)
        try:
            ServingCluster(
                "serving", ServingClusterArgs(**kw), opts=pulumi.ResourceOptions(provider=provider)
            )
        except ValueError as e:
            caught["error"] = str(e)

    plan = plan_of(program)
    assert "error" in caught, "expected a ValueError"
    return caught["error"], plan


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"labels": {"owner": "ml-platform"}}, "labels"),
        ({"kubernetes_version": "1.29"}, "kubernetes_version"),
        ({"cloud": "oci"}, "cloud"),
        ({"spec": _serving("prod", enabled=False)}, "spec.enabled"),
        ({"cloud": "kubernetes"}, "load_balancer_annotations"),
    ],
)
def test_bad_input_is_refused_before_any_child(kw: dict[str, Any], field: str):
    message, plan = _refused(kw)
    assert message.startswith(f"{field}:"), message
    assert [r.type for r in plan.resources] == ["pulumi:providers:kubernetes"]


def test_kubernetes_cloud_takes_explicit_load_balancer_annotations():
    plan = _plan(
        "prod", cloud="kubernetes", load_balancer_annotations={"metallb.universe.tf/address-pool": "private"}
    )
    annotations = _release(plan, "ingress-nginx")["values"]["controller"]["service"]["annotations"]
    assert annotations == {"metallb.universe.tf/address-pool": "private"}
