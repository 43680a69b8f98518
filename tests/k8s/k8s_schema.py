"""Validate rendered Kubernetes objects against the real OpenAPI schema of a pinned minor version."""

from __future__ import annotations

from typing import Any

import kubernetes_validate

from mlinfra.catalog import DEFAULT_KUBERNETES_VERSION
from mlinfra.offline import Plan
from mlinfra.offline.engine import SECRET_MARK

# Core API groups whose schemas kubernetes-validate ships (CRDs like InferenceService are not in it).
CORE_GROUP_PREFIXES = (
    "kubernetes:core/v1:",
    "kubernetes:apps/v1:",
    "kubernetes:autoscaling/v2:",
    "kubernetes:policy/v1:",
    "kubernetes:networking.k8s.io/v1:",
    "kubernetes:rbac.authorization.k8s.io/v1:",
    "kubernetes:storage.k8s.io/v1:",
    "kubernetes:batch/v1:",
    "kubernetes:scheduling.k8s.io/v1:",
)


def object_of(record_inputs: dict[str, Any]) -> dict[str, Any]:
    """The Kubernetes object as the API server would receive it (engine-only keys dropped).

    The plan masks secret values; a Secret's whole `data`/`stringData` map is masked when any
    value in it is secret, so it is validated as an (unknown) empty map.
    """
    obj = {k: v for k, v in record_inputs.items() if not k.startswith("__")}
    for key in ("data", "stringData"):
        if obj.get(key) == SECRET_MARK:
            obj[key] = {}
    return obj


def validate(obj: dict[str, Any], version: str = DEFAULT_KUBERNETES_VERSION) -> None:
    """Raise kubernetes_validate.ValidationError when `obj` does not match the schema (strict)."""
    kubernetes_validate.validate(obj, f"{version}.0", strict=True)


def validate_core_objects(plan: Plan, version: str = DEFAULT_KUBERNETES_VERSION) -> int:
    """Validate every core object of a plan; returns how many were validated."""
    count = 0
    for r in plan.resources:
        if r.type.startswith(CORE_GROUP_PREFIXES):
            validate(object_of(r.inputs), version)
            count += 1
    return count
