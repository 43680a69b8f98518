"""Can this stack reach the Kubernetes API it registers resources on? Read from the plan graph.

A stack registers Kubernetes resources through a `pulumi:providers:kubernetes`; that provider's
kubeconfig comes from a cluster resource of the same plan (its dependencies name it) or from
another stack (a `pulumi:pulumi:StackReference`, whose outputs the plan read). The cluster's API
access is read from the cluster's inputs (EKS `vpcConfig.endpointPublicAccess`, GKE's DNS endpoint /
private endpoint, AKS `enablePrivateCluster`) or from the referenced platform stack's
`in_cluster.api_access` output (mlinfra.platform.IN_CLUSTER_OUTPUT). A private API is reachable only
from inside the cluster's network (EKS user guide, "Cluster API server endpoint": "All traffic to
your cluster API server must come from within your cluster's VPC or a connected network"), so a stack
that is not declared to run there (`mlinfra:deployFrom: network`) gets a warning per provider.

Works on any plan, so it also catches a team stack that points a provider at a private cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlinfra.offline.engine import Plan, ResourceRecord

# Where a stack runs from, declared in its config: `anywhere` (a laptop, a hosted CI runner; the
# default) or `network` (a runner inside the cluster's network, e.g. the platform's CodeBuild project).
DEPLOY_FROM_KEY = "mlinfra:deployFrom"
DEPLOY_FROM = ("anywhere", "network")
UNREACHABLE = "unreachable cluster"  # the prefix of every warning this module writes


def _get(d: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


def _eks(inputs: dict[str, Any]) -> str:
    return "public" if _get(inputs, "vpcConfig", "endpointPublicAccess") is True else "private"


def _gke(inputs: dict[str, Any]) -> str:
    if _get(inputs, "controlPlaneEndpointsConfig", "dnsEndpointConfig", "allowExternalTraffic") is True:
        return "dns"
    return "private" if _get(inputs, "privateClusterConfig", "enablePrivateEndpoint") is True else "public"


def _aks(inputs: dict[str, Any]) -> str:
    return "private" if _get(inputs, "apiServerAccessProfile", "enablePrivateCluster") is True else "public"


# Cluster resource type -> its API access (public | private | dns) read from its inputs.
CLUSTER_ACCESS: dict[str, Callable[[dict[str, Any]], str]] = {
    "aws:eks/cluster:Cluster": _eks,
    "gcp:container/cluster:Cluster": _gke,
    "azure-native:containerservice:ManagedCluster": _aks,
}
STACK_REFERENCE = "pulumi:pulumi:StackReference"
K8S_PROVIDER = "pulumi:providers:kubernetes"


def deploy_from(config: dict[str, str], stack: str) -> str:
    value = config.get(DEPLOY_FROM_KEY, "anywhere")
    if value not in DEPLOY_FROM:
        from mlinfra.offline.engine import ProgramError

        raise ProgramError(
            stack, f"{DEPLOY_FROM_KEY}: {value!r} is not allowed; allowed: {', '.join(DEPLOY_FROM)}"
        )
    return value


def cluster_access(plan: Plan, provider: ResourceRecord) -> tuple[str, str] | None:
    """(cluster, access) of the cluster a Kubernetes provider targets, or None when the plan does
    not say (a kubeconfig from config or the environment)."""
    by_urn = plan.by_urn()
    for urn in _expand(plan, provider.dependencies):
        # A StackReference is read, not registered: it is in the dependencies, not in the resources.
        qualified, name = urn.split("::")[-2:]
        if qualified.rsplit("$", 1)[-1] == STACK_REFERENCE:
            access = _get(plan.stack_references.get(name, {}), "in_cluster", "api_access")
            if isinstance(access, str):
                return f"the cluster of stack {name}", access
            continue
        dep = by_urn.get(urn)
        if dep is not None and dep.type in CLUSTER_ACCESS:
            return dep.inputs.get("name") or dep.name, CLUSTER_ACCESS[dep.type](dep.inputs)
    return None


def _expand(plan: Plan, urns: list[str]) -> list[str]:
    """Dependencies, with each component replaced by everything under it."""
    by_parent: dict[str | None, list[str]] = {}
    for r in plan.resources:
        by_parent.setdefault(r.parent, []).append(r.urn)
    out, todo = [], list(urns)
    while todo:
        urn = todo.pop(0)
        out.append(urn)
        todo.extend(by_parent.get(urn, []))
    return out


def reachability_warnings(plan: Plan, where: str) -> list[str]:
    """One warning per Kubernetes provider whose resources this stack cannot apply from `where`."""
    if where == "network":
        return []
    warnings = []
    for provider in plan.of_type(K8S_PROVIDER):
        count = sum(
            1 for r in plan.resources if r.provider == provider.urn and r.type.startswith("kubernetes:")
        )
        target = cluster_access(plan, provider)
        if not count or target is None or target[1] != "private":
            continue
        warnings.append(
            f"{UNREACHABLE}: {count} Kubernetes resources use provider {provider.name}, but {target[0]} has a "
            "private API endpoint (api_access: private), reachable only from inside its network, and this "
            f"stack runs from {where} ({DEPLOY_FROM_KEY}); register them from the in-cluster stack on the "
            f"runner inside the network, or set {DEPLOY_FROM_KEY}: network if this stack runs there"
        )
    return warnings
