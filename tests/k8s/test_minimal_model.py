"""A model added to a stack's spec with only name, runtime, version and gpu_pool gets a working
server (command, model files, probes), load-based autoscaling, alerts, scheduling by accelerator
and a workload that waits for its GPU pools, through the whole platform (AwsPlatform)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mlinfra.spec import PlatformSpec
from tests.conftest import PROD_SPEC, deployed_plan_of

MINIMAL = {
    "kserve": {"name": "qa", "runtime": "kserve", "version": "2026-12-01/", "gpu_pool": "a10g"},
    "vllm": {"name": "chat", "runtime": "vllm", "version": "2026-12-01/", "gpu_pool": "a10g"},
    "triton": {"name": "embed", "runtime": "triton", "version": "2026-12-01/", "gpu_pool": "a10g"},
}


@pytest.fixture(scope="module")
def plan():
    data = copy.deepcopy(PROD_SPEC)
    data["serving"] = {"models": list(MINIMAL.values())}
    spec = PlatformSpec.load(data)
    # prod's API is private: the layer is the in-cluster stack's, installed from the platform's outputs
    return deployed_plan_of(spec)


def _by_name(plan, type_: str) -> dict[str, dict[str, Any]]:
    return {r.inputs["metadata"]["name"]: r for r in plan.of_type(type_)}


def _pod(plan, runtime: str) -> tuple[dict[str, Any], dict[str, Any], Any]:
    name = MINIMAL[runtime]["name"]
    if runtime == "kserve":
        record = _by_name(plan, "kubernetes:serving.kserve.io/v1beta1:InferenceService")[name]
        predictor = record.inputs["spec"]["predictor"]
        return predictor, predictor["model"], record
    record = _by_name(plan, "kubernetes:apps/v1:Deployment")[name]
    pod = record.inputs["spec"]["template"]["spec"]
    return pod, pod["containers"][0], record


@pytest.mark.parametrize("runtime", sorted(MINIMAL))
def test_a_minimal_model_gets_a_server_that_loads_its_model(plan, runtime):
    pod, server, _ = _pod(plan, runtime)
    name = MINIMAL[runtime]["name"]
    assert server["image"] and server["args"]
    if runtime != "kserve":
        assert server["command"]
    (download,) = pod["initContainers"]
    source = download["command"][3]
    assert source.startswith("s3://") and source.endswith(f"/models/{name}/2026-12-01/")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert server[probe]["httpGet"]["path"].startswith(("/health", "/v2/health/")), probe


@pytest.mark.parametrize("runtime", sorted(MINIMAL))
def test_a_minimal_model_scales_on_its_load(plan, runtime):
    name = MINIMAL[runtime]["name"]
    scaled = _by_name(plan, "kubernetes:keda.sh/v1alpha1:ScaledObject")[name].inputs["spec"]
    trigger = scaled["triggers"][0]
    assert trigger["type"] == "prometheus"
    assert (
        trigger["metadata"]["serverAddress"] == "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"
    )
    assert f'mlinfra_io_model="{name}"' in trigger["metadata"]["query"]


def test_minimal_models_are_alerted_on(plan):
    (rules,) = plan.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
    alerts = [r for g in rules.inputs["spec"]["groups"] for r in g["rules"]]
    slo_models = {r["labels"].get("model") for r in alerts if r["alert"] == "ModelLatencySloBreached"}
    assert slo_models == {m["name"] for m in MINIMAL.values()}
    names = {r["alert"] for r in alerts}
    assert {"ModelHighErrorRatio", "ModelGpuIdle", "GpuXidError"} <= names


@pytest.mark.parametrize("runtime", sorted(MINIMAL))
def test_a_minimal_model_lands_on_every_pool_of_its_accelerator_and_waits_for_them(plan, runtime):
    pod, _, workload = _pod(plan, runtime)
    required = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert required["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["nvidia-a10g"]
    # prod has a10g (on-demand) and a10g-spot: both node groups come before the model
    component = next(r for r in plan.of_type("mlinfra:k8s:ModelDeployment") if r.urn == workload.parent)
    node_groups = [r for r in plan.of_type("aws:eks/nodeGroup:NodeGroup") if "GpuNodePool" in r.urn]
    assert len(node_groups) == 2
    for group in node_groups:
        assert group.urn in component.dependencies, group.name
    assert workload.custom_timeouts["create"] == workload.custom_timeouts["update"]
    assert int(workload.custom_timeouts["create"].removesuffix("m")) >= 60
