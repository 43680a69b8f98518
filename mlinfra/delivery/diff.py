"""What a change to a stack does, from two saved plans (base and head), by URN.

- added / removed resources (create / delete);
- changed inputs, with the changed paths (`vpcConfig.endpointPublicAccess`,
  `tags.owner`, `policy(json).Statement[0].Action`);
- "replace" when a changed path forces replacement on the real provider (`replace.REPLACE_TABLE`);
  an update of a type outside that table says it may replace (not known offline);
- `protect` / `retain_on_delete` flips;
- a URN that changed without an alias (a rename or a move to another parent): the engine deletes
  the old resource and creates a new one; with an alias (`pulumi.Alias`) it is the same resource;
- new and resolved policy violations, and the monthly cost change (min and max scale).

Deleting or replacing a stateful resource (bucket, key, registry, cluster, volume) is a warning in
every format; `stateful_losses` lists them for `--fail-on-delete`.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from mlinfra.delivery.replace import is_stateful, replacing_paths, rule_for
from mlinfra.delivery.summary import summary_line
from mlinfra.offline.engine import SECRET_MARK, Plan, ResourceRecord

# Past this many changed paths per resource the list is cut (the count stays exact).
MAX_PATHS = 12
MAY_REPLACE = "may replace: which of its properties force replacement is not known offline"


@dataclass
class Change:
    urn: str
    type: str
    name: str
    action: str  # create | update | replace | delete
    paths: list[str] = field(default_factory=list)  # changed input paths (update/replace)
    replace_paths: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)  # "protect: false -> true"
    old_urn: str | None = None  # a URN change: the base resource's URN
    renamed_without_alias: bool = False
    stateful: bool = False
    kind: str = ""
    protected: bool = False  # the base resource is protected: the engine refuses to delete it
    retained: bool = False  # base retain_on_delete: deleting removes it from the stack, not the cloud
    # An update of a type outside the replace table: the provider may replace it (not known offline).
    may_replace: bool = False
    affects: str = ""  # what goes with it when it is replaced (a network under the cluster)

    @property
    def loses_state(self) -> bool:
        """A stateful resource deleted or replaced (its data/identity is lost unless retained)."""
        return self.stateful and self.action in ("delete", "replace")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["loses_state"] = self.loses_state
        return d


@dataclass
class PlanDiff:
    project: str
    stack: str
    changes: list[Change]
    new_violations: list[dict[str, Any]]
    resolved_violations: list[dict[str, Any]]
    head_violations: list[dict[str, Any]]
    base_cost: dict[str, Any]
    head_cost: dict[str, Any]

    @property
    def counts(self) -> Counter:
        return Counter(c.action for c in self.changes)

    @property
    def stateful_losses(self) -> list[Change]:
        return [c for c in self.changes if c.loses_state]

    @property
    def empty(self) -> bool:
        cost_same = (self.base_cost.get("monthly_min_usd"), self.base_cost.get("monthly_max_usd")) == (
            self.head_cost.get("monthly_min_usd"),
            self.head_cost.get("monthly_max_usd"),
        )
        return not (self.changes or self.new_violations or self.resolved_violations) and cost_same

    @property
    def mandatory_failed(self) -> bool:
        return any(v.get("level") == "mandatory" for v in self.head_violations)

    def summary(self) -> str:
        return summary_line(
            self.project, self.stack, self.counts, self.head_violations, self.head_cost, self.base_cost
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "stack": self.stack,
            "summary": self.summary(),
            "counts": {a: self.counts.get(a, 0) for a in ("create", "update", "replace", "delete")},
            "changes": [c.to_json() for c in self.changes],
            "stateful_losses": [c.urn for c in self.stateful_losses],
            "policy": {
                "new": self.new_violations,
                "resolved": self.resolved_violations,
                "mandatory_failed": self.mandatory_failed,
            },
            "cost": {"base": _cost_range(self.base_cost), "head": _cost_range(self.head_cost)},
        }


def _cost_range(cost: dict[str, Any]) -> dict[str, float] | None:
    if "monthly_min_usd" not in cost:
        return None
    return {"monthly_min_usd": cost["monthly_min_usd"], "monthly_max_usd": cost["monthly_max_usd"]}


# --------------------------------------------------------------------------- input paths


def _json_object(value: Any) -> Any:
    """A string holding a JSON object/array (IAM policies, default tags) as data; else None."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return None
    return None


def changed_paths(old: Any, new: Any, path: str = "") -> list[str]:
    """Dotted paths where two input trees differ. Secrets masked on both sides cannot be compared."""
    if old == new:
        return []
    if old == SECRET_MARK and new == SECRET_MARK:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new)):
            sub = f"{path}.{key}" if path else str(key)
            if key not in old or key not in new:
                out.append(sub)
            else:
                out.extend(changed_paths(old[key], new[key], sub))
        return out
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return [path or "."]
        out = []
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            out.extend(changed_paths(a, b, f"{path}[{i}]"))
        return out
    jo, jn = _json_object(old), _json_object(new)
    if jo is not None and jn is not None:
        inner = changed_paths(jo, jn)
        return [f"{path}(json){'' if p.startswith('[') else '.'}{p}" for p in inner]
    return [path or "."]


# --------------------------------------------------------------------------- the diff


def _flags(old: ResourceRecord, new: ResourceRecord) -> list[str]:
    out = []
    for attr in ("protect", "retain_on_delete"):
        a, b = getattr(old, attr), getattr(new, attr)
        if a != b:
            out.append(f"{attr}: {str(a).lower()} -> {str(b).lower()}")
    return out


def _change(rec: ResourceRecord, action: str, base: ResourceRecord | None = None, **kw: Any) -> Change:
    """One change record of `rec` (head side; the base side for a delete); `base` is the resource
    before the change (its protect/retain flags are what the engine acts on)."""
    rule = rule_for(rec.type)
    before = base or rec
    return Change(
        urn=rec.urn,
        type=rec.type,
        name=rec.name,
        action=action,
        stateful=is_stateful(rec.type),
        kind=rule.kind if rule else "",
        affects=rule.affects if rule and action in ("replace", "delete") else "",
        protected=before.protect if action != "create" else False,
        retained=before.retain_on_delete if action != "create" else False,
        **kw,
    )


def _compare(old: ResourceRecord, new: ResourceRecord) -> Change | None:
    paths = changed_paths(old.inputs, new.inputs)
    if old.provider != new.provider:
        paths.append("(provider)")
    flags = _flags(old, new)
    if not paths and not flags and old.urn == new.urn:
        return None
    replace = replacing_paths(new.type, paths, old.inputs, new.inputs)
    return _change(
        new,
        "replace" if replace else "update",
        old,
        paths=paths,
        replace_paths=replace,
        flags=flags,
        old_urn=old.urn if old.urn != new.urn else None,
        may_replace=bool(paths) and not replace and rule_for(new.type) is None and new.custom,
    )


def _pair_renames(
    removed: list[ResourceRecord], added: list[ResourceRecord]
) -> list[tuple[ResourceRecord, ResourceRecord]]:
    """Removed/added pairs that are one resource under a new URN without an alias: same type and
    the same resource name (moved to another parent) or the same inputs (renamed)."""
    pairs = []
    free = list(added)
    for old in removed:
        match = next(
            (n for n in free if n.type == old.type and (n.name == old.name or n.inputs == old.inputs)),
            None,
        )
        if match is not None:
            free.remove(match)
            pairs.append((old, match))
    return pairs


def diff_plans(base: Plan, head: Plan) -> PlanDiff:
    old_by_urn, new_by_urn = base.by_urn(), head.by_urn()
    changes: list[Change] = []
    matched_old: set[str] = set()
    matched_new: set[str] = set()

    # Same URN, or a new URN that declares the old one as an alias: the same resource.
    for urn, new in new_by_urn.items():
        old = old_by_urn.get(urn) or next((old_by_urn[a] for a in new.aliases if a in old_by_urn), None)
        if old is None or old.urn in matched_old:
            continue
        matched_old.add(old.urn)
        matched_new.add(urn)
        change = _compare(old, new)
        if change is not None:
            changes.append(change)

    removed = [r for u, r in old_by_urn.items() if u not in matched_old]
    added = [r for u, r in new_by_urn.items() if u not in matched_new]
    for old, new in _pair_renames(removed, added):
        removed.remove(old)
        added.remove(new)
        changes.append(_change(old, "delete", old, renamed_without_alias=True))
        changes.append(_change(new, "create", old_urn=old.urn, renamed_without_alias=True))
    changes += [_change(r, "delete") for r in removed] + [_change(r, "create") for r in added]
    order = {"delete": 0, "replace": 1, "create": 2, "update": 3}
    changes.sort(key=lambda c: (not c.loses_state, order[c.action], c.urn))

    def keyed(plan: Plan) -> dict[tuple[str, str], dict[str, Any]]:
        return {(v["policy"], v["urn"]): v for v in (plan.policy or {}).get("violations", [])}

    old_v, new_v = keyed(base), keyed(head)
    return PlanDiff(
        project=head.project,
        stack=head.stack,
        changes=changes,
        new_violations=[v for k, v in new_v.items() if k not in old_v],
        resolved_violations=[v for k, v in old_v.items() if k not in new_v],
        head_violations=list(new_v.values()),
        base_cost=_cost_of(base),
        head_cost=_cost_of(head),
    )


def _cost_of(plan: Plan) -> dict[str, Any]:
    if plan.cost:
        return plan.cost
    from mlinfra.cost import estimate_plan

    return estimate_plan(plan)


# --------------------------------------------------------------------------- text


def warning_lines(d: PlanDiff) -> list[str]:
    """One line per stateful resource the change deletes or replaces (the loud part of every format)."""
    out = []
    for c in d.stateful_losses:
        why = (
            f"replaced: {', '.join(c.replace_paths)} cannot change in place"
            if c.action == "replace"
            else ("renamed without an alias (delete + create)" if c.renamed_without_alias else "deleted")
        )
        notes = []
        if c.protected:
            notes.append("it is protected: the update will stop at it until `protect` is lifted")
        if c.retained:
            notes.append("retain_on_delete: the cloud resource stays, orphaned from the stack")
        if c.affects:
            notes.append(c.affects)
        out.append(f"{c.kind} {c.name} ({c.type}) {why}" + (f"; {'; '.join(notes)}" if notes else ""))
    return out


def describe(c: Change) -> str:
    if c.renamed_without_alias:
        if c.action == "create":
            return f"{c.urn}  (new URN of {c.old_urn}: no alias, so delete + create)"
        return f"{c.urn}  (URN changed without an alias)"
    parts = []
    if c.old_urn:
        parts.append(f"aliased from {c.old_urn}")
    if c.replace_paths:
        parts.append("replace: " + ", ".join(c.replace_paths))
    other = [p for p in c.paths if p not in c.replace_paths]
    if other:
        shown = other[:MAX_PATHS]
        more = f" (+{len(other) - len(shown)} more)" if len(other) > len(shown) else ""
        parts.append("changed: " + ", ".join(shown) + more)
    parts.extend(c.flags)
    if c.may_replace:
        parts.append(MAY_REPLACE)
    return c.urn + (f"  ({'; '.join(parts)})" if parts else "")


def render_text(d: PlanDiff) -> str:
    if d.empty:
        return f"{d.project}/{d.stack}: no changes\n"
    lines = [d.summary()]
    for w in warning_lines(d):
        lines.append(f"WARNING stateful: {w}")
    symbol = {"create": "+", "delete": "-", "update": "~", "replace": "+-"}
    for c in d.changes:
        mark = "~?" if c.may_replace else symbol[c.action]
        lines.append(f"{mark:>2} {c.action:<7} {describe(c)}")
    for v in d.new_violations:
        where = v.get("resource") or v.get("urn")
        lines.append(f"new violation [{v.get('level')}] {v.get('policy')} on {where}: {v.get('message')}")
    for v in d.resolved_violations:
        lines.append(f"resolved [{v.get('level')}] {v.get('policy')} on {v.get('resource') or v.get('urn')}")
    return "\n".join(lines) + "\n"
