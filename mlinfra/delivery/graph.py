"""A stack's architecture from its plan, as Mermaid (GitHub renders it in comments and READMEs) or DOT.

Components are nested boxes; inside each, the resources on the request path and the stateful
ones are drawn one by one and the rest are grouped by type with a count. Edges are the ones that
matter for traffic and data, derived from the plan's Kubernetes objects and identities (never from
names):

- Ingress -> Service / InferenceService: the Ingress backend's service name in its namespace. A
  KServe InferenceService in raw deployment mode serves through a Service it creates, named
  `<isvc>-predictor` (KServe `constants.PredictorServiceName`);
- Service -> workload: the Service's selector is a subset of the pod template labels (KServe labels
  its pods `serving.kserve.io/inferenceservice: <isvc>`);
- workload -> ServiceAccount: the pod spec's `serviceAccountName`, same namespace;
- ServiceAccount -> cloud identity: the identity the account's annotations were built from
  (a dependency of the ServiceAccount in the plan);
- identity -> bucket: a grant (role policy, IAM member, role assignment) that depends on both;
- workload -> bucket: the model's storage URI is built from the bucket (a dependency).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from mlinfra.delivery.replace import rule_for
from mlinfra.offline.engine import Plan, ResourceRecord

INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
SERVICE = "kubernetes:core/v1:Service"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
WORKLOADS = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet", ISVC)
IDENTITIES = (
    "aws:iam/role:Role",
    "gcp:serviceaccount/account:Account",
    "azure-native:managedidentity:UserAssignedIdentity",
)
GRANTS = (
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "gcp:storage/bucketIAMMember:BucketIAMMember",
    "gcp:storage/bucketIAMBinding:BucketIAMBinding",
    "azure-native:authorization:RoleAssignment",
)
KSERVE_POD_LABEL = "serving.kserve.io/inferenceservice"  # KServe constants.InferenceServicePodLabelKey


@dataclass
class Graph:
    project: str
    stack: str
    components: dict[str, ResourceRecord]
    parent_of: dict[str, str | None]  # node/component id -> component urn (None: top level)
    nodes: dict[str, str] = field(default_factory=dict)  # id -> label
    shapes: dict[str, str] = field(default_factory=dict)
    edges: list[tuple[str, str, str]] = field(default_factory=list)  # (from id, to id, label)


def _meta(r: ResourceRecord) -> tuple[str, str]:
    md = r.inputs.get("metadata") or {}
    return str(md.get("namespace") or "default"), str(md.get("name") or r.name)


def _pod(r: ResourceRecord) -> tuple[dict[str, str], str | None]:
    """Pod labels and service account of a workload."""
    spec = r.inputs.get("spec") or {}
    if r.type == ISVC:
        pred = spec.get("predictor") or {}
        labels = dict(pred.get("labels") or {})
        labels[KSERVE_POD_LABEL] = _meta(r)[1]
        return labels, pred.get("serviceAccountName")
    tpl = spec.get("template") or {}
    return dict((tpl.get("metadata") or {}).get("labels") or {}), (tpl.get("spec") or {}).get(
        "serviceAccountName"
    )


def _backends(ingress: ResourceRecord) -> list[str]:
    spec = ingress.inputs.get("spec") or {}
    names = []
    default = ((spec.get("defaultBackend") or {}).get("service") or {}).get("name")
    if default:
        names.append(default)
    for rule in spec.get("rules") or []:
        for p in (rule.get("http") or {}).get("paths") or []:
            name = ((p.get("backend") or {}).get("service") or {}).get("name")
            if name and name not in names:
                names.append(name)
    return names


def _kind(type_: str) -> str:
    rule = rule_for(type_)
    return rule.kind if rule else ""


def _short(type_: str) -> str:
    return type_.rsplit(":", 1)[-1]


def build(plan: Plan) -> Graph:
    by_urn = plan.by_urn()
    components = {r.urn: r for r in plan.resources if not r.custom and r.type.startswith("mlinfra:")}

    def component_of(r: ResourceRecord) -> str | None:
        p = r.parent
        while p is not None and p not in components:
            p = by_urn[p].parent if p in by_urn else None
        return p

    g = Graph(plan.project, plan.stack, components, {u: component_of(c) for u, c in components.items()})
    ids: dict[str, str] = {}

    def node(r: ResourceRecord, label: str, shape: str = "box") -> str:
        if r.urn not in ids:
            ids[r.urn] = f"n{len(ids)}"
            g.nodes[ids[r.urn]] = label
            g.shapes[ids[r.urn]] = shape
            g.parent_of[ids[r.urn]] = component_of(r)
        return ids[r.urn]

    k8s = defaultdict(list)
    for r in plan.resources:
        k8s[r.type].append(r)
    services = {_meta(s): s for s in k8s[SERVICE]}
    isvc_services = {(_meta(i)[0], f"{_meta(i)[1]}-predictor"): i for i in k8s[ISVC]}
    accounts = {_meta(a): a for a in k8s[SERVICE_ACCOUNT]}
    workloads = [w for t in WORKLOADS for w in k8s[t]]

    def label(r: ResourceRecord) -> str:
        if r.type.startswith("kubernetes:"):
            ns, name = _meta(r)
            return f"{_short(r.type)} {ns}/{name}"
        return f"{_short(r.type)} {r.name}"

    for ing in k8s[INGRESS]:
        ns = _meta(ing)[0]
        hosts = [
            rule.get("host") for rule in (ing.inputs.get("spec") or {}).get("rules") or [] if rule.get("host")
        ]
        for backend in _backends(ing):
            target = services.get((ns, backend)) or isvc_services.get((ns, backend))
            if target is not None:
                src = node(ing, label(ing) + (f" ({', '.join(hosts)})" if hosts else ""), "ingress")
                g.edges.append((src, node(target, label(target)), "routes"))
    for svc in k8s[SERVICE]:
        ns = _meta(svc)[0]
        selector = (svc.inputs.get("spec") or {}).get("selector") or {}
        if not selector:
            continue
        for w in workloads:
            labels, _ = _pod(w)
            if _meta(w)[0] == ns and all(labels.get(k) == v for k, v in selector.items()):
                g.edges.append((node(svc, label(svc)), node(w, label(w) + " (pods)", "pods"), "selects"))
    for w in workloads:
        ns = _meta(w)[0]
        _, account = _pod(w)
        sa = accounts.get((ns, account or "default"))
        if sa is not None:
            g.edges.append((node(w, label(w) + " (pods)", "pods"), node(sa, label(sa)), "runs as"))
        for dep in w.dependencies:
            d = by_urn.get(dep)
            if d is not None and _kind(d.type) == "bucket":
                g.edges.append(
                    (node(w, label(w) + " (pods)", "pods"), node(d, label(d), "store"), "model from")
                )
    identities = {r.urn: r for t in IDENTITIES for r in k8s[t]}
    for sa in k8s[SERVICE_ACCOUNT]:
        for dep in sa.dependencies:
            if dep in identities and sa.urn in ids:
                g.edges.append(
                    (ids[sa.urn], node(identities[dep], label(identities[dep]), "identity"), "assumes")
                )
    for grant in (r for t in GRANTS for r in k8s[t]):
        who = [identities[d] for d in grant.dependencies if d in identities and identities[d].urn in ids]
        what = [by_urn[d] for d in grant.dependencies if d in by_urn and _kind(by_urn[d].type) == "bucket"]
        for i in who:
            for b in what:
                g.edges.append((ids[i.urn], node(b, label(b), "store"), f"granted by {_short(grant.type)}"))
    # Every other resource: stateful ones one by one, the rest counted by type per component.
    for r in plan.resources:
        if r.urn in ids or r.urn in components or r.type.startswith("pulumi:"):
            continue
        rule = rule_for(r.type)
        if rule is not None:
            node(r, f"{_short(r.type)} {r.name}", "store" if rule.kind in ("bucket", "volume") else "box")
    counts: Counter[tuple[str | None, str]] = Counter(
        (component_of(r), r.type)
        for r in plan.resources
        if r.urn not in ids and r.urn not in components and not r.type.startswith("pulumi:")
    )
    for i, ((comp, type_), n) in enumerate(sorted(counts.items(), key=lambda kv: (kv[0][0] or "", kv[0][1]))):
        gid = f"g{i}"
        g.nodes[gid] = f"{_short(type_)} ×{n}"
        g.shapes[gid] = "group"
        g.parent_of[gid] = comp
    g.edges = list(dict.fromkeys(g.edges))
    return g


# --------------------------------------------------------------------------- renderers


def _children(g: Graph) -> Mapping[str | None, list[str]]:
    out: dict[str | None, list[str]] = defaultdict(list)
    for key, parent in g.parent_of.items():
        out[parent].append(key)
    return out


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


_MERMAID_SHAPES = {
    "store": ('[("', '")]'),
    "identity": ('{{"', '"}}'),
    "ingress": ('>"', '"]'),
    "pods": ('[["', '"]]'),
    "group": ('["', '"]'),
    "box": ('["', '"]'),
}


def render_mermaid(g: Graph) -> str:
    children = _children(g)
    comp_ids = {urn: f"c{i}" for i, urn in enumerate(g.components)}
    lines = ["flowchart LR"]

    def walk(parent: str | None, depth: int) -> None:
        pad = "  " * depth
        for key in children.get(parent, []):
            if key in g.components:
                c = g.components[key]
                lines.append(f'{pad}subgraph {comp_ids[key]}["{_mermaid_text(c.type + " " + c.name)}"]')
                walk(key, depth + 1)
                lines.append(f"{pad}end")
            else:
                a, b = _MERMAID_SHAPES[g.shapes[key]]
                lines.append(f"{pad}{key}{a}{_mermaid_text(g.nodes[key])}{b}")

    walk(None, 1)
    for src, dst, text in g.edges:
        lines.append(f'  {src} -->|"{_mermaid_text(text)}"| {dst}')
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


_DOT_SHAPES = {
    "store": "cylinder",
    "identity": "hexagon",
    "ingress": "cds",
    "pods": "box3d",
    "group": "note",
    "box": "box",
}


def render_dot(g: Graph) -> str:
    children = _children(g)
    comp_ids = {urn: f"cluster_{i}" for i, urn in enumerate(g.components)}
    lines = [
        f'digraph "{_dot_text(g.project + "/" + g.stack)}" {{',
        "  rankdir=LR;",
        '  node [fontname="Helvetica", fontsize=10];',
    ]

    def walk(parent: str | None, depth: int) -> None:
        pad = "  " * depth
        for key in children.get(parent, []):
            if key in g.components:
                c = g.components[key]
                lines.append(f"{pad}subgraph {comp_ids[key]} {{")
                lines.append(f'{pad}  label="{_dot_text(c.type + " " + c.name)}";')
                walk(key, depth + 1)
                lines.append(f"{pad}}}")
            else:
                lines.append(
                    f'{pad}{key} [label="{_dot_text(g.nodes[key])}", shape={_DOT_SHAPES[g.shapes[key]]}];'
                )

    walk(None, 1)
    for src, dst, text in g.edges:
        lines.append(f'  {src} -> {dst} [label="{_dot_text(text)}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(plan: Plan, fmt: str) -> str:
    g = build(plan)
    if fmt == "mermaid":
        return render_mermaid(g)
    if fmt == "dot":
        return render_dot(g)
    raise ValueError(f"format {fmt!r}; allowed: mermaid, dot")


def edges_by_label(plan: Plan) -> list[tuple[str, str, str]]:
    """The graph's edges as (from label, to label, edge label); for tests and the JSON view."""
    g = build(plan)
    return [(g.nodes[a], g.nodes[b], t) for a, b, t in g.edges]
