"""Custom resources against the CRDs of the pinned charts.

The API server checks a custom resource against the `openAPIV3Schema` of its CRD version and
*prunes* every field the schema does not declare (unless `x-kubernetes-preserve-unknown-fields`):
a misspelled field in an InferenceService or a ServiceMonitor is dropped without an error. Here a
structural schema becomes a JSON schema that refuses unknown fields instead, so a typo fails a test.

Translation of the Kubernetes extensions (apiextensions.k8s.io/v1 structural schemas):
- object with no `x-kubernetes-preserve-unknown-fields`: `additionalProperties: false` (unless the
  schema gives `additionalProperties` itself, as maps do);
- `x-kubernetes-int-or-string`: an integer or a string;
- `x-kubernetes-embedded-resource`: an object that also carries apiVersion, kind and metadata;
- `nullable: true`: null is accepted too;
- `x-kubernetes-validations` (CEL rules) and `format` are not evaluated (the API server does).
The root `metadata` is ObjectMeta (the API server validates it, not the CRD schema).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_OBJECT_META_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "namespace": {"type": "string"},
        "generateName": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "ownerReferences": {"type": "array"},
    },
    "additionalProperties": False,
}


@dataclass(frozen=True)
class CrdVersion:
    group: str
    kind: str
    version: str
    served: bool
    schema: Mapping[str, Any] | None
    source: str  # "<chart> <version>"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


class CrdIndex:
    """(apiVersion, kind) -> the CRD version that defines it, from many charts' crds.yaml."""

    def __init__(self) -> None:
        self._versions: dict[tuple[str, str], CrdVersion] = {}
        self._kinds: dict[tuple[str, str], list[str]] = {}  # (group, kind) -> versions

    def add(self, crds: Iterable[Mapping[str, Any]], source: str) -> None:
        for crd in crds:
            spec = crd.get("spec") or {}
            group, kind = spec.get("group"), (spec.get("names") or {}).get("kind")
            if not group or not kind:
                continue
            for v in spec.get("versions") or []:
                schema = (v.get("schema") or {}).get("openAPIV3Schema")
                if schema is None:  # apiextensions v1beta1 style: one schema for every version
                    schema = (spec.get("validation") or {}).get("openAPIV3Schema")
                cv = CrdVersion(group, kind, v["name"], bool(v.get("served", True)), schema, source)
                self._versions.setdefault((cv.api_version, kind), cv)
                self._kinds.setdefault((group, kind), []).append(v["name"])

    def __len__(self) -> int:
        return len(self._versions)

    def lookup(self, api_version: str, kind: str) -> CrdVersion | None:
        return self._versions.get((api_version, kind))

    def known_versions(self, api_version: str, kind: str) -> list[str]:
        group = api_version.rsplit("/", 1)[0]
        return self._kinds.get((group, kind), [])

    def group_versions(self) -> set[str]:
        """Every served `group/version` and `group/version/Kind` (Helm's `--api-versions` forms)."""
        out: set[str] = set()
        for (api_version, kind), cv in self._versions.items():
            if cv.served:
                out.add(api_version)
                out.add(f"{api_version}/{kind}")
        return out


def to_json_schema(schema: Any) -> Any:
    """A structural CRD schema as a JSON schema (draft 4) that refuses unknown fields."""
    return _convert(schema, embedded=False)


def _convert(s: Any, embedded: bool) -> Any:
    if not isinstance(s, Mapping):
        return s
    out: dict[str, Any] = {}
    for k, v in s.items():
        if k in ("properties", "patternProperties"):
            out[k] = {name: _convert(sub, False) for name, sub in v.items()}
        elif k in ("items", "additionalProperties", "not"):
            out[k] = _convert(v, False) if isinstance(v, Mapping) else v
        elif k in ("allOf", "anyOf", "oneOf"):
            out[k] = [_convert(b, False) for b in v]
        elif k.startswith("x-kubernetes-") or k in (
            "nullable",
            "format",
            "default",
            "description",
            "example",
        ):
            continue
        else:
            out[k] = v
    if s.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if s.get("x-kubernetes-embedded-resource"):
        props = dict(out.get("properties") or {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", _OBJECT_META_SCHEMA)
        out["properties"] = props
    preserve = bool(s.get("x-kubernetes-preserve-unknown-fields"))
    if s.get("type") == "object" and not preserve and "additionalProperties" not in s:
        out["additionalProperties"] = False
    if s.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


_VALIDATORS: dict[int, Any] = {}


def validator_for(cv: CrdVersion) -> Any:
    """A (cached) draft-4 validator for the CRD version's whole object schema."""
    key = id(cv.schema)
    if key not in _VALIDATORS:
        from jsonschema import Draft4Validator

        schema = to_json_schema(cv.schema or {"type": "object", "x-kubernetes-preserve-unknown-fields": True})
        props = dict(schema.get("properties") or {})
        props["metadata"] = _OBJECT_META_SCHEMA
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        schema["properties"] = props
        _VALIDATORS[key] = (cv.schema, Draft4Validator(schema))
    return _VALIDATORS[key][1]


def sub_schema(cv: CrdVersion, field_path: str) -> Mapping[str, Any] | None:
    """The CRD schema of a field (`spec.storage`), or None when the schema does not declare it."""
    node: Any = cv.schema or {}
    for part in field_path.split("."):
        node = (node.get("properties") or {}).get(part) if isinstance(node, Mapping) else None
        if node is None:
            return None
    return node


def integral(value: Any) -> Any:
    """Numbers as the API server sees them: 2.0 (a protobuf double in a plan) is the integer 2."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {k: integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral(v) for v in value]
    return value


def errors(validator: Any, obj: Any) -> list[str]:
    """Validation errors, each as `<field path>: <message>`, ordered by path."""
    found = sorted(validator.iter_errors(integral(obj)), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in found]


def validate_object(index: CrdIndex, obj: Mapping[str, Any]) -> list[str]:
    """Problems of one custom resource against its CRD (empty when it is valid)."""
    api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
    cv = index.lookup(api_version, kind)
    if cv is None:
        known = index.known_versions(api_version, kind)
        if known:
            return [f"{kind} {api_version}: the pinned CRD serves versions {known}, not this one"]
        return [
            f"{kind} {api_version}: no pinned chart installs this CRD (pin the chart that does in mlinfra/k8s/charts.py)"
        ]
    if not cv.served:
        return [f"{kind} {api_version}: version {cv.version} is not served by the CRD in {cv.source}"]
    return errors(validator_for(cv), obj)
