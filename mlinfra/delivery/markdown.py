"""Pull-request comment bodies (GitHub / GitLab markdown) for a plan, a policy report or a diff.

Layout, as pulumi/actions users asked for it (#158, #463, #482, #969, #1175, #1387): a hidden
marker naming project and stack (a pipeline finds and edits its own comment), the summary line
first, stateful deletes/replacements and violations with remediation next, the resource tree in a
collapsed block last. A body never exceeds `LIMIT` characters (GitHub refuses comments over
65,536): the tree is cut first, then advisory violations; the summary, the stateful warnings and
every mandatory violation are always kept (their messages are shortened if they alone overflow).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mlinfra.delivery.diff import PlanDiff, describe, warning_lines
from mlinfra.delivery.summary import summary_line
from mlinfra.offline.engine import Plan

LIMIT = 65_000
_CUT_NOTE = "… {n} more line(s) cut to stay under GitHub's comment limit; the full output is in the job log."


def _marker_part(text: str) -> str:
    # Pulumi project and stack names are [A-Za-z0-9._/-]; anything else (from a hand-made plan)
    # must not end the HTML comment (`-->`) or fake another stack's marker.
    return re.sub(r"[^A-Za-z0-9._/-]", "_", text).replace("--", "-_")


def marker(project: str, stack: str) -> str:
    return f"<!-- mlinfra:comment project={_marker_part(project)} stack={_marker_part(stack)} -->"


def _one_line(text: Any) -> str:
    """Line breaks shown as `\\n`: a name can never start a new markdown block."""
    return str(text).replace("\r", "\\r").replace("\n", "\\n")


_MD_PUNCT = re.compile(r"([\\`*_\[\]~!#])")


def _esc(text: Any) -> str:
    """Text safe inside a markdown paragraph or list item: no HTML, no markdown syntax (links,
    images, emphasis, code), no table breaks, no line breaks, no @mentions (a zero-width joiner
    after `@`: GitHub does not notify)."""
    t = _one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_PUNCT.sub(r"\\\1", t).replace("|", "\\|").replace("@", "@\u200d")


def _longest_backticks(texts: Iterable[str]) -> int:
    return max((len(m) for t in texts for m in re.findall(r"`+", t)), default=0)


def _code(text: Any) -> str:
    """Inline code that holds any text: a backtick run longer than any inside it (CommonMark code
    spans), padded when the text starts or ends with a backtick; line breaks as `\\n`."""
    t = _one_line(text)
    ticks = "`" * (_longest_backticks([t]) + 1)
    pad = " " if t.startswith("`") or t.endswith("`") else ""
    return f"{ticks}{pad}{t}{pad}{ticks}"


def fence_for(lines: Iterable[str]) -> str:
    """A code fence longer than any backtick run in the lines, so none of them can close it."""
    return "`" * max(3, _longest_backticks(lines) + 1)


@dataclass
class Section:
    lines: list[str]
    keep: bool  # never cut (summary, stateful warnings, mandatory violations)
    fence: str = ""  # the section's body sits in this code fence (closed again after a cut)


def _rule(v: Mapping[str, Any]) -> str:
    return f"{v.get('pack')}/{v.get('policy')}"


def _violation_lines(violations: Iterable[Mapping[str, Any]]) -> list[str]:
    out = []
    for v in violations:
        icon = "🔴" if v.get("level") == "mandatory" else "🟡"
        where = v.get("resource") or v.get("urn")
        out.append(
            f"- {icon} **{_esc(v.get('level'))}** {_code(_rule(v))} on {_code(where)}"
            f" ({_esc(v.get('severity') or '-')}): {_esc(v.get('message'))}"
        )
        if v.get("remediation"):
            out.append(f"  <br>fix: {_esc(v.get('remediation'))}")
    return out


def _violation_sections(violations: list[Mapping[str, Any]], title: str) -> list[Section]:
    if not violations:
        return []
    mandatory = [v for v in violations if v.get("level") == "mandatory"]
    advisory = [v for v in violations if v.get("level") != "mandatory"]
    out = [Section(["", f"#### {title}"], keep=True)]
    if mandatory:
        out.append(Section(_violation_lines(mandatory), keep=True))
    if advisory:
        out.append(Section(_violation_lines(advisory), keep=False))
    return out


def _collapsed(summary: str, info: str, lines: list[str]) -> list[Section]:
    body = [_one_line(line) for line in lines]
    fence = fence_for(body)
    return [
        Section(["", f"<details><summary>{_esc(summary)}</summary>", "", f"{fence}{info}"], keep=True),
        Section(body, keep=False, fence=fence),
        Section([fence, "", "</details>"], keep=True),
    ]


def _size(lines: list[str]) -> int:
    return sum(len(line) + 1 for line in lines)


def assemble(sections: list[Section], limit: int = LIMIT) -> str:
    """Join sections, cutting droppable ones (from the last) until the body fits `limit`."""
    total = sum(_size(s.lines) for s in sections)
    for s in reversed(sections):
        if total <= limit:
            break
        if s.keep or not s.lines:
            continue
        budget = _size(s.lines) - (total - limit)  # what this section may still take
        kept, used = [], 0
        for line in s.lines:
            note = _CUT_NOTE.format(n=len(s.lines) - len(kept) - 1)
            if used + len(line) + 1 + len(note) + 3 > budget:
                break
            kept.append(line)
            used += len(line) + 1
        note = _CUT_NOTE.format(n=len(s.lines) - len(kept))
        total -= _size(s.lines)
        s.lines = [*kept, f"# {note}" if s.fence else note]
        total += _size(s.lines)
    if total > limit:  # the kept sections alone overflow: shorten the longest lines, keep every one
        spots = sorted(
            ((s, i) for s in sections for i in range(len(s.lines))), key=lambda si: -len(si[0].lines[si[1]])
        )
        for s, i in spots:
            if total <= limit:
                break
            line = s.lines[i]
            cut = min(len(line) - 160, total - limit + 2)
            if cut > 2:
                s.lines[i] = line[: len(line) - cut] + " …"
                total -= cut - 2
    return "\n".join(line for s in sections for line in s.lines) + "\n"


# --------------------------------------------------------------------------- a plan


def tree_lines(plan: Plan) -> list[str]:
    """The plan's resources as an indented tree, grouped by component (parent)."""
    urns = {r.urn for r in plan.resources}
    children: dict[str | None, list] = defaultdict(list)
    for r in plan.resources:
        children[r.parent if r.parent in urns else None].append(r)
    out: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for r in children.get(parent, []):
            flags = "".join([" [protect]" if r.protect else "", " [retain]" if r.retain_on_delete else ""])
            out.append(f"{'  ' * depth}{r.type} {r.name}{flags}")
            walk(r.urn, depth + 1)

    walk(None, 0)
    return out


def render_plan(plan: Plan, limit: int = LIMIT) -> str:
    """The comment for one planned stack (everything is to be created)."""
    violations = list((plan.policy or {}).get("violations", []))
    counts = {"create": len(plan.resources)}
    summary = summary_line(plan.project, plan.stack, counts, violations, plan.cost)
    sections = [
        Section(
            [
                marker(plan.project, plan.stack),
                f"### mlinfra plan · {_code(f'{plan.project}/{plan.stack}')}",
                "",
                f"**{_esc(summary)}**",
            ],
            keep=True,
        ),
        *_violation_sections(violations, "Policy violations"),
        *_exemption_sections(plan.policy or {}),
        *(
            [Section(["", "#### Warnings", *[f"- {_esc(w)}" for w in plan.warnings]], keep=False)]
            if plan.warnings
            else []
        ),
        *_collapsed(f"Resources ({len(plan.resources)})", "text", tree_lines(plan)),
    ]
    return assemble(sections, limit)


def _exemption_sections(policy: Mapping[str, Any]) -> list[Section]:
    lines = [
        f"- exempt {_code(e['policy'])} on {_code(e['resource'])}: {_esc(e['reason'])}"
        for e in policy.get("exemptions", [])
    ] + [f"- disabled {_code(d['policy'])}: {_esc(d['reason'])}" for d in policy.get("disabled", [])]
    return [Section(["", "#### Exemptions", *lines], keep=False)] if lines else []


def render_policy(project: str, stack: str, report: Mapping[str, Any], limit: int = LIMIT) -> str:
    """The comment for `mlinfra policy check --format markdown` (a saved plan's verdict)."""
    violations = list(report.get("violations", []))
    verdict = "FAIL (mandatory policy violated)" if report.get("mandatory_failed") else "PASS"
    counts = {"mandatory": 0, "advisory": 0}
    for v in violations:
        counts[v.get("level", "advisory")] = counts.get(v.get("level", "advisory"), 0) + 1
    head = (
        f"**policy ({_esc(report.get('environment'))}): {verdict} · {counts['mandatory']} mandatory, "
        f"{counts['advisory']} advisory violation(s)**"
    )
    sections = [
        Section(
            [marker(project, stack), f"### mlinfra policy · {_code(f'{project}/{stack}')}", "", head],
            keep=True,
        ),
        *_violation_sections(violations, "Policy violations"),
        *_exemption_sections(report),
    ]
    return assemble(sections, limit)


# --------------------------------------------------------------------------- a diff


def render_diff(d: PlanDiff, limit: int = LIMIT) -> str:
    """The pull-request comment: what the change does to the stack."""
    head = [marker(d.project, d.stack), f"### mlinfra diff · {_code(f'{d.project}/{d.stack}')}", ""]
    if d.empty:
        return "\n".join([*head, f"**{_esc(d.project)}/{_esc(d.stack)}: no changes**"]) + "\n"
    sections = [Section([*head, f"**{_esc(d.summary())}**"], keep=True)]
    warnings = warning_lines(d)
    if warnings:
        sections.append(
            Section(
                [
                    "",
                    "> [!CAUTION]",
                    "> **Stateful resources deleted or replaced** (data or identity is lost):",
                ]
                + [f"> - {_esc(w)}" for w in warnings],
                keep=True,
            )
        )
    sections += _violation_sections(d.new_violations, "New policy violations")
    old = [v for v in d.head_violations if v not in d.new_violations]
    if any(v.get("level") == "mandatory" for v in old):
        sections += _violation_sections(
            [v for v in old if v.get("level") == "mandatory"],
            "Mandatory violations already on the base branch",
        )
    if d.resolved_violations:
        sections.append(
            Section(
                ["", "#### Resolved policy violations"]
                + [
                    f"- ✅ {_code(_rule(v))} on {_code(v.get('resource') or v.get('urn'))}"
                    for v in d.resolved_violations
                ],
                keep=False,
            )
        )
    symbol = {"create": "+", "delete": "-", "update": "~", "replace": "!"}
    lines = [f"{'?' if c.may_replace else symbol[c.action]} {c.action:<7} {describe(c)}" for c in d.changes]
    if lines:
        sections += _collapsed(f"Resource changes ({len(lines)})", "diff", lines)
    return assemble(sections, limit)
