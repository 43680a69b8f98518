"""Bad input never crashes the CLI: a corpus of broken files and values, run through the real
commands. Every case must exit 2 with ONE line on stderr, `error: <file>...: <field>: ...`,
naming the file and the field, and no traceback.

Stack cases run through every command that reads a stack (STACK_COMMANDS), plan-file cases
through every command that reads a saved plan (PLAN_COMMANDS): a new command joins the corpus
by adding one line there.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mlinfra.cli import app
from tests.test_spec import _with

ROOT = Path(__file__).resolve().parents[1]
STACK = ROOT / "stacks/aws"

# How each command is called on a stack directory / on a saved plan (`good` is a valid plan).
STACK_COMMANDS: dict[str, Callable[[Path, str], list[str]]] = {
    "plan": lambda d, stack: ["plan", str(d), "--stack", stack, "--no-tree"],
    "spec": lambda d, stack: ["spec", str(d), "--stack", stack],
}
PLAN_COMMANDS: dict[str, Callable[[Path, Path], list[str]]] = {
    "policy check": lambda bad, good: ["policy", "check", str(bad)],
    "diff (base)": lambda bad, good: ["diff", str(bad), str(good)],
    "diff (head)": lambda bad, good: ["diff", str(good), str(bad)],
    "graph": lambda bad, good: ["graph", str(bad)],
}


@dataclass(frozen=True)
class Case:
    name: str
    prepare: Callable[[Path], list[str]]  # builds the input under tmp_path, returns the CLI args
    file: str  # the file name the message must name
    field: str | None  # the field (or option) it must name


def _platform(doc: dict) -> dict:
    return doc["config"]["mlinfra:platform"]


def stack_text(mutate: Callable[[str], str] | None = None, data: Callable[[dict], None] | None = None):
    """A copy of stacks/aws whose Pulumi.dev.yaml is changed as text or as data."""

    def build(tmp: Path) -> Path:
        d = tmp / "aws"
        shutil.copytree(STACK, d, ignore=shutil.ignore_patterns("__pycache__"))
        f = d / "Pulumi.dev.yaml"
        if data is not None:
            doc = yaml.safe_load(f.read_text())
            data(doc)
            f.write_text(yaml.safe_dump(doc, sort_keys=False))
        if mutate is not None:
            f.write_text(mutate(f.read_text()))
        return d

    return build


def _set(path: str, value):
    """Set a spec field of the stack file (the spec tests' `_with`)."""

    def apply(doc: dict) -> None:
        doc["config"]["mlinfra:platform"] = _with(_platform(doc), path, value)

    return apply


def _raw(text: bytes | str, name: str = "Pulumi.dev.yaml"):
    def build(tmp: Path) -> Path:
        d = stack_text()(tmp)
        f = d / name
        f.write_bytes(text if isinstance(text, bytes) else text.encode())
        return d

    return build


def _alias_bomb(width: int, levels: int) -> str:
    """A "billion laughs" stack file: `levels` anchors, each `width` aliases of the one before
    (width ** levels values once expanded, a few hundred bytes written)."""
    lines = ["config:", "  mlinfra:l0: &l0 [laugh]"]
    for n in range(1, levels + 1):
        lines.append(f"  mlinfra:l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def _alias_tower(depth: int, levels: int) -> str:
    """Anchors each `depth` levels deep holding the one before: shallow as written, deep expanded."""
    lines = ["config:", f"  mlinfra:t0: &t0 {'[' * depth}{']' * depth}"]
    for n in range(1, levels + 1):
        lines.append(f"  mlinfra:t{n}: &t{n} {'[' * depth}*t{n - 1}{']' * depth}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- stack and project files

STACK_CASES: list[tuple[str, Callable[[Path], Path], str, str | None]] = [
    # YAML syntax
    ("unclosed flow list", _raw("config:\n  mlinfra:platform: [1, 2\n"), "Pulumi.dev.yaml:", None),
    ("bad indentation", _raw("config:\n  a:b: 1\n b: 2\n"), "Pulumi.dev.yaml:", None),
    # tabs
    ("tab in stack file", _raw("config:\n\tmlinfra:platform: {}\n"), "Pulumi.dev.yaml:2", None),
    (
        "tab in project file",
        _raw("name: x\nruntime:\n\tname: python\n", "Pulumi.yaml"),
        "Pulumi.yaml:3",
        None,
    ),
    # encodings
    (
        "latin-1 stack file",
        _raw("config:\n  mlinfra:x: caf\xe9\n".encode("latin-1")),
        "Pulumi.dev.yaml:2",
        None,
    ),
    ("UTF-16 project file", _raw("name: x\n".encode("utf-16"), "Pulumi.yaml"), "Pulumi.yaml:1", None),
    # shapes
    ("stack file is a list", _raw("- config\n"), "Pulumi.dev.yaml:1", None),
    ("stack file is a string", _raw("hello\n"), "Pulumi.dev.yaml:1", None),
    ("config is a list", _raw("config: [1, 2]\n"), "Pulumi.dev.yaml:1", "config"),
    ("config is a string", _raw("config: everything\n"), "Pulumi.dev.yaml:1", "config"),
    ("project file is a list", _raw("- name\n", "Pulumi.yaml"), "Pulumi.yaml:1", None),
    (
        "project config is a list",
        _raw("name: p\nruntime: python\nconfig: [a]\n", "Pulumi.yaml"),
        "Pulumi.yaml:3",
        "config",
    ),
    ("config key with two namespaces", _raw("config:\n  a:b:c: 1\n"), "Pulumi.dev.yaml:2", "config.a:b:c"),
    (
        "platform is a string",
        stack_text(data=lambda d: d["config"].update({"mlinfra:platform": "aws"})),
        "Pulumi.dev.yaml:2",
        "mlinfra:platform",
    ),
    (
        "platform is a list",
        stack_text(data=lambda d: d["config"].update({"mlinfra:platform": ["aws"]})),
        "Pulumi.dev.yaml:3",
        "mlinfra:platform",
    ),
    # duplicate keys
    (
        "duplicate spec key",
        stack_text(
            mutate=lambda t: t.replace(
                "    region: us-west-2\n", "    region: us-west-2\n    region: eu-west-1\n"
            )
        ),
        "Pulumi.dev.yaml:",
        "config.mlinfra:platform.region",
    ),
    (
        "duplicate config key",
        stack_text(mutate=lambda t: t + "  mlinfra:platform: {}\n"),
        "Pulumi.dev.yaml:",
        "config.mlinfra:platform",
    ),
    # YAML types Pulumi config has no value for (a timestamp is the string written: see below)
    (
        "binary value",
        stack_text(mutate=lambda t: t.replace("cost_center: cc-4711", "cost_center: !!binary aGVsbG8=")),
        "Pulumi.dev.yaml:11",
        "config.mlinfra:platform.tags.cost_center",
    ),
    (
        "set value",
        stack_text(mutate=lambda t: t.replace("project: recsys", "project: !!set {a, b}")),
        "Pulumi.dev.yaml:13",
        "config.mlinfra:platform.tags.extra.project",
    ),
    ("local tag", _raw("config:\n  mlinfra:x: !Ref bucket\n"), "Pulumi.dev.yaml:2", "config.mlinfra:x"),
    (
        "date where a folder belongs",
        stack_text(mutate=lambda t: t.replace("version: 2026-10-01/", "version: 2026-10-01 ")),
        "Pulumi.dev.yaml:38",
        "serving.models.0.version",
    ),
    # hostile structure: refused fast, before anything walks or expands it
    (
        "deep nesting",
        _raw("config:\n  mlinfra:x: " + "[" * 900 + "]" * 900 + "\n"),
        "Pulumi.dev.yaml:2",
        None,
    ),
    (
        "deep nesting in the project file",
        _raw("name: p\nruntime: python\nx: " + "{a: " * 500 + "1" + "}" * 500 + "\n", "Pulumi.yaml"),
        "Pulumi.yaml:3",
        None,
    ),
    ("alias bomb", _raw(_alias_bomb(9, 9)), "Pulumi.dev.yaml:", None),
    ("recursive alias", _raw("config:\n  mlinfra:x: &a [1, *a]\n"), "Pulumi.dev.yaml:2", None),
    ("aliases nested too deep", _raw(_alias_tower(60, 20)), "Pulumi.dev.yaml:", None),
    # spec fields of the wrong shape
    (
        "environment as a list",
        stack_text(data=_set("environment", ["dev"])),
        "Pulumi.dev.yaml:",
        "environment",
    ),
    (
        "environment as a map",
        stack_text(data=_set("environment", {"dev": True})),
        "Pulumi.dev.yaml:",
        "environment",
    ),
    ("network as a list", stack_text(data=_set("network", ["10.0.0.0/16"])), "Pulumi.dev.yaml:", "network"),
    ("tags as a string", stack_text(data=_set("tags", "ml-platform")), "Pulumi.dev.yaml:", "tags"),
    (
        "boolean node count",
        stack_text(data=_set("gpu_pools.0.max_nodes", True)),
        "Pulumi.dev.yaml:",
        "gpu_pools.0.max_nodes",
    ),
    (
        "quoted node count",
        stack_text(data=_set("gpu_pools.0.max_nodes", "2")),
        "Pulumi.dev.yaml:",
        "gpu_pools.0.max_nodes",
    ),
    # spec values refused before any resource
    ("unknown region", stack_text(data=_set("region", "us-west-9")), "Pulumi.dev.yaml:", "region"),
    (
        "model on a missing pool",
        stack_text(data=_set("serving.models.0.gpu_pool", "nope")),
        "Pulumi.dev.yaml:",
        "serving.models.0.gpu_pool",
    ),
    (
        "duplicate admin principal",
        stack_text(data=_set("cluster.admin_principals", ["arn:aws:iam::123456789012:role/a"] * 2)),
        "Pulumi.dev.yaml:",
        "cluster.admin_principals.1",
    ),
    (
        "memory not a quantity",
        stack_text(data=_set("serving.models.0.memory", "14 GB")),
        "Pulumi.dev.yaml:",
        "serving.models.0.memory",
    ),
    # files and directories
    ("no Pulumi.yaml", lambda tmp: tmp, "Pulumi.yaml", None),
    (
        "stack directory is a file",
        lambda tmp: (tmp / "f.txt").write_text("x") and tmp / "f.txt",
        "f.txt",
        None,
    ),
    (
        "program missing",
        lambda tmp: (stack_text()(tmp) / "__main__.py").unlink() or tmp / "aws",
        "__main__.py",
        None,
    ),
    ("not a python project", _raw("name: p\nruntime: nodejs\n", "Pulumi.yaml"), "Pulumi.yaml:2", "runtime"),
]


@pytest.mark.parametrize("command", sorted(STACK_COMMANDS))
@pytest.mark.parametrize(("name", "build", "file", "field"), STACK_CASES, ids=[c[0] for c in STACK_CASES])
def test_bad_stack_input(tmp_path, command, name, build, file, field):
    args = STACK_COMMANDS[command](build(tmp_path), "dev")
    _assert_one_line_error(CliRunner().invoke(app, args), file, field)


def test_a_missing_platform_key_names_the_stack_file(tmp_path):
    d = stack_text(data=lambda doc: doc["config"].pop("mlinfra:platform"))(tmp_path)
    r = CliRunner().invoke(app, STACK_COMMANDS["spec"](d, "dev"))
    _assert_one_line_error(r, "Pulumi.dev.yaml", None)
    assert "mlinfra:platform is not set" in r.stderr


def test_an_exception_in_the_program_names_its_line_and_hints_at_debug(tmp_path):
    d = stack_text()(tmp_path)
    main = d / "__main__.py"
    main.write_text(
        main.read_text().replace(
            "spec = PlatformSpec.from_config()", "spec = PlatformSpec.from_config()\n{}['x']"
        )
    )
    line = main.read_text().splitlines().index("{}['x']") + 1
    r = CliRunner().invoke(app, STACK_COMMANDS["plan"](d, "dev"))
    _assert_one_line_error(r, f"__main__.py:{line}", None)
    assert "KeyError: 'x' (run with --debug for the traceback)" in r.stderr
    r = CliRunner().invoke(app, [*STACK_COMMANDS["plan"](d, "dev"), "--debug"])
    assert (
        r.exit_code == 2
        and "Traceback" in r.stderr
        and r.stderr.strip().splitlines()[-1].startswith("error: ")
    )


def test_a_timestamp_is_the_string_written_as_the_pulumi_cli_reads_it(tmp_path):
    """Go's yaml (the Pulumi CLI) decodes `2026-01-01` into config as the string "2026-01-01"."""
    d = stack_text(mutate=lambda t: t.replace("cost_center: cc-4711", "cost_center: 2026-01-01"))(tmp_path)
    r = CliRunner().invoke(app, STACK_COMMANDS["spec"](d, "dev"))
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["tags"]["cost_center"] == "2026-01-01"


@pytest.mark.parametrize("command", sorted(STACK_COMMANDS))
def test_the_quoting_hint_quotes_the_text_written(tmp_path, command):
    """`kubernetes_version: 1.30` is the number 1.3; the hint quotes "1.30", not "1.3"."""
    d = stack_text(mutate=lambda t: t.replace('kubernetes_version: "1.33"', "kubernetes_version: 1.30"))(
        tmp_path
    )
    r = CliRunner().invoke(app, STACK_COMMANDS[command](d, "dev"))
    _assert_one_line_error(r, "Pulumi.dev.yaml:17", "cluster.kubernetes_version")
    assert r.stderr.rstrip().endswith('(quote it in YAML: "1.30")'), r.stderr


def test_the_same_path_in_spec_and_plan(tmp_path):
    d = stack_text(data=_set("serving.models.0.name", "Bad_Name"))(tmp_path)
    lines = {c: CliRunner().invoke(app, STACK_COMMANDS[c](d, "dev")).stderr for c in STACK_COMMANDS}
    assert len(set(lines.values())) == 1, lines
    assert ": serving.models.0.name: model name 'Bad_Name' must be" in lines["spec"]


# ---------------------------------------------------------------- pack configs given to plan / policy


def _json_file(name: str, content: str | bytes | None):
    def build(tmp: Path) -> Path:
        f = tmp / name
        if content is not None:
            f.write_bytes(content if isinstance(content, bytes) else content.encode())
        return f

    return build


PACK_CONFIG_CASES = [
    ("missing", _json_file("cfg.json", None), None),
    ("a directory", lambda tmp: tmp, None),
    ("malformed", _json_file("cfg.json", '{"disabled": '), None),
    ("not UTF-8", _json_file("cfg.json", b'{"disabled": {"required-tags": "caf\xe9"}}'), None),
    ("a list", _json_file("cfg.json", "[]"), None),
    ("disabled as a list", _json_file("cfg.json", '{"disabled": ["required-tags"]}'), "disabled"),
    ("overrides as a string", _json_file("cfg.json", '{"overrides": "advisory"}'), "overrides"),
    (
        "unknown policy",
        _json_file("cfg.json", '{"disabled": {"no-such-rule": "because"}}'),
        "disabled.no-such-rule",
    ),
    (
        "unknown exempted policy",
        _json_file("cfg.json", '{"exemptions": [{"policy": "nope", "resource": "r", "reason": "x"}]}'),
        "exemptions.0.policy",
    ),
    (
        "empty reason",
        _json_file("cfg.json", '{"disabled": {"required-tags": " "}}'),
        "disabled.required-tags",
    ),
    (
        "exemption without a reason",
        _json_file("cfg.json", '{"exemptions": [{"policy": "required-tags", "resource": "r"}]}'),
        "exemptions.0.reason",
    ),
    (
        "exemption with an unknown key",
        _json_file(
            "cfg.json",
            '{"exemptions": [{"policy": "required-tags", "resource": "r", "reason": "x", "until": "2027"}]}',
        ),
        "exemptions.0",
    ),
    ("bad environment", _json_file("cfg.json", '{"environment": "qa"}'), "environment"),
    ("bad level", _json_file("cfg.json", '{"enforcement": {"prod": "strict"}}'), "enforcement.prod"),
    (
        "CrossGuard form with a bad level",
        _json_file("cfg.json", '{"required-tags": {"enforcementLevel": "loud"}}'),
        "required-tags.enforcementLevel",
    ),
]


@pytest.mark.parametrize(("name", "build", "field"), PACK_CONFIG_CASES, ids=[c[0] for c in PACK_CONFIG_CASES])
def test_bad_policy_config(tmp_path, name, build, field):
    cfg = build(tmp_path)
    plan_args = [*STACK_COMMANDS["plan"](STACK, "dev"), "--policy-config", str(cfg)]
    check_args = ["policy", "check", str(_good_plan(tmp_path)), "--config", str(cfg)]
    export_args = [
        "policy",
        "export-config",
        "--pack",
        "access",
        "--environment",
        "dev",
        "--config",
        str(cfg),
    ]
    for args in (plan_args, check_args, export_args):
        _assert_one_line_error(CliRunner().invoke(app, args), cfg.name, field)


# ---------------------------------------------------------------- saved plans


@cache
def _good_plan_text() -> str:
    from mlinfra.offline import plan_stack

    return json.dumps(plan_stack(STACK, "dev").to_json())


def _good_plan(tmp: Path) -> Path:
    f = tmp / "good.json"
    f.write_text(_good_plan_text())
    return f


def _plan_mutation(mutate: Callable[[dict], object]):
    def build(tmp: Path) -> Path:
        data = json.loads(_good_plan_text())
        mutate(data)
        f = tmp / "plan.json"
        f.write_text(json.dumps(data))
        return f

    return build


PLAN_CASES = [
    ("missing", _json_file("plan.json", None), None),
    ("a directory", lambda tmp: tmp, None),
    ("not JSON", _json_file("plan.json", "stack: dev\n"), None),
    ("not UTF-8", _json_file("plan.json", b'{"stack": "d\xe9v"}'), None),
    ("truncated", _json_file("plan.json", '{"stack": "dev", "resources": ['), None),
    ("a list", _json_file("plan.json", "[]"), None),
    (
        "duplicate key",
        _json_file("plan.json", '{"stack": "a", "stack": "b", "project": "p", "resources": []}'),
        None,
    ),
    ("wrong environment", _plan_mutation(lambda d: d.update(environment="qa")), "environment"),
    ("environment as a list", _plan_mutation(lambda d: d.update(environment=["prod"])), "environment"),
    ("missing resources", _plan_mutation(lambda d: d.pop("resources")), "resources"),
    ("missing stack", _plan_mutation(lambda d: d.pop("stack")), "stack"),
    ("resources as an object", _plan_mutation(lambda d: d.update(resources={})), "resources"),
    ("inputs as a list", _plan_mutation(lambda d: d["resources"][3].update(inputs=[])), "resources.3.inputs"),
    (
        "protect as a string",
        _plan_mutation(lambda d: d["resources"][1].update(protect="yes")),
        "resources.1.protect",
    ),
    ("resource without a type", _plan_mutation(lambda d: d["resources"][2].pop("type")), "resources.2.type"),
    (
        "a URN that is none",
        _plan_mutation(lambda d: d["resources"][0].update(urn="bucket")),
        "resources.0.urn",
    ),
    (
        "dependencies of numbers",
        _plan_mutation(lambda d: d["resources"][0].update(dependencies=[1])),
        "resources.0.dependencies.0",
    ),
    ("a future format", _plan_mutation(lambda d: d.update(format_version=2)), "format_version"),
    (
        "aliases as a string",
        _plan_mutation(lambda d: d["resources"][0].update(aliases="urn:pulumi:x")),
        "resources.0.aliases",
    ),
    (
        "custom timeouts as numbers",
        _plan_mutation(lambda d: d["resources"][0].update(custom_timeouts={"create": 10})),
        "resources.0.custom_timeouts.create",
    ),
]


@pytest.mark.parametrize("command", sorted(PLAN_COMMANDS))
@pytest.mark.parametrize(("name", "build", "field"), PLAN_CASES, ids=[c[0] for c in PLAN_CASES])
def test_bad_saved_plan(tmp_path, command, name, build, field):
    bad = build(tmp_path)
    args = PLAN_COMMANDS[command](bad, _good_plan(tmp_path))
    _assert_one_line_error(CliRunner().invoke(app, args), bad.name, field)


def test_bad_option_values_name_the_option(tmp_path):
    good = _good_plan(tmp_path)
    for args, field in (
        (["policy", "check", str(good), "--environment", "qa"], "--environment"),
        (["policy", "list", "--pack", "nope"], "--pack"),
        (["policy", "export-config", "--pack", "nope", "--environment", "dev"], "--pack"),
        (["policy", "export-config", "--pack", "access", "--environment", "test"], "--environment"),
        (["policy", "check", str(good), "--format", "html"], "--format"),
        (["plan", str(STACK), "--stack", "dev", "--format", "html"], "--format"),
        (["diff", str(good), str(good), "--format", "html"], "--format"),
        (["graph", str(good), "--format", "svg"], "--format"),
        (["graph", str(STACK)], "--stack"),
    ):
        _assert_one_line_error(CliRunner().invoke(app, args), None, field)


# ---------------------------------------------------------------- output paths


@pytest.mark.parametrize(
    "target", ["missing-dir/plan.json", "."], ids=["into a missing directory", "onto a directory"]
)
def test_bad_output_path_fails_before_planning(tmp_path, target):
    out = tmp_path / target
    r = CliRunner().invoke(app, [*STACK_COMMANDS["plan"](STACK, "dev"), "--json", str(out)])
    _assert_one_line_error(r, str(out), "--json")
    assert "Plan mlinfra-aws/dev" not in r.output  # refused before the program ran


# ---------------------------------------------------------------- as a user runs it: a process


@pytest.mark.parametrize(
    ("build", "file"),
    [
        (_raw("config:\n\tmlinfra:platform: {}\n"), "Pulumi.dev.yaml:2"),
        (stack_text(data=_set("environment", ["dev"])), "Pulumi.dev.yaml:"),
        (stack_text(data=_set("serving.models.0.gpu_pool", "nope")), "Pulumi.dev.yaml:"),
    ],
    ids=["tab", "environment as a list", "model on a missing pool"],
)
def test_in_a_process_stderr_is_one_line(tmp_path, build, file):
    """No event-loop or traceback noise after the one line, exit 2 (a fresh interpreter each)."""
    d = build(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "mlinfra.cli", "plan", str(d), "--stack", "dev", "--no-tree"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and file in lines[0], proc.stderr


# ---------------------------------------------------------------- the assertion


def _assert_one_line_error(result, file: str | None, field: str | None) -> None:
    err = result.stderr
    assert result.exit_code == 2, f"exit {result.exit_code}: {result.output}"
    assert "Traceback" not in result.output and "Exception ignored" not in result.output, result.output
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    if file is not None:
        assert file in lines[0], f"{file!r} not named in {lines[0]!r}"
    if field is not None:
        assert f": {field}: " in lines[0], f"field {field!r} not named in {lines[0]!r}"
