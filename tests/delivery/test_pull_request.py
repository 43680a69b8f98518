"""The pull-request job (what action.yml and the GitLab pipeline run) on a real change to the AWS dev
stack: it plans base and head, renders the comment committed as examples/pipelines/pr-comment.md
(shown in the README), and creates, edits or skips the sticky comment through the platform's API.

Regenerate the example deliberately with MLINFRA_UPDATE_SNAPSHOTS=1 (as the URN snapshots)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml

from mlinfra.delivery import pullrequest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples/pipelines/pr-comment.md"
README = ROOT / "README.md"
MLINFRA = f"{sys.executable} -m mlinfra.cli"


def _head_checkout(tmp: Path) -> Path:
    """The pull request: a bigger GPU type for the dev pool, one more node, one more repository."""
    head = tmp / "head"
    shutil.copytree(ROOT / "stacks/aws", head / "stacks/aws")
    path = head / "stacks/aws/Pulumi.dev.yaml"
    doc = yaml.safe_load(path.read_text())
    spec = doc["config"]["mlinfra:platform"]
    spec["gpu_pools"][0].update(machine_type="g6.2xlarge", max_nodes=3)
    spec["registry"]["repositories"].append("serving/triton")
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return head


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("pr")
    head = _head_checkout(tmp)
    args = [
        "plan",
        "--stack-dir",
        "stacks/aws",
        "--stacks",
        "dev qa",
        "--head",
        str(head),
        "--base",
        str(ROOT),
    ]
    args += ["--out", str(tmp / "out"), "--head-mlinfra", MLINFRA, "--base-mlinfra", MLINFRA]
    assert pullrequest.main(args) == 0
    return tmp / "out"


def test_plan_records_each_side(out):
    status = json.loads((out / "dev.status.json").read_text())
    assert status["project"] == "mlinfra-aws"
    assert status["head"]["rc"] == status["base"]["rc"] == 0
    assert (out / "dev.head.json").is_file() and (out / "dev.base.json").is_file()
    assert json.loads((out / "qa.status.json").read_text())["head"]["missing"] is True


def test_comment_body_is_the_committed_example(out, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    # The pull request replaces the GPU node group (instanceTypes is force-new): not stateful, no failure.
    assert pullrequest.main(["comment", "--stacks", "dev qa", "--out", str(out)]) == 0
    body = (out / "dev.md").read_text()
    assert body.startswith("<!-- mlinfra:comment project=mlinfra-aws stack=dev -->")
    assert "replace: instanceTypes" in body and "aws:ecr/repository:Repository" in body
    if os.environ.get("MLINFRA_UPDATE_SNAPSHOTS") == "1":
        EXAMPLE.write_text(body)
        text = README.read_text()
        start, end = "<!-- pr-comment-example:start -->\n", "<!-- pr-comment-example:end -->"
        README.write_text(text[: text.index(start) + len(start)] + body + text[text.index(end) :])
    assert body == EXAMPLE.read_text(), "regenerate with MLINFRA_UPDATE_SNAPSHOTS=1"
    assert body in README.read_text(), "the README shows the committed example"


def test_unannounced_stateful_replace_fails_and_a_label_allows_it(out, tmp_path):
    data = json.loads((out / "dev.head.json").read_text())
    bucket = next(r for r in data["resources"] if r["type"] == "aws:s3/bucket:Bucket")
    bucket["inputs"]["bucket"] += "-v2"
    work = tmp_path / "out"
    shutil.copytree(out, work)
    (work / "dev.head.json").write_text(json.dumps(data))
    assert pullrequest.main(["comment", "--stacks", "dev", "--out", str(work)]) == 1
    assert "[!CAUTION]" in (work / "dev.md").read_text()
    assert (
        pullrequest.main(["comment", "--stacks", "dev", "--out", str(work), "--allow-stateful-delete"]) == 0
    )


def test_failed_head_plan_fails_with_the_error_line(out, tmp_path):
    work = tmp_path / "out"
    shutil.copytree(out, work)
    status = json.loads((work / "dev.status.json").read_text())
    status["head"] = {"rc": 2, "missing": False, "error": "stack 'dev': gpu_pools.0.max_nodes: ..."}
    (work / "dev.status.json").write_text(json.dumps(status))
    (work / "dev.head.json").unlink()
    assert pullrequest.main(["comment", "--stacks", "dev", "--out", str(work)]) == 1
    assert "**The plan failed:** `stack 'dev': gpu_pools.0.max_nodes" in (work / "dev.md").read_text()


class _JsonApi(BaseHTTPRequestHandler):
    """A fake platform API: JSON replies, no request log."""

    def _reply(self, code: int, body) -> None:
        raw = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


class _FakeGitHub(_JsonApi):
    comments: list[dict] = []
    calls: list[tuple[str, str]] = []

    def do_GET(self):  # noqa: N802
        self.calls.append(("GET", self.path))
        if self.path == "/user":  # as for a workflow's GITHUB_TOKEN
            self._reply(403, {"message": "Resource not accessible by integration"})
            return
        page = int(self.path.rsplit("page=", 1)[1])
        self._reply(200, self.comments[(page - 1) * 100 : page * 100])

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.calls.append(("POST", self.path))
        self.comments.append(
            {"id": len(self.comments) + 1, "body": body["body"], "user": {"login": "github-actions[bot]"}}
        )
        self._reply(201, self.comments[-1])

    def do_PATCH(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.calls.append(("PATCH", self.path))
        comment = self.comments[int(self.path.rsplit("/", 1)[1]) - 1]
        if comment["user"]["login"] != "github-actions[bot]":  # nobody edits another's comment
            self._reply(403, {"message": "Resource not accessible by integration"})
            return
        comment["body"] = body["body"]
        self._reply(200, {})


def test_sticky_comment_is_created_then_edited_and_no_change_posts_nothing(out, tmp_path, monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), _FakeGitHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/platform")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    monkeypatch.setenv("GITHUB_TOKEN", "t")
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    try:
        # No change (base == head) and no comment yet: nothing is posted.
        same = tmp_path / "same"
        shutil.copytree(out, same)
        shutil.copy(same / "dev.base.json", same / "dev.head.json")
        assert (
            pullrequest.main(["comment", "--stacks", "dev", "--out", str(same), "--platform", "github"]) == 0
        )
        assert {m for m, _ in _FakeGitHub.calls} == {"GET"} and _FakeGitHub.comments == []
        # A change: created once, then edited in place on the next push.
        for _ in range(2):
            assert (
                pullrequest.main(["comment", "--stacks", "dev", "--out", str(out), "--platform", "github"])
                == 0
            )
        assert [m for m, _ in _FakeGitHub.calls if m != "GET"] == ["POST", "PATCH"]
        assert ("POST", "/repos/acme/platform/issues/7/comments") in _FakeGitHub.calls
        assert len(_FakeGitHub.comments) == 1 and "replace: instanceTypes" in _FakeGitHub.comments[0]["body"]
        # Back to no change: the existing comment says so in one line.
        assert (
            pullrequest.main(["comment", "--stacks", "dev", "--out", str(same), "--platform", "github"]) == 0
        )
        assert _FakeGitHub.comments[0]["body"].endswith("**mlinfra-aws/dev: no changes**\n")
        assert "replace: instanceTypes" in summary.read_text()
    finally:
        server.shutdown()


@pytest.fixture
def fake_github(tmp_path, monkeypatch):
    _FakeGitHub.comments, _FakeGitHub.calls = [], []
    server = HTTPServer(("127.0.0.1", 0), _FakeGitHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps({"pull_request": {"number": 7, "head": {"repo": {"full_name": "acme/platform"}}}})
    )
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/platform")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    monkeypatch.setenv("GITHUB_TOKEN", "t")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    yield _FakeGitHub
    server.shutdown()


def test_a_marker_in_someone_elses_comment_is_not_ours(out, fake_github):
    """Review finding 2: mallory's comment carrying our marker neither hides our comment nor is edited;
    neither is a comment of ours that only quotes the marker below its first line. The search pages
    through all comments (150 here)."""
    mark = "<!-- mlinfra:comment project=mlinfra-aws stack=dev -->"
    fake_github.comments = [
        {"id": i + 1, "body": f"comment {i}", "user": {"login": "alice"}} for i in range(148)
    ] + [
        {"id": 149, "body": f"{mark}\nlgtm", "user": {"login": "mallory"}},
        {"id": 150, "body": f"quoting:\n{mark}", "user": {"login": "github-actions[bot]"}},
    ]
    args = ["comment", "--stacks", "dev", "--out", str(out), "--platform", "github"]
    assert pullrequest.main(args) == 0
    assert [m for m, _ in fake_github.calls if m != "GET"] == ["POST"]
    assert fake_github.comments[148]["body"] == f"{mark}\nlgtm"
    assert fake_github.comments[-1]["body"].startswith(mark) and len(fake_github.comments) == 151
    pages = [p for m, p in fake_github.calls if m == "GET" and "page=" in p]
    assert [p.rsplit("page=", 1)[1] for p in pages] == ["1", "2"]


def test_a_refused_comment_on_a_same_repository_pull_request_fails_the_job(out, fake_github, capsys):
    mark = "<!-- mlinfra:comment project=mlinfra-aws stack=dev -->"
    fake_github.comments = [{"id": 1, "body": mark, "user": {"login": "someone"}}]
    # The token is (claimed to be) someone's: the match holds but the edit is refused.
    os.environ["MLINFRA_COMMENT_AUTHOR"] = "someone"
    try:
        args = ["comment", "--stacks", "dev", "--out", str(out), "--platform", "github"]
        assert pullrequest.main(args) == 1
    finally:
        del os.environ["MLINFRA_COMMENT_AUTHOR"]
    assert "dev: the comment could not be posted (HTTP 403" in capsys.readouterr().err


class _FakeGitLabIssues(_JsonApi):
    issues: list[dict] = []
    notes: list[tuple[int, str]] = []

    def do_GET(self):  # noqa: N802
        assert "state=opened" in self.path and "labels=mlinfra-drift" in self.path
        self._reply(200, [i for i in self.issues if "page=1" in self.path])

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path.endswith("/notes"):
            self.notes.append((int(self.path.split("/")[-2]), body["body"]))
        else:
            self.issues.append(
                {"iid": len(self.issues) + 1, "title": body["title"], "labels": [body["labels"]]}
            )
        self._reply(201, {})


def test_gitlab_drift_opens_one_issue_then_comments_on_it(tmp_path, monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), _FakeGitLabIssues)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("CI_API_V4_URL", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("CI_PROJECT_ID", "42")
    monkeypatch.setenv("MLINFRA_GITLAB_TOKEN", "t")
    log = tmp_path / "drift.log"
    log.write_text("~ update aws:eks/cluster:Cluster acme-ml-prod-cluster")
    args = [
        "issue",
        "--platform",
        "gitlab",
        "--title",
        "mlinfra drift: stacks/aws prod",
        "--body-file",
        str(log),
    ]
    try:
        assert pullrequest.main(args) == 0
        assert pullrequest.main(args) == 0
    finally:
        server.shutdown()
    assert [i["title"] for i in _FakeGitLabIssues.issues] == ["mlinfra drift: stacks/aws prod"]
    assert len(_FakeGitLabIssues.notes) == 1 and "acme-ml-prod-cluster" in _FakeGitLabIssues.notes[0][1]
