"""Stable output: every shipped stack's plan JSON is byte-identical from run to run (across
processes with different hash seeds, and in one process); unknown values have one placeholder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlinfra.cli import app
from mlinfra.offline import UNKNOWN_MARK, run_program

ROOT = Path(__file__).resolve().parents[1]


def shipped_stacks() -> list[tuple[str, str]]:
    """Every Pulumi project under stacks/ and examples/ and each of its stack files, from disk:
    a stack added later is covered without touching this test."""
    found = []
    for project in sorted([*ROOT.glob("stacks/**/Pulumi.yaml"), *ROOT.glob("examples/**/Pulumi.yaml")]):
        for stack_file in sorted(project.parent.glob("Pulumi.*.yaml")):
            found.append(
                (str(project.parent.relative_to(ROOT)), stack_file.name[len("Pulumi.") : -len(".yaml")])
            )
    return found


def _plan_in_process(stack_dir: str, stack: str, out: Path) -> bytes:
    r = CliRunner().invoke(
        app, ["plan", str(ROOT / stack_dir), "--stack", stack, "--no-tree", "--json", str(out)]
    )
    assert r.exit_code in (0, 1), r.output
    return out.read_bytes()


# In another interpreter, with another hash seed (set iteration order, caches and object addresses
# all differ there): every shipped stack planned by the real CLI, each plan written to <out>/<i>.json.
_IN_A_PROCESS = """
import sys
from pathlib import Path
from typer.testing import CliRunner
from mlinfra.cli import app
out = Path(sys.argv[1])
for i, (stack_dir, stack) in enumerate(zip(sys.argv[2::2], sys.argv[3::2])):
    r = CliRunner().invoke(app, ["plan", stack_dir, "--stack", stack, "--no-tree", "--json", str(out / f"{i}.json")])
    if r.exit_code not in (0, 1):
        sys.exit(f"{stack_dir}:{stack} exited {r.exit_code}: {r.output}")
"""


@pytest.fixture(scope="module")
def planned_in_another_process(tmp_path_factory) -> dict[tuple[str, str], bytes]:
    out = tmp_path_factory.mktemp("other-process")
    cases = shipped_stacks()
    proc = subprocess.run(
        [sys.executable, "-c", _IN_A_PROCESS, str(out), *[part for case in cases for part in case]],
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": "4242"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Exception ignored" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert "never retrieved" not in proc.stderr and "never awaited" not in proc.stderr, proc.stderr
    return {case: (out / f"{i}.json").read_bytes() for i, case in enumerate(cases)}


def test_every_shipped_stack_is_found():
    stacks = shipped_stacks()
    assert {("stacks/aws", env) for env in ("dev", "staging", "prod")} <= set(stacks)
    assert ("examples/team-stack", "dev") in stacks and ("examples/existing-cluster", "dev") in stacks


@pytest.mark.parametrize("case", shipped_stacks(), ids=lambda c: f"{c[0]}:{c[1]}")
def test_plan_json_is_byte_identical_across_processes(tmp_path, case, planned_in_another_process):
    here = _plan_in_process(*case, tmp_path / "plan.json")
    assert here == planned_in_another_process[case], "the plans of two processes differ"
    assert " object at 0x" not in here.decode(), "an object's repr (its address) leaked into the plan"


def test_two_plans_in_one_process_are_identical(tmp_path):
    """Nothing one plan leaves behind (caches, pending outputs, the event loop) changes the next."""
    first = _plan_in_process("stacks/aws", "prod", tmp_path / "a.json")
    _plan_in_process("stacks/aws", "dev", tmp_path / "b.json")
    assert _plan_in_process("stacks/aws", "prod", tmp_path / "c.json") == first


def test_unknown_values_have_one_placeholder():
    import pulumi
    import pulumi_random as random

    def program():
        # pulumi-random's RandomString has no entry in the mocks table: `result` is unknown offline,
        # as a NAT gateway's EIP allocation id is in a real preview.
        s = random.RandomString("s", length=4)
        random.RandomPet("p", keepers={"k": s.result})
        pulumi.export("suffix", s.result)

    plans = [run_program(program, stack="dev") for _ in range(2)]
    for plan in plans:
        pet = plan.one("random:index/randomPet:RandomPet")
        assert pet.inputs["keepers"] == {"k": UNKNOWN_MARK}
        assert plan.outputs["suffix"] == UNKNOWN_MARK
    assert json.dumps(plans[0].to_json()) == json.dumps(plans[1].to_json())


def test_nat_allocation_ids_are_the_placeholder(tmp_path):
    data = json.loads(_plan_in_process("stacks/aws", "prod", tmp_path / "p.json"))
    nats = [r for r in data["resources"] if r["type"] == "aws:ec2/natGateway:NatGateway"]
    assert len(nats) == 3 and {n["inputs"]["allocationId"] for n in nats} == {UNKNOWN_MARK}
