"""The runtime contract, row by row: what each runtime's pod runs (command, args, ports, probes,
model path), how its files arrive (init container, restricted, the pod's identity) and what it
scales on. A new runtime is one row in mlinfra/k8s/serving/runtimes.py plus its entry in EXPECTED."""

from __future__ import annotations

from typing import Any

import pytest

from mlinfra.k8s import metrics as m
from mlinfra.k8s.charts import KSERVE
from mlinfra.k8s.serving import RUNTIME_TABLE
from mlinfra.offline import Plan
from mlinfra.policy.rules.kubernetes import image_pinned
from mlinfra.spec import RUNTIMES, ModelSpec
from tests.k8s.models import deployment_args, plan_model

LABELS = {"owner": "ml-platform", "cost-center": "cc-1234", "environment": "dev"}
IRSA = {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/acme-dev-m"}
URI = "s3://acme-dev-artifacts/models/m/v1/"


# Per runtime: the model spec, then the upstream contract its pod must show.
EXPECTED: dict[str, dict[str, Any]] = {
    "kserve": {
        "spec": {"runtime": "kserve"},
        "image": "kserve/huggingfaceserver:v0.15.2-gpu",
        "command": None,  # the image's ENTRYPOINT: python3 -m huggingfaceserver
        "args": ["--model_name=m", "--model_dir=/mnt/models", "--http_port=8080"],
        "ports": {"http": 8080},
        "probes": ("/v2/health/live", "/v2/health/ready"),
        "metrics_target": "http",
        # vLLM's gauges on the vLLM backend, else the requests in flight at the ingress
        "load": [m.VLLM_REQUESTS_RUNNING, m.VLLM_REQUESTS_WAITING, m.NGINX_REQUEST_DURATION_SUM],
    },
    "vllm": {
        "spec": {"runtime": "vllm"},
        "image": "vllm/vllm-openai:v0.11.0",
        "command": ["vllm", "serve"],
        "args": ["/mnt/models", "--served-model-name", "m", "--host", "0.0.0.0", "--port", "8000"],
        "ports": {"http": 8000},
        "probes": ("/health", "/health"),
        "metrics_target": "http",
        "load": [m.VLLM_REQUESTS_RUNNING, m.VLLM_REQUESTS_WAITING],
    },
    "triton": {
        "spec": {"runtime": "triton"},
        "image": "nvcr.io/nvidia/tritonserver:25.09-py3",
        "command": ["tritonserver"],
        "args": [
            "--model-repository=/mnt/models",
            "--http-port=8000",
            "--metrics-port=8002",
            "--allow-grpc=false",
            "--model-control-mode=none",
            "--strict-readiness=true",
            "--exit-on-error=true",
        ],
        "ports": {"http": 8000, "metrics": 8002},
        "probes": ("/v2/health/live", "/v2/health/ready"),
        "metrics_target": "metrics",
        "load": [m.TRITON_PENDING_REQUESTS],
    },
    "image": {
        "spec": {
            "runtime": "image",
            "image": "ghcr.io/acme/llm-server:2.3.1",
            "command": ["/app/serve"],
            "args": ["--model", "/mnt/models"],
            "port": 9000,
            "health_path": "/healthz",
            "load_metric": "llm_server_queue_depth",
        },
        "image": "ghcr.io/acme/llm-server:2.3.1",
        "command": ["/app/serve"],
        "args": ["--model", "/mnt/models"],
        "ports": {"http": 9000},
        "probes": ("/healthz", "/healthz"),
        "metrics_target": "http",
        "load": ["llm_server_queue_depth"],
    },
}


def test_every_runtime_has_a_row_and_a_contract_test():
    assert set(RUNTIME_TABLE) == set(RUNTIMES) == set(EXPECTED)


def _model(runtime: str) -> ModelSpec:
    return ModelSpec.model_validate(
        {"name": "m", "gpu_pool": "a10g", "version": "v1/", **EXPECTED[runtime]["spec"]}
    )


def _plan(model: ModelSpec, **kw: Any) -> Plan:
    defaults = {"storage_uri": URI, "service_account_annotations": IRSA, "labels": LABELS}
    return plan_model(deployment_args(model, **{**defaults, **kw}), "m")


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def runtime(request) -> tuple[str, Plan]:
    return request.param, _plan(_model(request.param))


def _pod(plan: Plan) -> tuple[dict[str, Any], dict[str, Any]]:
    isvcs = plan.of_type("kubernetes:serving.kserve.io/v1beta1:InferenceService")
    if isvcs:
        predictor = isvcs[0].inputs["spec"]["predictor"]
        return predictor, predictor["model"]
    pod = plan.one("kubernetes:apps/v1:Deployment").inputs["spec"]["template"]["spec"]
    return pod, pod["containers"][0]


def test_server_command_args_and_image(runtime):
    name, plan = runtime
    want = EXPECTED[name]
    _, server = _pod(plan)
    assert server["image"] == want["image"]
    assert server.get("command") == want["command"]
    assert server["args"] == want["args"]


def test_ports_and_probes(runtime):
    name, plan = runtime
    want = EXPECTED[name]
    _, server = _pod(plan)
    assert {p["name"]: p["containerPort"] for p in server["ports"]} == want["ports"]
    live, ready = want["probes"]
    assert server["livenessProbe"]["httpGet"] == {"path": live, "port": "http"}
    assert server["startupProbe"]["httpGet"] == {"path": live, "port": "http"}
    assert server["readinessProbe"]["httpGet"] == {"path": ready, "port": "http"}


def test_model_path_cache_and_metrics_port(runtime):
    name, plan = runtime
    pod, server = _pod(plan)
    mounts = {v["mountPath"]: v for v in server["volumeMounts"]}
    assert mounts["/mnt/models"]["readOnly"] is True
    env = {e["name"]: e["value"] for e in server["env"]}
    assert env["HOME"] == "/cache" and env["TMPDIR"] == "/tmp"  # writable under a read-only root
    # uid 1000 may have no passwd entry in the image: getpass.getuser() (PyTorch's inductor cache)
    # must find a name in the environment, and the compile cache must be writable
    assert env["USER"]
    assert env["TORCHINDUCTOR_CACHE_DIR"].startswith("/cache/")
    services = plan.of_type("kubernetes:core/v1:Service")
    metrics_ports = [p for s in services for p in s.inputs["spec"]["ports"] if p["name"] == "metrics"]
    assert [p["targetPort"] for p in metrics_ports] == [EXPECTED[name]["metrics_target"]]


def test_model_download_with_the_pods_identity_under_restricted(runtime):
    _, plan = runtime
    pod, _ = _pod(plan)
    (init,) = pod["initContainers"]
    assert init["command"] == ["aws", "s3", "sync", URI, "/mnt/models", "--no-progress", "--only-show-errors"]
    sc = init["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}
    assert pod["serviceAccountName"] == "m" and pod["automountServiceAccountToken"] is False
    sa = plan.one("kubernetes:core/v1:ServiceAccount").inputs
    assert sa["metadata"]["annotations"] == IRSA


def test_scales_on_the_runtimes_load_metric(runtime):
    name, plan = runtime
    (scaled,) = plan.of_type("kubernetes:keda.sh/v1alpha1:ScaledObject")
    query = scaled.inputs["spec"]["triggers"][0]["metadata"]["query"]
    assert m.metric_names(query) == set(EXPECTED[name]["load"])


# --------------------------------------------------------------------------- the table against upstream


def test_default_images_are_pinned():
    for row in RUNTIME_TABLE.values():
        for image in (row.image, row.cpu_image):
            if image is not None:
                assert image_pinned(image), (row.name, image)


def test_kserve_runtime_image_is_the_release_of_the_pinned_kserve_chart():
    row = RUNTIME_TABLE["kserve"]
    assert row.image == f"kserve/huggingfaceserver:{KSERVE.version}-gpu"
    assert row.cpu_image == f"kserve/huggingfaceserver:{KSERVE.version}"


def test_load_metrics_are_known_metric_names():
    for row in RUNTIME_TABLE.values():
        if row.load is not None:
            assert set(row.load.metrics) <= m.KNOWN_METRICS, row.name
            assert row.load.default_target > 0


def test_cpu_only_kserve_model_gets_the_cpu_build():
    model = ModelSpec(name="m", runtime="kserve", version="v1/")
    plan = _plan(model, scheduling=None)
    _, server = _pod(plan)
    assert server["image"] == "kserve/huggingfaceserver:v0.15.2"


def test_image_runtime_without_a_load_metric_scales_on_cpu():
    spec = {k: v for k, v in EXPECTED["image"]["spec"].items() if k != "load_metric"}
    plan = _plan(ModelSpec.model_validate({"name": "m", "gpu_pool": "a10g", **spec}))
    assert plan.of_type("kubernetes:keda.sh/v1alpha1:ScaledObject") == []
    assert (
        plan.one("kubernetes:autoscaling/v2:HorizontalPodAutoscaler").inputs["spec"]["metrics"][0]["type"]
        == "Resource"
    )
