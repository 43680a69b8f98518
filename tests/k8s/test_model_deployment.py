"""ModelDeployment: restricted pods, GPUs, scheduling, the model download, autoscaling, PDB and TLS
Ingress, for a KServe InferenceService and a Deployment runtime."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from mlinfra.catalog import SUPPORTED_KUBERNETES_VERSIONS
from mlinfra.k8s.charts import KSERVE_CRD
from mlinfra.k8s.scheduling import Scheduling
from mlinfra.k8s.serving import MODEL_SERVER_LABEL, STARTUP_BUDGET_S, ModelDeployment, ModelDeploymentArgs
from mlinfra.offline import Plan
from mlinfra.policy.rules.kubernetes import RESTRICTED_VOLUME_TYPES  # the policy's own list
from mlinfra.spec import CanarySpec, ModelSpec, SpecError, check_model_autoscaling
from tests.conftest import plan_of
from tests.k8s.chart_data import validate_custom_resource
from tests.k8s.k8s_schema import validate_core_objects
from tests.k8s.models import deployment_args, plan_model

LABELS = {"owner": "ml-platform", "cost-center": "cc-1234", "environment": "prod"}
IRSA = {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/acme-prod-llm"}
ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
PROVIDER_URN_SUFFIX = "pulumi:providers:kubernetes::k8s"


KSERVE_MODEL = ModelSpec(name="llm", gpu_pool="a10g", gpus=1, cpu="4", memory="16Gi")
VLLM_MODEL = ModelSpec(
    name="chat",
    runtime="vllm",
    image="vllm/vllm-openai:v0.6.3",
    gpu_pool="a10g",
    gpus=2,
    cpu="8",
    memory="32Gi",
    min_replicas=2,
    max_replicas=5,
    load_target=8,
    args=["--max-model-len", "8192"],
)
CPU_MODEL = ModelSpec(
    name="ranker",
    runtime="image",
    image="ghcr.io/acme/ranker@sha256:" + "a" * 64,
    command=["python", "-m", "ranker.serve"],
    gpus=0,
)


def _args(model: ModelSpec, **kw: Any) -> ModelDeploymentArgs:
    return deployment_args(model, **{"service_account_annotations": IRSA, **kw})


def _plan(args: ModelDeploymentArgs) -> Plan:
    return plan_model(args)


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
    # kserve: ServiceAccount, metrics Service, PDB, Ingress; vllm: Deployment and one Service instead
    assert validate_core_objects(kserve, version) == 4
    assert validate_core_objects(vllm, version) == 5


def test_inference_service_matches_the_kserve_crd(kserve: Plan):
    validate_custom_resource(kserve.one(ISVC).inputs, KSERVE_CRD)


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
    assert pod["initContainers"]  # the model download runs restricted too
    for c in [*containers, *pod["initContainers"]]:
        csc = c["securityContext"]
        assert csc["allowPrivilegeEscalation"] is False
        assert csc["capabilities"] == {"drop": ["ALL"]}
        assert csc["privileged"] is False
        assert csc["readOnlyRootFilesystem"] is True
        assert csc["runAsNonRoot"] is True
        assert all("hostPort" not in p for p in c.get("ports", []))


def test_writable_dirs_are_empty_dirs_for_a_read_only_root(any_runtime: Plan):
    pod, (container,) = _pod(any_runtime)
    volumes = {v["name"]: v for v in pod["volumes"]}
    for name in ("tmp", "cache", "models", "dshm"):
        assert "emptyDir" in volumes[name], name
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/tmp"]["name"] == "tmp" and mounts["/cache"]["name"] == "cache"
    assert mounts["/mnt/models"] == {"name": "models", "mountPath": "/mnt/models", "readOnly": True}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["HOME"] == "/cache"
    assert env["HF_HOME"].startswith("/cache/") and env["VLLM_CACHE_ROOT"].startswith("/cache/")
    (download,) = pod["initContainers"]
    assert {m["mountPath"] for m in download["volumeMounts"]} == {"/mnt/models", "/tmp"}


# --------------------------------------------------------------------------- resources, scheduling, probes


@pytest.mark.parametrize(
    ("runtime", "gpus", "cpu", "memory"), [("kserve", "1", "4", "16Gi"), ("vllm", "2", "8", "32Gi")]
)
def test_gpu_cpu_memory_requests_equal_limits(kserve: Plan, vllm: Plan, runtime, gpus, cpu, memory):
    _, (container,) = _pod({"kserve": kserve, "vllm": vllm}[runtime])
    expected = {"cpu": cpu, "memory": memory, "nvidia.com/gpu": gpus}
    assert container["resources"]["requests"] == expected
    assert container["resources"]["limits"] == expected


def test_cpu_only_image_model_runs_its_command_without_gpu_scheduling():
    plan = _plan(_args(CPU_MODEL, scheduling=None, storage_uri=None))
    pod, (container,) = _deployment_pod(plan)
    assert "nvidia.com/gpu" not in container["resources"]["limits"]
    assert "tolerations" not in pod and "affinity" not in pod and "nodeSelector" not in pod
    assert container["image"] == CPU_MODEL.image
    assert container["command"] == ["python", "-m", "ranker.serve"]
    assert "initContainers" not in pod  # no storage URI: the image carries its model
    # no load metric: CPU HPA (metrics-server)
    spec = plan.one(HPA).inputs["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "ranker"}
    assert spec["metrics"][0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}
    assert plan.of_type(SCALED_OBJECT) == []


def test_gpu_pods_require_the_accelerator_and_prefer_their_pool(any_runtime: Plan):
    pod, _ = _pod(any_runtime)
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert "nodeSelector" not in pod
    affinity = pod["affinity"]["nodeAffinity"]
    required = affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert required == [
        {"matchExpressions": [{"key": "mlinfra.io/accelerator", "operator": "In", "values": ["nvidia-a10g"]}]}
    ]
    preferred = {
        p["preference"]["matchExpressions"][0]["key"]: p["preference"]["matchExpressions"][0]["values"]
        for p in affinity["preferredDuringSchedulingIgnoredDuringExecution"]
    }
    assert preferred == {"mlinfra.io/pool": ["a10g"], "mlinfra.io/capacity-type": ["on-demand"]}


def test_custom_scheduling_is_used_as_given():
    sched = Scheduling(
        tolerations=[{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}],
        node_selector={"node.kubernetes.io/instance-type": "g5.2xlarge"},
    )
    pod, _ = _deployment_pod(_plan(_args(VLLM_MODEL, scheduling=sched)))
    assert pod["tolerations"] == sched.tolerations
    assert pod["nodeSelector"] == sched.node_selector


@pytest.mark.parametrize(
    ("runtime", "live", "ready", "port"),
    [("kserve", "/v2/health/live", "/v2/health/ready", 8080), ("vllm", "/health", "/health", 8000)],
)
def test_probes_on_the_runtimes_paths(kserve: Plan, vllm: Plan, runtime, live, ready, port):
    _, (container,) = _pod({"kserve": kserve, "vllm": vllm}[runtime])
    assert container["startupProbe"]["httpGet"] == {"path": live, "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": live, "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": ready, "port": "http"}
    assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    # a slow model load gets minutes before liveness may restart it
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600


def test_topology_spread_across_zones(any_runtime: Plan):
    pod, _ = _pod(any_runtime)
    zone = [t for t in pod["topologySpreadConstraints"] if t["topologyKey"] == "topology.kubernetes.io/zone"]
    assert len(zone) == 1 and zone[0]["maxSkew"] == 1
    assert zone[0]["labelSelector"]["matchLabels"]["mlinfra.io/model"] in ("llm", "chat")


def test_workload_waits_for_its_startup_budget(kserve: Plan, vllm: Plan):
    minutes = f"{STARTUP_BUDGET_S // 60}m"
    for record in (kserve.one(ISVC), vllm.one(DEPLOYMENT)):
        assert record.custom_timeouts == {"create": minutes, "update": minutes, "delete": "10m"}, record.name
    assert STARTUP_BUDGET_S >= 30 * 60 + 15 * 60  # startup probe + node scale-up, at least
    # Pulumi waits for a Deployment's rollout by itself; for the InferenceService it needs told
    assert kserve.one(ISVC).inputs["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"


# --------------------------------------------------------------------------- identity, download


def test_service_account_binds_the_cloud_identity_without_an_api_token(any_runtime: Plan):
    sa = any_runtime.one("kubernetes:core/v1:ServiceAccount").inputs
    assert sa["automountServiceAccountToken"] is False
    assert sa["metadata"]["annotations"] == IRSA
    pod, _ = _pod(any_runtime)
    assert pod["serviceAccountName"] == sa["metadata"]["name"]


def test_model_files_are_synced_into_the_model_dir_before_the_server(any_runtime: Plan):
    pod, _ = _pod(any_runtime)
    (download,) = pod["initContainers"]
    assert download["name"] == "model-download"
    assert download["image"] == "public.ecr.aws/aws-cli/aws-cli:2.27.0"
    uri = (
        "s3://acme-prod-artifacts/models/llm/"
        if any_runtime.of_type(ISVC)
        else "s3://acme-prod-artifacts/models/chat/"
    )
    assert download["command"][:5] == ["aws", "s3", "sync", uri, "/mnt/models"]
    env = {e["name"]: e["value"] for e in download["env"]}
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"  # never the node's instance profile
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(env)  # only the pod's identity
    assert download["resources"]["limits"]["memory"] and download["resources"]["limits"]["cpu"]


def test_pod_labels_are_added_for_workload_identity():
    plan = _plan(_args(VLLM_MODEL, pod_labels={"azure.workload.identity/use": "true"}))
    labels = plan.one(DEPLOYMENT).inputs["spec"]["template"]["metadata"]["labels"]
    assert labels["azure.workload.identity/use"] == "true"
    assert labels[MODEL_SERVER_LABEL] == "true"
    assert labels["owner"] == "ml-platform" and labels["environment"] == "prod"


# --------------------------------------------------------------------------- Deployment runtimes


def test_deployment_runs_the_runtimes_command_and_leaves_replicas_to_the_autoscaler(vllm: Plan):
    spec = vllm.one(DEPLOYMENT).inputs["spec"]
    assert "replicas" not in spec
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    (container,) = spec["template"]["spec"]["containers"]
    assert container["image"] == "vllm/vllm-openai:v0.6.3"
    assert container["command"] == ["vllm", "serve"]
    assert container["args"] == [
        "/mnt/models",
        "--served-model-name",
        "chat",
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
        "--max-model-len",
        "8192",
    ]


def test_vllm_scales_on_requests_in_flight_with_keda(vllm: Plan):
    record = vllm.one(SCALED_OBJECT)
    spec = record.inputs["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "chat"}
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (2, 5)
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "prometheus" and trigger["metricType"] == "AverageValue"
    meta = trigger["metadata"]
    assert meta["serverAddress"] == "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"
    assert meta["threshold"] == "8"  # load_target from the spec
    sel = 'namespace="serving", mlinfra_io_model="chat", mlinfra_io_track="stable"'
    assert (
        meta["query"] == f"sum(vllm:num_requests_running{{{sel}}}) + sum(vllm:num_requests_waiting{{{sel}}})"
    )
    assert vllm.of_type(HPA) == []  # KEDA owns the HPA
    assert vllm.one(DEPLOYMENT).urn in record.dependencies


def test_service_is_marked_for_the_service_monitor(vllm: Plan):
    svc = vllm.one("kubernetes:core/v1:Service").inputs
    assert svc["metadata"]["labels"][MODEL_SERVER_LABEL] == "true"
    assert svc["metadata"]["labels"]["mlinfra.io/track"] == "stable"
    ports = {p["name"]: p for p in svc["spec"]["ports"]}
    assert ports["http"]["port"] == 80 and ports["http"]["targetPort"] == "http"
    assert ports["metrics"]["targetPort"] == "http"  # vLLM serves /metrics on its API port
    assert svc["spec"]["selector"] == {"mlinfra.io/model": "chat", "mlinfra.io/track": "stable"}


# --------------------------------------------------------------------------- runtime "kserve"


def test_inference_service_on_our_runtime_in_raw_mode(kserve: Plan):
    isvc = kserve.one(ISVC).inputs
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1" and isvc["kind"] == "InferenceService"
    notes = isvc["metadata"]["annotations"]
    assert notes["serving.kserve.io/deploymentMode"] == "RawDeployment"
    assert notes["serving.kserve.io/autoscalerClass"] == "external"  # KEDA scales it, KServe makes no HPA
    predictor = isvc["spec"]["predictor"]
    model = predictor["model"]
    assert model["modelFormat"] == {"name": "huggingface"}
    assert model["runtime"] == "mlinfra-huggingface"
    assert model["image"] == "kserve/huggingfaceserver:v0.15.2-gpu"
    assert model["args"] == ["--model_name=llm", "--model_dir=/mnt/models", "--http_port=8080"]
    assert "storageUri" not in model  # our init container syncs the files, no storage initializer
    assert (
        "canaryTrafficPercent" not in predictor
    )  # raw mode ignores it; canaries are weighted at the ingress
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (1, 2)
    assert "scaleMetric" not in predictor
    assert predictor["labels"][MODEL_SERVER_LABEL] == "true"
    so = kserve.one(SCALED_OBJECT).inputs["spec"]
    assert so["scaleTargetRef"]["name"] == "llm-predictor"  # KServe raw mode's Deployment


def test_kserve_without_prometheus_scales_on_cpu_through_its_own_hpa():
    plan = _plan(_args(KSERVE_MODEL, prometheus_url=None))
    isvc = plan.one(ISVC).inputs
    assert isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] == "hpa"
    predictor = isvc["spec"]["predictor"]
    assert (predictor["scaleMetric"], predictor["scaleTarget"]) == ("cpu", 70)
    assert plan.of_type(SCALED_OBJECT) == [] and plan.of_type(HPA) == []


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


def test_kserve_canary_is_a_second_inference_service_that_answers_to_the_stable_name():
    model = KSERVE_MODEL.model_copy(
        update={"canary": CanarySpec(traffic_percent=10, version="v2/", max_replicas=2), "version": "v1/"}
    )
    plan = _canary_plan(
        model,
        storage_uri="s3://acme-prod-artifacts/models/llm/v1/",
        canary_storage_uri="s3://acme-prod-artifacts/models/llm/v2/",
    )
    isvcs = {r.inputs["metadata"]["name"]: r.inputs for r in plan.of_type(ISVC)}
    assert set(isvcs) == {"llm", "llm-canary"}
    stable, canary = isvcs["llm"]["spec"]["predictor"], isvcs["llm-canary"]["spec"]["predictor"]
    assert stable["initContainers"][0]["command"][3] == "s3://acme-prod-artifacts/models/llm/v1/"
    assert canary["initContainers"][0]["command"][3] == "s3://acme-prod-artifacts/models/llm/v2/"
    # KServe's own runtime would answer as `llm-canary` and 404 the canary's share of requests
    assert "--model_name=llm" in canary["model"]["args"]
    assert not any("llm-canary" in a for a in canary["model"]["args"])
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
    scaled = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in plan.of_type(SCALED_OBJECT)}
    assert 'mlinfra_io_track="canary"' in scaled["llm-canary"]["triggers"][0]["metadata"]["query"]
    assert scaled["llm-canary"]["scaleTargetRef"]["name"] == "llm-canary-predictor"
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
    canary_args = deployments["chat-canary"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert canary_args[1:3] == ["--served-model-name", "chat"]
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
    assert [(p["name"], p["targetPort"]) for p in svc["spec"]["ports"]] == [("metrics", "http")]


# --------------------------------------------------------------------------- PDB and Ingress


@pytest.mark.parametrize(
    ("runtime", "selector"),
    [
        ("kserve", {"serving.kserve.io/inferenceservice": "llm"}),
        ("vllm", {"mlinfra.io/model": "chat", "mlinfra.io/track": "stable"}),
    ],
)
def test_pdb_allows_one_disruption(kserve: Plan, vllm: Plan, runtime: str, selector: dict[str, str]):
    spec = {"kserve": kserve, "vllm": vllm}[runtime].one(PDB).inputs["spec"]
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
    ing = {"kserve": kserve, "vllm": vllm}[runtime].one(INGRESS).inputs
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
    base = ModelSpec(name="chat", runtime="vllm", gpus=0).model_dump()
    base.update(kw)
    return ModelSpec.model_construct(_fields_set={"name", "runtime", "gpus", *kw}, **base)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (_args(KSERVE_MODEL, scheduling=None), "scheduling"),
        (_args(_unvalidated(image="vllm/vllm-openai:latest")), "model.image"),
        (_args(_unvalidated(image="vllm/vllm-openai")), "model.image"),
        (_args(_unvalidated(min_replicas=0)), "model.min_replicas"),  # prod
        (
            _args(_unvalidated(min_replicas=0), labels={**LABELS, "environment": "dev"}, prometheus_url=None),
            "model.min_replicas",
        ),
        (_args(KSERVE_MODEL, storage_uri=None), "storage_uri"),
        (_args(VLLM_MODEL, storage_uri=None), "storage_uri"),
        (_args(VLLM_MODEL, storage_uri="gs://other-cloud/models/chat/"), "storage_uri"),
        (_args(VLLM_MODEL, prometheus_url=None), "model.load_target"),
        (_args(_unvalidated(target_utilization_percent=50)), "model.target_utilization_percent"),
        (_args(VLLM_MODEL, labels={"owner": "ml-platform", "environment": "prod"}), "labels"),
        (_args(VLLM_MODEL, labels={"owner": "ml-platform", "cost-center": "cc-1234"}), "labels"),
        (_args(VLLM_MODEL, startup_budget_s=600), "startup_budget_s"),
    ],
)
def test_bad_input_is_refused_before_any_child(args: ModelDeploymentArgs, field: str):
    message, plan = _refused(args)
    assert message.startswith(f"{field}:"), message
    assert [r.type for r in plan.resources] == ["pulumi:providers:kubernetes"]


def test_target_utilization_is_refused_whenever_set_and_unused():
    # any value, the old default 70 included: it would be accepted and never read
    for value in (50, 70):
        explicit = ModelSpec.model_validate({**VLLM_MODEL.model_dump(), "target_utilization_percent": value})
        with pytest.raises(SpecError, match="scales on requests in flight"):
            ModelDeployment("x", _args(explicit))
    # a spec that leaves it empty survives a round trip
    assert ModelSpec.model_validate(VLLM_MODEL.model_dump()).target_utilization_percent is None
    _plan(_args(ModelSpec.model_validate(VLLM_MODEL.model_dump())))


def test_cpu_scaled_models_get_the_default_target_where_it_is_read():
    from mlinfra.k8s.serving.autoscaling import DEFAULT_CPU_UTILIZATION_PERCENT

    hpa = _plan(_args(VLLM_MODEL.model_copy(update={"load_target": None}), prometheus_url=None)).one(HPA)
    target = hpa.inputs["spec"]["metrics"][0]["resource"]["target"]
    assert target == {"type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION_PERCENT}
    set_ = ModelSpec.model_validate(
        {**VLLM_MODEL.model_dump(), "load_target": None, "target_utilization_percent": 55}
    )
    hpa = _plan(_args(set_, prometheus_url=None)).one(HPA)
    assert hpa.inputs["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 55


def test_load_target_without_a_load_metric_is_refused_by_the_spec():
    base = {"name": "svc", "runtime": "image", "image": "example/server:1.0", "command": ["serve"]}
    with pytest.raises(SpecError, match="scales on CPU") as err:
        check_model_autoscaling(ModelSpec.model_validate({**base, "load_target": 4}), prometheus=True)
    assert err.value.field == "model.load_target"
    check_model_autoscaling(
        ModelSpec.model_validate({**base, "load_metric": "queue_depth", "load_target": 4}), prometheus=True
    )


def test_digest_pinned_image_is_accepted():
    plan = _plan(_args(CPU_MODEL, scheduling=None, storage_uri=None))
    assert (
        plan.one(DEPLOYMENT).inputs["spec"]["template"]["spec"]["containers"][0]["image"].endswith("a" * 64)
    )
