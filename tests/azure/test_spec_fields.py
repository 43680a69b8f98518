"""No spec field is silently ignored on Azure: changing any leaf field either changes the Azure plan
or is refused with an error that names it.

The walk covers every leaf of PlatformSpec except `serving.*` and `monitoring.*` (the cloud-agnostic
in-cluster layer's, which the Azure platform passes through whole and the layer's own tests cover)
and `guardrails.*` (they only widen what the spec accepts); `cloud` picks another platform. A field added to the spec without a
mutation here fails `test_every_leaf_field_has_a_mutation`, so new fields get checked too.
"""

from __future__ import annotations

import copy
import json
import types
import typing
from functools import cache
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from mlinfra.platform import MlPlatform
from mlinfra.spec import PlatformSpec, SpecError
from tests.azure.support import SUBSCRIPTION, TENANT
from tests.conftest import plan_of

SKIPPED_SECTIONS = ("serving", "monitoring", "guardrails", "cloud")  # another cloud is not an Azure plan
OTHER_GUID = "22222222-3333-4444-5555-666666666666"

# A staging platform: private endpoints, flow logs, CMK storage, a spot and an on-demand pool.
BASE: dict[str, Any] = {
    "name": "acme",
    "cloud": "azure",
    "region": "eastus2",
    "environment": "staging",
    "tags": {"owner": "ml-platform", "cost_center": "cc-1234"},
    "azure": {"subscription_id": SUBSCRIPTION, "tenant_id": TENANT},
    "network": {"cidr": "10.20.0.0/16"},
    "gpu_pools": [
        {
            "name": "a10",
            "machine_type": "Standard_NV36ads_A10_v5",
            "capacity_type": "on_demand",
            "min_nodes": 0,
            "desired_nodes": 1,
            "max_nodes": 4,
        },
        {"name": "t4spot", "machine_type": "Standard_NC4as_T4_v3", "capacity_type": "spot", "max_nodes": 2},
    ],
    "budget": {"alert_emails": ["ml@acme.example"]},
    "serving": {"enabled": False},
    "monitoring": {"enabled": False},
}

# Field path -> the changed value (fields whose type has no obvious "other value").
MUTATIONS: dict[str, Any] = {
    "name": "acmx",
    "region": "eastus",
    "network.cidr": "10.60.0.0/16",
    "network.private_subnet_cidrs": ["10.20.0.0/20", "10.20.16.0/20"],
    "network.public_subnet_cidrs": ["10.20.224.0/24", "10.20.225.0/24"],
    "network.service_cidr": "172.21.0.0/16",
    "network.existing": {
        "network_id": "/subscriptions/s/resourceGroups/hub/providers/Microsoft.Network/virtualNetworks/v",
        "private_subnet_ids": ["/subnets/nodes", "/subnets/apiserver", "/subnets/endpoints"],
    },
    "network.existing.network_id": None,  # covered through network.existing
    "network.existing.private_subnet_ids": None,
    "network.existing.public_subnet_ids": None,
    "cluster.kubernetes_version": "1.34",
    "cluster.public_access_cidrs": ["203.0.113.0/24"],
    "cluster.admin_principals": [f"user:{OTHER_GUID}"],
    "cluster.system_pool.machine_type": "Standard_D8ds_v5",
    "cluster.system_pool.min_nodes": 1,
    "cluster.system_pool.desired_nodes": 3,
    "cluster.system_pool.max_nodes": 5,
    "gpu_pools.0.name": "a10x",
    "gpu_pools.0.machine_type": "Standard_NC24ads_A100_v4",
    "gpu_pools.0.min_nodes": 1,
    "gpu_pools.0.desired_nodes": 2,
    "gpu_pools.0.labels": {"team": "search"},
    "artifacts.bucket_name": "acmestagingdata",
    "artifacts.infrequent_access_after_days": 60,
    "registry.repositories": ["models"],
    "tags.owner": "data-platform",
    "tags.cost_center": "cc-9999",
    "tags.extra": {"project": "x"},
    "budget.alert_emails": ["finops@acme.example"],
    "budget.thresholds_percent": [60, 90],
    "azure.subscription_id": OTHER_GUID,
    "azure.tenant_id": OTHER_GUID,
    "azure.resource_group": "rg-ml",
    "azure.system_vm_size": "Standard_D8ds_v5",
    "azure.pod_cidr": "10.245.0.0/16",
    "azure.nodes_subnet_cidr": "10.20.0.0/19",
    "azure.endpoints_subnet_cidr": "10.20.129.0/24",
    "azure.apiserver_subnet_cidr": "10.20.200.0/28",
    "azure.admin_group_object_ids": [OTHER_GUID],
    "azure.registry_name": "acmemlreg",
    "aws": {},
}


def _leaves(model: type[BaseModel], prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        if path.split(".")[0] in SKIPPED_SECTIONS:
            continue
        inner = _model_of(info.annotation)
        if inner is not None and path not in MUTATIONS:
            item = "0." if _is_list(info.annotation) else ""
            out.extend(_leaves(inner, f"{path}.{item}"))
        else:
            out.append((path, info.annotation))
    return out


def _args(annotation: Any) -> tuple[Any, ...]:
    return (
        typing.get_args(annotation)
        if typing.get_origin(annotation) in (typing.Union, types.UnionType)
        else (annotation,)
    )


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for arg in _args(annotation):
        if typing.get_origin(arg) is list:
            arg = typing.get_args(arg)[0]
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _is_list(annotation: Any) -> bool:
    return any(typing.get_origin(a) is list for a in _args(annotation))


def _get(data: Any, path: str) -> Any:
    for key in path.split("."):
        data = data[int(key)] if isinstance(data, list) else data.get(key) if isinstance(data, dict) else None
    return data


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    cur: Any = data
    for key in keys[:-1]:
        cur = cur[int(key)] if isinstance(cur, list) else cur.setdefault(key, {})
    if isinstance(cur, list):
        cur[int(keys[-1])] = value
    else:
        cur[keys[-1]] = value


def _generic(path: str, annotation: Any, current: Any) -> Any:
    """Another valid-looking value for a bool, number or Literal field."""
    for arg in _args(annotation):
        if typing.get_origin(arg) is Literal:
            return next(v for v in typing.get_args(arg) if v != current)
        if arg is bool:
            return not current
        if arg is int:
            return (current or 0) + 1
        if arg is float:
            return (current or 1.0) * 1.5
    raise AssertionError(f"{path}: add a mutation to MUTATIONS ({annotation})")


def _loaded_defaults() -> dict[str, Any]:
    return PlatformSpec.load(copy.deepcopy(BASE)).model_dump(mode="json")


@cache
def _plan_json(data_json: str) -> str:
    spec = PlatformSpec.load(json.loads(data_json))
    plan = plan_of(lambda: MlPlatform(spec.prefix, spec), region=spec.region)
    return json.dumps(plan.to_json()["resources"], sort_keys=True)


def _cases() -> list[tuple[str, Any]]:
    defaults = _loaded_defaults()
    cases = []
    for path, annotation in _leaves(PlatformSpec):
        if path in MUTATIONS:
            if MUTATIONS[path] is not None:
                cases.append((path, MUTATIONS[path]))
            continue
        cases.append((path, _generic(path, annotation, _get(defaults, path))))
    return cases


def test_every_leaf_field_has_a_mutation():
    assert len(_cases()) > 40


@pytest.mark.parametrize(("path", "value"), _cases(), ids=[c[0] for c in _cases()])
def test_field_changes_the_azure_plan_or_is_refused_naming_it(path, value):
    data = copy.deepcopy(BASE)
    _set(data, path, value)
    try:
        PlatformSpec.load(copy.deepcopy(data))
    except SpecError as e:
        leaf = path.split(".")[-1]
        assert leaf in str(e) or path.rsplit(".", 1)[0] in str(e), f"{path}: refused without naming it: {e}"
        return
    assert _plan_json(json.dumps(data, sort_keys=True)) != _plan_json(json.dumps(BASE, sort_keys=True)), (
        f"{path}={value!r} changes nothing in the Azure plan"
    )
