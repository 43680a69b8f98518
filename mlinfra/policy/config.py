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

LEVELS = ("advisory", "mandatory", "disabled")
DEFAULT_ENFORCEMENT = {"dev": "advisory", "staging": "mandatory", "prod": "mandatory"}
_MLINFRA_KEYS = {"environment", "enforcement", "overrides", "disabled", "exemptions"}


class PackConfigError(ValueError):
    """A pack configuration that cannot be used, naming the field and the allowed values."""


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
            raise PackConfigError("pack config must be a JSON object")
        cfg = cls()
        env = data.get("environment")
        if env is not None:
            cfg.environment = _environment(env, "environment")
        for e, lvl in (data.get("enforcement") or {}).items():
            cfg.enforcement[_environment(e, f"enforcement.{e}")] = _level(lvl, f"enforcement.{e}")
        for p, lvl in (data.get("overrides") or {}).items():
            cfg.overrides[p] = _level(lvl, f"overrides.{p}")
        for p, reason in (data.get("disabled") or {}).items():
            cfg.disabled[p] = _reason(reason, f"disabled.{p}")
        for i, e in enumerate(data.get("exemptions") or []):
            if not isinstance(e, dict) or not e.get("policy") or not e.get("resource"):
                raise PackConfigError(f"exemptions.{i}: needs policy, resource and reason")
            cfg.exemptions.append(
                Exemption(e["policy"], e["resource"], _reason(e.get("reason"), f"exemptions.{i}.reason"))
            )
        # CrossGuard form: every other key is a policy name (or "all").
        for key, val in data.items():
            if key in _MLINFRA_KEYS:
                continue
            where = key
            if isinstance(val, str):
                val = {"enforcementLevel": val}
            if not isinstance(val, dict):
                raise PackConfigError(f"{where}: must be an enforcement level or an object")
            lvl = val.get("enforcementLevel")
            if key == "all":
                if lvl is not None:
                    lvl = _level(lvl, "all.enforcementLevel")
                    if lvl == "disabled":
                        raise PackConfigError(
                            "all: disabling every policy is not allowed; disable policies by name with a reason"
                        )
                    cfg.enforcement = dict.fromkeys(ENVIRONMENTS, lvl)
                continue
            if val.get("environment") is not None and cfg.environment is None:
                cfg.environment = _environment(val["environment"], f"{where}.environment")
            if lvl is not None:
                lvl = _level(lvl, f"{where}.enforcementLevel")
                if lvl == "disabled":
                    cfg.disabled[key] = _reason(
                        val.get("reason"), f"{where}.reason (disabling needs a reason)"
                    )
                else:
                    cfg.overrides[key] = lvl
            for i, e in enumerate(val.get("exemptions") or []):
                if not isinstance(e, dict) or not e.get("resource"):
                    raise PackConfigError(f"{where}.exemptions.{i}: needs resource and reason")
                cfg.exemptions.append(
                    Exemption(key, e["resource"], _reason(e.get("reason"), f"{where}.exemptions.{i}.reason"))
                )
        if known_policies is not None:
            named = set(cfg.overrides) | set(cfg.disabled) | {e.policy for e in cfg.exemptions}
            unknown = sorted(named - known_policies)
            if unknown:
                raise PackConfigError(
                    f"unknown policies {unknown}; allowed: {', '.join(sorted(known_policies))}"
                )
        # Canonical form: a disabled policy has no other level.
        for p in cfg.disabled:
            cfg.overrides.pop(p, None)
        return cfg


def _environment(v: Any, where: str) -> str:
    if v not in ENVIRONMENTS:
        raise PackConfigError(f"{where}: {v!r} is not an environment; allowed: {', '.join(ENVIRONMENTS)}")
    return str(v)


def _level(v: Any, where: str) -> str:
    if v not in LEVELS:
        raise PackConfigError(f"{where}: {v!r} is not an enforcement level; allowed: {', '.join(LEVELS)}")
    return str(v)


def _reason(v: Any, where: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise PackConfigError(f"{where}: a non-empty reason is required")
    return v.strip()


def load_pack_config(path: str | Path, known_policies: set[str] | None = None) -> PackConfig:
    """Read a pack config JSON file (either form); errors name the file and the field."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except OSError as e:
        raise PackConfigError(f"{p}: cannot read ({e.strerror})") from None
    except ValueError as e:
        raise PackConfigError(f"{p}: not valid JSON ({e})") from None
    try:
        return PackConfig.from_dict(data, known_policies)
    except PackConfigError as e:
        raise PackConfigError(f"{p}: {e}") from None
