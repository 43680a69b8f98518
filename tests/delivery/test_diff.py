"""`mlinfra diff`: changes by URN, replacements from the table, renames with and without an alias,
protect flips, policy and cost changes, the plan format version, and the failure paths."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pytest
from typer.testing import CliRunner

from mlinfra.cli import app
from mlinfra.delivery.diff import changed_paths, diff_plans, render_text
from mlinfra.delivery.markdown import render_diff
from mlinfra.delivery.replace import REPLACE_TABLE
from mlinfra.offline import Plan, run_program
from mlinfra.offline.engine import PLAN_FORMAT_VERSION

TAGS = {"owner": "ml", "cost-center": "cc-1", "environment": "prod"}


def _program(
    bucket_name="acme-models",
    component="store",
    bucket="models",
    alias=None,
    protect=True,
    key_usage=None,
    tags=None,
):
    def program() -> None:
        import pulumi_aws as aws

        provider = aws.Provider("aws", region="us-east-1")

        class Store(pulumi.ComponentResource):
            def __init__(self, name, opts=None):
                super().__init__("mlinfra:test:Store", name, None, opts)
                child = pulumi.ResourceOptions(parent=self, provider=provider, protect=protect)
                aws.kms.Key(f"{name}-key", key_usage=key_usage, tags=tags or TAGS, opts=child)
                aws.s3.Bucket(
                    bucket,
                    bucket=bucket_name,
                    tags=tags or TAGS,
                    opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(aliases=alias or [])),
                )
                self.register_outputs({})

        Store(component)

    return program


def _plan(**kw) -> Plan:
    return run_program(_program(**kw), stack="prod", project="demo", region="us-east-1")


@pytest.fixture(scope="module")
def base() -> Plan:
    return _plan()


def test_no_change_is_one_line(base):
    d = diff_plans(base, _plan())
    assert d.empty and render_text(d) == "demo/prod: no changes\n"
    assert render_diff(d).splitlines()[-1] == "**demo/prod: no changes**"


def test_changed_input_paths_and_update(base):
    d = diff_plans(base, _plan(tags={**TAGS, "owner": "ml-platform"}))
    assert {c.action for c in d.changes} == {"update"}
    assert all(c.paths == ["tags.owner"] for c in d.changes)
    assert not d.stateful_losses


def test_a_force_new_property_is_a_replace_and_a_stateful_loss(base):
    d = diff_plans(base, _plan(bucket_name="acme-models-v2"))
    (c,) = d.changes
    assert (c.action, c.replace_paths, c.kind) == ("replace", ["bucket"], "bucket")
    assert d.stateful_losses == [c]
    text = render_text(d)
    assert "WARNING stateful: bucket models (aws:s3/bucket:Bucket) replaced: bucket cannot change" in text
    assert "it is protected" in text
    md = render_diff(d)
    assert "[!CAUTION]" in md and "replaced: bucket cannot change in place" in md
    assert json.loads(json.dumps(d.to_json()))["stateful_losses"] == [c.urn]


def test_rename_without_alias_is_delete_plus_create(base):
    d = diff_plans(base, _plan(bucket="artifacts"))
    assert sorted((c.action, c.renamed_without_alias) for c in d.changes) == [
        ("create", True),
        ("delete", True),
    ]
    assert [c.name for c in d.stateful_losses] == ["models"]
    assert "renamed without an alias (delete + create)" in render_text(d)


def test_rename_with_alias_is_the_same_resource(base):
    head = _plan(bucket="artifacts", alias=[pulumi.Alias(name="models")])
    d = diff_plans(base, head)
    (c,) = d.changes
    assert c.action == "update" and c.old_urn.endswith("::models") and not d.stateful_losses
    assert "aliased from" in render_text(d)


def test_moving_the_component_keeps_children_through_inherited_aliases(base):
    d = diff_plans(base, _plan(component="storage"))
    assert {c.action for c in d.changes} == {"create", "delete"}  # no alias: everything is new
    aliased = run_program(_aliased_component, stack="prod", project="demo", region="us-east-1")
    d = diff_plans(base, aliased)
    assert d.changes and not d.stateful_losses and {c.action for c in d.changes} == {"update"}


def _aliased_component() -> None:
    import pulumi_aws as aws

    provider = aws.Provider("aws", region="us-east-1")

    class Store(pulumi.ComponentResource):
        def __init__(self, name, opts=None):
            super().__init__("mlinfra:test:Store", name, None, opts)
            child = pulumi.ResourceOptions(parent=self, provider=provider, protect=True)
            # Children named from the component: the SDK derives their old URNs from the parent's alias.
            aws.kms.Key(
                f"{name}-key",
                tags=TAGS,
                opts=pulumi.ResourceOptions.merge(
                    child, pulumi.ResourceOptions(aliases=[pulumi.Alias(name="store-key")])
                ),
            )
            aws.s3.Bucket("models", bucket="acme-models", tags=TAGS, opts=child)
            self.register_outputs({})

    Store("storage", opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(name="store")]))


def test_protect_flip_and_key_replacement(base):
    d = diff_plans(base, _plan(protect=False, key_usage="SIGN_VERIFY"))
    by_name = {c.name: c for c in d.changes}
    assert by_name["models"].flags == ["protect: true -> false"]
    key = by_name["store-key"]
    assert key.action == "replace" and key.replace_paths == ["keyUsage"] and key.kind == "key"


def test_json_strings_are_compared_inside():
    old = {"policy": json.dumps({"Statement": [{"Action": "s3:GetObject"}]})}
    new = {"policy": json.dumps({"Statement": [{"Action": "s3:*"}]})}
    assert changed_paths(old, new) == ["policy(json).Statement[0].Action"]
    assert changed_paths({"a": "[secret]"}, {"a": "[secret]"}) == []
    assert changed_paths({"a": [1]}, {"a": [1, 2]}) == ["a"]


def test_policy_and_cost_changes(base):
    head = _plan()
    base.policy = {"violations": [{"pack": "access", "policy": "old", "urn": "u1", "level": "advisory"}]}
    head.policy = {
        "violations": [
            {"pack": "access", "policy": "new", "urn": "u2", "level": "mandatory", "message": "bad"}
        ]
    }
    base.cost = {"monthly_min_usd": 10.0, "monthly_max_usd": 20.0}
    head.cost = {"monthly_min_usd": 15.0, "monthly_max_usd": 50.0}
    d = diff_plans(base, head)
    assert [v["policy"] for v in d.new_violations] == ["new"]
    assert [v["policy"] for v in d.resolved_violations] == ["old"]
    assert d.mandatory_failed and not d.empty
    assert "policy: 1 mandatory, 0 advisory" in d.summary()
    assert "cost $15–$50/month (+$5 min, +$30 max)" in d.summary()
    base.policy, base.cost = {"violations": []}, {}


# --------------------------------------------------------------------------- the command


def _save(plan: Plan, path: Path) -> Path:
    path.write_text(json.dumps(plan.to_json()))
    return path


def test_cli_formats_and_fail_on_delete(base, tmp_path):
    a = _save(base, tmp_path / "base.json")
    b = _save(_plan(bucket="artifacts"), tmp_path / "head.json")
    runner = CliRunner()
    for fmt, needle in (
        ("text", "WARNING stateful"),
        ("markdown", "<!-- mlinfra:comment project=demo stack=prod -->"),
        ("json", '"stateful_losses"'),
    ):
        r = runner.invoke(app, ["diff", str(a), str(b), "--format", fmt])
        assert r.exit_code == 0 and needle in r.stdout, (fmt, r.output)
    r = runner.invoke(app, ["diff", str(a), str(b), "--fail-on-delete"])
    assert r.exit_code == 1 and "--fail-on-delete" in r.output
    assert runner.invoke(app, ["diff", str(a), str(a), "--fail-on-delete"]).exit_code == 0


def test_plan_version_other_than_this_one_fails_with_a_clear_message(base, tmp_path):
    data = base.to_json()
    assert data["format_version"] == PLAN_FORMAT_VERSION
    future = tmp_path / "future.json"
    future.write_text(json.dumps({**data, "format_version": 99}))
    r = CliRunner().invoke(app, ["diff", str(future), str(future)])
    assert r.exit_code == 2
    assert r.stderr.splitlines() == [
        f"error: {future}: format_version: 99 is not supported; this mlinfra reads 1 "
        "(write the plan again with this version: `mlinfra plan ... --json FILE`)"
    ]
    # Plans written before the key existed have the version-1 shape (main's reading rule).
    del data["format_version"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data))
    assert CliRunner().invoke(app, ["diff", str(old), str(old)]).exit_code == 0


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "cannot read"),
        ("{not json", "not JSON"),
        ("[]", "a saved plan is a JSON object"),
        ('{"format_version": 1}', "stack: missing"),
    ],
)
def test_bad_plan_files_exit_two_naming_the_file(tmp_path, content, message):
    path = tmp_path / "plan.json"
    if content is not None:
        path.write_text(content)
    r = CliRunner().invoke(app, ["diff", str(path), str(path)])
    assert r.exit_code == 2 and str(path) in r.output and message in r.output
    assert len(r.stderr.splitlines()) == 1 and "Traceback" not in r.output


@pytest.fixture(scope="module")
def network_change(tmp_path_factory):
    """Review finding 3: `network.cidr` of the dev stack changed (a real re-plan of a copy)."""
    import shutil

    import yaml

    from mlinfra.offline import plan_stack

    root = Path(__file__).resolve().parents[2]
    d = tmp_path_factory.mktemp("net") / "aws"
    shutil.copytree(root / "stacks/aws", d, ignore=shutil.ignore_patterns("__pycache__"))
    f = d / "Pulumi.dev.yaml"
    doc = yaml.safe_load(f.read_text())
    doc["config"]["mlinfra:platform"]["network"]["cidr"] = "10.20.0.0/16"
    f.write_text(yaml.safe_dump(doc, sort_keys=False))
    return plan_stack(root / "stacks/aws", "dev"), plan_stack(d, "dev")


def test_a_new_vpc_cidr_replaces_the_vpc_and_subnets_loudly(network_change, tmp_path):
    d = diff_plans(*network_change)
    vpc = next(c for c in d.changes if c.type == "aws:ec2/vpc:Vpc")
    assert vpc.action == "replace" and vpc.replace_paths == ["cidrBlock"] and vpc.loses_state
    subnets = [c for c in d.changes if c.type == "aws:ec2/subnet:Subnet"]
    assert subnets and all(c.action == "replace" and "cidrBlock" in c.replace_paths for c in subnets)
    text = render_text(d)
    assert "WARNING stateful: network acme-ml-dev-network-vpc (aws:ec2/vpc:Vpc) replaced: cidrBlock" in text
    assert "the cluster's control-plane ENIs" in text
    a, b = _save(network_change[0], tmp_path / "a.json"), _save(network_change[1], tmp_path / "b.json")
    assert CliRunner().invoke(app, ["diff", str(a), str(b), "--fail-on-delete"]).exit_code == 1


def test_an_update_of_a_type_outside_the_table_may_replace(network_change):
    d = diff_plans(*network_change)
    unknown = [c for c in d.changes if c.action == "update" and c.may_replace]
    assert unknown, "some changed type is outside the replace table"
    assert all(c.type not in REPLACE_TABLE for c in unknown)
    line = next(x for x in render_text(d).splitlines() if x.lstrip().startswith("~?"))
    assert "may replace: which of its properties force replacement is not known offline" in line
    known = [c for c in d.changes if c.action == "update" and c.type in REPLACE_TABLE]
    assert not any(c.may_replace for c in known)


def test_fork_controlled_names_cannot_inject_markdown(base):
    """Review finding 4: a resource name that tries to close the fence and the <details>, add a
    heading, an @mention and a remote image stays inside its code block, one line."""
    evil = "x```\n</details>\n\n## ✅ mlinfra: no changes @acme/platform-admins\n<img src=https://a.example/p.png>"
    data = base.to_json()
    data["resources"][-1]["name"] = evil
    data["resources"][-1]["urn"] = data["resources"][-1]["urn"].rsplit("::", 1)[0] + "::" + evil
    head = Plan.from_json(data)
    body = render_diff(diff_plans(base, head))
    lines = body.splitlines()
    # Nothing the name holds starts a line of its own: no heading, no closing tag, no image.
    assert not any(line.startswith(("## ", "<img", "</details>")) for line in lines[:-1])
    assert lines.count("</details>") == 1 and lines[-1] == "</details>"
    fence = next(line for line in lines if line.startswith("```") and line.endswith("diff"))[: -len("diff")]
    assert len(fence) > 3  # longer than the name's backtick run
    assert sum(line == fence for line in lines) == 1  # the name's ``` does not close it
    assert "x```\\n</details>" in body  # shown, as one line
