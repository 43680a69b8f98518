"""Building blocks every in-cluster component shares: validated labels, Pod Security namespaces,
NetworkPolicies and pinned Helm releases.

One place decides what an mlinfra object's labels are and how a chart may receive them, so the
GPU, serving and monitoring components cannot drift apart (and a fix lands in all three).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlinfra.catalog import ENVIRONMENTS
from mlinfra.components import child
from mlinfra.k8s.charts import ChartPin
from mlinfra.k8s.scheduling import standard_labels
from mlinfra.spec import SpecError, check_unique

REQUIRED_LABEL_KEYS = ("owner", "cost-center", "environment")
# Keys `standard_labels` sets itself; a caller's copy (e.g. labels built for another component)
# must not override them, or every object would claim the caller's component.
_OWN_KEYS = frozenset(
    {
        *REQUIRED_LABEL_KEYS,
        "managed-by",  # PlatformSpec.required_tags spelling; app.kubernetes.io/managed-by says it
        "app.kubernetes.io/managed-by",
        "app.kubernetes.io/part-of",
        "app.kubernetes.io/component",
    }
)
# Charts write their own `app.kubernetes.io/*` labels next to the ones passed in values; a second
# copy of a key is a duplicate YAML mapping key, and Helm refuses the whole manifest.
CHART_OWNED_PREFIX = "app.kubernetes.io/"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

PSA = "pod-security.kubernetes.io"


def object_labels(
    component: str, labels: Mapping[str, str], field_name: str = "labels", **extra: str
) -> dict[str, str]:
    """`standard_labels(...)` from a mapping that must carry owner, cost-center and environment.

    Other keys of `labels` are kept, except the ones `standard_labels` owns (the component is
    always `component`). `extra` is added last (e.g. the model label).
    """
    missing = [k for k in REQUIRED_LABEL_KEYS if not str(labels.get(k, "")).strip()]
    if missing:
        raise SpecError(
            f"missing required labels {missing}; every object carries {list(REQUIRED_LABEL_KEYS)} "
            "(e.g. PlatformSpec.required_tags)",
            field_name,
        )
    env = labels["environment"]
    if env not in ENVIRONMENTS:
        raise SpecError(f"environment label {env!r} is not one of {', '.join(ENVIRONMENTS)}", field_name)
    rest = {k: v for k, v in labels.items() if k not in _OWN_KEYS}
    return standard_labels(component, labels["owner"], labels["cost-center"], env, **rest, **extra)


def container_resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> dict[str, Any]:
    """A container's `resources` with CPU and memory requests and limits: what the `kubernetes`
    policy pack's resource-requests-limits rule asks of every container, chart containers included
    (`mlinfra render` runs it over them)."""
    return {
        "requests": {"cpu": cpu, "memory": memory},
        "limits": {"cpu": cpu_limit, "memory": memory_limit},
    }


def chart_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """Labels for a chart's label values (commonLabels, podLabels, ...): without the
    `app.kubernetes.io/*` keys the chart's templates already write."""
    return {k: v for k, v in labels.items() if not k.startswith(CHART_OWNED_PREFIX)}


def check_dns_label(value: str, field_name: str, max_len: int = 63) -> str:
    if not (1 <= len(value) <= max_len) or not _DNS_LABEL.match(value):
        raise SpecError(
            f"{value!r} must be 1-{max_len} lowercase letters, digits or '-', starting and ending with a letter or digit",
            field_name,
        )
    return value


_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def check_node_name(value: str, field_name: str) -> str:
    """A Node's name: a DNS subdomain (RFC 1123), at most 253 characters."""
    if not isinstance(value, str) or not (1 <= len(value) <= 253) or not _SUBDOMAIN.match(value):
        raise SpecError(
            f"{value!r} is not a node name (a DNS subdomain, e.g. ip-10-0-1-23.ec2.internal)", field_name
        )
    return value


def unique_names(names: Sequence[str], what: str, field_name: str) -> None:
    check_unique(list(names), f"{what} name", field_name)  # the spec's rule: one place for duplicates


def check_pool_keys(mapping: Mapping[str, Any], pools: Sequence[str], field_name: str) -> None:
    """Refuse a per-pool mapping that names a pool the layer does not have."""
    unknown = sorted(set(mapping) - set(pools))
    if unknown:
        raise SpecError(
            f"unknown pools {unknown}; allowed: {', '.join(pools) or '(no GPU pools)'}", field_name
        )


# core/v1 Toleration (Kubernetes API reference, "Toleration"): its fields and enums.
_TOLERATION_FIELDS = frozenset({"key", "operator", "value", "effect", "tolerationSeconds"})
_TOLERATION_OPERATORS = ("Equal", "Exists")
_TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def check_tolerations(
    per_pool: Mapping[str, Sequence[Mapping[str, Any]]], field_name: str
) -> list[dict[str, Any]]:
    """Validate pool -> tolerations; returns their union without duplicates (first seen first)."""
    out: list[dict[str, Any]] = []
    for pool, tolerations in per_pool.items():
        if isinstance(tolerations, str | Mapping) or not isinstance(tolerations, Sequence):
            raise SpecError(f"pool {pool!r}: expected a list of tolerations", field_name)
        for i, t in enumerate(tolerations):
            where = f"{field_name}.{pool}.{i}"
            if not isinstance(t, Mapping):
                raise SpecError("a toleration is a mapping (key, operator, value, effect)", where)
            extra = sorted(set(t) - _TOLERATION_FIELDS)
            if extra:
                raise SpecError(
                    f"unknown fields {extra}; allowed: {', '.join(sorted(_TOLERATION_FIELDS))}", where
                )
            op = t.get("operator", "Equal")
            if op not in _TOLERATION_OPERATORS:
                raise SpecError(f"operator {op!r}; allowed: {', '.join(_TOLERATION_OPERATORS)}", where)
            if t.get("effect") not in (None, "", *_TAINT_EFFECTS):
                raise SpecError(f"effect {t.get('effect')!r}; allowed: {', '.join(_TAINT_EFFECTS)}", where)
            if op == "Exists" and t.get("value"):
                raise SpecError("operator Exists takes no value", where)
            if not t.get("key") and op != "Exists":
                raise SpecError("a toleration without a key must use operator Exists", where)
            toleration = dict(t)
            if toleration not in out:
                out.append(toleration)
    return out


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` merged into a copy of `base`: mappings merge key by key, anything else replaces."""
    out = copy.deepcopy(dict(base))
    for k, v in override.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def pod_security_labels(
    enforce: str,
    *,
    audit: str = "restricted",
    enforce_version: str | None = None,
    audit_warn_version: str | None = None,
) -> dict[str, str]:
    """Pod Security admission labels: `enforce` blocks, audit/warn (same level) only report."""
    out = {f"{PSA}/enforce": enforce}
    if enforce_version is not None:
        out[f"{PSA}/enforce-version"] = enforce_version
    for mode in ("audit", "warn"):
        out[f"{PSA}/{mode}"] = audit
        if audit_warn_version is not None:
            out[f"{PSA}/{mode}-version"] = audit_warn_version
    return out


def namespace(
    parent: pulumi.Resource,
    resource_name: str,
    name: str,
    labels: Mapping[str, str],
    pod_security: Mapping[str, str],
) -> k8s.core.v1.Namespace:
    """A Namespace carrying the object labels and its Pod Security level."""
    return k8s.core.v1.Namespace(
        resource_name,
        metadata={"name": name, "labels": {**labels, **pod_security}},
        opts=child(parent),
    )


def name_of(obj: k8s.core.v1.Namespace) -> pulumi.Output[str]:
    """The object's name as an Output (it depends on the object, so users wait for it)."""
    return obj.metadata.apply(lambda meta: meta.name)


def from_namespace(ns: str) -> dict[str, Any]:
    """A NetworkPolicy peer: every pod of namespace `ns` (by its immutable name label)."""
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}


def network_policy(
    parent: pulumi.Resource,
    resource_name: str,
    name: str,
    namespace: pulumi.Input[str],
    labels: Mapping[str, str],
    spec: Mapping[str, Any],
) -> k8s.networking.v1.NetworkPolicy:
    return k8s.networking.v1.NetworkPolicy(
        resource_name,
        metadata={"name": name, "namespace": namespace, "labels": dict(labels)},
        spec=dict(spec),
        opts=child(parent),
    )


def helm_release(
    parent: pulumi.Resource,
    resource_name: str,
    *,
    release_name: str,
    pin: ChartPin,
    namespace: pulumi.Input[str],
    values: Mapping[str, Any] | None = None,
    depends_on: Sequence[pulumi.Resource] | None = None,
    opts: pulumi.ResourceOptions | None = None,
    **options: Any,
) -> k8s.helm.v3.Release:
    """A Helm release of a pinned chart (`mlinfra.k8s.charts`): chart, version and repository from the pin.

    `options` are the Release's own settings (atomic, timeout, max_history, cleanup_on_fail); `opts`
    is merged into the child options (an explicit provider, aliases).
    """
    return k8s.helm.v3.Release(
        resource_name,
        name=release_name,
        chart=pin.chart,
        version=pin.version,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=pin.repo) if pin.repo is not None else None,
        namespace=namespace,
        values=dict(values) if values is not None else None,
        opts=pulumi.ResourceOptions.merge(
            child(parent, depends_on=list(depends_on)) if depends_on else child(parent), opts
        ),
        **options,
    )
