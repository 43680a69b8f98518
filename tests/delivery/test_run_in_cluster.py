"""examples/pipelines/run-in-cluster.sh: the one script both pipelines use to run the in-cluster stack
on the CodeBuild project of mlinfra/aws/runner.py. It runs here against a fake `aws` (and `pulumi`)
on PATH that records every call and answers with the fields of the real API responses
(S3 PutObject VersionId, CodeBuild Build: buildStatus/currentPhase/timeoutInMinutes/
queuedTimeoutInMinutes/logs) for exactly the queries the script sends; an unknown call fails."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import yaml

from mlinfra.aws.runner import BUILDSPEC, SOURCE_KEY
from mlinfra.policy.model import PACKS

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples/pipelines/run-in-cluster.sh"
GITHUB = ROOT / "examples/pipelines/github"
GITLAB = ROOT / "examples/pipelines/gitlab/.gitlab-ci.yml"

BUILD_QUERY = (
    "builds[0].[buildStatus,currentPhase,timeoutInMinutes,queuedTimeoutInMinutes,"
    "logs.groupName,logs.streamName,logs.deepLink]"
)

FAKE_AWS = r"""
import json, os, shutil, sys
state = os.environ["FAKE_DIR"]
scenario = json.load(open(os.path.join(state, "scenario.json")))
argv = sys.argv[1:]
with open(os.path.join(state, "calls.jsonl"), "a") as f:
    f.write(json.dumps(argv) + "\n")
def opt(name):
    return argv[argv.index(name) + 1] if name in argv else None
def fail(msg):
    print(msg, file=sys.stderr); sys.exit(255)
if opt("--output") != "text":
    fail("the script reads text output only")
cmd = argv[:2]
if cmd == ["s3api", "put-object"] and opt("--query") == "VersionId":
    shutil.copy(opt("--body"), os.path.join(state, "bundle.zip"))
    print(scenario.get("version", "3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY"))
elif cmd == ["codebuild", "start-build"] and opt("--query") == "build.id":
    print(opt("--project-name") + ":7f3c9b1e-1111-2222-3333-444455556666")
elif cmd == ["codebuild", "batch-get-builds"] and opt("--query") == QUERY:
    n = sum(1 for line in open(os.path.join(state, "calls.jsonl")) if "batch-get-builds" in line)
    statuses = scenario["statuses"]
    status, phase = statuses[min(n, len(statuses)) - 1]
    project, _, uuid = opt("--ids").partition(":")
    started = phase not in ("SUBMITTED", "QUEUED", "PROVISIONING")
    print("\t".join([status, phase, "180", "60", "/aws/codebuild/" + project,
                     uuid if started else "None",
                     "https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#logEvent:group=/aws/codebuild/"
                     + project + ";stream=" + uuid if started else "None"]))
elif cmd == ["codebuild", "stop-build"] and opt("--query") == "build.buildStatus":
    print("STOPPED")
elif cmd == ["logs", "get-log-events"] and opt("--query") == "events[].[message]":
    for line in scenario.get("log", []):
        print(line + "\n")  # CodeBuild's messages end in a newline
else:
    fail("fake aws: unexpected call " + " ".join(argv))
""".replace("QUERY", repr(BUILD_QUERY))

FAKE_PULUMI = r"""
import json, os, sys
state = os.environ["FAKE_DIR"]
argv = sys.argv[1:]
with open(os.path.join(state, "calls.jsonl"), "a") as f:
    f.write(json.dumps(["pulumi", *argv]) + "\n")
outputs = json.load(open(os.path.join(state, "scenario.json"))).get("outputs", {})
if argv[:2] == ["stack", "output"] and argv[-1] in outputs:
    print(outputs[argv[-1]])
else:
    print("error: current stack does not have output property '%s'" % argv[-1], file=sys.stderr)
    sys.exit(255)
"""

OUTPUTS = {"runner_project": "acme-ml-prod-in-cluster", "artifact_bucket": "acme-ml-prod-artifacts"}


@pytest.fixture
def world(tmp_path):
    """A git checkout with one commit, and a bin directory with the fake aws and pulumi."""
    repo = tmp_path / "repo"
    (repo / "stacks/aws-in-cluster").mkdir(parents=True)
    (repo / "stacks/aws-in-cluster/__main__.py").write_text("print('in-cluster')\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    (repo / "uncommitted.txt").write_text("not in the bundle\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("aws", FAKE_AWS), ("pulumi", FAKE_PULUMI)):
        (bin_dir / name).write_text(f"#!{sys.executable}\n{body}")
        (bin_dir / name).chmod(0o755)
    state = tmp_path / "state"
    state.mkdir()
    return repo, bin_dir, state


def _env(bin_dir: Path, state: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(state),
        "FAKE_DIR": str(state),
        "MLINFRA_POLL_SECONDS": "0",
        **extra,
    }


def _run(world, mode: str, statuses, **extra):
    repo, bin_dir, state = world
    scenario = {
        "statuses": statuses,
        "outputs": OUTPUTS,
        "log": ["[Container] Running command pulumi", "done"],
    }
    scenario.update(extra.pop("scenario", {}))
    (state / "scenario.json").write_text(json.dumps(scenario))
    (state / "calls.jsonl").unlink(missing_ok=True)
    env = _env(bin_dir, state, MLINFRA_PLATFORM_STACK="acme/prod", **extra)
    result = subprocess.run(
        ["bash", str(SCRIPT), mode], cwd=repo, env=env, capture_output=True, text=True, timeout=60
    )
    return result, _calls(state)


def _calls(state: Path) -> list[list[str]]:
    path = state / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _opt(call: list[str], name: str) -> str:
    return call[call.index(name) + 1]


DONE = [["IN_PROGRESS", "QUEUED"], ["IN_PROGRESS", "BUILD"], ["SUCCEEDED", "COMPLETED"]]


def test_a_preview_uploads_the_commit_starts_the_build_with_its_version_and_waits(world):
    result, calls = _run(world, "preview", DONE)
    assert result.returncode == 0, result.stderr
    kinds = [c[:2] for c in calls]
    assert kinds[:3] == [["pulumi", "stack"], ["pulumi", "stack"], ["s3api", "put-object"]]
    put = calls[2]
    assert _opt(put, "--bucket") == "acme-ml-prod-artifacts" and _opt(put, "--key") == SOURCE_KEY
    start = calls[3]
    assert start[:2] == ["codebuild", "start-build"]
    assert _opt(start, "--project-name") == "acme-ml-prod-in-cluster"
    assert _opt(start, "--source-version") == "3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY"  # the upload's version
    assert (
        _opt(start, "--environment-variables-override") == "name=PULUMI_COMMAND,value=preview,type=PLAINTEXT"
    )
    assert kinds[4:] == [["codebuild", "batch-get-builds"]] * 3 + [["logs", "get-log-events"]]
    logs = calls[-1]
    assert _opt(logs, "--log-group-name") == "/aws/codebuild/acme-ml-prod-in-cluster"
    assert _opt(logs, "--log-stream-name") == "7f3c9b1e-1111-2222-3333-444455556666"
    # The bundle is the committed tree (git archive), not the working directory.
    names = zipfile.ZipFile(world[2] / "bundle.zip").namelist()
    assert "stacks/aws-in-cluster/__main__.py" in names and "uncommitted.txt" not in names
    assert "logs: https://console.aws.amazon.com/cloudwatch" in result.stderr
    assert "waiting at most 250 min" in result.stderr  # queued 60 + build 180 + 10, from the build
    assert result.stdout.splitlines() == ["[Container] Running command pulumi", "done"]


@pytest.mark.parametrize("mode", ["up", "drift"])
def test_each_mode_is_the_pulumi_command_of_the_build(world, mode):
    result, calls = _run(world, mode, DONE)
    assert result.returncode == 0, result.stderr
    start = next(c for c in calls if c[:2] == ["codebuild", "start-build"])
    assert f"value={mode}," in _opt(start, "--environment-variables-override")


@pytest.mark.parametrize("status", ["FAILED", "FAULT", "TIMED_OUT", "STOPPED"])
def test_anything_but_succeeded_fails_the_job(world, status):
    result, calls = _run(world, "up", [["IN_PROGRESS", "BUILD"], [status, "COMPLETED"]])
    assert result.returncode == 1
    assert f": {status}" in result.stderr
    assert calls[-1][:2] == ["logs", "get-log-events"]  # the tail is printed on failure too
    assert not any(c[:2] == ["codebuild", "stop-build"] for c in calls)


def test_project_and_bucket_given_directly_need_no_pulumi(world):
    result, calls = _run(
        world,
        "preview",
        DONE,
        MLINFRA_RUNNER_PROJECT="p-in-cluster",
        MLINFRA_SOURCE_BUCKET="b",
        scenario={"outputs": {}},
    )
    assert result.returncode == 0, result.stderr
    assert not any(c[0] == "pulumi" for c in calls)
    assert _opt(calls[0], "--bucket") == "b" and _opt(calls[1], "--project-name") == "p-in-cluster"


def test_a_platform_without_a_runner_is_named(world):
    result, calls = _run(world, "up", DONE, scenario={"outputs": {"artifact_bucket": "b"}})
    assert result.returncode == 1
    assert "exports no runner_project" in result.stderr
    assert not any(c[0] != "pulumi" for c in calls)


def test_an_unversioned_bucket_starts_no_build(world):
    result, calls = _run(world, "up", DONE, scenario={"version": "None"})
    assert result.returncode == 1 and "must be versioned" in result.stderr
    assert not any(c[:2] == ["codebuild", "start-build"] for c in calls)


@pytest.mark.parametrize("args", [[], ["apply"], ["up", "now"]])
def test_bad_usage_exits_2_before_any_call(world, args):
    repo, bin_dir, state = world
    result = subprocess.run(
        ["bash", str(SCRIPT), *args], cwd=repo, env=_env(bin_dir, state), capture_output=True, text=True
    )
    assert result.returncode == 2 and "usage:" in result.stderr
    assert _calls(state) == []


def test_waiting_too_long_stops_a_preview_but_never_an_update(world):
    forever = [["IN_PROGRESS", "BUILD"]]
    result, calls = _run(world, "preview", forever, MLINFRA_WAIT_MINUTES="0")
    assert result.returncode == 1 and "stopping build" in result.stderr
    assert calls[-1][:2] == ["codebuild", "stop-build"]
    result, calls = _run(world, "up", forever, MLINFRA_WAIT_MINUTES="0")
    assert result.returncode == 1 and "keeps running" in result.stderr
    assert not any(c[:2] == ["codebuild", "stop-build"] for c in calls)


def test_a_cancelled_preview_stops_its_build(world):
    repo, bin_dir, state = world
    (state / "scenario.json").write_text(
        json.dumps({"statuses": [["IN_PROGRESS", "BUILD"]], "outputs": OUTPUTS})
    )
    env = _env(bin_dir, state, MLINFRA_PLATFORM_STACK="acme/prod", MLINFRA_POLL_SECONDS="1")
    proc = subprocess.Popen(
        ["bash", str(SCRIPT), "drift"], cwd=repo, env=env, stderr=subprocess.PIPE, text=True
    )
    for _ in range(300):  # until it polls
        if any(c[:2] == ["codebuild", "batch-get-builds"] for c in _calls(state)):
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "interrupted; stopping build" in err
    assert _calls(state)[-1][:2] == ["codebuild", "stop-build"]


def test_the_script_and_the_buildspec_agree():
    """The bundle key is the one the CodeBuild project reads, and the script's modes are exactly the
    PULUMI_COMMAND values the buildspec runs (anything else fails the build)."""
    text = SCRIPT.read_text()
    assert f'readonly SOURCE_KEY="{SOURCE_KEY}"' in text
    modes = set(re.search(r'readonly MODES="([^"]+)"', text)[1].split())
    build = yaml.safe_load(BUILDSPEC)["phases"]["build"]["commands"][-1]
    assert set(re.findall(r"^\s*(\w+)\)", build, re.M)) == modes == {"preview", "up", "drift"}


POLICY = [
    arg
    for pack in PACKS
    for arg in ("--policy-pack", f"SRC/policies/{pack}", "--policy-pack-config", f"/tmp/policy-{pack}.json")
]


@pytest.mark.parametrize(
    ("command", "ran"),
    [
        ("up", ["pulumi up --yes --non-interactive " + " ".join(POLICY)]),
        ("preview", ["pulumi preview --non-interactive --diff " + " ".join(POLICY)]),
        (
            "drift",
            [
                "pulumi refresh --preview-only --expect-no-changes --non-interactive",
                "pulumi preview --expect-no-changes --non-interactive " + " ".join(POLICY),
            ],
        ),
        ("bogus", []),
    ],
)
def test_the_buildspec_runs_each_mode(tmp_path, command, ran):
    """The buildspec's command under bash with a `pulumi` that records its arguments and reports a
    change on refresh: drift runs both checks and fails; an unknown command runs nothing and fails.
    preview and up (and drift's preview) carry the four policy packs of the bundle with the
    environment's enforcement, written by the real `mlinfra policy export-config`."""
    build = yaml.safe_load(BUILDSPEC)["phases"]["build"]["commands"][-1]
    log = tmp_path / "log"
    src = tmp_path / "src"
    (src / ".venv/bin").mkdir(parents=True)
    (src / ".venv/bin/mlinfra").symlink_to(Path(sys.executable).parent / "mlinfra")
    fake = f'pulumi() {{ echo "pulumi $*" >> {log}; [ "$1" != refresh ]; }}\n'
    env = {"PULUMI_COMMAND": command, "PATH": os.environ["PATH"], "CODEBUILD_SRC_DIR": str(src)}
    result = subprocess.run(
        ["bash", "-c", fake + build], env={**env, "MLINFRA_ENVIRONMENT": "prod"}, text=True
    )
    lines = log.read_text().replace(str(src), "SRC").splitlines() if log.exists() else []
    assert lines == ran
    assert result.returncode == (0 if command in ("up", "preview") else 1)
    if command == "up":
        assert json.loads(Path("/tmp/policy-encryption.json").read_text())  # prod's enforcement levels
        log.unlink()
        bad = subprocess.run(
            ["bash", "-c", fake + build], env={**env, "MLINFRA_ENVIRONMENT": "qa"}, text=True
        )
        assert bad.returncode != 0 and not log.exists()  # no policy config, no pulumi run


def _script_calls_github() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in GITHUB.glob("*.yml"):
        for m in re.finditer(
            r"examples/pipelines/run-in-cluster\.sh\s+(?:\"\$\{?(\w+)\}?\"|(\w+))", f.read_text()
        ):
            out.setdefault(f.name, []).append(m[1] or m[2])
    return out


def test_no_pipeline_needs_a_runner_nothing_provisions():
    for f in [*GITHUB.glob("*.yml"), GITLAB]:
        text = f.read_text()
        assert "self-hosted" not in text and "-network" not in text, f.name


def test_every_in_cluster_job_runs_the_script_with_its_mode():
    calls = _script_calls_github()
    assert set(calls) == {"mlinfra-deploy-stack.yml", "mlinfra-preview.yml", "mlinfra-drift.yml"}
    assert "preview" in calls["mlinfra-preview.yml"]
    assert "drift" in calls["mlinfra-drift.yml"]
    assert calls["mlinfra-deploy-stack.yml"] == ["up"]
    gl = yaml.safe_load(GITLAB.read_text())
    scripts = {name: " ".join(job.get("script", [])) for name, job in gl.items() if isinstance(job, dict)}
    using = {name: s for name, s in scripts.items() if "run-in-cluster.sh" in s}
    assert {re.search(r"run-in-cluster\.sh (\w+)", s)[1] for s in using.values()} == {
        "preview",
        "up",
        "drift",
    }
