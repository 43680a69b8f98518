"""The pull-request job behind the GitHub action (`action.yml`) and the GitLab example pipeline.

    python -m mlinfra.delivery.pullrequest plan    --stack-dir stacks/aws --stacks "staging prod" \\
        --head . --base ../base --out .mlinfra
    python -m mlinfra.delivery.pullrequest comment --stacks "staging prod" --out .mlinfra \\
        --platform github|gitlab|none [--allow-stateful-delete]

`plan` runs `mlinfra plan --json` for every stack on the head and on the base checkout (offline:
no credentials, safe for forks) and records each exit status. `comment` turns each pair into one
comment body (`mlinfra diff --format markdown`; the whole plan for a stack that is new in the pull
request; the error line for a plan that failed), writes it to `<out>/<stack>.md` and the job
summary, and creates or edits the stack's own comment (found by its hidden marker). When nothing
changes it posts nothing, and turns an earlier comment into the one-line "no changes". It exits 1
when a head plan violates a mandatory policy or fails, or a stateful resource is deleted or
replaced without `--allow-stateful-delete` (the pipeline sets it from a pull-request label).

Only the standard library and mlinfra: the same module runs on GitHub, GitLab and a laptop.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlinfra.delivery.diff import diff_plans
from mlinfra.delivery.markdown import _code, _esc, marker, render_diff, render_plan
from mlinfra.offline.engine import PlanFileError, load_plan_file


def _stacks(value: str) -> list[str]:
    return [s for s in value.replace(",", " ").split() if s]


# --------------------------------------------------------------------------- plan


def plan_side(mlinfra: list[str], stack_dir: Path, stack: str, out: Path, policy_config: str | None) -> dict:
    """Plan one stack on one checkout; the status records the exit code and the error line."""
    if not (stack_dir / f"Pulumi.{stack}.yaml").is_file():
        return {"rc": None, "missing": True, "error": f"{stack_dir}/Pulumi.{stack}.yaml does not exist"}
    cmd = [*mlinfra, "plan", str(stack_dir), "--stack", stack, "--json", str(out), "--no-tree"]
    if policy_config:
        cmd += ["--policy-config", policy_config]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    error = next((line for line in proc.stderr.splitlines() if line.startswith("error:")), "")
    return {"rc": proc.returncode, "missing": False, "error": error.removeprefix("error:").strip()}


def _project(stack_dir: Path) -> str:
    import yaml

    try:
        doc = yaml.safe_load((stack_dir / "Pulumi.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return stack_dir.name
    return str(doc.get("name") or stack_dir.name) if isinstance(doc, dict) else stack_dir.name


def cmd_plan(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for stack in _stacks(args.stacks):
        status = {}
        for side, root, exe in (
            ("head", args.head, args.head_mlinfra),
            ("base", args.base, args.base_mlinfra),
        ):
            if side == "base" and not root:
                status[side] = {"rc": None, "missing": True, "error": "no base checkout"}
                continue
            status[side] = plan_side(
                exe.split(),
                Path(root) / args.stack_dir,
                stack,
                out / f"{stack}.{side}.json",
                args.policy_config,
            )
        status["project"] = _project(Path(args.head) / args.stack_dir)
        (out / f"{stack}.status.json").write_text(json.dumps(status, indent=2) + "\n")
    return 0


# --------------------------------------------------------------------------- bodies


@dataclass
class Outcome:
    stack: str
    body: str
    changed: bool  # post a comment (else only edit an existing one)
    failed: list[str]  # why the job fails


def outcome(stack: str, out: Path, allow_stateful_delete: bool) -> Outcome:
    status = json.loads((out / f"{stack}.status.json").read_text())
    head_status, base_status = status["head"], status["base"]
    if head_status.get("missing"):
        return Outcome(stack, "", False, [])
    if head_status["rc"] == 2 or not (out / f"{stack}.head.json").is_file():
        project = status.get("project", "")
        body = (
            f"{marker(project, stack)}\n### mlinfra plan · {_code(f'{project}/{stack}')}\n\n"
            f"**The plan failed:** {_code(head_status.get('error') or 'see the job log')}\n"
        )
        return Outcome(stack, body, True, [f"{stack}: the plan failed"])
    try:
        head = load_plan_file(out / f"{stack}.head.json")
        base = None
        if not base_status.get("missing") and base_status.get("rc") in (0, 1):
            base = load_plan_file(out / f"{stack}.base.json")
    except PlanFileError as e:
        project = status.get("project", "")
        return Outcome(
            stack,
            f"{marker(project, stack)}\n### mlinfra · {_code(f'{project}/{stack}')}\n\n**{_esc(e)}**\n",
            True,
            [str(e)],
        )
    failed = []
    if head_status["rc"] == 1:
        failed.append(f"{head.project}/{head.stack}: a mandatory policy is violated")
    if base is None:
        note = (
            "this stack is new in the pull request"
            if base_status.get("missing")
            else f"the base branch does not plan ({base_status.get('error') or 'see the job log'})"
        )
        title = f"### mlinfra plan · {_code(f'{head.project}/{head.stack}')}"
        body = render_plan(head).replace(title, f"{title}\n\n_The whole plan: {_esc(note)}._", 1)
        return Outcome(stack, body, True, failed)
    d = diff_plans(base, head)
    if d.stateful_losses and not allow_stateful_delete:
        failed.append(
            f"{head.project}/{head.stack}: {len(d.stateful_losses)} stateful resource(s) deleted or replaced "
            "(announce it with the pull request's allow-stateful-delete label)"
        )
    return Outcome(stack, render_diff(d), not d.empty, failed)


# --------------------------------------------------------------------------- posting


class Api:
    """The few calls a sticky comment needs. A comment is the stack's own only when its FIRST line
    is the stack's marker AND its author is the identity of the token that posts: anyone can
    write the marker into a comment of their own, and editing theirs would fail (or be theirs)."""

    comments_path = ""  # the pull request's comments / the merge request's notes
    edit_method = "PATCH"

    def __init__(self, base_url: str, headers: dict[str, str]):
        self.base_url = base_url.rstrip("/")
        self.headers = headers

    def call(self, method: str, path: str, body: dict | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        for k, v in {**self.headers, "Content-Type": "application/json"}.items():
            req.add_header(k, v)
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 (https API of the CI platform)
            raw = resp.read()
        return json.loads(raw) if raw else None

    def pages(self, path: str):
        """Every item of a paginated list (`per_page=100`, until a short page)."""
        page = 1
        while True:
            items = self.call("GET", f"{path}{'&' if '?' in path else '?'}per_page=100&page={page}")
            yield from items
            if len(items) < 100:
                return
            page += 1

    def mine(self, item: dict[str, Any]) -> bool:
        raise NotImplementedError

    def comment_url(self, ident: Any) -> str:
        raise NotImplementedError

    def find(self, mark: str) -> Any:
        for c in self.pages(self.comments_path):
            first = (c.get("body") or "").split("\n", 1)[0].strip()
            if first == mark and self.mine(c):
                return c["id"]
        return None

    def create(self, body: str) -> None:
        self.call("POST", self.comments_path, {"body": body})

    def update(self, ident: Any, body: str) -> None:
        self.call(self.edit_method, self.comment_url(ident), {"body": body})


# The author of comments made with a workflow's GITHUB_TOKEN (which may not call GET /user).
GITHUB_ACTIONS_BOT = "github-actions[bot]"


class GitHub(Api):
    def __init__(self, env: dict[str, str]):
        event = json.loads(Path(env["GITHUB_EVENT_PATH"]).read_text())
        pr = event["pull_request"]
        self.number = pr["number"]
        self.repo = env["GITHUB_REPOSITORY"]
        head_repo = ((pr.get("head") or {}).get("repo") or {}).get("full_name")
        self.from_fork = head_repo is not None and head_repo != self.repo
        self.comments_path = f"/repos/{self.repo}/issues/{self.number}/comments"
        super().__init__(
            env.get("GITHUB_API_URL", "https://api.github.com"),
            {
                "Authorization": f"Bearer {env['GITHUB_TOKEN']}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
        )
        self._author = env.get("MLINFRA_COMMENT_AUTHOR") or None

    def author(self) -> str:
        """The login that posts: MLINFRA_COMMENT_AUTHOR, else GET /user (a personal or app user
        token), else the Actions bot (GITHUB_TOKEN gets 403 from GET /user)."""
        if self._author is None:
            try:
                self._author = str(self.call("GET", "/user")["login"])
            except (urllib.error.HTTPError, KeyError, TypeError):
                self._author = GITHUB_ACTIONS_BOT
        return self._author

    def mine(self, item: dict[str, Any]) -> bool:
        return (item.get("user") or {}).get("login") == self.author()

    def comment_url(self, ident: Any) -> str:
        return f"/repos/{self.repo}/issues/comments/{ident}"


class GitLab(Api):
    edit_method = "PUT"

    def __init__(self, env: dict[str, str]):
        self.comments_path = (
            f"/projects/{env['CI_PROJECT_ID']}/merge_requests/{env['CI_MERGE_REQUEST_IID']}/notes"
        )
        source = env.get("CI_MERGE_REQUEST_SOURCE_PROJECT_ID")
        self.from_fork = source is not None and source != env["CI_PROJECT_ID"]
        super().__init__(env["CI_API_V4_URL"], {"PRIVATE-TOKEN": env["MLINFRA_GITLAB_TOKEN"]})
        self._author: Any = None

    def mine(self, item: dict[str, Any]) -> bool:
        if self._author is None:
            self._author = self.call("GET", "/user")["id"]  # the token's user (a project access token's bot)
        return (item.get("author") or {}).get("id") == self._author

    def comment_url(self, ident: Any) -> str:
        return f"{self.comments_path}/{ident}"


def post(api: Api, o: Outcome) -> str:
    """Create, edit or skip the stack's comment; returns what was done."""
    mark = o.body.splitlines()[0]  # every body starts with its stack's hidden marker
    existing = api.find(mark)
    if existing is None and not o.changed:
        return "skipped (no changes)"
    if existing is None:
        api.create(o.body)
        return "created"
    api.update(existing, o.body)
    return "updated"


def cmd_comment(args: argparse.Namespace) -> int:
    out = Path(args.out)
    env = dict(os.environ)
    api: Api | None = None
    if args.platform == "github":
        api = GitHub(env)
    elif args.platform == "gitlab" and env.get("MLINFRA_GITLAB_TOKEN"):
        api = GitLab(env)
    elif args.platform == "gitlab":
        print("notice: MLINFRA_GITLAB_TOKEN is not set; the comment bodies are in the job artifacts only")
    failures: list[str] = []
    for stack in _stacks(args.stacks):
        o = outcome(stack, out, args.allow_stateful_delete)
        if not o.body:
            print(f"{stack}: no Pulumi.{stack}.yaml on the head branch; nothing to plan")
            continue
        (out / f"{stack}.md").write_text(o.body)
        if env.get("GITHUB_STEP_SUMMARY"):
            with open(env["GITHUB_STEP_SUMMARY"], "a") as f:
                f.write(o.body + "\n")
        failures += o.failed
        if api is not None:
            try:
                print(f"{stack}: comment {post(api, o)}")
            except urllib.error.HTTPError as e:
                if getattr(api, "from_fork", False):
                    # A fork's pull request gets a read-only token: the body stays in the job summary.
                    print(
                        f"{stack}: cannot comment (HTTP {e.code}, a fork's token); the body is in the job summary"
                    )
                else:
                    # The same repository: the reviewers would miss the comment, so the job fails.
                    failures.append(f"{stack}: the comment could not be posted (HTTP {e.code} from the API)")
    for f in failures:
        print(f"error: {f}", file=sys.stderr)
    return 1 if failures else 0


DRIFT_LABEL = "mlinfra-drift"


def cmd_issue(args: argparse.Namespace) -> int:
    """Open an issue titled `--title` (label mlinfra-drift), or comment on the open one: the GitLab
    drift job's report (the GitHub drift workflow does the same with its token)."""
    env = dict(os.environ)
    if not env.get("MLINFRA_GITLAB_TOKEN"):
        print("notice: MLINFRA_GITLAB_TOKEN is not set; no issue opened (the job log has the drift)")
        return 0
    api = Api(env["CI_API_V4_URL"], {"PRIVATE-TOKEN": env["MLINFRA_GITLAB_TOKEN"]})
    issues = f"/projects/{env['CI_PROJECT_ID']}/issues"
    text = Path(args.body_file).read_text()[-60_000:] if Path(args.body_file).is_file() else ""
    body = f"{args.link}\n\n```text\n{text}\n```\n" if text else args.link
    mine = next(
        (i for i in api.pages(f"{issues}?state=opened&labels={DRIFT_LABEL}") if i.get("title") == args.title),
        None,
    )
    if mine is None:
        api.call("POST", issues, {"title": args.title, "description": body, "labels": DRIFT_LABEL})
        print(f"opened issue: {args.title}")
    else:
        api.call("POST", f"{issues}/{mine['iid']}/notes", {"body": body})
        print(f"commented on issue #{mine['iid']}: {args.title}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlinfra.delivery.pullrequest")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("plan", help="Plan every stack on the head and the base checkout.")
    p.add_argument("--stack-dir", required=True)
    p.add_argument("--stacks", required=True)
    p.add_argument("--head", default=".")
    p.add_argument("--base", default="")
    p.add_argument("--out", required=True)
    p.add_argument("--policy-config", default=None)
    p.add_argument("--head-mlinfra", default="mlinfra")
    p.add_argument("--base-mlinfra", default="mlinfra")
    c = sub.add_parser("comment", help="Write, post or edit one comment per stack.")
    c.add_argument("--stacks", required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--platform", choices=("github", "gitlab", "none"), default="none")
    c.add_argument("--allow-stateful-delete", action="store_true")
    i = sub.add_parser("issue", help="Open (or comment on) the drift issue of a stack (GitLab).")
    i.add_argument("--platform", choices=("gitlab",), required=True)
    i.add_argument("--title", required=True)
    i.add_argument("--body-file", required=True)
    i.add_argument("--link", default="")
    args = parser.parse_args(argv)
    return {"plan": cmd_plan, "comment": cmd_comment, "issue": cmd_issue}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
