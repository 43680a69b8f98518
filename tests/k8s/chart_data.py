"""Upstream chart data (../shared/charts, or $MLINFRA_CHART_DATA): pinned versions' default values and CRDs.

Checks our Helm values against the keys the pinned chart version really reads, so a typo or a
key the chart dropped fails here rather than being silently ignored by Helm at `pulumi up`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from mlinfra.k8s.charts import ChartPin

ROOT = Path(__file__).resolve().parents[2]
CHART_DATA = Path(os.environ.get("MLINFRA_CHART_DATA", ROOT.parent / "shared" / "charts"))


def chart_dir(pin: ChartPin) -> Path:
    return CHART_DATA / pin.name / pin.version


def _schema_keys(schema: Mapping[str, Any], node: Any, depth: int = 0) -> Any:
    """The key tree a values.schema.json describes ($ref resolved): property -> subtree; a leaf or
    a free-form object is a non-map marker (anything allowed below it)."""
    if not isinstance(node, Mapping) or depth > 40:
        return True
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = schema
        for part in ref[2:].split("/"):
            target = target[part]
        return _schema_keys(schema, target, depth + 1)
    props = node.get("properties")
    if isinstance(props, Mapping) and props:
        return {k: _schema_keys(schema, v, depth + 1) for k, v in props.items()}
    return True


def _merge_known(a: Any, b: Any) -> Any:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return {
            k: _merge_known(a.get(k), b.get(k)) if k in a and k in b else (a[k] if k in a else b[k])
            for k in {*a, *b}
        }
    return a if isinstance(a, Mapping) and a else b


@cache
def _defaults(pin: ChartPin) -> dict[str, Any]:
    out = yaml.safe_load((chart_dir(pin) / "values.yaml").read_text()) or {}
    schema_file = chart_dir(pin) / "values.schema.json"
    if schema_file.exists():
        # Keys the schema documents but values.yaml only mentions in comments are read too.
        schema = json.loads(schema_file.read_text())
        tree = _schema_keys(schema, schema)
        if isinstance(tree, Mapping):
            out = _merge_known(out, tree)
    # Helm itself reads each dependency's `condition` paths (Chart.yaml), e.g. nfd.enabled.
    chart = yaml.safe_load((chart_dir(pin) / "Chart.yaml").read_text()) or {}
    for dep in chart.get("dependencies") or []:
        for cond in str(dep.get("condition") or "").split(","):
            parts = [p for p in cond.strip().split(".") if p]
            node = out
            for part in parts[:-1]:
                node = node.setdefault(part, {}) if isinstance(node.get(part, {}), dict) else {}
            if parts and isinstance(node, dict):
                node.setdefault(parts[-1], False)
    # Bundled subcharts read the values under their name (charts/<name>/values.yaml).
    for sub in sorted((chart_dir(pin) / "charts").glob("*/values.yaml")):
        name = sub.parent.name
        sub_defaults = yaml.safe_load(sub.read_text()) or {}
        out[name] = _merge_known(sub_defaults, out.get(name) or {})
    return out


def defaults(pin: ChartPin) -> dict[str, Any]:
    """The chart's default values (values.yaml at the pinned tag, with its subcharts')."""
    return _defaults(pin)


# Values that hold Kubernetes API objects or free maps: any content below them is the user's.
FREE_FORM_KEYS = frozenset(
    {
        "securityContext",
        "containerSecurityContext",
        "podSecurityContext",
        "resources",
        "nodeSelector",
        "affinity",
        "tolerations",
        "annotations",
        "labels",
        "podLabels",
        "commonLabels",
        "additionalLabels",
        "volumeClaimTemplate",
        "seccompProfile",
    }
)


def unread_keys(
    values: Mapping[str, Any], pin: ChartPin, templates_read: frozenset[str] = frozenset()
) -> list[str]:
    """Paths of keys in `values` that the pinned chart's defaults do not have.

    A default that is an empty map or not a map (nodeSelector: {}, a string) takes any content
    below it, as do the FREE_FORM_KEYS. `templates_read` lists dotted paths the chart's templates
    read although values.yaml leaves them out (cite the template where you pass one).
    """
    return sorted(_unread(values, defaults(pin), "", templates_read))


def _unread(
    values: Mapping[str, Any], known: Any, path: str, templates_read: frozenset[str]
) -> Iterator[str]:
    if not isinstance(known, Mapping) or not known:
        return
    for key, value in values.items():
        here = f"{path}.{key}" if path else str(key)
        if key not in known:
            if here not in templates_read:
                yield here
            continue
        if isinstance(value, Mapping) and key not in FREE_FORM_KEYS:
            yield from _unread(value, known[key], here, templates_read)


@cache
def crds(pin: ChartPin) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(group, version, kind) -> openAPIV3Schema of every CRD the pinned chart version installs."""
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for doc in yaml.safe_load_all((chart_dir(pin) / "crds.yaml").read_text()):
        if not doc or doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        for v in spec["versions"]:
            out[(spec["group"], v["name"], spec["names"]["kind"])] = v["schema"]["openAPIV3Schema"]
    return out


def validate_custom_resource(obj: Mapping[str, Any], pin: ChartPin) -> None:
    """Raise jsonschema.ValidationError when `obj` does not match its CRD schema in `pin`'s chart.

    The API server prunes fields a structural schema does not list, silently; here an unknown
    field is an error (additionalProperties: false wherever the schema lists properties and does
    not preserve unknown fields), so a misspelt field cannot pass.
    """
    import jsonschema

    group, _, version = obj["apiVersion"].rpartition("/")
    schema = crds(pin)[(group, version, obj["kind"])]
    body = {k: v for k, v in obj.items() if k != "metadata"}
    jsonschema.validate(body, _strict(schema))


def _strict(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {
            k: (_strict(v) if k != "properties" else {p: _strict(s) for p, s in v.items()})
            for k, v in schema.items()
        }
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


def schema_errors(values: Mapping[str, Any], pin: ChartPin) -> list[str]:
    """Where the pinned chart has a values.schema.json, the errors Helm would stop the install
    with: the chart's defaults with `values` merged over them, validated against the schema."""
    import jsonschema

    from mlinfra.k8s.objects import deep_merge

    schema_file = chart_dir(pin) / "values.schema.json"
    if not schema_file.exists():
        return []
    schema = json.loads(schema_file.read_text())
    merged = deep_merge(yaml.safe_load((chart_dir(pin) / "values.yaml").read_text()) or {}, values)
    validator = jsonschema.validators.validator_for(schema)(schema)
    return sorted(
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(merged)
    )
