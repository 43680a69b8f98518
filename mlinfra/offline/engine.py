"""The offline engine: run a Pulumi program in-process under the SDK's mocks and capture
the resource graph it registers.

No Pulumi CLI, provider plugin or credential is needed. The program runs in preview mode;
provider-computed outputs (ids, ARNs, endpoints) come from `mlinfra.offline.mocks`.
Every registration is captured with its urn, type, name, parent, provider, inputs,
protect, retain_on_delete, dependencies and custom timeouts.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import copy
import json
import logging
import os
import re
import runpy
import sys
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlinfra.catalog import ENVIRONMENTS
from mlinfra.errors import InputError, read_text
from mlinfra.offline import mocks as mock_table
from mlinfra.offline.yamlfile import YamlDoc, YamlFileError, load_yaml, require_mapping
from mlinfra.wording import describe

SECRET_PLACEHOLDER = "offline-secret-placeholder"
SECRET_MARK = "[secret]"
# A value the engine computes only at `pulumi up` (an Output unknown in preview): one stable
# spelling in the plan JSON, the tree and every report built from them.
UNKNOWN_MARK = "[unknown]"


class ProgramError(InputError):
    """A stack program could not be planned: bad config or an exception in the program.

    `config_key` names the Pulumi config key a spec error came from; `plan_stack` turns it (and
    the field) into the file and line that set it, or, for an exception in the program, the line
    of `__main__.py` it came through. `unexpected` marks an exception whose traceback helps
    (`--debug`), as opposed to a message that says everything. `missing_references`: the
    StackReferences the program asked for without offline outputs (plan_stack resolves them).
    """

    def __init__(
        self,
        stack: str,
        message: str,
        cause: BaseException | None = None,
        missing_references: list[str] | None = None,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
        config_key: str | None = None,
        unexpected: bool = False,
    ):
        self.stack = stack
        self.config_key = config_key
        self.unexpected = unexpected
        self.missing_references = list(missing_references or [])
        super().__init__(message, file=file, line=line, field=field, cause=cause)

    def text(self) -> str:
        where = self.location() or f"stack {self.stack!r}"
        return f"{where}: {self.message}"

    def located(self, file: str | Path, line: int | None, message: str | None = None) -> ProgramError:
        return ProgramError(
            self.stack,
            self.message if message is None else message,
            self.cause,
            self.missing_references,
            file=file,
            line=line,
            field=self.field,
            config_key=self.config_key,
            unexpected=self.unexpected,
        )


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
    custom_timeouts: dict[str, str] = field(default_factory=dict)
    custom: bool = True
    id: str | None = None
    # The URNs this resource was known by before (its `aliases`, resolved as the engine would): a
    # renamed or re-parented resource with an alias is the same resource, not a replacement.
    aliases: list[str] = field(default_factory=list)

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
    # In memory only (not in the JSON form): the outputs with secrets unmasked (what a StackReference
    # to this stack reads), which of them are secret, and the outputs this stack's StackReferences read.
    raw_outputs: dict[str, Any] = field(default_factory=dict, repr=False)
    secret_outputs: list[str] = field(default_factory=list, repr=False)
    stack_references: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

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
                    custom_timeouts=dict(r.get("custom_timeouts") or {}),
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


# --------------------------------------------------------------------------- saved plans

# The plan JSON's format; a file without `format_version` is read as version 1.
PLAN_FORMAT_VERSION = 1


class PlanFileError(InputError):
    """A file that is not a plan saved by `mlinfra plan --json FILE`."""


def load_plan_file(path: str | os.PathLike[str]) -> Plan:
    """Read and validate a saved plan (shape, types, environment, format_version) before use.

    Used by `mlinfra policy check` and `mlinfra diff`; errors name the file and the field
    (`resources.3.inputs: expected an object, got a list`).
    """
    p = Path(path)
    text = read_text(p, PlanFileError, "a saved plan")
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as e:
        raise PlanFileError(f"not JSON: {e.msg} (column {e.colno})", file=p, line=e.lineno) from None
    except ValueError as e:
        raise PlanFileError(f"not a saved plan: {e}", file=p) from None
    check_plan_data(data, p)
    return Plan.from_json(data)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r} in an object")
        out[k] = v
    return out


def check_plan_data(data: Any, file: str | Path | None = None) -> None:
    """Refuse plan data of the wrong shape, naming the field (see `load_plan_file`)."""

    def fail(field: str | None, message: str) -> PlanFileError:
        return PlanFileError(message, file=file, field=field)

    def expect(value: Any, types: type | tuple[type, ...], field: str, what: str) -> None:
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
            raise fail(field, f"expected {what}, got {_json_kind(value)}")

    if not isinstance(data, dict):
        raise fail(
            None, f"a saved plan is a JSON object (from `mlinfra plan --json FILE`), got {_json_kind(data)}"
        )
    version = data.get("format_version", PLAN_FORMAT_VERSION)
    if version != PLAN_FORMAT_VERSION or isinstance(version, bool):
        raise fail(
            "format_version",
            f"{version!r} is not supported; this mlinfra reads {PLAN_FORMAT_VERSION} "
            "(write the plan again with this version: `mlinfra plan ... --json FILE`)",
        )
    for key in ("stack", "project", "resources"):
        if key not in data:
            raise fail(key, "missing; not a plan saved by `mlinfra plan --json FILE`")
    expect(data["stack"], str, "stack", "a string")
    expect(data["project"], str, "project", "a string")
    if "cloud" in data:
        expect(data["cloud"], str, "cloud", "a string")
    env = data.get("environment")
    if env is not None and env not in ENVIRONMENTS:
        raise fail(
            "environment", f"{env!r} is not an environment; allowed: {', '.join(ENVIRONMENTS)} or null"
        )
    for key, types, what in (
        ("outputs", dict, "an object"),
        ("warnings", list, "a list"),
        ("policy", dict, "an object"),
        ("cost", dict, "an object"),
    ):
        if data.get(key) is not None:
            expect(data[key], types, key, what)
    for i, w in enumerate(data.get("warnings") or []):
        expect(w, str, f"warnings.{i}", "a string")
    expect(data["resources"], list, "resources", "a list")
    urns: set[str] = set()
    for i, r in enumerate(data["resources"]):
        at = f"resources.{i}"
        expect(r, dict, at, "a resource object")
        for key in ("urn", "type", "name"):
            if key not in r:
                raise fail(f"{at}.{key}", "missing")
            expect(r[key], str, f"{at}.{key}", "a string")
        if not r["urn"].startswith("urn:pulumi:"):
            raise fail(
                f"{at}.urn",
                f"{r['urn']!r} is not a Pulumi URN (urn:pulumi:<stack>::<project>::<type>::<name>)",
            )
        if r["urn"] in urns:
            raise fail(f"{at}.urn", f"duplicate URN {r['urn']!r}")
        urns.add(r["urn"])
        for key in ("parent", "provider"):
            if r.get(key) is not None:
                expect(r[key], str, f"{at}.{key}", "a URN string or null")
        if r.get("inputs") is not None:
            expect(r["inputs"], dict, f"{at}.inputs", "an object")
        for key in ("protect", "retain_on_delete"):
            if r.get(key) is not None:
                expect(r[key], bool, f"{at}.{key}", "true or false")
        for key in ("dependencies", "aliases"):
            urns_of = r.get(key)
            if urns_of is not None:
                expect(urns_of, list, f"{at}.{key}", "a list of URNs")
                for j, dep in enumerate(urns_of):
                    expect(dep, str, f"{at}.{key}.{j}", "a URN string")
        timeouts = r.get("custom_timeouts")
        if timeouts is not None:
            expect(timeouts, dict, f"{at}.custom_timeouts", "an object")
            for op, value in timeouts.items():
                expect(value, str, f"{at}.custom_timeouts.{op}", "a duration string")
    violations = (data.get("policy") or {}).get("violations")
    if violations is not None:
        expect(violations, list, "policy.violations", "a list")


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


_json_kind = describe


def _is_component(type_: str) -> bool:
    return type_.startswith("mlinfra:") or type_ == "pulumi:pulumi:Stack"


# --------------------------------------------------------------------------- capture


def plain(value: Any) -> Any:
    """Turn deserialized property values into JSON-safe data (secrets masked, refs as URNs,
    values known only after `pulumi up` as UNKNOWN_MARK)."""
    from pulumi import Resource
    from pulumi.output import Unknown
    from pulumi.runtime import rpc

    if isinstance(value, Unknown) or value == rpc.UNKNOWN:
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
                    custom_timeouts=_custom_timeouts(request),
                    custom=bool(request.custom),
                    id=response.id or None,
                    # Resolved by the SDK (incl. aliases inherited from parents) and as specs.
                    aliases=sorted((set(request.aliasURNs) | set(self.alias_urns(request))) - {response.urn}),
                )
            )
            return response

        def alias_urns(self, request) -> list[str]:
            """Resolve the registration's aliases (full URNs, or specs relative to it) to URNs."""
            out = []
            for alias in request.aliases:
                if alias.urn:
                    out.append(alias.urn)
                    continue
                spec = alias.spec
                parent = "" if spec.noParent else (spec.parentUrn or request.parent)
                urn = self.make_urn(parent, spec.type or request.type, spec.name or request.name)
                if spec.stack or spec.project:
                    head, project, qualified, name = urn.split("::", 3)
                    stack = head.removeprefix("urn:pulumi:")
                    urn = f"urn:pulumi:{spec.stack or stack}::{spec.project or project}::{qualified}::{name}"
                out.append(urn)
            return sorted(set(out))

    return CapturingMonitor


def _custom_timeouts(request) -> dict[str, str]:
    """The resource's `custom_timeouts` (create/update/delete), as `pulumi up` would apply them."""
    if not request.HasField("customTimeouts"):
        return {}
    timeouts = request.customTimeouts
    return {op: getattr(timeouts, op) for op in ("create", "update", "delete") if getattr(timeouts, op)}


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
# The organization name of self-managed (DIY) backends, whose stack references read
# `organization/<project>/<stack>` (Pulumi docs, "Stack references").
DIY_ORGANIZATION = "organization"


@dataclass
class _References:
    """A run's StackReferences: outputs known up front, what the program read, what it missed."""

    given: dict[str, tuple[dict[str, Any], list[str]]] = field(default_factory=dict)
    read: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def _make_mocks(default_region: str, config: dict[str, str], references: _References):
    import pulumi

    overrides = _config_object(config, STACK_OUTPUTS_KEY)
    # Inputs of each provider by its id, so a resource's mocked outputs can use its provider's
    # settings (azure-native ids carry the provider's subscription and location).
    providers: dict[str, dict[str, Any]] = {}

    def provider_of(ref: str | None) -> dict[str, Any]:
        return providers.get((ref or "").rsplit("::", 1)[-1], {})

    class OfflineMocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs):
            region = str(args.inputs.get("region") or default_region)
            if args.typ == "pulumi:pulumi:StackReference":
                # Another stack's outputs: the config object `mlinfra:offlineStackOutputs: {<stack>:
                # {...}}` when given (ignored by real runs), else the referenced project planned
                # offline (plan_stack resolves sibling projects and runs the program again).
                ref = str(args.inputs.get("name") or args.name)
                if ref in overrides:
                    outputs, secret = overrides[ref], []
                elif ref in references.given:
                    outputs, secret = references.given[ref]
                else:
                    references.missing.append(ref)
                    raise OfflineConfigError(
                        f"stack reference {ref!r} has no offline outputs; plan its project next to this one "
                        f"or add them under {STACK_OUTPUTS_KEY}"
                    )
                references.read[ref] = outputs
                return ref, {"name": ref, "outputs": outputs, "secretOutputNames": secret}
            if args.typ.startswith("pulumi:providers:"):
                rid = f"{args.name}-provider-id"
                providers[rid] = dict(args.inputs)
                return rid, dict(args.inputs)
            if not args.custom:
                return "", {}
            return mock_table.computed_outputs(
                args.typ, args.name, dict(args.inputs), region, provider_of(args.provider)
            )

        def call(self, args: pulumi.runtime.MockCallArgs):
            return mock_table.call_outputs(
                args.token, dict(args.args), default_region, provider_of(args.provider)
            )

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
    stack_references: dict[str, tuple[dict[str, Any], list[str]]] | None = None,
) -> Plan:
    """Run `program` under mocks (preview mode) and return the captured plan.

    stack_references: name -> (outputs, secret output names) for the program's StackReferences
    (plan_stack fills it by planning the referenced projects). Each call runs in a fresh context,
    so plans in one process do not leak into each other.
    """
    references = _References(given=dict(stack_references or {}))
    ctx = contextvars.copy_context()
    return ctx.run(_run, program, project, stack, config or {}, secret_keys or [], region, references)


_SDK_FAST = False


def _speed_up_sdk() -> None:
    """Two things the Python SDK recomputes on every registration that an offline plan never needs
    fresh (pulumi 3.x, pulumi/runtime/resource.py and pulumi/_types.py): the Python stack trace and
    source position sent with each RegisterResource request (no engine reads them here; a plan records
    none), and each input type's name/type tables, a pure function of the class (read-only dicts).
    About a third of a plan's time; the CLI path (`pulumi preview|up`) never runs this engine."""
    global _SDK_FAST
    if _SDK_FAST:
        return
    import functools

    from pulumi import _types
    from pulumi.runtime import resource as sdk_resource
    from pulumi.runtime.proto import source_pb2

    sdk_resource._get_stack_trace = lambda: source_pb2.StackTrace()
    _types.input_type_py_to_pulumi_names = functools.cache(_types.input_type_py_to_pulumi_names)
    _types.input_type_types = functools.cache(_types.input_type_types)
    _SDK_FAST = True


def _run(program, project, stack, config, secret_keys, region, references: _References) -> Plan:
    _speed_up_sdk()
    import pulumi
    from pulumi.runtime import settings as pulumi_settings
    from pulumi.runtime.config import set_all_config
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    monitor = _capturing_monitor_class()(_make_mocks(region or mock_table.DEFAULT_REGION, config, references))
    collector = _WarningCollector()
    logger = logging.getLogger(f"mlinfra.offline.{id(monitor)}")
    logger.propagate = False
    logger.addHandler(collector)

    pulumi_settings.ROOT.set(None)
    set_all_config(dict(config), list(secret_keys))
    loop = _engine_loop()
    try:
        # The organization of self-managed backends, whose stack references read `organization/<project>/<stack>`.
        pulumi.runtime.set_mocks(
            monitor.mocks,
            project=project,
            stack=stack,
            preview=True,
            logger=logger,
            monitor=monitor,
            organization=DIY_ORGANIZATION,
        )
        # set_mocks leaves the pending-output set of the settings alone: a fresh one per run, so the tasks
        # of a run that failed (e.g. on a StackReference plan_stack then resolves) do not join this one.
        pulumi_settings.SETTINGS.outputs = set()
        # Warnings are what the program logs through the engine (`pulumi.log.warn`): that is
        # where provider SDKs report a deprecated resource or property when it is used. Python
        # `warnings` raised while an SDK module is imported concern resources nobody uses, and
        # a real `pulumi preview` does not show them either.

        def planned_program():
            pulumi.runtime.register_stack_transformation(_drop_sdk_type_aliases)
            return program()

        try:
            _sync_await(run_pulumi_func(planned_program))
        except ProgramError:
            raise
        except BaseException as e:  # noqa: BLE001 surfaced as a ProgramError with its cause
            _drop_failed_run(loop)
            raise program_error(stack, e, references.missing) from e
        root = pulumi_settings.get_root_resource()
        outputs, raw, secret = _resolve_outputs(getattr(root, "outputs", {}) or {})
    finally:
        _cancel_pending(loop)
    msgs = list(collector.messages)
    cloud = _detect_cloud(monitor.records, config)
    plan = Plan(
        stack=stack,
        project=project,
        cloud=cloud,
        environment=_config_environment(config, stack),
        # Registration order depends on how outputs resolve; sort so the same program always
        # yields the same plan (and diffs of plan JSON are meaningful).
        resources=sorted(monitor.records, key=lambda r: r.urn),
        outputs=outputs,
        warnings=msgs,
        raw_outputs=raw,
        secret_outputs=secret,
        stack_references=dict(references.read),
    )
    from mlinfra.offline.reach import deploy_from, reachability_warnings

    plan.warnings.extend(reachability_warnings(plan, deploy_from(config, stack)))
    collect_quietly()  # the SDK's never-awaited Output coroutines go now, not mid-import later
    return plan


def _drop_sdk_type_aliases(args):
    """Leave out the type-only aliases a provider SDK declares for its own resource types.

    azure-native declares one per earlier API version of a type (dozens per resource); the SDK
    turns every alias into URN outputs eagerly, which made an Azure plan ~5x slower. The plan
    records no aliases and a type-only alias changes no URN, so nothing the plan shows changes;
    aliases a program sets (a renamed or re-parented child) are kept.
    """
    import pulumi

    aliases = args.opts.aliases
    if not aliases or args.type_.startswith("mlinfra:"):
        return None
    package = args.type_.split(":", 1)[0] + ":"
    kept = [
        a
        for a in aliases
        if not (
            isinstance(a, pulumi.Alias)
            and isinstance(a.type_, str)
            and a.type_.startswith(package)
            and a.name is ...
            and a.parent is ...
            and a.stack is ...
            and a.project is ...
        )
    ]
    if len(kept) == len(aliases):
        return None
    opts = copy.copy(args.opts)
    opts.aliases = kept or None
    return pulumi.ResourceTransformationResult(args.props, opts)


# The event loops programs ran on. Outputs a caller made before a plan live on the thread's loop,
# so the engine runs there too; it closes the loops at exit, before the interpreter tears modules
# down: a loop left to the garbage collector prints `Exception ignored in: <function
# BaseEventLoop.__del__>` ... `Invalid file descriptor: -1` after the CLI has already exited.
_ENGINE_LOOPS: list[asyncio.AbstractEventLoop] = []


def _engine_loop() -> asyncio.AbstractEventLoop:
    from pulumi.runtime.sync_await import _ensure_event_loop

    loop = _ensure_event_loop()
    if loop.is_closed():
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    if loop not in _ENGINE_LOOPS:
        if not _ENGINE_LOOPS:
            atexit.register(close_event_loops)
        _ENGINE_LOOPS.append(loop)
        loop.set_exception_handler(_quiet_reported_errors)
    return loop


def _quiet_reported_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """A program that failed on bad input leaves futures holding that error; the engine has reported
    it once (a ProgramError naming the field), so the garbage collector's "Future exception was
    never retrieved" for it is noise on stderr. Anything else is logged as asyncio would."""
    from pydantic import ValidationError

    error = context.get("exception")
    if "never retrieved" in str(context.get("message", "")) and isinstance(
        error, OfflineConfigError | InputError | ValidationError | ValueError
    ):
        return
    loop.default_exception_handler(context)


def _cancel_pending(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel the tasks a program left pending (outputs nobody awaited, a failed program's work)."""
    if loop.is_closed() or loop.is_running():
        return
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


def _drop_failed_run(loop: asyncio.AbstractEventLoop) -> None:
    """Let go of the pending outputs of a failed program (its objects go with `collect_quietly`)."""
    from pulumi.runtime import settings as pulumi_settings

    _cancel_pending(loop)
    pulumi_settings.SETTINGS.outputs = set()


def collect_quietly() -> None:
    """Collect the objects of a failed program run once nothing refers to it any more (the error is
    reported): the coroutines pulumi made for outputs that never resolved would each print
    "RuntimeWarning: coroutine ... was never awaited" when collected at exit, after the CLI's one line
    (or after a plan that succeeded on its second attempt, for a StackReference plan_stack resolved)."""
    import gc
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        gc.collect()
    # What survives a full collection is live (modules, provider SDK classes, caches): freeze it, so
    # the next run's collection scans only the objects made since (a full pass over the loaded SDKs
    # was a fifth of a plan's time). Frozen objects are still freed by reference counting.
    gc.freeze()


def close_event_loops() -> None:
    """Close the loops the engine ran programs on (registered with atexit), after collecting what
    failed runs left, quietly (see collect_quietly)."""
    collect_quietly()
    while _ENGINE_LOOPS:
        loop = _ENGINE_LOOPS.pop()
        if loop.is_closed() or loop.is_running():
            continue
        try:
            _cancel_pending(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


def program_error(stack: str, e: BaseException, missing_references: list[str] | None = None) -> ProgramError:
    """The ProgramError for an exception a program raised: field and config key when known, and
    the StackReferences it lacked offline outputs for (plan_stack plans those and runs again)."""
    error = _program_error(stack, e)
    error.missing_references = list(missing_references or [])
    return error


def _program_error(stack: str, e: BaseException) -> ProgramError:
    from pydantic import ValidationError

    from mlinfra.spec import SpecError, spec_errors

    if isinstance(e, ValidationError):  # a program validating a section itself
        errors = spec_errors(e)
        e = SpecError(errors[0][1], errors[0][0], errors=errors)
    if isinstance(e, SpecError):
        more = [f for f, _ in e.errors[1:]]
        message = e.reason
        if more:
            message += f" (and {len(more)} more: {', '.join(str(f) for f in more)})"
        return ProgramError(stack, message, e, field=e.field, config_key=e.config_key)
    if isinstance(e, OfflineConfigError):
        return ProgramError(stack, str(e), e, field=STACK_OUTPUTS_KEY, config_key=STACK_OUTPUTS_KEY)
    if isinstance(e, InputError):
        return ProgramError(stack, e.message, e.cause or e, file=e.file, line=e.line, field=e.field)
    name = type(e).__name__
    key = getattr(e, "key", None)
    if name == "ConfigMissingError":  # pulumi.config: a required key is not set
        message = "required configuration value is not set; add it to the stack file (or `pulumi config set`)"
        return ProgramError(stack, message, e, field=key, config_key=key)
    if name == "ConfigTypeError":  # pulumi.config: a value of the wrong type
        return ProgramError(stack, " ".join(str(e).split()), e, field=key, config_key=key)
    return ProgramError(stack, f"{name}: {e}", e, unexpected=True)


def _resolve_outputs(outputs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """(outputs with secrets masked, outputs unmasked, names of the secret ones)."""
    import pulumi
    from pulumi.runtime.sync_await import _sync_await

    resolved: dict[str, Any] = {}
    raw: dict[str, Any] = {}
    secret: list[str] = []
    for key, value in outputs.items():
        out = pulumi.Output.from_input(value)
        is_secret = _sync_await(out.is_secret())
        is_known = _sync_await(out.is_known())
        val = plain(_sync_await(out.future())) if is_known else UNKNOWN_MARK
        raw[key] = val
        resolved[key] = SECRET_MARK if is_secret else val
        if is_secret:
            secret.append(key)
    return resolved, raw, sorted(secret)


def _detect_cloud(records: list[ResourceRecord], config: dict[str, str]) -> str:
    cloud = _config_object(config).get("cloud")
    if cloud:
        return str(cloud)
    for prefix in ("aws", "gcp", "azure-native"):
        if any(r.type.startswith(prefix + ":") for r in records):
            return "azure" if prefix == "azure-native" else prefix
    # A stack of Kubernetes resources only (an in-cluster stack): the cloud its components name.
    for cloud in ("aws", "gcp", "azure"):
        if any(r.type.startswith(f"mlinfra:{cloud}:") for r in records):
            return cloud
    return "kubernetes"


# --------------------------------------------------------------------------- stacks on disk


@dataclass
class StackConfig:
    project: str
    stack: str
    main: Path
    config: dict[str, str]
    secret_keys: list[str]
    # full config key -> (the file that set it last, the key's path in that file)
    sources: dict[str, tuple[YamlDoc, tuple[Any, ...]]] = field(default_factory=dict)
    stack_file: Path | None = None

    def node(
        self, config_key: str | None, field_path: str | None, at: str = ""
    ) -> tuple[YamlDoc, tuple[Any, ...]] | None:
        """The file that set `field_path` (a spec path, `at` its prefix naming the key itself) of
        config key `config_key`, and the path of that value in the file; without a key, the
        config key whose name is the path's first part (`serving.models.0` -> `<project>:serving`,
        `gpu_pools` -> `gpuPools`)."""
        parts = _path_parts(field_path)
        if config_key is None or config_key not in self.sources:
            config_key = self._key_named(parts[0]) if parts else None
            at = str(parts[0]) if config_key else ""
            if config_key is None:
                return None
        at_parts = _path_parts(at)
        if parts[: len(at_parts)] == at_parts:
            parts = parts[len(at_parts) :]
        doc, key_path = self.sources[config_key]
        return doc, (*key_path, *parts)

    def _key_named(self, name: Any) -> str | None:
        wanted = str(name).replace("_", "").lower()
        for key in self.sources:
            if key.split(":", 1)[-1].replace("_", "").lower() == wanted:
                return key
        return None


def _path_parts(path: str | None) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in path.split(".")] if path else []


_CONFIG_KEY = re.compile(r"^[^:\s]+(:[^:\s]+)?$")


def load_stack(stack_dir: str | os.PathLike[str], stack: str) -> StackConfig:
    """Read Pulumi.yaml + Pulumi.<stack>.yaml the way the CLI would (secure values become placeholders).

    Every file is read with the strict loader (UTF-8, no tabs, no duplicate keys) and checked for
    the shapes Pulumi expects; errors name the file and the line.
    """
    d = Path(stack_dir)
    if not d.is_dir():
        raise ProgramError(
            stack, "not a directory (give the Pulumi project directory, e.g. stacks/aws)", file=d
        )
    proj_file = d / "Pulumi.yaml"
    if not proj_file.exists():
        raise ProgramError(stack, "not found: not a Pulumi project directory", file=proj_file)
    project_doc = load_yaml(proj_file)
    project_data = require_mapping(project_doc, (), "Pulumi.yaml", allow_missing=False)
    name = project_data.get("name", d.name)
    if not isinstance(name, str) or not name:
        raise YamlFileError(
            "name must be a non-empty string",
            file=proj_file,
            line=project_doc.line_of(("name",)),
            field="name",
        )
    project = name
    runtime = project_data.get("runtime")
    runtime_name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if runtime_name != "python":
        raise ProgramError(
            stack,
            f"{runtime_name!r}: the offline engine runs python projects",
            file=proj_file,
            line=project_doc.line_of(("runtime",)),
            field="runtime",
        )
    main_rel = project_data.get("main") or "."
    if not isinstance(main_rel, str):
        raise YamlFileError(
            "main must be a path", file=proj_file, line=project_doc.line_of(("main",)), field="main"
        )
    main = (d / main_rel).resolve()
    if main.is_dir():
        main = main / "__main__.py"
    if not main.is_file():
        raise ProgramError(stack, "the program is missing", file=main)
    stack_file = d / f"Pulumi.{stack}.yaml"
    if not stack_file.exists():
        available = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in d.glob("Pulumi.*.yaml"))
        raise ProgramError(
            stack, f"not found; stacks here: {', '.join(available) or 'none'}", file=stack_file
        )

    config: dict[str, str] = {}
    secret_keys: list[str] = []
    sources: dict[str, tuple[YamlDoc, tuple[Any, ...]]] = {}

    def put(doc: YamlDoc, key: Any, value: Any, path: tuple[Any, ...]) -> None:
        if not isinstance(key, str) or not _CONFIG_KEY.match(key):
            raise YamlFileError(
                f"{key!r} is not a config key (<namespace>:<name>, or <name> in the project's namespace)",
                file=doc.path,
                line=doc.line_of(path),
                field=".".join(str(p) for p in path),
            )
        full = key if ":" in key else f"{project}:{key}"
        value, secret = _unsecure(value)
        if secret:
            secret_keys.append(full)
        if full == "mlinfra:platform" and not isinstance(value, dict):
            raise YamlFileError(
                "must be a mapping of spec fields (name, cloud, region, environment, ...)",
                file=doc.path,
                line=doc.line_of(path),
                field=full,
            )
        if isinstance(value, bool):
            config[full] = "true" if value else "false"
        elif isinstance(value, str):
            config[full] = value
        elif isinstance(value, int | float):
            config[full] = str(value)
        else:
            config[full] = json.dumps(value)
        sources[full] = (doc, path)

    for key, spec in require_mapping(project_doc, ("config",), "config").items():
        if isinstance(spec, dict) and ("default" in spec or "value" in spec):
            sub = "value" if "value" in spec else "default"
            put(project_doc, key, spec[sub], ("config", key, sub))
        elif not isinstance(spec, dict) or "type" not in spec:
            put(project_doc, key, spec, ("config", key))
    stack_doc = load_yaml(stack_file)
    if stack_doc.data is not None:
        require_mapping(stack_doc, (), stack_file.name, allow_missing=False)
    for key, value in require_mapping(stack_doc, ("config",), "config").items():
        put(stack_doc, key, value, ("config", key))
    # Pulumi ESC: `environment: [org/env, ...]` imports environments whose `pulumiConfig` becomes
    # config. They cannot be opened offline: a string key the project declares (Pulumi.yaml
    # `config: {key: {type: string}}`) without a value becomes a labelled placeholder.
    envs = (stack_doc.data or {}).get("environment")
    if envs is not None:
        if not isinstance(envs, list) or not all(isinstance(e, str) and e for e in envs):
            raise YamlFileError(
                "a list of ESC environment names, e.g. [myorg/prod]",
                file=stack_file,
                line=stack_doc.line_of(("environment",)),
                field="environment",
            )
        for key, spec in require_mapping(project_doc, ("config",), "config").items():
            full = key if ":" in key else f"{project}:{key}"
            declared = isinstance(spec, dict) and spec.get("type", "string") == "string"
            if declared and full not in config and "default" not in spec and "value" not in spec:
                config[full] = f"[from ESC environment {', '.join(envs)}]"
                if spec.get("secret"):
                    secret_keys.append(full)
    return StackConfig(
        project=project,
        stack=stack,
        main=main,
        config=config,
        secret_keys=secret_keys,
        sources=sources,
        stack_file=stack_file,
    )


def load_platform_spec(cfg: StackConfig, key: str = "mlinfra:platform"):
    """The stack's PlatformSpec, validated as the program would; errors point at the file and line."""
    from mlinfra.spec import PlatformSpec, SpecError, _config_object

    try:
        data = _config_object(cfg.config.get(key), key)
        return PlatformSpec.load(data, source=f"config {key}", config_key=key)
    except SpecError as e:
        raise locate_error(program_error(cfg.stack, e), cfg) from None


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


# How many StackReferences one program may resolve by planning their projects (and how deep).
MAX_STACK_REFERENCES = 8


def plan_stack(stack_dir: str | os.PathLike[str], stack: str, _chain: tuple[str, ...] = ()) -> Plan:
    """Plan a stack directory offline: load its config and run its `__main__.py` under mocks.

    A StackReference without `mlinfra:offlineStackOutputs` is resolved by planning the referenced
    stack: the project of that name under the same repository (`find_project`), its
    `Pulumi.<stack>.yaml`. The program then runs again with those outputs: deterministic, and no
    program runs inside another.
    """
    cfg = load_stack(stack_dir, stack)
    region = _config_region(cfg.config)
    here = f"{cfg.project}/{stack}"
    if here in _chain:
        raise ProgramError(stack, f"stack references form a cycle: {' -> '.join([*_chain, here])}")
    resolved: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for _ in range(MAX_STACK_REFERENCES + 1):
        try:
            return _plan_loaded(cfg, stack, region, resolved)
        except ProgramError as e:
            missing = _missing_reference(e)
            if missing is None or missing in resolved:
                raise
            project_dir, ref_stack = find_project(Path(stack_dir), missing, cfg.project)
            try:
                referenced = plan_stack(project_dir, ref_stack, (*_chain, here))
            except ProgramError as inner:
                raise ProgramError(stack, f"stack reference {missing!r} ({project_dir}): {inner}") from inner
            resolved[missing] = (referenced.raw_outputs, referenced.secret_outputs)
        collect_quietly()  # the failed attempt (unbound with `e`) goes now, not noisily at exit
    raise ProgramError(stack, f"more than {MAX_STACK_REFERENCES} stack references")


def _missing_reference(error: ProgramError) -> str | None:
    return error.missing_references[0] if error.missing_references else None


def find_project(start: Path, reference: str, current_project: str) -> tuple[Path, str]:
    """The directory of the project a stack reference names, and the stack: `<org>/<project>/<stack>`,
    `<project>/<stack>` or `<stack>` (this project). Searched under the repository holding `start`
    (the nearest ancestor with .git or pyproject.toml), projects by their Pulumi.yaml `name`."""
    parts = reference.split("/")
    ref_stack = parts[-1]
    project = parts[-2] if len(parts) >= 2 else current_project
    start = start.resolve()
    root = next(
        (d for d in (start, *start.parents) if (d / ".git").exists() or (d / "pyproject.toml").exists()),
        start.parent,
    )
    found = []
    for pulumi_yaml in sorted(root.glob("**/Pulumi.yaml")):
        rel = pulumi_yaml.relative_to(root).parts
        if len(rel) > 5 or any(p.startswith(".") or p == "node_modules" for p in rel):
            continue
        doc = load_yaml(pulumi_yaml).data or {}
        if str(doc.get("name") or pulumi_yaml.parent.name) == project:
            found.append(pulumi_yaml.parent)
    if not found:
        raise ProgramError(
            ref_stack,
            f"stack reference {reference!r}: no Pulumi project named {project!r} under {root}; "
            f"add its outputs under {STACK_OUTPUTS_KEY}",
        )
    if len(found) > 1:
        raise ProgramError(
            ref_stack,
            f"stack reference {reference!r}: several projects named {project!r}: "
            f"{', '.join(str(d) for d in found)}; add its outputs under {STACK_OUTPUTS_KEY}",
        )
    return found[0], ref_stack


def _plan_loaded(cfg: StackConfig, stack: str, region: str | None, resolved) -> Plan:

    def program() -> None:
        old_cwd, old_path = os.getcwd(), list(sys.path)
        os.chdir(cfg.main.parent)
        sys.path.insert(0, str(cfg.main.parent))
        try:
            runpy.run_path(str(cfg.main), run_name="__main__")
        finally:
            os.chdir(old_cwd)
            sys.path[:] = old_path

    try:
        return run_program(
            program,
            project=cfg.project,
            stack=stack,
            config=cfg.config,
            secret_keys=cfg.secret_keys,
            region=region,
            stack_references=resolved,
        )
    except ProgramError as e:
        raise locate_error(e, cfg) from e.cause


def locate_error(e: ProgramError, cfg: StackConfig) -> ProgramError:
    """The same error, pointing at the config line that set the field, else at the program's line."""
    if e.file is not None:
        return e
    if e.config_key is not None and e.config_key not in cfg.sources:  # a key that is not set at all
        return e.located(cfg.stack_file or cfg.main, None)
    at = getattr(e.cause, "at", "")
    node = cfg.node(e.config_key, e.field, at) if (e.config_key or e.field) else None
    if node is not None:
        doc, path = node
        return e.located(doc.path, doc.line_of(path), message=_as_written(e.message, doc, path))
    frames = traceback.extract_tb(e.cause.__traceback__) if e.cause is not None else []
    in_main = [f for f in frames if Path(f.filename).resolve() == cfg.main]
    if in_main:
        return e.located(cfg.main, in_main[-1].lineno)
    return e.located(cfg.main, None)


def _as_written(message: str, doc: YamlDoc, path: tuple[Any, ...]) -> str:
    """The message with its quoting hint showing the text the YAML line holds (`"1.30"`, not
    the number's `"1.3"`, which names another version)."""
    from mlinfra.spec import quote_hint

    written = doc.written.get(path)
    if written is None:
        return message
    return message.replace(quote_hint(json.dumps(doc.value_at(path))), quote_hint(written))


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
    if isinstance(env, str) and env:
        return env
    return stack if stack in ENVIRONMENTS else None


def _config_region(config: dict[str, str]) -> str | None:
    region = _config_object(config).get("region") or config.get("aws:region")
    return region if isinstance(region, str) else None
