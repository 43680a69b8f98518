"""StackReferences planned offline, and the unreachable-cluster check on the plan graph."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlinfra.cli import app
from mlinfra.offline import ProgramError, plan_stack
from mlinfra.offline.engine import find_project
from mlinfra.offline.reach import UNREACHABLE

ROOT = Path(__file__).resolve().parents[2]

CONSUMER = textwrap.dedent(
    """
    import pulumi
    import pulumi_random as random

    ref = pulumi.StackReference(pulumi.Config().require("ref"))
    pet = random.RandomPet("pet", prefix=ref.require_output("word"))
    pulumi.export("seen", ref.require_output("word"))
    pulumi.export("secret_seen", ref.require_output("token"))
    """
)
PRODUCER = textwrap.dedent(
    """
    import pulumi
    pulumi.export("word", "from-" + pulumi.get_stack())
    pulumi.export("token", pulumi.Output.secret("s3cr3t"))
    """
)


def _project(path: Path, name: str, main: str, stacks: dict[str, str]) -> Path:
    path.mkdir(parents=True)
    (path / "Pulumi.yaml").write_text(f"name: {name}\nruntime:\n  name: python\n")
    (path / "__main__.py").write_text(main)
    for stack, config in stacks.items():
        (path / f"Pulumi.{stack}.yaml").write_text(config)
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    _project(tmp_path / "stacks" / "producer", "producer", PRODUCER, {"prod": "config: {}\n"})
    _project(
        tmp_path / "stacks" / "consumer",
        "consumer",
        CONSUMER,
        {"prod": "config:\n  consumer:ref: organization/producer/prod\n"},
    )
    return tmp_path


def test_reference_to_a_sibling_project_is_planned_offline(repo):
    plan = plan_stack(repo / "stacks" / "consumer", "prod")
    assert plan.outputs["seen"] == "from-prod"
    assert plan.outputs["secret_seen"] == "[secret]"  # a secret output stays secret through the reference
    assert plan.one("random:index/randomPet:RandomPet").inputs["prefix"] == "from-prod"
    assert plan.stack_references == {"organization/producer/prod": {"word": "from-prod", "token": "s3cr3t"}}


def test_resolution_is_deterministic(repo):
    first = plan_stack(repo / "stacks" / "consumer", "prod").to_json()
    assert plan_stack(repo / "stacks" / "consumer", "prod").to_json() == first


def test_offline_stack_outputs_override_the_sibling(repo):
    stack_file = repo / "stacks" / "consumer" / "Pulumi.prod.yaml"
    stack_file.write_text(
        stack_file.read_text()
        + "  mlinfra:offlineStackOutputs:\n    organization/producer/prod: {word: given, token: t}\n"
    )
    assert plan_stack(repo / "stacks" / "consumer", "prod").outputs["seen"] == "given"


def test_unknown_project_and_cycles_are_clear_errors(repo):
    stack_file = repo / "stacks" / "consumer" / "Pulumi.prod.yaml"
    stack_file.write_text("config:\n  consumer:ref: organization/nowhere/prod\n")
    with pytest.raises(ProgramError, match=r"no Pulumi project named 'nowhere'.*offlineStackOutputs"):
        plan_stack(repo / "stacks" / "consumer", "prod")
    stack_file.write_text("config:\n  consumer:ref: organization/consumer/prod\n")
    with pytest.raises(ProgramError, match=r"cycle: consumer/prod -> consumer/prod"):
        plan_stack(repo / "stacks" / "consumer", "prod")


def test_find_project_reads_project_names_not_directories(repo):
    assert find_project(repo / "stacks" / "consumer", "organization/producer/prod", "consumer") == (
        repo / "stacks" / "producer",
        "prod",
    )
    assert find_project(repo / "stacks" / "consumer", "prod", "consumer")[0] == repo / "stacks" / "consumer"


# ---------------------------------------------------------------- reachability

TEAM = textwrap.dedent(
    """
    import pulumi
    import pulumi_kubernetes as k8s

    platform = pulumi.StackReference("organization/mlinfra-aws/prod")
    provider = k8s.Provider("prod-cluster", kubeconfig=platform.require_output("kubeconfig"))
    labels = {"owner": "team-recsys", "cost-center": "cc-5150", "environment": "prod"}
    k8s.core.v1.Namespace(
        "team", metadata={"name": "team", "labels": labels}, opts=pulumi.ResourceOptions(provider=provider)
    )
    """
)


@pytest.fixture
def team_stack(tmp_path: Path) -> Path:
    """A team stack inside this repository's tree (so the platform project is found), copied to tmp."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "stacks", repo / "stacks", ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    return _project(repo / "teams" / "recsys", "team-recsys", TEAM, {"prod": "config: {}\n"})


def test_team_stack_on_the_private_prod_cluster_is_warned(team_stack):
    plan = plan_stack(team_stack, "prod")
    (warning,) = [w for w in plan.warnings if w.startswith(UNREACHABLE)]
    assert "1 Kubernetes resources use provider prod-cluster" in warning
    assert "organization/mlinfra-aws/prod" in warning and "private" in warning
    result = CliRunner().invoke(app, ["plan", str(team_stack), "--stack", "prod", "--no-tree"])
    assert result.exit_code == 0, result.output
    assert "WARNING" in result.output and "cannot reach" in result.output


def test_declaring_the_stack_inside_the_network_silences_it(team_stack):
    (team_stack / "Pulumi.prod.yaml").write_text("config:\n  mlinfra:deployFrom: network\n")
    assert not [w for w in plan_stack(team_stack, "prod").warnings if w.startswith(UNREACHABLE)]
    (team_stack / "Pulumi.prod.yaml").write_text("config:\n  mlinfra:deployFrom: laptop\n")
    with pytest.raises(
        ProgramError, match="mlinfra:deployFrom: 'laptop' is not allowed; allowed: anywhere, network"
    ):
        plan_stack(team_stack, "prod")


def test_one_stack_on_a_private_cluster_is_warned():
    """What the AWS platform did before the deployment path: the same program builds a private EKS
    cluster and registers Kubernetes resources through it."""
    import pulumi
    import pulumi_kubernetes as k8s

    from mlinfra.platform import MlPlatform
    from tests.conftest import PROD_SPEC, make_spec, plan_of

    spec = make_spec(PROD_SPEC)

    def program():
        platform = MlPlatform(spec.prefix, spec)
        provider = k8s.Provider("direct", kubeconfig=platform.kubeconfig)
        k8s.core.v1.Namespace("ns", metadata={"name": "x"}, opts=pulumi.ResourceOptions(provider=provider))

    plan = plan_of(program, region=spec.region)
    assert [
        w for w in plan.warnings if w.startswith(f"{UNREACHABLE}: 1 Kubernetes resources use provider direct")
    ]
    assert "acme-prod" in next(w for w in plan.warnings if w.startswith(UNREACHABLE))
    # the same with the endpoint public (dev): reachable, no warning
    dev = make_spec(cluster={"api_access": "public", "public_access_cidrs": ["203.0.113.0/24"]})
    assert not [
        w
        for w in plan_of(lambda: MlPlatform(dev.prefix, dev), region=dev.region).warnings
        if w.startswith(UNREACHABLE)
    ]
