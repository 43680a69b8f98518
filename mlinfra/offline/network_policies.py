"""Which connections do a plan's NetworkPolicies let through? A small evaluator, the same for every cloud.

It reads the `networking.k8s.io/v1` NetworkPolicies and Namespaces of one or more plans and answers
"may this endpoint open a connection to that one on this port?" with the Kubernetes semantics
(Kubernetes docs, "Network Policies"; API reference NetworkPolicySpec):

- a pod is isolated for egress (ingress) when a policy of its namespace selects it with that policy
  type (`policyTypes` defaults to Ingress, plus Egress when the policy has egress rules); an isolated
  direction admits only what some rule of some selecting policy admits; policies are additive;
- a connection needs the source's egress AND the destination's ingress to admit it;
- a peer is an `ipBlock` (cidr minus `except`), a `podSelector` (pods of the policy's namespace), a
  `namespaceSelector` (every pod of the selected namespaces) or both in one peer (the selected pods of
  the selected namespaces); label selectors take `matchLabels` and `matchExpressions`
  (In, NotIn, Exists, DoesNotExist); every namespace carries `kubernetes.io/metadata.name`;
- `ports` empty means every port; a port is a number (with an optional `endPort`) or the name of a
  container port of the destination pod; the protocol defaults to TCP;
- traffic between a pod and its own node is always allowed ("Pods cannot ... block access from their
  resident node": that is how kubelet probes pass). The AWS VPC CNI agent implements exactly this
  (aws/aws-network-policy-agent#65, "allow all traffic to/from Node IP"). Host-network pods are not
  isolated by any policy.

An `ipBlock` is matched against the endpoint's IP whether or not it is a pod: the AWS VPC CNI and the
other eBPF/iptables implementations filter on addresses (Kubernetes leaves pod IPs in ipBlocks
implementation-defined).

Pods come from the plan where it renders them (Deployments, InferenceServices: `pods_in`) and, for
Helm charts, are described by the caller with the labels the chart's templates give them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlinfra.offline.engine import Plan

NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
NAMESPACE = "kubernetes:core/v1:Namespace"
NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Endpoint:
    """One end of a connection.

    namespace: the pod's namespace; None for anything that is not a pod (a node, the control plane,
        a VPC endpoint, an address on the internet).
    labels / ports: the pod's labels and its named container ports (name -> number).
    node: the node the pod runs on, or for a node endpoint its own name (node-local traffic passes).
    """

    name: str
    ip: str
    namespace: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    ports: Mapping[str, int] = field(default_factory=dict)
    node: str | None = None
    host_network: bool = False

    @property
    def is_pod(self) -> bool:
        return self.namespace is not None and not self.host_network


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector; an empty selector selects everything."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], list(expr.get("values") or [])
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise ValueError(f"matchExpressions operator {op!r} is not a LabelSelector operator")
    return True


class PolicySet:
    """The NetworkPolicies of a cluster and the labels of its namespaces."""

    def __init__(
        self, policies: Iterable[Mapping[str, Any]], namespace_labels: Mapping[str, Mapping[str, str]]
    ):
        self.policies = [dict(p) for p in policies]
        self.namespace_labels = {ns: dict(labels) for ns, labels in namespace_labels.items()}

    @classmethod
    def from_plans(cls, *plans: Plan) -> PolicySet:
        """Every NetworkPolicy (metadata + spec) and Namespace (labels) the plans register."""
        policies, namespaces = [], {}
        for plan in plans:
            for r in plan.of_type(NAMESPACE):
                meta = r.inputs.get("metadata") or {}
                namespaces[meta["name"]] = dict(meta.get("labels") or {})
            for r in plan.of_type(NETWORK_POLICY):
                policies.append(
                    {"metadata": r.inputs.get("metadata") or {}, "spec": r.inputs.get("spec") or {}}
                )
        return cls(policies, namespaces)

    def _ns_labels(self, namespace: str) -> dict[str, str]:
        return {**self.namespace_labels.get(namespace, {}), NAME_LABEL: namespace}

    def _selecting(self, pod: Endpoint, direction: str) -> list[dict[str, Any]]:
        out = []
        for policy in self.policies:
            if policy["metadata"].get("namespace") != pod.namespace:
                continue
            spec = policy["spec"]
            types = spec.get("policyTypes") or (["Ingress"] + (["Egress"] if spec.get("egress") else []))
            if direction in types and selector_matches(spec.get("podSelector"), pod.labels):
                out.append(policy)
        return out

    def _peer_matches(self, peer: Mapping[str, Any], policy_ns: str, other: Endpoint) -> bool:
        if "ipBlock" in peer:
            block = peer["ipBlock"]
            ip = ipaddress.ip_address(other.ip)
            if ip not in ipaddress.ip_network(block["cidr"]):
                return False
            return not any(ip in ipaddress.ip_network(e) for e in block.get("except") or [])
        if not other.is_pod:
            return False
        if "namespaceSelector" in peer:
            if not selector_matches(peer["namespaceSelector"], self._ns_labels(other.namespace or "")):
                return False
        elif other.namespace != policy_ns:
            return False
        return "podSelector" not in peer or selector_matches(peer["podSelector"], other.labels)

    @staticmethod
    def _port_matches(
        ports: Sequence[Mapping[str, Any]] | None, port: int, protocol: str, dst: Endpoint
    ) -> bool:
        if not ports:
            return True
        for p in ports:
            if p.get("protocol", "TCP") != protocol:
                continue
            want = p.get("port")
            if want is None:
                return True
            if isinstance(want, str):
                if dst.ports.get(want) == port:
                    return True
                continue
            if int(want) <= port <= int(p.get("endPort") or want):
                return True
        return False

    def _direction(
        self, pod: Endpoint, other: Endpoint, direction: str, port: int, protocol: str, dst: Endpoint
    ) -> Verdict:
        selecting = self._selecting(pod, direction)
        if not selecting:
            return Verdict(True, f"{pod.name}: no policy isolates its {direction.lower()}")
        key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
        for policy in selecting:
            for rule in policy["spec"].get(key) or []:
                peers = rule.get(peers_key)
                if peers and not any(self._peer_matches(peer, pod.namespace or "", other) for peer in peers):
                    continue
                if self._port_matches(rule.get("ports"), port, protocol, dst):
                    return Verdict(
                        True, f"{pod.name}: {direction.lower()} allowed by {policy['metadata'].get('name')}"
                    )
        names = ", ".join(sorted(str(p["metadata"].get("name")) for p in selecting))
        return Verdict(
            False,
            f"{pod.name}: {direction.lower()} isolated by {names}; no rule admits {other.name}:{port}/{protocol}",
        )

    def connect(self, src: Endpoint, dst: Endpoint, port: int, protocol: str = "TCP") -> Verdict:
        """May `src` open a connection to `dst` on `port`/`protocol`?"""
        if src.node is not None and src.node == dst.node and not src.is_pod:
            return Verdict(True, f"{src.name} is {dst.name}'s own node: always allowed")
        if src.is_pod:
            egress = self._direction(src, dst, "Egress", port, protocol, dst)
            if not egress:
                return egress
        if dst.is_pod:
            ingress = self._direction(dst, src, "Ingress", port, protocol, dst)
            if not ingress:
                return ingress
        return Verdict(True, f"{src.name} -> {dst.name}:{port}/{protocol} allowed")


# --------------------------------------------------------------------------- pods a plan renders

_WORKLOADS = {
    "kubernetes:apps/v1:Deployment": "deployment",
    "kubernetes:apps/v1:DaemonSet": "deployment",
    "kubernetes:apps/v1:StatefulSet": "deployment",
    "kubernetes:serving.kserve.io/v1beta1:InferenceService": "isvc",
}


def _ports(containers: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Named container ports (plan inputs carry numbers as floats)."""
    return {
        p["name"]: int(p["containerPort"])
        for c in containers
        for p in c.get("ports") or []
        if p.get("name") and isinstance(p.get("containerPort"), int | float)
    }


def pods_in(plan: Plan, *, ip: str = "10.0.0.10", node: str = "node-1") -> dict[str, Endpoint]:
    """One pod per workload the plan renders (metadata.name -> Endpoint).

    KServe raw deployment mode gives predictor pods the InferenceService's predictor labels plus
    `serving.kserve.io/inferenceservice: <name>` and `component: predictor` (kserve v0.15.2
    pkg/controller/v1beta1/inferenceservice/components/predictor.go).
    """
    out: dict[str, Endpoint] = {}
    for r in plan.resources:
        kind = _WORKLOADS.get(r.type)
        if kind is None:
            continue
        meta = r.inputs.get("metadata") or {}
        spec = r.inputs.get("spec") or {}
        if kind == "deployment":
            template = spec.get("template") or {}
            labels = dict((template.get("metadata") or {}).get("labels") or {})
            ports = _ports((template.get("spec") or {}).get("containers") or [])
            host = bool((template.get("spec") or {}).get("hostNetwork"))
        else:
            predictor = spec.get("predictor") or {}
            labels = {
                **(meta.get("labels") or {}),
                **(predictor.get("labels") or {}),
                "serving.kserve.io/inferenceservice": meta["name"],
                "component": "predictor",
            }
            ports = _ports([predictor.get("model") or {}, *(predictor.get("containers") or [])])
            host = False
        out[meta["name"]] = Endpoint(
            name=meta["name"],
            ip=ip,
            namespace=meta.get("namespace"),
            labels=labels,
            ports=ports,
            node=node,
            host_network=host,
        )
    return out
