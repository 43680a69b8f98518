"""Pack configuration: enforcement per environment, disabled rules and exemptions, each with a reason.

One JSON shape serves both paths. The mlinfra form:

    {"environment": "prod",                                   # optional; else from the plan/stack
     "enforcement": {"dev": "advisory", "staging": "mandatory", "prod": "mandatory"},
     "overrides": {"<policy>": "advisory"},                   # per-policy level (optional)
     "disabled": {"<policy>": "<reason>"},
     "exemptions": [{"policy": "<policy>", "resource": "<resource name or URN>", "reason": "<reason>"}]}

CrossGuard's `--policy-pack-config` form is keyed by policy name; `load_pack_config` reads it too,
and `PackConfig.to_policy_pack_config()` writes it (so `mlinfra policy export-config` feeds
`pulumi preview --policy-pack-config`):

    {"<policy>": {"enforcementLevel": "mandatory", "environment": "prod",
                  "reason": "<why disabled>", "exemptions": [{"resource": "...", "reason": "..."}]}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlinfra.catalog import ENVIRONMENTS
from mlinfra.errors import InputError, read_text
from mlinfra.wording import describe

LEVELS = ("advisory", "mandatory", "disabled")
DEFAULT_ENFORCEMENT = {"dev": "advisory", "staging": "mandatory", "prod": "mandatory"}
_MLINFRA_KEYS = {"environment", "enforcement", "overrides", "disabled", "exemptions"}


class PackConfigError(InputError, ValueError):
    """A pack configuration that cannot be used, naming the file, the field and the allowed values."""

    def __init__(
        self, message: str, field: str | None = None, file: str | Path | None = None, line: int | None = None
    ):
        super().__init__(message, field=field, file=file, line=line)


@dataclass(frozen=True)
class Exemption:
    policy: str
    resource: str
    reason: str


@dataclass
class PackConfig:
    environment: str | None = None
    enforcement: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ENFORCEMENT))
    overrides: dict[str, str] = field(default_factory=dict)
    disabled: dict[str, str] = field(default_factory=dict)
    exemptions: list[Exemption] = field(default_factory=list)

    def level(self, policy: str, environment: str) -> str:
        if policy in self.disabled:
            return "disabled"
        return (
            self.overrides.get(policy)
            or self.enforcement.get(environment)
            or DEFAULT_ENFORCEMENT[environment]
        )

    def exemption(self, policy: str, resource_name: str, urn: str = "") -> Exemption | None:
        for e in self.exemptions:
            if e.policy == policy and e.resource in (resource_name, urn):
                return e
        return None

    # ---------------------------------------------------------------- (de)serialisation

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "enforcement": dict(self.enforcement),
            "overrides": dict(self.overrides),
            "disabled": dict(self.disabled),
            "exemptions": [
                {"policy": e.policy, "resource": e.resource, "reason": e.reason} for e in self.exemptions
            ],
        }

    def to_policy_pack_config(self, policies: list[str], environment: str) -> dict[str, Any]:
        """CrossGuard's `--policy-pack-config` document for a pack holding `policies`."""
        out: dict[str, Any] = {}
        for name in policies:
            entry: dict[str, Any] = {
                "enforcementLevel": self.level(name, environment),
                "environment": environment,
            }
            if name in self.disabled:
                entry["reason"] = self.disabled[name]
            ex = [{"resource": e.resource, "reason": e.reason} for e in self.exemptions if e.policy == name]
            if ex:
                entry["exemptions"] = ex
            out[name] = entry
        return out

    @classmethod
    def from_dict(cls, data: Any, known_policies: set[str] | None = None) -> PackConfig:
        if not isinstance(data, dict):
            raise PackConfigError(f"a pack config is a JSON object, got {_kind(data)}")
        cfg = cls()
        env = data.get("environment")
        if env is not None:
            cfg.environment = _environment(env, "environment")
        for e, lvl in _mapping(data, "enforcement", "environment to enforcement level").items():
            cfg.enforcement[_environment(e, f"enforcement.{e}")] = _level(lvl, f"enforcement.{e}")
        for p, lvl in _mapping(data, "overrides", "policy name to enforcement level").items():
            cfg.overrides[p] = _level(lvl, f"overrides.{p}")
        for p, reason in _mapping(data, "disabled", "policy name to the reason it is disabled").items():
            cfg.disabled[p] = _reason(reason, f"disabled.{p}")
        exemptions = data.get("exemptions")
        if exemptions is not None and not isinstance(exemptions, list):
            raise PackConfigError(
                f"expected a list of {{policy, resource, reason}} objects, got {_kind(exemptions)}",
                "exemptions",
            )
        for i, e in enumerate(exemptions or []):
            cfg.exemptions.append(_exemption(e, f"exemptions.{i}", ("policy", "resource", "reason")))
        # CrossGuard form: every other key is a policy name (or "all").
        for key, val in data.items():
            if key in _MLINFRA_KEYS:
                continue
            where = key
            if isinstance(val, str):
                val = {"enforcementLevel": val}
            if not isinstance(val, dict):
                raise PackConfigError(f"must be an enforcement level or an object, got {_kind(val)}", where)
            unknown = sorted(set(val) - _CROSSGUARD_KEYS)
            if unknown:
                raise PackConfigError(
                    f"unknown keys {unknown}; allowed: {', '.join(sorted(_CROSSGUARD_KEYS))}", where
                )
            lvl = val.get("enforcementLevel")
            if key == "all":
                if lvl is not None:
                    lvl = _level(lvl, "all.enforcementLevel")
                    if lvl == "disabled":
                        raise PackConfigError(
                            "disabling every policy is not allowed; disable policies by name with a reason",
                            "all",
                        )
                    cfg.enforcement = dict.fromkeys(ENVIRONMENTS, lvl)
                continue
            if val.get("environment") is not None and cfg.environment is None:
                cfg.environment = _environment(val["environment"], f"{where}.environment")
            if lvl is not None:
                lvl = _level(lvl, f"{where}.enforcementLevel")
                if lvl == "disabled":
                    cfg.disabled[key] = _reason(val.get("reason"), f"{where}.reason")
                else:
                    cfg.overrides[key] = lvl
            ex = val.get("exemptions")
            if ex is not None and not isinstance(ex, list):
                raise PackConfigError(
                    f"expected a list of {{resource, reason}} objects, got {_kind(ex)}", f"{where}.exemptions"
                )
            for i, e in enumerate(ex or []):
                exemption = _exemption(e, f"{where}.exemptions.{i}", ("resource", "reason"))
                cfg.exemptions.append(Exemption(key, exemption.resource, exemption.reason))
        if known_policies is not None:
            named = [*cfg.overrides, *cfg.disabled, *(e.policy for e in cfg.exemptions)]
            for name in named:
                if name not in known_policies:
                    raise PackConfigError(
                        f"unknown policy {name!r}; allowed: {', '.join(sorted(known_policies))}",
                        _where_named(data, name),
                    )
        # Canonical form: a disabled policy has no other level.
        for p in cfg.disabled:
            cfg.overrides.pop(p, None)
        return cfg


_CROSSGUARD_KEYS = {"enforcementLevel", "environment", "reason", "exemptions"}


def _mapping(data: dict[str, Any], key: str, what: str) -> dict[str, Any]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PackConfigError(f"expected an object mapping {what}, got {_kind(value)}", key)
    return value


def _exemption(e: Any, where: str, keys: tuple[str, ...]) -> Exemption:
    if not isinstance(e, dict):
        raise PackConfigError(f"expected an object with {', '.join(keys)}, got {_kind(e)}", where)
    unknown = sorted(set(e) - set(keys))
    if unknown:
        raise PackConfigError(f"unknown keys {unknown}; allowed: {', '.join(keys)}", where)
    for k in keys[:-1]:
        if not isinstance(e.get(k), str) or not e[k].strip():
            raise PackConfigError(f"a non-empty {k} is required", f"{where}.{k}")
    return Exemption(e.get("policy", ""), e["resource"], _reason(e.get("reason"), f"{where}.reason"))


def _where_named(data: dict[str, Any], name: str) -> str:
    """The field that names policy `name` in a pack config (for an 'unknown policy' error)."""
    for key in ("overrides", "disabled"):
        if isinstance(data.get(key), dict) and name in data[key]:
            return f"{key}.{name}"
    for i, e in enumerate(data.get("exemptions") or []):
        if isinstance(e, dict) and e.get("policy") == name:
            return f"exemptions.{i}.policy"
    return name


_kind = describe


def _environment(v: Any, where: str) -> str:
    if not isinstance(v, str) or v not in ENVIRONMENTS:
        raise PackConfigError(f"{v!r} is not an environment; allowed: {', '.join(ENVIRONMENTS)}", where)
    return v


def _level(v: Any, where: str) -> str:
    if not isinstance(v, str) or v not in LEVELS:
        raise PackConfigError(f"{v!r} is not an enforcement level; allowed: {', '.join(LEVELS)}", where)
    return v


def _reason(v: Any, where: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise PackConfigError("a non-empty reason is required", where)
    return v.strip()


def load_pack_config(path: str | Path, known_policies: set[str] | None = None) -> PackConfig:
    """Read a pack config JSON file (either form); errors name the file and the field."""
    p = Path(path)
    text = read_text(p, PackConfigError, "a pack config")
    try:
        data = json.loads(text)
    except ValueError as e:
        raise PackConfigError(f"not valid JSON ({e})", file=p) from None
    try:
        return PackConfig.from_dict(data, known_policies)
    except PackConfigError as e:
        raise PackConfigError(e.message, e.field, file=p) from None
