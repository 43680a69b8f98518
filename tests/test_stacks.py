"""Every shipped stack plans offline: the whole platform, no deprecation warning, no
mandatory policy violation, explicit providers everywhere, and stable URNs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mlinfra.cli import app
from mlinfra.offline import Plan
from mlinfra.policy import check_plan
from mlinfra.spec import API_ACCESS_DEFAULT
from tests.plans import planned

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOTS = Path(__file__).parent / "snapshots"
STACKS = [("stacks/aws", "dev"), ("stacks/aws", "staging"), ("stacks/aws", "prod")]
GCP_STACKS = [("stacks/gcp", "dev"), ("stacks/gcp", "staging"), ("stacks/gcp", "prod")]
AZURE_STACKS = [("stacks/azure", "dev"), ("stacks/azure", "staging"), ("stacks/azure", "prod")]
# api_access private (staging, prod): the in-cluster layer is a second stack, run from inside the network.
IN_CLUSTER_STACKS = [
    (f"stacks/{cloud}-in-cluster", s) for cloud in ("aws", "azure") for s in ("staging", "prod")
]
IN_CLUSTER_OF = {(d.removesuffix("-in-cluster"), s): (d, s) for d, s in IN_CLUSTER_STACKS}
EXAMPLES = [("examples/team-stack", "dev"), ("examples/existing-cluster", "dev")]


def deployed(case) -> list[Plan]:
    """The plans that together deploy one environment: the platform stack, and its in-cluster stack
    when the API is private."""
    return [planned(*case)] + ([planned(*IN_CLUSTER_OF[case])] if case in IN_CLUSTER_OF else [])


def _id(case) -> str:
    return f"{case[0]}:{case[1]}"


@pytest.mark.parametrize("case", STACKS + GCP_STACKS + AZURE_STACKS + IN_CLUSTER_STACKS + EXAMPLES, ids=_id)
def test_stack_plans_without_warnings_or_mandatory_violations(case):
    plan = planned(*case)
    assert plan.resources
    assert not [w for w in plan.warnings if "deprecat" in w.lower()], plan.warnings
    report = check_plan(plan)
    assert not report.mandatory_failed, "\n".join(
        f"{v.policy} {v.urn}: {v.message}" for v in report.violations
    )


def _cloud(case) -> str:
    return case[0].removeprefix("stacks/")


# Each cloud's provider type and how its default tags/labels are read from the provider's inputs.
DEFAULT_TAGS = {
    "aws": lambda p: json.loads(p.inputs["defaultTags"])["tags"],
    "gcp": lambda p: json.loads(p.inputs["defaultLabels"]),
}


@pytest.mark.parametrize("case", STACKS + GCP_STACKS, ids=_id)
def test_stack_builds_the_whole_platform(case):
    plan = planned(*case)
    types = {r.type for p in deployed(case) for r in p.resources}
    cloud = _cloud(case)
    for component in (
        f"mlinfra:{cloud}:Platform",
        f"mlinfra:{cloud}:Network",
        f"mlinfra:{cloud}:Cluster",
        f"mlinfra:{cloud}:GpuNodePool",
        f"mlinfra:{cloud}:ArtifactBucket",
        f"mlinfra:{cloud}:Registry",
        "mlinfra:k8s:GpuEnablement",
        "mlinfra:k8s:ServingCluster",
        "mlinfra:k8s:ModelDeployment",
        "mlinfra:k8s:MonitoringStack",
    ):
        assert component in types, f"{component} missing from {case}"
    assert set(plan.outputs) >= {
        "cluster_name",
        "cluster_endpoint",
        "kubeconfig",
        "oidc_issuer",
        "artifact_bucket",
        "registry_urls",
    }
    assert plan.outputs["kubeconfig"] == "[secret]"


@pytest.mark.parametrize("case", STACKS + GCP_STACKS + AZURE_STACKS, ids=_id)
def test_every_resource_uses_an_explicit_provider(case):
    for p in deployed(case):
        providers = {r.urn: r for r in p.resources if r.type.startswith("pulumi:providers:")}
        for r in p.resources:
            package = r.type.split(":")[0]
            # Cloud and cluster resources: never a default provider (wrong region/account/cluster).
            # pulumi-random needs no configuration, so its default provider is harmless.
            if not r.custom or package not in ("aws", "gcp", "azure-native", "kubernetes"):
                continue
            assert r.provider in providers, f"{r.urn} uses a default provider ({r.provider})"
            assert providers[r.provider].type == f"pulumi:providers:{package}"


@pytest.mark.parametrize("case", STACKS, ids=_id)
def test_the_aws_provider_has_the_region_and_default_tags(case):
    plan = planned(*case)
    providers = {r.urn: r for r in plan.resources if r.type.startswith("pulumi:providers:")}
    cloud = _cloud(case)
    ours = [p for p in providers.values() if p.type == f"pulumi:providers:{cloud}"]
    assert len(ours) == 1
    spec = yaml.safe_load((ROOT / case[0] / f"Pulumi.{case[1]}.yaml").read_text())["config"][
        "mlinfra:platform"
    ]
    assert ours[0].inputs["region"] == spec["region"]
    assert {"owner", "cost-center", "environment", "managed-by"} <= set(DEFAULT_TAGS[cloud](ours[0]))


@pytest.mark.parametrize("case", STACKS + GCP_STACKS + AZURE_STACKS, ids=_id)
def test_in_cluster_layer_is_parented_and_on_the_cluster_provider(case):
    plan = deployed(case)[-1]  # the stack that installs the layer
    by_urn = plan.by_urn()
    k8s_provider = [r for r in plan.resources if r.type == "pulumi:providers:kubernetes"]
    assert len(k8s_provider) == 1
    for r in plan.resources:
        if r.type.startswith("kubernetes:"):
            assert r.provider == k8s_provider[0].urn
            assert by_urn[r.parent].type.startswith("mlinfra:"), f"{r.urn} not under a component"


@pytest.mark.parametrize("case", STACKS + GCP_STACKS + AZURE_STACKS, ids=_id)
def test_the_declared_path_decides_which_stack_installs_the_layer(case):
    """api_access public (aws dev) and dns (gcp): one stack installs everything; private (aws staging,
    prod): the platform stack registers no Kubernetes resource and nobody warns about an
    unreachable cluster."""
    spec = yaml.safe_load((ROOT / case[0] / f"Pulumi.{case[1]}.yaml").read_text())["config"][
        "mlinfra:platform"
    ]
    access = spec["cluster"].get("api_access", API_ACCESS_DEFAULT[spec["cloud"]])
    platform_k8s = [r for r in planned(*case).resources if r.type.startswith("kubernetes:")]
    assert (case in IN_CLUSTER_OF) == (access == "private")
    assert bool(platform_k8s) == (access in ("public", "dns"))
    for p in deployed(case):
        assert not [w for w in p.warnings if w.startswith("unreachable cluster")], p.warnings


def test_prod_protects_stateful_resources_and_dev_does_not():
    stateful = (
        "aws:s3/bucket:Bucket",
        "aws:kms/key:Key",
        "aws:ecr/repository:Repository",
        "aws:eks/cluster:Cluster",
    )
    prod, dev = planned("stacks/aws", "prod"), planned("stacks/aws", "dev")
    for type_ in stateful:
        assert prod.of_type(type_) and all(r.protect and r.retain_on_delete for r in prod.of_type(type_)), (
            type_
        )
        assert not any(r.protect for r in dev.of_type(type_)), type_


def test_dev_and_prod_differ_where_the_profiles_say():
    dev, prod = planned("stacks/aws", "dev"), planned("stacks/aws", "prod")
    assert len(dev.of_type("aws:ec2/natGateway:NatGateway")) == 1
    assert len(prod.of_type("aws:ec2/natGateway:NatGateway")) == 3
    dev_vpc = dev.one("aws:eks/cluster:Cluster").inputs["vpcConfig"]
    prod_vpc = prod.one("aws:eks/cluster:Cluster").inputs["vpcConfig"]
    assert dev_vpc["endpointPublicAccess"] is True and dev_vpc["publicAccessCidrs"] == ["203.0.113.0/24"]
    assert prod_vpc["endpointPublicAccess"] is False and prod_vpc["endpointPrivateAccess"] is True
    dev_gpu = [n for n in dev.of_type("aws:eks/nodeGroup:NodeGroup") if n.inputs.get("taints")]
    assert [n.inputs["capacityType"] for n in dev_gpu] == ["SPOT"]
    assert dev_gpu[0].inputs["scalingConfig"]["minSize"] == 0
    prod_caps = sorted(
        n.inputs["capacityType"]
        for n in prod.of_type("aws:eks/nodeGroup:NodeGroup")
        if n.inputs.get("taints")
    )
    assert prod_caps == ["ON_DEMAND", "SPOT"]


# ---------------------------------------------------------------- URN snapshots (refactor safety)


@pytest.mark.parametrize("case", STACKS + GCP_STACKS + AZURE_STACKS + IN_CLUSTER_STACKS + EXAMPLES, ids=_id)
def test_urn_snapshot(case):
    """A changed URN is a replacement (a replaced bucket is lost data): renames need an Alias.

    Regenerate deliberately with MLINFRA_UPDATE_SNAPSHOTS=1 after adding the alias.
    """
    plan = planned(*case)
    urns = sorted(r.urn for r in plan.resources)
    path = SNAPSHOTS / f"{case[0].replace('/', '_')}.{case[1]}.urns"
    if os.environ.get("MLINFRA_UPDATE_SNAPSHOTS") == "1" or not path.exists():
        if os.environ.get("CI") and not path.exists():
            pytest.fail(f"snapshot {path.name} missing; generate it with MLINFRA_UPDATE_SNAPSHOTS=1")
        path.parent.mkdir(exist_ok=True)
        path.write_text("\n".join(urns) + "\n")
    expected = path.read_text().split()
    removed = sorted(set(expected) - set(urns))
    added = sorted(set(urns) - set(expected))
    assert not removed and not added, f"URNs changed.\nremoved: {removed}\nadded: {added}"


# ---------------------------------------------------------------- the CLI, as a user runs it


def test_cli_plan_dev_exits_zero_and_writes_json(tmp_path):
    out = tmp_path / "plan.json"
    result = CliRunner().invoke(app, ["plan", str(ROOT / "stacks/aws"), "--stack", "dev", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "Plan mlinfra-aws/dev:" in result.output
    assert "mlinfra:aws:GpuNodePool" in result.output
    data = json.loads(out.read_text())
    assert {"stack", "project", "cloud", "resources", "policy", "cost"} <= set(data)
    assert data["cloud"] == "aws" and data["stack"] == "dev"
    assert data["cost"]["monthly_max_usd"] >= data["cost"]["monthly_min_usd"] > 0
    first = data["resources"][0]
    assert set(first) == {
        "urn",
        "type",
        "name",
        "parent",
        "provider",
        "inputs",
        "protect",
        "retain_on_delete",
        "dependencies",
        "aliases",
        "custom_timeouts",
    }


def test_cli_bad_config_exits_two_naming_stack_and_field(tmp_path):
    stack_dir = tmp_path / "aws"
    shutil.copytree(ROOT / "stacks/aws", stack_dir)
    doc = yaml.safe_load((stack_dir / "Pulumi.dev.yaml").read_text())
    doc["config"]["mlinfra:platform"]["gpu_pools"][0]["max_nodes"] = 1
    doc["config"]["mlinfra:platform"]["gpu_pools"][0]["min_nodes"] = 2
    (stack_dir / "Pulumi.dev.yaml").write_text(yaml.safe_dump(doc))
    result = CliRunner().invoke(app, ["plan", str(stack_dir), "--stack", "dev"])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {stack_dir / 'Pulumi.dev.yaml'}:")
    assert ": gpu_pools.0: node counts must satisfy" in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


def test_cli_unknown_stack_exits_two(tmp_path):
    result = CliRunner().invoke(app, ["plan", str(ROOT / "stacks/aws"), "--stack", "qa"])
    assert result.exit_code == 2
    assert "Pulumi.qa.yaml: not found; stacks here: dev, prod, staging" in result.output


def _saved_plan(tmp_path: Path, stack: str, mutate) -> Path:
    data = planned("stacks/aws", stack).to_json()
    cluster = next(r for r in data["resources"] if r["type"] == "aws:eks/cluster:Cluster")
    mutate(cluster["inputs"]["vpcConfig"])
    path = tmp_path / f"{stack}.json"
    path.write_text(json.dumps(data))
    return path


def test_policy_check_fails_a_prod_plan_with_a_public_endpoint(tmp_path):
    def expose(vpc):
        vpc.update(endpointPublicAccess=True, publicAccessCidrs=["0.0.0.0/0"])

    result = CliRunner().invoke(app, ["policy", "check", str(_saved_plan(tmp_path, "prod", expose))])
    assert result.exit_code == 1, result.output
    assert "private-cluster-endpoint" in result.output and "mandatory" in result.output


def test_policy_check_only_advises_on_dev(tmp_path):
    def open_to_world(vpc):
        vpc.update(publicAccessCidrs=["0.0.0.0/0"])

    result = CliRunner().invoke(app, ["policy", "check", str(_saved_plan(tmp_path, "dev", open_to_world))])
    assert result.exit_code == 0, result.output
    assert "private-cluster-endpoint" in result.output and "advisory" in result.output


@pytest.mark.parametrize("case", STACKS, ids=_id)
def test_each_model_identity_trusts_exactly_the_models_service_account(case):
    plan = planned(*case)
    accounts = {
        f"system:serviceaccount:{r.inputs['metadata']['namespace']}:{r.inputs['metadata']['name']}"
        for p in deployed(case)
        for r in p.of_type("kubernetes:core/v1:ServiceAccount")
        if r.parent and "mlinfra:k8s:ModelDeployment" in r.urn
    }
    trusted = set()
    for role in plan.of_type("aws:iam/role:Role"):
        if "WorkloadIdentity" not in role.urn or "-model-" not in role.name:
            continue
        for st in json.loads(role.inputs["assumeRolePolicy"])["Statement"]:
            for key, value in st["Condition"]["StringEquals"].items():
                if key.endswith(":sub"):
                    trusted.add(value)
    assert accounts and trusted == accounts
