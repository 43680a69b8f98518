"""The offline engine: run a Pulumi program in-process under the SDK's mocks and capture
the resource graph it registers.

No Pulumi CLI, provider plugin or credential is needed. The program runs in preview mode;
provider-computed outputs (ids, ARNs, endpoints) come from `mlinfra.offline.mocks`.
Every registration is captured with its urn, type, name, parent, provider, inputs,
protect, retain_on_delete and dependencies.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import runpy
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlinfra.offline import mocks as mock_table

SECRET_PLACEHOLDER = "offline-secret-placeholder"
SECRET_MARK = "[secret]"
# A value only the provider knows after create: a stable mark, never an object's repr.
UNKNOWN_MARK = "[unknown]"
# Version of the saved plan's JSON form (`mlinfra plan --json`). Bump it when a reader of an old
# plan would misread it; `Plan.from_json` refuses other versions with a message naming both.
PLAN_FORMAT_VERSION = 1
SUPPORTED_PLAN_FORMATS = (1,)


class PlanFormatError(ValueError):
    """A saved plan this mlinfra cannot read (written by another version of the JSON form)."""


class ProgramError(Exception):
    """A stack program could not be planned: bad config or an exception in the program."""

    def __init__(self, stack: str, message: str, cause: BaseException | None = None):
        self.stack = stack
        self.cause = cause
        super().__init__(f"stack {stack!r}: {message}")


class OfflineConfigError(Exception):
    """The offline engine lacks something only a real backend has (e.g. another stack's outputs)."""


@dataclass
class ResourceRecord:
    urn: str
    type: str
    name: str
    parent: str | None
    provider: str | None
    inputs: dict[str, Any]
    protect: bool = False
    retain_on_delete: bool = False
    dependencies: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)  # URNs this resource was known by (pulumi.Alias)
    custom: bool = True
    id: str | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("custom")
        d.pop("id")
        return d


@dataclass
class Plan:
    stack: str
    project: str
    cloud: str
    resources: list[ResourceRecord]
    environment: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    policy: dict[str, Any] = field(default_factory=lambda: {"violations": []})
    cost: dict[str, Any] = field(default_factory=dict)

    # ---- queries used by tests, policies and the CLI
    def of_type(self, type_: str) -> list[ResourceRecord]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> ResourceRecord:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        if len(found) != 1:
            names = [r.name for r in self.of_type(type_)]
            raise LookupError(f"expected one {type_} named {name!r}; found {len(found)} among {names}")
        return found[0]

    def by_urn(self) -> dict[str, ResourceRecord]:
        return {r.urn: r for r in self.resources}

    def children(self, urn: str) -> list[ResourceRecord]:
        return [r for r in self.resources if r.parent == urn]

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": PLAN_FORMAT_VERSION,
            "stack": self.stack,
            "project": self.project,
            "cloud": self.cloud,
            "environment": self.environment,
            "resources": [r.to_json() for r in self.resources],
            "outputs": self.outputs,
            "warnings": self.warnings,
            "policy": self.policy,
            "cost": self.cost,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        version = data.get("format_version") if isinstance(data, dict) else None
        if version not in SUPPORTED_PLAN_FORMATS:
            found = "none (written before mlinfra 0.2.0)" if version is None else repr(version)
            raise PlanFormatError(
                f"format_version: found {found}, this mlinfra reads "
                f"{', '.join(map(str, SUPPORTED_PLAN_FORMATS))}; re-run `mlinfra plan ... --json FILE` "
                "with this version to write the plan again"
            )
        return cls(
            stack=data["stack"],
            project=data["project"],
            cloud=data.get("cloud", "unknown"),
            environment=data.get("environment"),
            resources=[
                ResourceRecord(
                    urn=r["urn"],
                    type=r["type"],
                    name=r["name"],
                    parent=r.get("parent"),
                    provider=r.get("provider"),
                    inputs=r.get("inputs") or {},
                    protect=bool(r.get("protect")),
                    retain_on_delete=bool(r.get("retain_on_delete")),
                    dependencies=list(r.get("dependencies") or []),
                    aliases=list(r.get("aliases") or []),
                    custom=not _is_component(r["type"]),
                )
                for r in data["resources"]
            ],
            outputs=data.get("outputs") or {},
            warnings=data.get("warnings") or [],
            policy=data.get("policy") or {"violations": []},
            cost=data.get("cost") or {},
        )


def _is_component(type_: str) -> bool:
    return type_.startswith("mlinfra:") or type_ == "pulumi:pulumi:Stack"


# --------------------------------------------------------------------------- capture


def plain(value: Any) -> Any:
    """Turn deserialized property values into JSON-safe data (secrets masked, refs as URNs)."""
    from pulumi import Resource
    from pulumi.output import Unknown
    from pulumi.runtime import rpc

    if isinstance(value, Unknown):
        return UNKNOWN_MARK
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return SECRET_MARK
        return {k: plain(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Resource):
        return type(value).__name__
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _capturing_monitor_class():
    from pulumi.runtime import rpc
    from pulumi.runtime.mocks import MockMonitor
    from pulumi.runtime.proto import resource_pb2

    class CapturingMonitor(MockMonitor):
        """MockMonitor that records every registration with its options."""

        def __init__(self, mocks):
            super().__init__(mocks)
            self.records: list[ResourceRecord] = []
            self.qualified_types: dict[str, str] = {}

        def make_urn(self, parent: str, type_: str, name: str) -> str:
            # As the engine does: the parent's full qualified type, except for the root stack.
            from pulumi.runtime.settings import get_project, get_stack

            qualified = type_
            if parent and type_ != "pulumi:pulumi:Stack":
                parent_type = self.qualified_types.get(parent, parent.split("::")[2])
                if parent_type != "pulumi:pulumi:Stack":
                    qualified = f"{parent_type}${type_}"
            urn = "urn:pulumi:" + "::".join([get_stack(), get_project(), qualified, name])
            self.qualified_types[urn] = qualified
            return urn

        def GetDeploymentInfo(self, request):  # noqa: N802 (gRPC name)
            # Without alias specs the SDK resolves every alias (and those inherited from parents)
            # to full URNs itself (`aliasURNs`), so the plan records them as the engine sees them.
            info = super().GetDeploymentInfo(request)
            features = [
                f for f in info.supportedFeatures if f != resource_pb2.RESOURCE_MONITOR_FEATURE_ALIAS_SPECS
            ]
            return resource_pb2.DeploymentInfo(supportedFeatures=features)

        def RegisterResource(self, request):  # noqa: N802 (gRPC name)
            response = super().RegisterResource(request)
            if request.type == "pulumi:pulumi:Stack":
                return response
            if request.additionalSecretOutputs:
                _secret_outputs(response.object, list(request.additionalSecretOutputs))
            inputs = rpc.deserialize_properties(request.object, keep_internal=True)
            self.records.append(
                ResourceRecord(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    parent=request.parent or None,
                    provider=request.provider.rsplit("::", 1)[0] if request.provider else None,
                    inputs=plain(_mark_secrets(request.object, inputs)),
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                    dependencies=sorted(set(request.dependencies)),
                    aliases=sorted(set(request.aliasURNs) - {response.urn}),
                    custom=bool(request.custom),
                    id=response.id or None,
                )
            )
            return response

    return CapturingMonitor


def _secret_outputs(struct, keys: list[str]) -> None:
    """Mark `additionalSecretOutputs` secret in a mocked response, as the engine does."""
    from google.protobuf import json_format
    from pulumi.runtime import rpc

    state = json_format.MessageToDict(struct)
    for key in keys:
        if key in state and not (isinstance(state[key], dict) and rpc._special_sig_key in state[key]):
            state[key] = {rpc._special_sig_key: rpc._special_secret_sig, "value": state[key]}
    struct.Clear()
    json_format.ParseDict(state, struct)


def _mark_secrets(struct, deserialized: Any) -> Any:
    """Re-walk the raw struct so secret values are masked in the captured inputs."""
    from google.protobuf import json_format
    from pulumi.runtime import rpc

    raw = json_format.MessageToDict(struct)

    def walk(r: Any, d: Any) -> Any:
        if isinstance(r, dict) and r.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return SECRET_MARK
        if isinstance(r, dict) and r.get(rpc._special_sig_key) == rpc._special_resource_sig:
            return r.get("urn")
        if isinstance(r, dict) and isinstance(d, dict):
            return {k: walk(r.get(k), v) for k, v in d.items()}
        if isinstance(r, list) and isinstance(d, list) and len(r) == len(d):
            return [walk(a, b) for a, b in zip(r, d, strict=True)]
        return d

    return walk(raw, deserialized)


STACK_OUTPUTS_KEY = "mlinfra:offlineStackOutputs"


def _make_mocks(default_region: str, config: dict[str, str]):
    import pulumi

    stack_outputs = _config_object(config, STACK_OUTPUTS_KEY)

    class OfflineMocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs):
            region = str(args.inputs.get("region") or default_region)
            if args.typ == "pulumi:pulumi:StackReference":
                # Another stack's outputs cannot be read offline: they come from the config
                # object `mlinfra:offlineStackOutputs: {<stack>: {...}}` (ignored by real runs).
                ref = str(args.inputs.get("name") or args.name)
                if ref not in stack_outputs:
                    raise OfflineConfigError(
                        f"stack reference {ref!r} has no offline outputs; add them under {STACK_OUTPUTS_KEY}"
                    )
                return ref, {"name": ref, "outputs": stack_outputs[ref], "secretOutputNames": []}
            if args.typ.startswith("pulumi:providers:"):
                rid = f"{args.name}-provider-id"
                return rid, dict(args.inputs)
            if not args.custom:
                return "", {}
            return mock_table.computed_outputs(args.typ, args.name, dict(args.inputs), region)

        def call(self, args: pulumi.runtime.MockCallArgs):
            return mock_table.call_outputs(args.token, dict(args.args), default_region)

    return OfflineMocks()


class _WarningCollector(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def run_program(
    program: Callable[[], Any],
    *,
    project: str = "mlinfra",
    stack: str = "dev",
    config: dict[str, str] | None = None,
    secret_keys: list[str] | None = None,
    region: str | None = None,
) -> Plan:
    """Run `program` under mocks (preview mode) and return the captured plan.

    Each call runs in a fresh context, so plans in one process do not leak into each other.
    """
    ctx = contextvars.copy_context()
    return ctx.run(_run, program, project, stack, config or {}, secret_keys or [], region)


def _run(program, project, stack, config, secret_keys, region) -> Plan:
    import pulumi
    from pulumi.runtime import settings as pulumi_settings
    from pulumi.runtime.config import set_all_config
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    monitor = _capturing_monitor_class()(_make_mocks(region or mock_table.DEFAULT_REGION, config))
    collector = _WarningCollector()
    logger = logging.getLogger(f"mlinfra.offline.{id(monitor)}")
    logger.propagate = False
    logger.addHandler(collector)

    pulumi_settings.ROOT.set(None)
    set_all_config(dict(config), list(secret_keys))
    pulumi.runtime.set_mocks(
        monitor.mocks, project=project, stack=stack, preview=True, logger=logger, monitor=monitor
    )
    # Warnings are what the program logs through the engine (`pulumi.log.warn`): that is
    # where provider SDKs report a deprecated resource or property when it is used. Python
    # `warnings` raised while an SDK module is imported concern resources nobody uses, and
    # a real `pulumi preview` does not show them either.
    try:
        _sync_await(run_pulumi_func(program))
    except ProgramError:
        raise
    except BaseException as e:  # noqa: BLE001 surfaced as a ProgramError with its cause
        raise ProgramError(stack, _describe(e), e) from e
    root = pulumi_settings.get_root_resource()
    outputs = _resolve_outputs(getattr(root, "outputs", {}) or {})
    msgs = list(collector.messages)
    cloud = _detect_cloud(monitor.records, config)
    return Plan(
        stack=stack,
        project=project,
        cloud=cloud,
        environment=_config_environment(config, stack),
        # Registration order depends on how outputs resolve; sort so the same program always
        # yields the same plan (and diffs of plan JSON are meaningful).
        resources=sorted(monitor.records, key=lambda r: r.urn),
        outputs=outputs,
        warnings=msgs,
    )


def _describe(e: BaseException) -> str:
    from pydantic import ValidationError

    from mlinfra.spec import SpecError, format_validation_error

    if isinstance(e, ValidationError):
        return format_validation_error(e)
    if isinstance(e, SpecError | OfflineConfigError):
        return str(e)
    name = type(e).__name__
    if name == "ConfigMissingError":
        return str(e).strip()
    return f"{name}: {e}"


def _resolve_outputs(outputs: dict[str, Any]) -> dict[str, Any]:
    import pulumi
    from pulumi.runtime.sync_await import _sync_await

    resolved: dict[str, Any] = {}
    for key, value in outputs.items():
        out = pulumi.Output.from_input(value)
        is_secret = _sync_await(out.is_secret())
        val = _sync_await(out.future())
        resolved[key] = SECRET_MARK if is_secret else plain(val)
    return resolved


def _detect_cloud(records: list[ResourceRecord], config: dict[str, str]) -> str:
    cloud = _config_object(config).get("cloud")
    if cloud:
        return str(cloud)
    for prefix in ("aws", "gcp", "azure-native"):
        if any(r.type.startswith(prefix + ":") for r in records):
            return "azure" if prefix == "azure-native" else prefix
    return "kubernetes"


# --------------------------------------------------------------------------- stacks on disk


@dataclass
class StackConfig:
    project: str
    stack: str
    main: Path
    config: dict[str, str]
    secret_keys: list[str]


def load_stack(stack_dir: str | os.PathLike[str], stack: str) -> StackConfig:
    """Read Pulumi.yaml + Pulumi.<stack>.yaml the way the CLI would (secure values become placeholders)."""
    d = Path(stack_dir)
    proj_file = d / "Pulumi.yaml"
    if not proj_file.exists():
        raise ProgramError(stack, f"{proj_file} not found: not a Pulumi project directory")
    project_doc = yaml.safe_load(proj_file.read_text()) or {}
    project = str(project_doc.get("name") or d.name)
    runtime = project_doc.get("runtime")
    runtime_name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if runtime_name != "python":
        raise ProgramError(
            stack, f"{proj_file}: runtime is {runtime_name!r}; the offline engine runs python projects"
        )
    main_rel = project_doc.get("main") or "."
    main = (d / main_rel).resolve()
    if main.is_dir():
        main = main / "__main__.py"
    stack_file = d / f"Pulumi.{stack}.yaml"
    if not stack_file.exists():
        available = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in d.glob("Pulumi.*.yaml"))
        raise ProgramError(
            stack, f"{stack_file.name} not found; stacks here: {', '.join(available) or 'none'}"
        )

    config: dict[str, str] = {}
    secret_keys: list[str] = []

    def put(key: str, value: Any) -> None:
        full = key if ":" in key else f"{project}:{key}"
        value, secret = _unsecure(value)
        if secret:
            secret_keys.append(full)
        if isinstance(value, bool):
            config[full] = "true" if value else "false"
        elif isinstance(value, str):
            config[full] = value
        elif isinstance(value, int | float):
            config[full] = str(value)
        else:
            config[full] = json.dumps(value)

    for key, spec in (project_doc.get("config") or {}).items():
        if isinstance(spec, dict) and ("default" in spec or "value" in spec):
            put(key, spec.get("value", spec.get("default")))
        elif not isinstance(spec, dict) or "type" not in spec:
            put(key, spec)
    stack_doc = yaml.safe_load(stack_file.read_text()) or {}
    for key, value in (stack_doc.get("config") or {}).items():
        put(key, value)
    # Pulumi ESC: `environment: [org/env, ...]` imports environments whose `pulumiConfig` becomes
    # config. They cannot be opened offline: a string key the project declares (Pulumi.yaml
    # `config: {key: {type: string}}`) without a value becomes a labelled placeholder.
    envs = stack_doc.get("environment")
    if envs is not None:
        if not isinstance(envs, list) or not all(isinstance(e, str) and e for e in envs):
            raise ProgramError(
                stack, f"{stack_file.name}: environment: a list of ESC environment names, e.g. [myorg/prod]"
            )
        for key, spec in (project_doc.get("config") or {}).items():
            full = key if ":" in key else f"{project}:{key}"
            declared = isinstance(spec, dict) and spec.get("type", "string") == "string"
            if declared and full not in config and "default" not in spec and "value" not in spec:
                config[full] = f"[from ESC environment {', '.join(envs)}]"
                if spec.get("secret"):
                    secret_keys.append(full)
    return StackConfig(project=project, stack=stack, main=main, config=config, secret_keys=secret_keys)


def _unsecure(value: Any) -> tuple[Any, bool]:
    """Replace `secure:` values (undecryptable offline) by a placeholder; report whether any was found."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER, True
        out, any_secret = {}, False
        for k, v in value.items():
            out[k], s = _unsecure(v)
            any_secret |= s
        return out, any_secret
    if isinstance(value, list):
        items = [_unsecure(v) for v in value]
        return [i[0] for i in items], any(i[1] for i in items)
    return value, False


def plan_stack(stack_dir: str | os.PathLike[str], stack: str) -> Plan:
    """Plan a stack directory offline: load its config and run its `__main__.py` under mocks."""
    cfg = load_stack(stack_dir, stack)
    region = _config_region(cfg.config)

    def program() -> None:
        old_cwd, old_path = os.getcwd(), list(sys.path)
        os.chdir(cfg.main.parent)
        sys.path.insert(0, str(cfg.main.parent))
        try:
            runpy.run_path(str(cfg.main), run_name="__main__")
        finally:
            os.chdir(old_cwd)
            sys.path[:] = old_path

    return run_program(
        program,
        project=cfg.project,
        stack=stack,
        config=cfg.config,
        secret_keys=cfg.secret_keys,
        region=region,
    )


def _config_object(config: dict[str, str], key: str = "mlinfra:platform") -> dict[str, Any]:
    """A structured (JSON) config value as a dict; {} when absent or not an object."""
    raw = config.get(key)
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _config_environment(config: dict[str, str], stack: str) -> str | None:
    """The platform's environment (dev/staging/prod) from config, else the stack name if it is one."""
    env = _config_object(config).get("environment") or config.get("mlinfra:environment")
    if env:
        return str(env)
    return stack if stack in ("dev", "staging", "prod") else None


def _config_region(config: dict[str, str]) -> str | None:
    return _config_object(config).get("region") or config.get("aws:region")
