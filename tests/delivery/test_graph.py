"""`mlinfra graph`: the request and data path derived from the plan's objects, in Mermaid and DOT."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlinfra.cli import app
from mlinfra.delivery.graph import edges_by_label, render
from mlinfra.offline import Plan, plan_stack

ROOT = Path(__file__).resolve().parents[2]


@cache
def prod() -> Plan:
    """A private platform's in-cluster stack (api_access private: the models live here)."""
    return plan_stack(ROOT / "stacks/aws-in-cluster", "prod")


@cache
def dev() -> Plan:
    """The one-stack path (api_access public): cloud resources and models in one plan."""
    return plan_stack(ROOT / "stacks/aws", "dev")


def _has(edges, src: str, dst: str, label: str) -> bool:
    return any(a.startswith(src) and b.startswith(dst) and t == label for a, b, t in edges)


def test_ingress_service_pods_identity_bucket_path():
    edges = edges_by_label(dev())
    # Deployment runtime: Ingress -> Service -> pods -> ServiceAccount -> IAM role -> bucket.
    assert _has(edges, "Ingress serving/reranker", "Service serving/reranker", "routes")
    assert _has(edges, "Service serving/reranker", "Deployment serving/reranker", "selects")
    assert _has(edges, "Deployment serving/reranker", "ServiceAccount serving/reranker", "runs as")
    assert _has(edges, "ServiceAccount serving/reranker", "Role acme-ml-dev-model-reranker", "assumes")
    assert _has(
        edges,
        "Role acme-ml-dev-model-reranker",
        "Bucket acme-ml-dev-artifacts-bucket",
        "granted by RolePolicy",
    )
    assert _has(edges, "Deployment serving/reranker", "Bucket acme-ml-dev-artifacts-bucket", "model from")


def test_in_cluster_stack_path():
    """The in-cluster stack of a private platform: the request path up to the pods' accounts (the
    roles and the bucket are the platform stack's, read through its StackReference)."""
    edges = edges_by_label(prod())
    assert _has(edges, "Ingress serving/embedder", "Service serving/embedder", "routes")
    assert _has(edges, "Service serving/embedder", "Deployment serving/embedder", "selects")
    assert _has(edges, "Deployment serving/embedder", "ServiceAccount serving/embedder", "runs as")
    # KServe raw mode: the Ingress routes to the InferenceService's `<isvc>-predictor` Service.
    assert _has(edges, "Ingress serving/reranker ", "InferenceService serving/reranker", "routes")
    assert _has(edges, "InferenceService serving/reranker", "ServiceAccount serving/reranker", "runs as")


def test_edges_follow_the_objects_not_the_names():
    plan = Plan.from_json(copy.deepcopy(prod().to_json()))
    svc = next(
        r
        for r in plan.resources
        if r.type == "kubernetes:core/v1:Service" and r.inputs["metadata"]["name"] == "embedder"
    )
    svc.inputs["spec"]["selector"]["mlinfra.io/model"] = "someone-else"
    ing = next(
        r
        for r in plan.resources
        if r.type.endswith(":Ingress") and r.inputs["metadata"]["name"] == "embedder"
    )
    ing.inputs["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] = "missing"
    edges = edges_by_label(plan)
    assert not any(a.startswith("Service serving/embedder") and t == "selects" for a, _, t in edges)
    assert not any(a.startswith("Ingress serving/embedder") for a, _, _ in edges)


@pytest.mark.parametrize(
    "fmt, start", [("mermaid", "flowchart LR\n"), ("dot", 'digraph "mlinfra-aws/dev" {\n')]
)
def test_formats(fmt, start):
    text = render(dev(), fmt)
    assert text.startswith(start)
    if fmt == "mermaid":
        assert text.count("subgraph ") == sum(line.strip() == "end" for line in text.splitlines())
        assert '-->|"routes"|' in text and '[("Bucket acme-ml-dev-artifacts-bucket")]' in text
    else:
        assert text.rstrip().endswith("}") and text.count("{") == text.count("}")
        assert "shape=cylinder" in text and '[label="routes"]' in text


def test_cli_from_a_stack_and_from_a_saved_plan(tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["graph", str(ROOT / "examples/team-stack"), "--stack", "dev", "--format", "dot"])
    assert r.exit_code == 0 and r.stdout.startswith("digraph")
    saved = tmp_path / "p.json"
    saved.write_text(json.dumps(prod().to_json()))
    r = runner.invoke(app, ["graph", str(saved)])
    assert r.exit_code == 0 and r.stdout.startswith("flowchart LR")
    r = runner.invoke(app, ["graph", str(ROOT / "stacks/aws")])
    assert r.exit_code == 2 and r.stderr.startswith("error: --stack: required")
    r = runner.invoke(app, ["graph", str(saved), "--format", "png"])
    assert r.exit_code == 2 and r.stderr == "error: --format: 'png'; allowed: mermaid, dot\n"
