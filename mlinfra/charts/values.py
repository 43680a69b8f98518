"""Every values key mlinfra sets must be one the pinned chart version reads.

Helm silently ignores a key the chart never reads: a misspelled or moved key (`controller.podLabels`
vs `podLabels`, a key renamed between chart versions) deploys without error and without effect.
A key counts as read when it is in the chart version's default `values.yaml` (with each subchart's
defaults under the subchart's key) or declared in its `values.schema.json`. Under a free-form map
(labels, annotations, nodeSelector, extraArgs, resources, ...) any key is allowed; every other
exception is in `EXCEPTIONS`, with its reason.

Helm also validates the merged values against `values.schema.json` and refuses the install when
they do not match; `schema_errors` runs that validation offline.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from mlinfra.charts.data import ChartData, coalesce

# Maps whose keys are data, not chart settings: the chart copies them verbatim into a Kubernetes
# object (labels, annotations, selectors, resource amounts, container args, ...).
FREE_FORM: frozenset[str] = frozenset(
    {
        "annotations",
        "labels",
        "podLabels",
        "podAnnotations",
        "commonLabels",
        "additionalLabels",
        "nodeSelector",
        "extraArgs",
        "extraEnv",
        "resources",
        "requests",
        "limits",
        "matchLabels",
        "securityContext",
        "containerSecurityContext",
        "podSecurityContext",
        "affinity",
        "seccompProfile",
        "capabilities",
        # cluster-autoscaler: priority -> node-group name patterns (9.x templates/priority-expander-configmap.yaml
        # ranges over it; values.yaml `expanderPriorities: {}`)
        "expanderPriorities",
    }
)

# The fields of the Kubernetes objects some FREE_FORM names stand for (core/v1 ResourceRequirements,
# SecurityContext, PodSecurityContext, Affinity). A chart that uses such a name for a map of its own
# (KEDA 2.20.2: `resources.operator`, `securityContext.metricServer`, ...) has a default holding other
# keys: that map is the chart's structure and its keys are checked like any other (a misspelt
# `resources.metricsServer` is not a resource amount).
_SECURITY_CONTEXT = frozenset(
    {
        "allowPrivilegeEscalation",
        "appArmorProfile",
        "capabilities",
        "privileged",
        "procMount",
        "readOnlyRootFilesystem",
        "runAsGroup",
        "runAsNonRoot",
        "runAsUser",
        "seLinuxOptions",
        "seccompProfile",
        "windowsOptions",
    }
)
_POD_SECURITY_CONTEXT = frozenset(
    {
        "appArmorProfile",
        "fsGroup",
        "fsGroupChangePolicy",
        "runAsGroup",
        "runAsNonRoot",
        "runAsUser",
        "seLinuxChangePolicy",
        "seLinuxOptions",
        "seccompProfile",
        "supplementalGroups",
        "supplementalGroupsPolicy",
        "sysctls",
        "windowsOptions",
    }
)
KUBERNETES_FIELDS: dict[str, frozenset[str]] = {
    "resources": frozenset({"requests", "limits", "claims"}),
    "securityContext": _SECURITY_CONTEXT | _POD_SECURITY_CONTEXT,  # charts use the name for both
    "containerSecurityContext": _SECURITY_CONTEXT,
    "podSecurityContext": _POD_SECURITY_CONTEXT,
    "affinity": frozenset({"nodeAffinity", "podAffinity", "podAntiAffinity"}),
}


def chart_structured(key: str, default: Any) -> bool:
    """A FREE_FORM-named map the chart structures itself: its default names keys that are not fields
    of the Kubernetes object the name usually stands for."""
    fields = KUBERNETES_FIELDS.get(key)
    return fields is not None and isinstance(default, Mapping) and any(k not in fields for k in default)


# Keys the check cannot see in values.yaml or the schema but the chart does read, by chart and
# dotted path; each with the reason and where upstream says so. Keep this table short: a key that
# is really unknown to the chart is fixed in our values, not listed here.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("nvidia-device-plugin", "config.map"): (
        "named device-plugin configs: its keys are config names, each a config file (values.yaml line 24 "
        "`map: {}`; templates/configmap.yml ranges over .Values.config.map, NVIDIA/k8s-device-plugin@v0.18.2)"
    ),
    ("kube-prometheus-stack", "alertmanager.alertmanagerSpec.configSecret"): (
        "documented only as a comment (values.yaml line 942 `# configSecret:`); templates/alertmanager/"
        "alertmanager.yaml line 65 reads it (prometheus-community/helm-charts@kube-prometheus-stack-81.4.3)"
    ),
    ("dcgm-exporter", "customMetrics"): (
        "not in values.yaml; templates/metrics-configmap.yaml lines 9-11 render it as the exporter's "
        "counters file (NVIDIA/dcgm-exporter@4.5.3-4.8.2)"
    ),
    **{
        ("keda", f"podDisruptionBudget.{component}"): (
            f"values.yaml lines 282-296 document `{component}: {{}}` with minAvailable/maxUnavailable only "
            f"as comments; templates/{template}/poddisruptionbudget.yaml reads both (kedacore/charts@v2.20.2)"
        )
        for component, template in (
            ("operator", "manager"),
            ("metricServer", "metrics-server"),
            ("webhooks", "webhooks"),
        )
    },
    ("kube-prometheus-stack", "grafana.persistence.storageClassName"): (
        "documented only as a comment in the grafana 10.5.15 subchart (values.yaml line 427 "
        "`# storageClassName: default`); templates/pvc.yaml line 33 reads it (grafana/helm-charts@grafana-10.5.15)"
    ),
}

# Values the chart copies verbatim into a field of a custom resource it renders: their keys are
# checked against that field's schema in the pinned CRD instead (chart, values path) ->
# (apiVersion, kind, field path).
PASS_THROUGH: dict[tuple[str, str], tuple[str, str, str]] = {
    # templates/prometheus/prometheus.yaml lines 306-308: `storage: {{ tpl (toYaml .Values.prometheus.prometheusSpec.storageSpec) }}`
    ("kube-prometheus-stack", "prometheus.prometheusSpec.storageSpec"): (
        "monitoring.coreos.com/v1",
        "Prometheus",
        "spec.storage",
    ),
    # templates/alertmanager/alertmanager.yaml lines 110-112: `storage: {{ tpl (toYaml .Values.alertmanager.alertmanagerSpec.storage) }}`
    ("kube-prometheus-stack", "alertmanager.alertmanagerSpec.storage"): (
        "monitoring.coreos.com/v1",
        "Alertmanager",
        "spec.storage",
    ),
}


def _resolve(schema: Any, root: Mapping[str, Any]) -> Any:
    """Follow local `$ref`s (`#/$defs/...`, `#/definitions/...`)."""
    seen = 0
    while isinstance(schema, Mapping) and "$ref" in schema and seen < 32:
        ref = schema["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return {}
        node: Any = root
        for part in ref[2:].split("/"):
            node = (
                node.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(node, Mapping) else {}
            )
        schema = node
        seen += 1
    return schema if isinstance(schema, Mapping) else {}


def _branches(schema: Any, root: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The schema and every allOf/anyOf/oneOf branch of it (resolved)."""
    s = _resolve(schema, root)
    out = [s]
    for key in ("allOf", "anyOf", "oneOf"):
        for branch in s.get(key) or []:
            out.extend(_branches(branch, root))
    return out


def schema_child(schema: Any, key: str, root: Mapping[str, Any]) -> tuple[bool, Any]:
    """(declared, child schema): whether the schema names `key` explicitly or as a typed map entry."""
    for s in _branches(schema, root):
        props = s.get("properties")
        if isinstance(props, Mapping) and key in props:
            return True, props[key]
        for pattern, sub in (s.get("patternProperties") or {}).items():
            if re.search(pattern, key):
                return True, sub
        extra = s.get("additionalProperties")
        if isinstance(extra, Mapping):
            return True, extra
    return False, None


def _free_form_schema(schema: Any, root: Mapping[str, Any]) -> bool:
    """A schema for a map of arbitrary keys (`additionalProperties` is a schema or true, no properties)."""
    for s in _branches(schema, root):
        extra = s.get("additionalProperties")
        if (extra is True or isinstance(extra, Mapping)) and not s.get("properties"):
            return True
    return False


def unknown_keys(
    values: Mapping[str, Any],
    defaults: Mapping[str, Any],
    schema: Mapping[str, Any] | None,
    chart: str,
    skip: set[str] | frozenset[str] = frozenset(),
) -> Iterator[tuple[str, str]]:
    """(dotted path, reason) for every key of `values` the chart does not read (`skip`: more paths not
    to look into; `PASS_THROUGH` paths are checked against their CRD field instead)."""
    root = schema or {}
    elsewhere = {path for c, path in PASS_THROUGH if c == chart}  # checked against the CRD field
    yield from _walk(values, defaults, schema, root, chart, (), frozenset(skip) | elsewhere)


def _walk(
    values: Mapping[str, Any],
    defaults: Any,
    schema: Any,
    root: Mapping[str, Any],
    chart: str,
    path: tuple[str, ...],
    skip: set[str] | frozenset[str],
) -> Iterator[tuple[str, str]]:
    for key, value in values.items():
        here = (*path, str(key))
        dotted = ".".join(here)
        if (chart, dotted) in EXCEPTIONS or dotted in skip:
            continue
        in_defaults = isinstance(defaults, Mapping) and key in defaults
        declared, sub_schema = schema_child(schema, key, root) if schema is not None else (False, None)
        if not in_defaults and not declared:
            where = "values.yaml" + (" or values.schema.json" if schema is not None else "")
            yield dotted, f"not in the chart's default {where}: Helm ignores it"
            continue
        default = defaults.get(key) if isinstance(defaults, Mapping) else None
        if not isinstance(value, Mapping) or (key in FREE_FORM and not chart_structured(key, default)):
            continue
        if isinstance(default, Mapping) and default:
            yield from _walk(value, default, sub_schema, root, chart, here, skip)
        elif sub_schema is not None and not _free_form_schema(sub_schema, root):
            yield from _walk(value, default or {}, sub_schema, root, chart, here, skip)
        elif default is not None and not isinstance(default, Mapping):
            yield dotted, f"the chart's default is {type(default).__name__} {default!r}, not a map"
        elif sub_schema is None and value:
            # `{}` or null default and no schema: the chart may read any key or none; only a
            # listed free-form name or an exception says which.
            for sub_key in value:
                sub_path = f"{dotted}.{sub_key}"
                if (chart, sub_path) not in EXCEPTIONS and sub_path not in skip:
                    yield (
                        sub_path,
                        (
                            f"the chart's default for {dotted} is empty ({default!r}): nothing says it reads "
                            f"{sub_key!r} (free-form maps are listed in mlinfra.charts.values.FREE_FORM)"
                        ),
                    )


def chart_defaults_and_schema(
    data: ChartData, chart: str, version: str
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Defaults (with subcharts) and one schema covering the chart and its subcharts' schemas.

    Helm itself reads each dependency's `condition` (e.g. `nfd.enabled`): those keys count as read.
    """
    defaults = _with_paths(data.default_values(chart, version), _conditions(data, chart, version))
    schema = data.schema(chart, version)
    subs = [(s, data.subchart_schema(chart, version, s)) for s in data.subcharts(chart, version)]
    subs = [(s, sch) for s, sch in subs if sch is not None]
    if schema is None and not subs:
        return defaults, None
    # Subchart schemas apply under the subchart's key; keep them as separate branches.
    combined: dict[str, Any] = {"allOf": []}
    if schema is not None:
        combined["allOf"].append(schema)
        combined.update({k: v for k, v in schema.items() if k in ("$defs", "definitions")})
    for sub, sch in subs:
        combined["allOf"].append({"properties": {sub.key: _rebase(sch, f"#/$subcharts/{sub.key}")}})
        combined.setdefault("$subcharts", {})[sub.key] = sch
    return defaults, combined


def _conditions(data: ChartData, chart: str, version: str) -> list[str]:
    return [
        c.strip()
        for sub in data.subcharts(chart, version)
        for c in (sub.condition or "").split(",")
        if c.strip()
    ]


def _with_paths(defaults: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """A copy of `defaults` in which every dotted path exists (missing leaves are None)."""
    out = dict(defaults)
    for path in paths:
        node = out
        *parents, leaf = path.split(".")
        for part in parents:
            child = node.get(part)
            child = dict(child) if isinstance(child, Mapping) else {}
            node[part] = child
            node = child
        node.setdefault(leaf, None)
    return out


def _rebase(schema: Any, base: str) -> Any:
    """Rewrite a subchart schema's local `$ref`s to where it lives inside the combined schema."""
    if isinstance(schema, Mapping):
        out = {}
        for k, v in schema.items():
            if k == "$ref" and isinstance(v, str) and v.startswith("#/"):
                out[k] = base + v[1:]
            else:
                out[k] = _rebase(v, base)
        return out
    if isinstance(schema, list):
        return [_rebase(v, base) for v in schema]
    return schema


def schema_errors(values: Mapping[str, Any], data: ChartData, chart: str, version: str) -> list[str]:
    """What Helm's values-schema validation would refuse, for the values merged over the defaults."""
    schema = data.schema(chart, version)
    if schema is None:
        return []
    from jsonschema import validators

    merged = coalesce(dict(values), data.own_values(chart, version))
    cls = validators.validator_for(schema)
    errors = sorted(cls(schema).iter_errors(merged), key=lambda e: list(e.absolute_path))
    return [f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors]
