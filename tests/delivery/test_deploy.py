"""The deploy commands at the Automation API boundary (no Pulumi CLI here): the options each command
passes, the events it renders, the summary, and the missing-CLI stop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pulumi.automation import events
from typer.testing import CliRunner

from mlinfra.cli import app
from mlinfra.delivery import deploy

ROOT = Path(__file__).resolve().parents[2]


def test_without_the_cli_every_command_stops_at_once_with_an_install_hint(monkeypatch):
    monkeypatch.setattr(deploy, "find_cli", lambda: None)
    for command in deploy.COMMANDS:
        r = CliRunner().invoke(app, [command, str(ROOT / "stacks/aws"), "--stack", "dev"])
        assert r.exit_code == 2, r.output
        assert "the Pulumi CLI is not on PATH" in r.output and "mlinfra plan` needs no CLI" in r.output
        assert "Traceback" not in r.output


class FakeStack:
    calls: list[tuple[str, dict]] = []
    events: list = []

    def __getattr__(self, method):
        def call(**kwargs):
            FakeStack.calls.append((method, kwargs))
            for e in FakeStack.events:
                kwargs["on_event"](e)

        return call


@pytest.fixture
def fake(monkeypatch):
    from pulumi import automation as auto

    monkeypatch.setattr(deploy, "find_cli", lambda: "/usr/local/bin/pulumi")
    made = {}

    def workspace(**kwargs):
        made["workspace"] = kwargs
        return object()

    def select(name, ws):
        made["stack"] = name
        return FakeStack()

    monkeypatch.setattr(auto, "LocalWorkspace", workspace)
    monkeypatch.setattr(auto.Stack, "select", staticmethod(select))
    FakeStack.calls, FakeStack.events = [], []
    return made


def test_preview_attaches_the_four_packs_with_the_environments_config(fake):
    FakeStack.events = []
    r = CliRunner().invoke(
        app,
        [
            "preview",
            str(ROOT / "stacks/aws"),
            "--stack",
            "acme/prod",
            "--diff",
            "--expect-no-changes",
            "--plan",
            "plan.json",
        ],
    )
    assert r.exit_code == 0, r.output
    method, kwargs = FakeStack.calls[0]
    assert method == "preview" and fake["stack"] == "acme/prod"
    assert fake["workspace"]["work_dir"] == str(ROOT / "stacks/aws")
    assert fake["workspace"]["env_vars"] == {"PULUMI_EXPERIMENTAL": "true"}
    assert [Path(p).name for p in kwargs["policy_packs"]] == [
        "encryption",
        "access",
        "kubernetes",
        "guardrails",
    ]
    assert kwargs["diff"] is True and kwargs["expect_no_changes"] is True and kwargs["plan"] == "plan.json"
    assert len(kwargs["policy_pack_configs"]) == 4


def test_each_command_calls_its_automation_api_method():
    cases = {
        ("up", False): ("up", {"policy_packs", "policy_pack_configs", "plan", "expect_no_changes"}),
        ("refresh", False): ("refresh", {"expect_no_changes"}),
        ("refresh", True): ("preview_refresh", {"expect_no_changes"}),
        ("destroy", False): ("destroy", set()),
        ("destroy", True): ("preview_destroy", set()),
    }
    for (command, preview_only), (method, keys) in cases.items():
        got, opts = deploy.options(
            command,
            packs=["p"],
            pack_configs=["c"],
            diff=False,
            expect_no_changes=True,
            plan_file=None,
            preview_only=preview_only,
            on_event=print,
            on_output=print,
        )
        assert got == method
        assert keys <= set(opts) and {"on_event", "diff"} <= set(opts)
        assert "policy_packs" not in opts or command in ("preview", "up")


def test_pack_configs_carry_the_stack_environment(tmp_path):
    env = deploy.stack_environment(ROOT / "stacks/aws", "acme/prod")
    assert env == "prod"
    paths = deploy.write_pack_configs(env, None, tmp_path)
    first = json.loads(Path(paths[0]).read_text())
    assert {v["enforcementLevel"] for v in first.values()} == {"mandatory"}
    assert {v["environment"] for v in first.values()} == {"prod"}


def _event(data: dict) -> events.EngineEvent:
    return events.EngineEvent.from_json({"sequence": 1, "timestamp": 0, **data})


def _pre(op: str, urn: str, type_: str, inputs: dict) -> events.EngineEvent:
    state = {
        "type": type_,
        "urn": urn,
        "id": "",
        "parent": "",
        "provider": "",
        "custom": True,
        "inputs": inputs,
    }
    return _event(
        {
            "resourcePreEvent": {
                "metadata": {"op": op, "urn": urn, "type": type_, "provider": "", "new": state}
            }
        }
    )


def test_events_are_rendered_and_summarised_like_a_plan(fake):
    ng = "urn:pulumi:dev::mlinfra-aws::mlinfra:aws:GpuNodePool$aws:eks/nodeGroup:NodeGroup::gpu"
    FakeStack.events = [
        _pre(
            "create",
            ng,
            "aws:eks/nodeGroup:NodeGroup",
            {"instanceTypes": ["g6.xlarge"], "scalingConfig": {"minSize": 0, "maxSize": 2}},
        ),
        _pre("update", "urn:pulumi:dev::mlinfra-aws::aws:kms/key:Key::key", "aws:kms/key:Key", {}),
        _event(
            {
                "policyEvent": {
                    "message": "bucket is public\\nRemediation: ...",
                    "color": "never",
                    "policyName": "s3-public",
                    "policyPackName": "mlinfra-access",
                    "policyPackVersion": "0.2.0",
                    "policyPackVersionTag": "0.2.0",
                    "enforcementLevel": "advisory",
                    "resourceUrn": ng,
                }
            }
        ),
        _event(
            {
                "diagnosticEvent": {
                    "message": "provider warning\\n",
                    "color": "never",
                    "severity": "warning",
                    "ephemeral": False,
                }
            }
        ),
        _event(
            {
                "summaryEvent": {
                    "maybeCorrupt": False,
                    "durationSeconds": 3,
                    "resourceChanges": {"create": 1, "update": 1, "same": 40},
                    "policyPacks": {},
                }
            }
        ),
    ]
    r = CliRunner().invoke(app, ["up", str(ROOT / "stacks/aws"), "--stack", "dev"])
    assert r.exit_code == 0, r.output
    assert "  create   aws:eks/nodeGroup:NodeGroup gpu" in r.output
    assert "  policy advisory mlinfra-access/s3-public: bucket is public" in r.output
    assert "  warning: provider warning" in r.output
    last = r.output.strip().splitlines()[-1]
    assert (
        last
        == "mlinfra-aws/dev: 1 created, 1 changed, 0 replaced, 0 deleted · policy: 0 mandatory, 1 advisory · cost $1–$1,176/month"
    )


def test_a_failed_update_exits_one_with_the_error_line(fake, monkeypatch):
    from pulumi.automation._cmd import CommandResult
    from pulumi.automation.errors import CommandError

    class Failing:
        def up(self, **kwargs):
            raise CommandError(CommandResult("", "error: update failed: access denied", 255))

    from pulumi import automation as auto

    monkeypatch.setattr(auto.Stack, "select", staticmethod(lambda name, ws: Failing()))
    r = CliRunner().invoke(app, ["up", str(ROOT / "stacks/aws"), "--stack", "dev"])
    assert r.exit_code == 1 and "access denied" in r.output
