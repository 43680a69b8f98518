"""Load-based autoscaling: KEDA ScaledObjects valid against the pinned KEDA chart's CRD, scale to
zero with a wake-up trigger at the ingress, CPU only where no load metric exists."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from mlinfra.k8s import metrics as m
from mlinfra.k8s.charts import KEDA
from mlinfra.k8s.scheduling import accelerator_scheduling
from mlinfra.k8s.serving import ModelDeployment, ModelDeploymentArgs
from mlinfra.k8s.serving.autoscaling import COOLDOWN_PERIOD_S, SCALE_DOWN_STABILIZATION_S
from mlinfra.offline import Plan
from mlinfra.spec import CanarySpec, ModelSpec
from tests.k8s.chart_data import validate_custom_resource
from tests.k8s.models import deployment_args, plan_model

SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
DEV = {"owner": "ml-platform", "cost-center": "cc-1234", "environment": "dev"}


def _args(model: ModelSpec, **kw: Any) -> ModelDeploymentArgs:
    defaults = {
        "storage_uri": f"s3://acme-dev-artifacts/models/{model.name}/v1/",
        "canary_storage_uri": f"s3://acme-dev-artifacts/models/{model.name}/v2/",
        "scheduling": accelerator_scheduling("l4-spot", "nvidia-l4"),
        "labels": DEV,
        "cluster_issuer": "mlinfra-letsencrypt-staging",
    }
    return deployment_args(model, **{**defaults, **kw})


def _plan(model: ModelSpec, **kw: Any) -> Plan:
    return plan_model(_args(model, **kw))


MODELS = {
    "vllm": ModelSpec(name="chat", runtime="vllm", gpu_pool="l4-spot", version="v1/", max_replicas=4),
    "kserve": ModelSpec(
        name="rerank",
        gpu_pool="l4-spot",
        version="v1/",
        canary=CanarySpec(traffic_percent=10, version="v2/"),
    ),
    "triton": ModelSpec(name="embed", runtime="triton", gpu_pool="l4-spot", version="v1/", load_target=2),
    "zero": ModelSpec(name="draft", runtime="vllm", gpu_pool="l4-spot", version="v1/", min_replicas=0),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def scaled(request) -> list[dict[str, Any]]:
    return [r.inputs for r in _plan(MODELS[request.param]).of_type(SCALED_OBJECT)]


def test_scaled_objects_are_valid_against_the_keda_crd(scaled):
    assert scaled
    for obj in scaled:
        validate_custom_resource(obj, KEDA)


def test_the_crd_check_catches_a_misspelt_field(scaled):
    obj = {**scaled[0], "spec": {**scaled[0]["spec"], "minReplicas": 1}}  # HPA spelling, not KEDA's
    with pytest.raises(jsonschema.ValidationError):
        validate_custom_resource(obj, KEDA)


def test_scale_in_is_slow_and_per_replica_targets_come_from_the_runtime_or_spec():
    embed = _plan(MODELS["triton"]).one(SCALED_OBJECT).inputs["spec"]
    assert embed["triggers"][0]["metadata"]["threshold"] == "2"  # load_target
    assert embed["triggers"][0]["metadata"]["query"].startswith("sum(nv_inference_pending_request_count{")
    chat = _plan(MODELS["vllm"]).one(SCALED_OBJECT).inputs["spec"]
    assert chat["triggers"][0]["metadata"]["threshold"] == "16"  # the vLLM row's default
    behavior = chat["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == SCALE_DOWN_STABILIZATION_S
    assert (chat["minReplicaCount"], chat["maxReplicaCount"]) == (1, 4)


def test_scale_to_zero_wakes_on_the_first_request_at_the_ingress():
    spec = _plan(MODELS["zero"]).one(SCALED_OBJECT).inputs["spec"]
    assert spec["minReplicaCount"] == 0
    assert spec["cooldownPeriod"] == COOLDOWN_PERIOD_S
    load, wake = spec["triggers"]
    assert "vllm:num_requests_waiting" in load["metadata"]["query"]
    # no pod, no server metric: the ingress still counts the request (and answers 503 meanwhile)
    assert (
        wake["metadata"]["query"]
        == 'sum(rate(nginx_ingress_controller_requests{host="draft.models.acme.test"}[2m]))'
    )
    assert wake["metadata"]["activationThreshold"] == "0"
    assert m.metric_names(wake["metadata"]["query"]) <= m.KNOWN_METRICS


def test_a_models_revisions_scale_apart():
    plan = _plan(MODELS["kserve"])
    by_name = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in plan.of_type(SCALED_OBJECT)}
    assert by_name["rerank"]["scaleTargetRef"]["name"] == "rerank-predictor"
    assert by_name["rerank-canary"]["scaleTargetRef"]["name"] == "rerank-canary-predictor"
    assert 'mlinfra_io_track="stable"' in by_name["rerank"]["triggers"][0]["metadata"]["query"]
    assert 'mlinfra_io_track="canary"' in by_name["rerank-canary"]["triggers"][0]["metadata"]["query"]


def test_kserve_models_scale_on_requests_in_flight_whatever_the_backend():
    """KServe's Hugging Face server exports vLLM's gauges only on the vLLM backend (kserve@v0.15.2
    huggingfaceserver/__main__.py); an encoder the transformers backend serves exports neither, and
    an empty query reads as 0 to KEDA: the revision's requests in flight at the ingress stand in."""
    plan = _plan(MODELS["kserve"])
    by_name = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in plan.of_type(SCALED_OBJECT)}
    stable = by_name["rerank"]["triggers"][0]["metadata"]["query"]
    canary = by_name["rerank-canary"]["triggers"][0]["metadata"]["query"]
    fallback = "sum(rate(nginx_ingress_controller_request_duration_seconds_sum{{{}}}[2m]))"
    assert stable.endswith(" or " + fallback.format('host="rerank.models.acme.test", canary=""'))
    assert canary.endswith(" or " + fallback.format('host="rerank.models.acme.test", canary!=""'))
    assert stable.startswith("(sum(vllm:num_requests_running{")
    for q in (stable, canary):
        assert m.metric_names(q) <= m.KNOWN_METRICS
    # vLLM's own server always exports its gauges: no fallback there
    chat = _plan(MODELS["vllm"]).one(SCALED_OBJECT).inputs["spec"]["triggers"][0]["metadata"]["query"]
    assert " or " not in chat and "nginx" not in chat


def test_scale_to_zero_is_dev_only_and_needs_a_load_metric():
    with pytest.raises(ValueError, match="dev only"):
        ModelDeployment("x", _args(MODELS["zero"], labels={**DEV, "environment": "staging"}))
    with pytest.raises(ValueError, match="without a load metric"):
        ModelDeployment("x", _args(MODELS["zero"], prometheus_url=None))
