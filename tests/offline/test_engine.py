"""The offline engine: config loading, capture, determinism, errors."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from mlinfra.offline import ProgramError, load_stack, plan_stack, run_program
from mlinfra.offline.engine import SECRET_MARK, SECRET_PLACEHOLDER
from mlinfra.offline.yamlfile import YamlFileError

PROGRAM = textwrap.dedent(
    """
    import pulumi
    import pulumi_random as random

    cfg = pulumi.Config()
    size = cfg.require_int("size")
    settings = cfg.require_object("settings")
    token = cfg.require_secret("token")

    class Box(pulumi.ComponentResource):
        def __init__(self, name, opts=None):
            super().__init__("mlinfra:test:Box", name, None, opts)
            self.pw = random.RandomPassword(f"{name}-pw", length=size, special=False,
                opts=pulumi.ResourceOptions(parent=self, protect=settings["protect"],
                                            retain_on_delete=settings["protect"]))
            self.suffix = random.RandomString(f"{name}-suffix", length=6, keepers={"token": token},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.pw]))
            self.register_outputs({})

    box = Box("box")
    pulumi.export("password", box.pw.result)
    pulumi.export("size", size)
    """
)


@pytest.fixture
def stack_dir(tmp_path: Path) -> Path:
    (tmp_path / "Pulumi.yaml").write_text(
        "name: demo\nruntime:\n  name: python\nconfig:\n  size:\n    type: integer\n    default: 12\n"
    )
    (tmp_path / "Pulumi.dev.yaml").write_text(
        "config:\n"
        "  demo:settings:\n    protect: true\n    nested: {a: 1}\n"
        "  demo:token:\n    secure: AAABAxyz\n"
    )
    (tmp_path / "__main__.py").write_text(PROGRAM)
    return tmp_path


def test_load_stack_reads_project_and_stack_config(stack_dir):
    cfg = load_stack(stack_dir, "dev")
    assert cfg.project == "demo"
    assert cfg.config["demo:size"] == "12"
    assert json.loads(cfg.config["demo:settings"]) == {"protect": True, "nested": {"a": 1}}
    assert cfg.config["demo:token"] == SECRET_PLACEHOLDER
    assert cfg.secret_keys == ["demo:token"]


def test_plan_captures_graph_with_options(stack_dir):
    plan = plan_stack(stack_dir, "dev")
    assert (plan.project, plan.stack, plan.environment) == ("demo", "dev", "dev")
    box = plan.one("mlinfra:test:Box")
    assert box.urn == "urn:pulumi:dev::demo::mlinfra:test:Box::box"
    pw = plan.one("random:index/randomPassword:RandomPassword")
    assert (
        pw.urn == "urn:pulumi:dev::demo::mlinfra:test:Box$random:index/randomPassword:RandomPassword::box-pw"
    )
    assert pw.parent == box.urn
    assert pw.protect and pw.retain_on_delete
    assert pw.inputs["length"] == 12 and pw.inputs["special"] is False
    suffix = plan.one("random:index/randomString:RandomString")
    assert suffix.dependencies == [pw.urn]
    # the SDK marks the whole map secret when one value is; the plan masks it
    assert suffix.inputs["keepers"] == SECRET_MARK, "secret inputs are masked in the plan"
    assert plan.outputs["password"] == SECRET_MARK
    assert plan.outputs["size"] == 12
    assert plan.warnings == []


def test_plan_is_deterministic(stack_dir):
    a = plan_stack(stack_dir, "dev").to_json()
    b = plan_stack(stack_dir, "dev").to_json()
    assert a == b


def test_json_form_has_the_documented_keys(stack_dir):
    data = plan_stack(stack_dir, "dev").to_json()
    assert {"stack", "project", "cloud", "resources", "policy", "cost"} <= set(data)
    for r in data["resources"]:
        assert set(r) == {
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
    json.dumps(data)  # serialisable


def test_missing_stack_file_names_the_available_stacks(stack_dir):
    with pytest.raises(ProgramError, match=r"Pulumi.qa.yaml: not found; stacks here: dev"):
        plan_stack(stack_dir, "qa")


def test_missing_config_is_a_program_error_naming_the_key(stack_dir):
    (stack_dir / "Pulumi.dev.yaml").write_text("config:\n  demo:settings: {protect: false}\n")
    with pytest.raises(ProgramError) as info:
        plan_stack(stack_dir, "dev")
    assert info.value.file == str(stack_dir / "Pulumi.dev.yaml") and info.value.field == "demo:token"
    assert "demo:token: required configuration value is not set" in str(info.value)


def test_exception_in_program_is_wrapped(stack_dir):
    (stack_dir / "__main__.py").write_text("raise RuntimeError('boom in program')\n")
    with pytest.raises(ProgramError, match="RuntimeError: boom in program"):
        plan_stack(stack_dir, "dev")


def test_runs_do_not_leak_into_each_other():
    import pulumi_random as random

    first = run_program(lambda: random.RandomPet("one"), stack="a")
    second = run_program(lambda: random.RandomPet("two"), stack="b")
    assert [r.name for r in first.resources] == ["one"]
    assert [r.name for r in second.resources] == ["two"]


def test_esc_environment_is_accepted_and_declared_values_become_labelled_placeholders(stack_dir):
    (stack_dir / "Pulumi.yaml").write_text(
        "name: demo\nruntime:\n  name: python\nconfig:\n  size:\n    type: integer\n    default: 12\n"
        "  token:\n    type: string\n    secret: true\n"
    )
    (stack_dir / "Pulumi.dev.yaml").write_text(
        "environment:\n  - acme/demo-dev\nconfig:\n  demo:settings:\n    protect: false\n"
    )
    cfg = load_stack(stack_dir, "dev")
    assert cfg.config["demo:token"] == "[from ESC environment acme/demo-dev]"
    assert "demo:token" in cfg.secret_keys
    plan = plan_stack(stack_dir, "dev")  # the program's require_secret("token") is satisfied
    assert plan.one("random:index/randomPassword:RandomPassword").inputs["length"] == 12
    (stack_dir / "Pulumi.dev.yaml").write_text("environment: acme/demo-dev\nconfig: {}\n")
    with pytest.raises(
        YamlFileError, match=r"Pulumi.dev.yaml:\d+: environment: a list of ESC environment names"
    ):
        load_stack(stack_dir, "dev")
