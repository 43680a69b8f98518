"""Comment bodies: marker, summary first, violations with remediation, tree collapsed, the size limit."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from mlinfra.cli import app
from mlinfra.delivery.markdown import LIMIT, Section, assemble, marker, render_plan
from mlinfra.offline import Plan, ResourceRecord


def _plan(n_resources: int, violations: list[dict]) -> Plan:
    resources = [
        ResourceRecord(
            urn=f"urn:pulumi:prod::demo::aws:s3/bucket:Bucket::bucket-{i:05d}-" + "x" * 80,
            type="aws:s3/bucket:Bucket",
            name=f"bucket-{i:05d}-" + "x" * 80,
            parent=None,
            provider=None,
            inputs={},
        )
        for i in range(n_resources)
    ]
    return Plan(
        stack="prod",
        project="demo",
        cloud="aws",
        resources=resources,
        policy={"violations": violations},
        cost={"monthly_min_usd": 100.0, "monthly_max_usd": 250.0},
    )


def _violation(i: int, level: str) -> dict:
    return {
        "pack": "encryption",
        "policy": f"rule-{i}",
        "urn": f"u{i}",
        "level": level,
        "message": f"problem {i} " + "y" * 200,
        "remediation": f"fix {i}",
        "resource": f"r{i}",
        "severity": "high",
    }


def test_layout_summary_first_then_violations_then_collapsed_tree():
    body = render_plan(_plan(3, [_violation(1, "mandatory"), _violation(2, "advisory")]))
    lines = body.splitlines()
    assert lines[0] == marker("demo", "prod") == "<!-- mlinfra:comment project=demo stack=prod -->"
    summary = next(line for line in lines if line.startswith("**"))
    assert (
        summary
        == "**demo/prod: 3 to create, 0 to change, 0 to replace, 0 to delete · policy: 1 mandatory, 1 advisory · cost $100–$250/month**"
    )
    assert body.index("problem 1") < body.index("problem 2") < body.index("<details>")
    assert "fix: fix 1" in body and "```text" in body


def test_a_comment_over_the_limit_cuts_the_tree_first_and_keeps_every_mandatory_violation():
    violations = [_violation(i, "mandatory") for i in range(40)] + [
        _violation(100 + i, "advisory") for i in range(40)
    ]
    plan = _plan(2000, violations)
    body = render_plan(plan)
    assert len(body) <= LIMIT
    assert "more line(s) cut to stay under GitHub's comment limit" in body
    assert all(f"problem {i} " in body for i in range(40)), "every mandatory violation is kept"
    assert all(f"problem {100 + i} " in body for i in range(40)), "advisory ones go only after the tree"
    assert body.count("```") % 2 == 0, "the cut tree's code fence is closed"
    # A tighter limit: the tree goes, then advisory violations; mandatory ones and the summary stay.
    small = render_plan(plan, limit=12_000)
    assert len(small) <= 12_000
    assert all(f"problem {i} " in small for i in range(40))
    assert "policy: 40 mandatory, 40 advisory" in small
    assert "problem 139 " not in small


def test_kept_lines_alone_over_the_limit_are_shortened_not_dropped():
    sections = [
        Section(["header"], keep=True),
        Section([f"- mandatory {i} " + "z" * 2000 for i in range(10)], keep=True),
    ]
    body = assemble(sections, limit=5_000)
    assert len(body) <= 5_000 and all(f"mandatory {i} " in body for i in range(10))


def test_plan_and_policy_check_markdown_from_the_cli(tmp_path):
    plan = _plan(2, [_violation(1, "mandatory")])
    plan.environment = "prod"
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan.to_json()))
    r = CliRunner().invoke(app, ["policy", "check", str(path), "--format", "markdown"])
    assert r.exit_code == 1
    assert r.stdout.startswith(marker("demo", "prod"))
    assert "FAIL (mandatory policy violated)" in r.stdout
