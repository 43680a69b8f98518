"""ModelDeployment: restricted pods, GPUs, scheduling, scaling, PDB and TLS Ingress for both runtimes."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from mlinfra.catalog import SUPPORTED_KUBERNETES_VERSIONS
from mlinfra.k8s.scheduling import Scheduling, gpu_scheduling
from mlinfra.k8s.serving import MODEL_SERVER_LABEL, ModelDeployment, ModelDeploymentArgs
from mlinfra.offline import Plan
from mlinfra.policy.rules.kubernetes import RESTRICTED_VOLUME_TYPES  # the policy's own list
from mlinfra.spec import CanarySpec, ModelSpec
from tests.conftest import plan_of
from tests.k8s.k8s_schema import validate_core_objects

LABELS = {"owner": "ml-platform", "cost-center": "cc-1234", "environment": "prod"}
IRSA = {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/acme-prod-llm"}
ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
PROVIDER_URN_SUFFIX = "pulumi:providers:kubernetes::k8s"


KSERVE_MODEL = ModelSpec(name="llm", gpu_pool="a10g", gpus=1, cpu="4", memory="16Gi")
VLLM_MODEL = ModelSpec(
    name="chat",
    runtime="deployment",
    image="vllm/vllm-openai:v0.6.3",
    gpu_pool="a10g",
    gpus=2,
    cpu="8",
    memory="32Gi",
    min_replicas=2,
    max_replicas=5,
    port=8000,
    target_utilization_percent=60,
)
CPU_MODEL = ModelSpec(
    name="ranker", runtime="deployment", image="ghcr.io/acme/ranker@sha256:" + "a" * 64, gpus=0
)


def _args(model: ModelSpec, **kw: Any) -> ModelDeploymentArgs:
    base: dict[str, Any] = dict(
        model=model,
        namespace="serving",
        domain="models.acme.test",
        ingress_class="mlinfra-nginx",
        cluster_issuer="mlinfra-letsencrypt",
        storage_uri=f"s3://acme-prod-artifacts/models/{model.name}/",
        service_account_annotations=IRSA,
        scheduling=gpu_scheduling(model.gpu_pool) if model.gpus else None,
        labels=LABELS,
    )
    base.update(kw)
    return ModelDeploymentArgs(**base)


def _plan(args: ModelDeploymentArgs) -> Plan:
    def program():
        provider = k8s.Provider("k8s", kubeconfig="{}")
        md = ModelDeployment(args.model.name, args, opts=pulumi.ResourceOptions(provider=provider))
        pulumi.export("host", md.host)
        pulumi.export("url", md.url)
        pulumi.export("service_account_name", md.service_account_name)

    return plan_of(program)


@pytest.fixture(scope="module")
def kserve() -> Plan:
    return _plan(_args(KSERVE_MODEL))


@pytest.fixture(scope="module")
def vllm() -> Plan:
    return _plan(_args(VLLM_MODEL))


def _isvc_pod(plan: Plan) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    predictor = plan.one(ISVC).inputs["spec"]["predictor"]
    return predictor, [predictor["model"]]


def _deployment_pod(plan: Plan) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    pod = plan.one(DEPLOYMENT).inputs["spec"]["template"]["spec"]
    return pod, pod["containers"]


def _pod(plan: Plan) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return _isvc_pod(plan) if plan.of_type(ISVC) else _deployment_pod(plan)


RUNTIMES = ["kserve", "vllm"]


@pytest.fixture(params=RUNTIMES)
def any_runtime(request, kserve: Plan, vllm: Plan) -> Plan:
    return {"kserve": kserve, "vllm": vllm}[request.param]


# --------------------------------------------------------------------------- schema, providers, outputs


@pytest.mark.parametrize("version", SUPPORTED_KUBERNETES_VERSIONS)
def test_core_objects_match_the_kubernetes_schema(kserve: Plan, vllm: Plan, version: str):
    # kserve: ServiceAccount, metrics Service, PDB, Ingress; vllm adds Deployment, Service, HPA
    assert validate_core_objects(kserve, version) == 4
    assert validate_core_objects(vllm, version) == 6


def test_children_use_the_explicit_provider_and_no_warning(any_runtime: Plan):
    for r in any_runtime.resources:
        if r.type.startswith("kubernetes:"):
            assert r.provider and r.provider.endswith(PROVIDER_URN_SUFFIX), r.name
            assert r.parent and "mlinfra:k8s:ModelDeployment::" in r.parent
    assert any_runtime.warnings == []


def test_outputs(vllm: Plan):
    assert vllm.outputs == {
        "host": "chat.models.acme.test",
        "url": "https://chat.models.acme.test",
        "service_account_name": "chat",
    }


# --------------------------------------------------------------------------- Pod Security restricted


def test_pod_meets_pod_security_restricted(any_runtime: Plan):
    pod, containers = _pod(any_runtime)
    sc = pod["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["runAsUser"] > 0 and sc["runAsGroup"] > 0 and sc["fsGroup"] > 0
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(key), key
    assert pod["automountServiceAccountToken"] is False
    for volume in pod["volumes"]:
        types = set(volume) - {"name"}
        assert types <= RESTRICTED_VOLUME_TYPES, volume
        assert "hostPath" not in volume
    for c in containers:
        csc = c["securityContext"]
        assert csc["allowPrivilegeEscalation"] is False
        assert csc["capabilities"] == {"drop": ["ALL"]}
        assert csc["privileged"] is False
        assert csc["readOnlyRootFilesystem"] is True
        assert csc["runAsNonRoot"] is True
        assert all("hostPort" not in p for p in c["ports"])


def test_scratch_space_is_mounted_for_a_read_only_root(any_runtime: Plan):
    pod, (container,) = _pod(any_runtime)
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes["tmp"] and "emptyDir" in volumes["model-cache"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts["/tmp"] == "tmp" and mounts["/model-cache"] == "model-cache"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["HF_HOME"].startswith("/model-cache/")


# --------------------------------------------------------------------------- resources, scheduling, probes


@pytest.mark.parametrize(
    ("runtime", "gpus", "cpu", "memory"), [("kserve", "1", "4", "16Gi"), ("vllm", "2", "8", "32Gi")]
)
def test_gpu_cpu_memory_requests_equal_limits(kserve: Plan, vllm: Plan, runtime, gpus, cpu, memory):
    _, (container,) = _pod({"kserve": kserve, "vllm": vllm}[runtime])
    expected = {"cpu": cpu, "memory": memory, "nvidia.com/gpu": gpus}
    assert container["resources"]["requests"] == expected
    assert container["resources"]["limits"] == expected


def test_cpu_only_model_requests_no_gpu_and_needs_no_scheduling():
    plan = _plan(_args(CPU_MODEL, scheduling=None))
    pod, (container,) = _deployment_pod(plan)
    assert "nvidia.com/gpu" not in container["resources"]["limits"]
    assert "tolerations" not in pod and "nodeSelector" not in pod
    assert container["image"] == CPU_MODEL.image


def test_gpu_toleration_and_pool_selector(any_runtime: Plan):
    pod, _ = _pod(any_runtime)
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["nodeSelector"] == {"mlinfra.io/pool": "a10g"}


def test_custom_scheduling_is_used_as_given():
    sched = Scheduling(
        tolerations=[{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}],
        node_selector={"node.kubernetes.io/instance-type": "g5.2xlarge"},
    )
    pod, _ = _deployment_pod(_plan(_args(VLLM_MODEL, scheduling=sched)))
    assert pod["tolerations"] == sched.tolerations
    assert pod["nodeSelector"] == sched.node_selector


def test_probes_on_the_health_path(any_runtime: Plan):
    _, (container,) = _pod(any_runtime)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}, probe
    # a slow model load gets minutes before liveness may restart it
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600


def test_container_port_is_named_http(vllm: Plan, kserve: Plan):
    assert _pod(vllm)[1][0]["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert _pod(kserve)[1][0]["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]


def test_topology_spread_across_zones(any_runtime: Plan):
    pod, _ = _pod(any_runtime)
    zone = [t for t in pod["topologySpreadConstraints"] if t["topologyKey"] == "topology.kubernetes.io/zone"]
    assert len(zone) == 1 and zone[0]["maxSkew"] == 1
    assert zone[0]["labelSelector"]["matchLabels"]["mlinfra.io/model"] in ("llm", "chat")


# --------------------------------------------------------------------------- identity


def test_service_account_binds_the_cloud_identity_without_an_api_token(any_runtime: Plan):
    sa = any_runtime.one("kubernetes:core/v1:ServiceAccount").inputs
    assert sa["automountServiceAccountToken"] is False
    assert sa["metadata"]["annotations"] == IRSA
    pod, _ = _pod(any_runtime)
    assert pod["serviceAccountName"] == sa["metadata"]["name"]


def test_pod_labels_are_added_for_workload_identity():
    plan = _plan(_args(VLLM_MODEL, pod_labels={"azure.workload.identity/use": "true"}))
    labels = plan.one(DEPLOYMENT).inputs["spec"]["template"]["metadata"]["labels"]
    assert labels["azure.workload.identity/use"] == "true"
    assert labels[MODEL_SERVER_LABEL] == "true"
    assert labels["owner"] == "ml-platform" and labels["environment"] == "prod"


# --------------------------------------------------------------------------- runtime "deployment"


def test_deployment_leaves_the_replica_count_to_the_hpa(vllm: Plan):
    spec = vllm.one(DEPLOYMENT).inputs["spec"]
    assert "replicas" not in spec
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    assert spec["template"]["spec"]["containers"][0]["image"] == "vllm/vllm-openai:v0.6.3"


def test_hpa_scales_on_cpu_between_min_and_max(vllm: Plan):
    spec = vllm.one("kubernetes:autoscaling/v2:HorizontalPodAutoscaler").inputs["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "chat"}
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 5)
    assert spec["metrics"] == [
        {
            "type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}},
        }
    ]


def test_service_is_marked_for_the_service_monitor(vllm: Plan):
    svc = vllm.one("kubernetes:core/v1:Service").inputs
    assert svc["metadata"]["labels"][MODEL_SERVER_LABEL] == "true"
    ports = {p["name"]: p for p in svc["spec"]["ports"]}
    assert ports["http"]["port"] == 80 and ports["http"]["targetPort"] == "http"
    assert ports["metrics"]["targetPort"] == "http"
    assert svc["spec"]["selector"] == {"mlinfra.io/model": "chat", "mlinfra.io/track": "stable"}


def test_storage_uri_reaches_a_plain_model_server(vllm: Plan):
    env = {e["name"]: e["value"] for e in _pod(vllm)[1][0]["env"]}
    assert env["MODEL_STORAGE_URI"] == "s3://acme-prod-artifacts/models/chat/"


# --------------------------------------------------------------------------- runtime "kserve"


def test_inference_service_in_raw_deployment_mode(kserve: Plan):
    isvc = kserve.one(ISVC).inputs
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1" and isvc["kind"] == "InferenceService"
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"
    predictor = isvc["spec"]["predictor"]
    assert predictor["model"]["modelFormat"] == {"name": "huggingface"}
    assert predictor["model"]["storageUri"] == "s3://acme-prod-artifacts/models/llm/"
    assert (
        "canaryTrafficPercent" not in predictor
    )  # raw mode ignores it; canaries are weighted at the ingress
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (1, 2)
    assert (predictor["scaleMetric"], predictor["scaleTarget"]) == ("cpu", 70)
    assert predictor["labels"][MODEL_SERVER_LABEL] == "true"


def test_no_canary_without_a_canary(kserve: Plan, vllm: Plan):
    for plan in (kserve, vllm):
        assert len(plan.of_type(INGRESS)) == 1
        assert all(
            r.inputs["metadata"]["labels"].get("mlinfra.io/track", "stable") == "stable"
            for r in plan.resources
            if r.type.startswith("kubernetes:")
            and "metadata" in r.inputs
            and r.type != "kubernetes:core/v1:ServiceAccount"
        )


def _canary_plan(model: ModelSpec, **kw: Any) -> Plan:
    return _plan(_args(model, **kw))


def test_kserve_canary_is_a_second_inference_service_weighted_at_the_ingress():
    model = KSERVE_MODEL.model_copy(
        update={"canary": CanarySpec(traffic_percent=10, version="v2/", max_replicas=2)}
    )
    plan = _canary_plan(model, canary_storage_uri="s3://acme-prod-artifacts/models/llm/v2/")
    isvcs = {r.inputs["metadata"]["name"]: r.inputs for r in plan.of_type(ISVC)}
    assert set(isvcs) == {"llm", "llm-canary"}
    assert isvcs["llm"]["spec"]["predictor"]["model"]["storageUri"] == "s3://acme-prod-artifacts/models/llm/"
    canary = isvcs["llm-canary"]["spec"]["predictor"]
    assert canary["model"]["storageUri"] == "s3://acme-prod-artifacts/models/llm/v2/"
    assert (canary["minReplicas"], canary["maxReplicas"]) == (1, 2)
    assert canary["serviceAccountName"] == "llm"  # same identity, reads under the model's prefix
    assert canary["labels"]["mlinfra.io/track"] == "canary"
    ingresses = {r.inputs["metadata"]["name"]: r.inputs for r in plan.of_type(INGRESS)}
    stable_ing, canary_ing = ingresses["llm"], ingresses["llm-canary"]
    assert stable_ing["spec"]["rules"][0]["host"] == canary_ing["spec"]["rules"][0]["host"]
    backend = canary_ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
    assert backend == "llm-canary-predictor"
    notes = canary_ing["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/canary"] == "true"
    assert notes["nginx.ingress.kubernetes.io/canary-weight"] == "10"
    assert "cert-manager.io/cluster-issuer" not in notes  # one Certificate per host
    assert canary_ing["spec"]["tls"] == stable_ing["spec"]["tls"]
    assert len(plan.of_type(PDB)) == 2
    validate_core_objects(plan)


def test_deployment_canary_runs_the_new_image_on_its_own_pods():
    model = VLLM_MODEL.model_copy(
        update={"canary": CanarySpec(traffic_percent=25, image="vllm/vllm-openai:v0.6.4")}
    )
    plan = _canary_plan(model)
    deployments = {r.inputs["metadata"]["name"]: r.inputs for r in plan.of_type(DEPLOYMENT)}
    assert set(deployments) == {"chat", "chat-canary"}
    images = {n: d["spec"]["template"]["spec"]["containers"][0]["image"] for n, d in deployments.items()}
    assert images == {"chat": "vllm/vllm-openai:v0.6.3", "chat-canary": "vllm/vllm-openai:v0.6.4"}
    selectors = {n: d["spec"]["selector"]["matchLabels"] for n, d in deployments.items()}
    assert (
        selectors["chat"]["mlinfra.io/track"] == "stable"
        and selectors["chat-canary"]["mlinfra.io/track"] == "canary"
    )
    services = {r.inputs["metadata"]["name"]: r.inputs for r in plan.of_type("kubernetes:core/v1:Service")}
    assert services["chat"]["spec"]["selector"] == selectors["chat"]  # stable traffic never hits canary pods
    assert services["chat-canary"]["spec"]["selector"] == selectors["chat-canary"]
    weights = [
        r.inputs["metadata"]["annotations"].get("nginx.ingress.kubernetes.io/canary-weight")
        for r in plan.of_type(INGRESS)
    ]
    assert sorted(w for w in weights if w) == ["25"]
    validate_core_objects(plan)


def test_canary_with_a_new_prefix_needs_its_uri():
    model = KSERVE_MODEL.model_copy(update={"canary": CanarySpec(traffic_percent=5, version="v2/")})
    with pytest.raises(ValueError, match="canary_storage_uri"):
        ModelDeployment("x", _args(model))


def test_kserve_metrics_service_selects_the_predictor_pods(kserve: Plan):
    svc = kserve.one("kubernetes:core/v1:Service").inputs
    assert svc["metadata"]["labels"][MODEL_SERVER_LABEL] == "true"
    assert svc["spec"]["selector"] == {"serving.kserve.io/inferenceservice": "llm"}
    assert [p["name"] for p in svc["spec"]["ports"]] == ["metrics"]


# --------------------------------------------------------------------------- PDB and Ingress


@pytest.mark.parametrize(
    ("runtime", "selector"),
    [
        ("kserve", {"serving.kserve.io/inferenceservice": "llm"}),
        ("vllm", {"mlinfra.io/model": "chat", "mlinfra.io/track": "stable"}),
    ],
)
def test_pdb_allows_one_disruption(kserve: Plan, vllm: Plan, runtime: str, selector: dict[str, str]):
    spec = (
        {"kserve": kserve, "vllm": vllm}[runtime]
        .one("kubernetes:policy/v1:PodDisruptionBudget")
        .inputs["spec"]
    )
    assert spec["maxUnavailable"] == 1 and "minAvailable" not in spec
    assert spec["selector"] == {"matchLabels": selector}
    assert spec["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


@pytest.mark.parametrize(
    ("runtime", "host", "backend"),
    [("kserve", "llm.models.acme.test", "llm-predictor"), ("vllm", "chat.models.acme.test", "chat")],
)
def test_ingress_has_tls_from_the_cluster_issuer(
    kserve: Plan, vllm: Plan, runtime: str, host: str, backend: str
):
    ing = {"kserve": kserve, "vllm": vllm}[runtime].one("kubernetes:networking.k8s.io/v1:Ingress").inputs
    assert ing["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "mlinfra-letsencrypt"
    assert ing["spec"]["ingressClassName"] == "mlinfra-nginx"
    assert ing["spec"]["tls"] == [
        {"hosts": [host], "secretName": f"{backend.removesuffix('-predictor')}-tls"}
    ]
    (rule,) = ing["spec"]["rules"]
    assert rule["host"] == host
    (path,) = rule["http"]["paths"]
    assert path["backend"] == {"service": {"name": backend, "port": {"number": 80}}}


# --------------------------------------------------------------------------- bad inputs


def _refused(args: ModelDeploymentArgs) -> tuple[str, Plan]:
    caught: dict[str, str] = {}

    def program():
        provider = k8s.Provider("k8s", kubeconfig="{}")
        try:
            ModelDeployment(args.model.name, args, opts=pulumi.ResourceOptions(provider=provider))
        except ValueError as e:
            caught["error"] = str(e)

    plan = plan_of(program)
    assert "error" in caught, "expected a ValueError"
    return caught["error"], plan


def _unvalidated(**kw: Any) -> ModelSpec:
    """A ModelSpec that skips the spec's validators (direct use of the component)."""
    base = ModelSpec(name="chat", runtime="deployment", image="vllm/vllm-openai:v0.6.3", gpus=0).model_dump()
    base.update(kw)
    return ModelSpec.model_construct(**base)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (_args(KSERVE_MODEL, scheduling=None), "scheduling"),
        (_args(_unvalidated(image="vllm/vllm-openai:latest")), "model.image"),
        (_args(_unvalidated(image="vllm/vllm-openai")), "model.image"),
        (_args(_unvalidated(image=None)), "model.image"),
        (_args(_unvalidated(min_replicas=0)), "model.min_replicas"),
        (_args(KSERVE_MODEL, storage_uri=None), "storage_uri"),
        (_args(VLLM_MODEL, labels={"owner": "ml-platform", "environment": "prod"}), "labels"),
        (_args(VLLM_MODEL, labels={"owner": "ml-platform", "cost-center": "cc-1234"}), "labels"),
    ],
)
def test_bad_input_is_refused_before_any_child(args: ModelDeploymentArgs, field: str):
    message, plan = _refused(args)
    assert message.startswith(f"{field}:"), message
    assert [r.type for r in plan.resources] == ["pulumi:providers:kubernetes"]


def test_digest_pinned_image_is_accepted():
    plan = _plan(_args(CPU_MODEL, scheduling=None))
    assert (
        plan.one(DEPLOYMENT).inputs["spec"]["template"]["spec"]["containers"][0]["image"].endswith("a" * 64)
    )
