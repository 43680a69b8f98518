"""The spec property, shared by the test suite (a few hundred examples) and benchmarks/spec_fuzz.py
(>= 10,000): for a generated spec of every implemented cloud, validation either refuses it with
an error naming a field, or the platform plans offline.

Specs are the shipped stacks' specs of the cloud (stacks/<cloud>/Pulumi.*.yaml, so a cloud that
lands with its stacks joins by itself) with a few fields replaced. Fields are drawn from
PlatformSpec's own schema, so a field added to the spec is fuzzed without touching this file;
values are a mix of plausible ones (catalogued machine types, regions, quantities, names near
their length limits) and junk (wrong types, booleans, huge numbers, infinities, odd strings).
"""

from __future__ import annotations

import copy
import ipaddress
import types
import typing
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from hypothesis import strategies as st
from pydantic import BaseModel

from mlinfra.catalog import GPU_MACHINE_TYPES, REGION_ZONES, SUPPORTED_KUBERNETES_VERSIONS
from mlinfra.offline import ProgramError, run_program
from mlinfra.platform import IMPLEMENTED_CLOUDS, MlPlatform
from mlinfra.spec import PlatformSpec, SpecError

ROOT = Path(__file__).resolve().parents[1]
CLOUDS = IMPLEMENTED_CLOUDS


@cache
def base_specs(cloud: str) -> tuple[dict[str, Any], ...]:
    """The shipped stacks' specs of `cloud` (every Pulumi.<stack>.yaml under stacks/)."""
    found = []
    for f in sorted(ROOT.glob("stacks/**/Pulumi.*.yaml")):
        spec = (yaml.safe_load(f.read_text()) or {}).get("config", {}).get("mlinfra:platform")
        if isinstance(spec, dict) and spec.get("cloud") == cloud:
            found.append(spec)
    assert found, f"no shipped stack of cloud {cloud!r} under stacks/ to derive specs from"
    return tuple(found)


# ---------------------------------------------------------------- values

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.sampled_from(["a", "name", "x"]), st.integers(0, 3), max_size=2),
)
NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-"
NAMES = st.one_of(
    st.text(alphabet=NAME_CHARS, min_size=1, max_size=64),
    st.sampled_from(
        ["acme", "ml", "a", "a" * 20, "a" * 21, "team-a", "x-", "-x", "Acme", "ml_prod", "ml.prod"]
    ),
)
QUANTITIES = st.one_of(
    st.sampled_from(
        [
            "1",
            "2",
            "3",
            "500m",
            "0",
            "-1",
            "1e3",
            "2Gi",
            "8Gi",
            "16Gi",
            "64Gi",
            "512Mi",
            "1.5",
            "0.5Gi",
            "1Ti",
            "2e9",
        ]
    ),
    st.builds(lambda n, u: f"{n}{u}", st.integers(0, 4096), st.sampled_from(["", "m", "Mi", "Gi", "k", "G"])),
    st.text(max_size=8),
)


def _cidrs(draw_prefix: range) -> st.SearchStrategy[str]:
    return st.builds(
        lambda a, b, p: str(ipaddress.ip_network(f"{a}.{b}.0.0/{p}", strict=False)),
        st.sampled_from([10, 172, 192, 100, 8]),
        st.integers(0, 255),
        st.sampled_from(list(draw_prefix)),
    )


def _strings(name: str, cloud: str) -> st.SearchStrategy[Any]:
    """Plausible values of a string field, by its name."""
    by_name: dict[str, st.SearchStrategy[Any]] = {
        "region": st.sampled_from(sorted(REGION_ZONES.get(cloud, {"x": ()})) + ["us-west-9", "mars-1"]),
        "machine_type": st.sampled_from(
            sorted(GPU_MACHINE_TYPES.get(cloud, {"x": None})) + ["m6i.large", "g9.xlarge"]
        ),
        "system_machine_type": st.sampled_from(
            ["m6i.large", "m6i.xlarge", "t3.medium", "c7i.2xlarge", "large", "M6I.LARGE"]
        ),
        "kubernetes_version": st.sampled_from([*SUPPORTED_KUBERNETES_VERSIONS, "1.27", "v1.33"]),
        "cidr": _cidrs(range(14, 25)),
        "service_cidr": _cidrs(range(10, 27)),
        "cpu": QUANTITIES,
        "memory": QUANTITIES,
        "image": st.sampled_from(
            [
                "vllm/vllm-openai:v0.11.0",
                "nvcr.io/nvidia/tritonserver:25.09-py3",
                "x:latest",
                "x",
                "UPPER/x:1",
                "r@sha256:" + "a" * 64,
            ]
        ),
        "health_path": st.sampled_from(["/health", "/v2/health/ready", "health", "/", "/a b"]),
        "domain": st.sampled_from(
            ["models.example.com", "a.b", "x", "Models.Example.com", "m" * 63 + ".io", "a..b"]
        ),
        "acme_email": st.sampled_from(["ml@acme.example", "x", "a@b", "a@b.c", "a@" + "b" * 70 + ".io"]),
        "bucket_name": st.one_of(NAMES, st.just("a" * 58), st.just("a" * 63)),
        "version": st.sampled_from(["v1/", "2026-10-01/", "v1", "/v1/", "../x/"]),
        "storage_prefix": st.sampled_from(["models/x/", "", "x", "a/*/"]),
        "slack_channel": st.sampled_from(["#ml", "#ml alerts", "C0123", "#" + "a" * 90]),
        "model_format": st.sampled_from(["huggingface", "pytorch", ""]),
        "override_reason": st.sampled_from(["batch jobs tolerate interruptions", "", " "]),
    }
    if name in by_name:
        return st.one_of(by_name[name], by_name[name], NAMES)
    return st.one_of(NAMES, st.text(max_size=40))


def _ints(name: str) -> st.SearchStrategy[int]:
    return st.one_of(
        st.integers(0, 12),
        st.sampled_from([1, 2, 3, 4, 7, 8, 14, 16, 30, 32, 90, 100, 365, 1000, 3653, 10**6]),
        st.integers(-5, 100_000),
    )


def _value(annotation: Any, name: str, cloud: str, depth: int = 0) -> st.SearchStrategy[Any]:
    """A strategy for a field of this annotation: mostly plausible, sometimes junk."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return st.one_of(st.none(), *[_value(a, name, cloud, depth) for a in inner])
    if origin is Literal:
        return st.one_of(st.sampled_from(args), st.sampled_from(args), st.sampled_from(args), JUNK)
    if annotation is bool:
        return st.one_of(st.booleans(), st.booleans(), st.booleans(), JUNK)
    if annotation is int:
        return st.one_of(_ints(name), _ints(name), _ints(name), JUNK)
    if annotation is float:
        return st.one_of(st.floats(0, 2), st.floats(0, 10**7), st.integers(0, 10**6), JUNK)
    if annotation is str:
        return st.one_of(_strings(name, cloud), _strings(name, cloud), _strings(name, cloud), JUNK)
    if origin is list:
        item = _value(args[0], name, cloud, depth + 1) if depth < 3 else JUNK
        return st.one_of(st.lists(item, max_size=3), JUNK)
    if origin is dict:
        return st.one_of(
            st.dictionaries(
                st.one_of(NAMES, st.text(max_size=20)), st.one_of(NAMES, st.text(max_size=20)), max_size=3
            ),
            JUNK,
        )
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if depth >= 3:
            return JUNK
        fields = {
            k: _value(f.annotation, k, cloud, depth + 1)
            for k, f in annotation.model_fields.items()
            if k != "aws"
        }
        return st.one_of(st.fixed_dictionaries({}, optional=fields), JUNK)
    return JUNK


# ---------------------------------------------------------------- specs


def field_paths(model: type[BaseModel], data: Any, prefix: tuple = ()) -> list[tuple[tuple, Any]]:
    """(path, annotation) of every field of the model, following the base spec into lists."""
    out: list[tuple[tuple, Any]] = []
    for name, f in model.model_fields.items():
        path = (*prefix, name)
        out.append((path, f.annotation))
        sub = _model_in(f.annotation)
        value = data.get(name) if isinstance(data, dict) else None
        if sub is None:
            continue
        if typing.get_origin(_strip_optional(f.annotation)) is list:
            for i, item in enumerate(value if isinstance(value, list) else []):
                out.extend(field_paths(sub, item, (*path, i)))
        else:
            out.extend(field_paths(sub, value, path))
    return out


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return inner[0] if len(inner) == 1 else annotation
    return annotation


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for a in typing.get_args(annotation):
        found = _model_in(a)
        if found is not None:
            return found
    return None


DELETE = object()


MUTATIONS = (0, 1, 1, 1, 2, 2, 3, 4)  # how many fields a generated spec changes (drawn uniformly)


@st.composite
def platform_specs(draw: st.DrawFn, cloud: str, mutations: tuple[int, ...] = MUTATIONS) -> dict[str, Any]:
    """A shipped spec of `cloud` with some fields replaced (or removed)."""
    data = copy.deepcopy(draw(st.sampled_from(base_specs(cloud))))
    for _ in range(draw(st.sampled_from(mutations))):
        paths = field_paths(PlatformSpec, data)
        path, annotation = draw(st.sampled_from(paths))
        delete = draw(st.integers(0, 9)) == 0
        _put(data, path, DELETE if delete else draw(_value(annotation, str(path[-1]), cloud)))
    return data


def _put(data: Any, path: tuple, value: Any) -> None:
    node = data
    for key in path[:-1]:
        if isinstance(node, dict):
            if not isinstance(node.get(key), dict | list):
                node[key] = {}
            node = node[key]
        elif (
            isinstance(node, list)
            and isinstance(key, int)
            and key < len(node)
            and isinstance(node[key], dict | list)
        ):
            node = node[key]
        else:
            return  # an earlier mutation replaced the parent; nothing to put here
    last = path[-1]
    if isinstance(node, dict):
        if value is DELETE:
            node.pop(last, None)
        else:
            node[last] = value
    elif isinstance(node, list) and isinstance(last, int) and last < len(node):
        if value is DELETE:
            node.pop(last)
        else:
            node[last] = value


# ---------------------------------------------------------------- the property


class PropertyViolation(AssertionError):
    """A generated spec broke the property: a crash, an unnamed error, or validated-but-unplannable."""

    def __init__(self, kind: str, detail: str):
        self.kind = kind
        super().__init__(f"{kind}: {detail}")


def check(data: dict[str, Any], plan: bool | typing.Callable[[PlatformSpec], bool] = True) -> str:
    """The outcome: "refused", "planned", or "accepted" (validated, not planned: `plan` is False or
    said no); a PropertyViolation when the property fails."""
    try:
        spec = PlatformSpec.load(data)
    except SpecError as e:
        field = e.errors[0][0]
        if not field:
            raise PropertyViolation("refused without naming a field", str(e)) from e
        return "refused"
    except Exception as e:  # noqa: BLE001 - a crash is what the property forbids
        raise PropertyViolation("crash in validation", f"{type(e).__name__}: {e}") from e
    if not (plan(spec) if callable(plan) else plan):
        return "accepted"
    try:
        result = run_program(
            lambda: MlPlatform(spec.prefix, spec), project="fuzz", stack=spec.environment, region=spec.region
        )
    except ProgramError as e:
        raise PropertyViolation("validated but failed to plan", str(e)) from e
    except Exception as e:  # noqa: BLE001
        raise PropertyViolation("crash in planning", f"{type(e).__name__}: {e}") from e
    if not result.resources:
        raise PropertyViolation("validated but planned nothing", spec.name)
    return "planned"


class PlanBudget:
    """Plans each distinct validated spec once, and at most `limit` of them (planning costs ~1 s)."""

    def __init__(self, limit: int | None = None):
        self.limit = limit
        self.seen: set[str] = set()
        self.repeats = 0

    def __call__(self, spec: PlatformSpec) -> bool:
        key = spec.model_dump_json()
        if key in self.seen:
            self.repeats += 1
            return False  # the same validated spec plans the same (the plan is deterministic)
        if self.limit is not None and len(self.seen) >= self.limit:
            return False
        self.seen.add(key)
        return True
