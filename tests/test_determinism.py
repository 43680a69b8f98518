"""Stable output: every shipped stack's plan JSON is byte-identical from run to run (in one
process and across processes with different hash seeds); unknown values have one placeholder."""

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


def _plan_in_a_process(stack_dir: str, stack: str, out: Path, hash_seed: str) -> bytes:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlinfra.cli",
            "plan",
            stack_dir,
            "--stack",
            stack,
            "--no-tree",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode in (0, 1), proc.stderr
    assert "Exception ignored" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    return out.read_bytes()


def test_every_shipped_stack_is_found():
    stacks = shipped_stacks()
    assert {("stacks/aws", env) for env in ("dev", "staging", "prod")} <= set(stacks)
    assert ("examples/team-stack", "dev") in stacks and ("examples/existing-cluster", "dev") in stacks


@pytest.mark.parametrize("case", shipped_stacks(), ids=lambda c: f"{c[0]}:{c[1]}")
def test_plan_json_is_byte_identical_across_runs_and_processes(tmp_path, case):
    first = _plan_in_process(*case, tmp_path / "a.json")
    second = _plan_in_process(*case, tmp_path / "b.json")
    assert first == second, "two plans in one process differ"
    # A fresh interpreter with another hash seed: set iteration order, caches and object
    # addresses all differ there.
    other = _plan_in_a_process(*case, tmp_path / "c.json", hash_seed="4242")
    assert first == other, "plans in two processes differ"
    text = first.decode()
    assert " object at 0x" not in text, "an object's repr (its address) leaked into the plan"


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
