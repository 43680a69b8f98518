"""The platform spec: one typed, validated document per environment.

`PlatformSpec` is the one input of a stack. It is cloud-neutral: what differs per cloud
lives in the `aws` / `gcp` / `azure` sub-sections. The `environment` picks a profile of
defaults (`PROFILES`) that the spec may override where policy allows; what policy never
allows (a public API endpoint in prod, spot-only GPU capacity in prod without an
explicit override, ...) is refused here, before any resource is registered.
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlinfra.catalog import (
    DEFAULT_KUBERNETES_VERSION,
    GCP_ACCELERATOR_ZONES,
    GPU_MACHINE_TYPES,
    GPU_POOL_MAX_NODES_CAP,
    REGION_EXAMPLES,
    REGION_PATTERNS,
    REGION_ZONES,
    SUPPORTED_KUBERNETES_VERSIONS,
    GpuMachineType,
    accelerator_zones,
    eks_allocatable,
    eks_node_min_addresses,
    gke_accelerator,
    gpu_machine_type,
    region_zones,
)
from mlinfra.wording import describe

Cloud = Literal["aws", "gcp", "azure"]
Environment = Literal["dev", "staging", "prod"]
CapacityType = Literal["on_demand", "spot"]
# How the deployer (`pulumi up`, kubectl) reaches the Kubernetes API; see ClusterSpec.api_access.
ApiAccess = Literal["public", "private", "dns"]
API_ACCESS_DEFAULT: dict[str, str] = {"aws": "private", "gcp": "dns", "azure": "private"}
# The system pool's machine type when the spec names none, per cloud (pinned: no drifting default).
# aws: m6i.large, 2 vCPU / 8 GiB (the value the AWS platform always used); with the VPC CNI it
# holds 3 ENIs x (10 - 1) + 2 = 29 pods (amazon-eks-ami eni-max-pods.txt). The GCP and Azure streams
# add their cloud's entry; a cloud without one must get `machine_type` from the spec.
# gcp: e2-standard-4, 4 vCPU / 16 GB (https://cloud.google.com/compute/docs/general-purpose-machines
# #e2_machine_types): the monitoring stack, KServe, KEDA, cert-manager and ingress-nginx on >= 2
# nodes; GKE reserves part of each node (allocatable), and 2 vCPU / 8 GB leaves too little.
# azure: Standard_D4ds_v5, 4 vCPU / 16 GiB, the size of the AKS system pool in the build sheet (section 3)
# and AKS's own guidance for system pools (learn.microsoft.com aks/use-system-pools: at least 4 vCPUs
# and 4 GiB for production); on Azure it sizes the `platform` pool (mlinfra's controllers and monitoring)
# and `azure.system_vm_size` the AKS system pool.
SYSTEM_MACHINE_TYPE_DEFAULT: dict[str, str] = {
    "aws": "m6i.large",
    "gcp": "e2-standard-4",
    "azure": "Standard_D4ds_v5",
}

_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


class SpecError(ValueError):
    """A spec that cannot be built, with the field path and the allowed values.

    `field` is the path the user wrote (`serving.models.1.name`), relative to what was being
    validated; `reason` says what is wrong and what is allowed. A spec loaded with `load()` /
    `from_config()` also names its `source` and, when read from Pulumi config, the `config_key`
    it came from; `errors` then lists every (field, reason) pydantic found, the first one being
    `field` / `reason`.
    """

    def __init__(
        self,
        message: str,
        field: str | None = None,
        *,
        source: str | None = None,
        config_key: str | None = None,
        at: str = "",
        errors: Sequence[tuple[str | None, str]] = (),
    ):
        self.field = field
        self.reason = message
        self.source = source
        self.config_key = config_key
        self.at = at  # the prefix of `field` that names the config key itself (a section read alone)
        self.errors: list[tuple[str | None, str]] = list(errors) or [(field, message)]
        lines = [f"{f}: {r}" if f else r for f, r in self.errors]
        if source is None:
            text = lines[0]
        elif len(lines) == 1:
            text = f"invalid {source}: {lines[0]}"
        else:
            text = f"invalid {source} ({len(lines)} errors):\n  " + "\n  ".join(lines)
        super().__init__(text)


class _Model(BaseModel):
    # strict: a YAML `true` is not an integer, "3" is not a number and 1.33 is not a string;
    # no infinities or NaN where a number belongs.
    model_config = ConfigDict(
        extra="forbid", validate_default=True, frozen=False, strict=True, allow_inf_nan=False
    )

    @classmethod
    def load(cls, data: Any, source: str = "spec", at: str = "", config_key: str | None = None):
        """Validate plain data, turning pydantic's errors into one `SpecError` naming the field.

        `at` prefixes every field path (a section read on its own, e.g. `serving`).
        """
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            errors = spec_errors(e, cls, at)
            field, reason = errors[0]
            raise SpecError(
                reason, field, source=source, config_key=config_key, at=at, errors=errors
            ) from None

    @classmethod
    def from_config(cls, key: str, namespace: str | None = None, default: Any = ...):
        """Read and validate the Pulumi config object `<namespace>:<key>` (default: the project's).

        Field paths start with `key` (`serving.models.0.name`); errors carry the config key, so
        the CLI can point at the file and line that set it. `default` is validated when the key
        is not set (without one, the key is required).
        """
        return config_value(cls, key, namespace, default)


def config_value(type_: Any, key: str, namespace: str | None = None, default: Any = ...) -> Any:
    """Read a Pulumi config value as `type_` (a spec model, or e.g. `list[GpuPoolSpec]`), validated
    like a spec: one SpecError naming the field (`gpuPools.1.name`) and the config key it came from."""
    import pulumi
    from pydantic import TypeAdapter

    cfg = pulumi.Config(namespace)
    full_key = cfg.full_key(key)
    raw = cfg.get(key)
    if raw is None and default is not ...:
        data = default
    elif isinstance(type_, type) and issubclass(type_, BaseModel):
        data = _config_object(raw, full_key)
    else:
        data = _config_json(raw, full_key)
    try:
        return TypeAdapter(type_).validate_python(data)
    except ValidationError as e:
        model = type_ if isinstance(type_, type) and issubclass(type_, BaseModel) else None
        errors = spec_errors(e, model, key)
        field, reason = errors[0]
        raise SpecError(
            reason, field, source=f"config {full_key}", config_key=full_key, at=key, errors=errors
        ) from None


def _dns_label(value: str, what: str, max_len: int = 40) -> str:
    if not (1 <= len(value) <= max_len) or not _DNS_LABEL.match(value):
        raise ValueError(
            f"{what} {value!r} must be 1-{max_len} lowercase letters, digits or '-', "
            "starting with a letter and not ending with '-'"
        )
    return value


def _join(*parts: object) -> str:
    """A field path: non-empty parts joined by '.' (`serving`, `models`, 1 -> `serving.models.1`)."""
    return ".".join(str(p) for p in parts if p != "" and p is not None)


def check_unique(values: Sequence[Any], what: str, field: str = "") -> None:
    """Refuse duplicates in a list, naming the repeated entry by its index."""
    seen: set[Any] = set()
    for i, v in enumerate(values):
        if v in seen:
            raise SpecError(f"duplicate {what} {v!r} (listed twice)", _join(field, i))
        seen.add(v)


# Kubernetes label syntax (https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/
# #syntax-and-character-set): an optional DNS-subdomain prefix (<= 253) and '/', then a name of
# <= 63 characters; values are <= 63 characters of the same set, or empty.
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# kubelet refuses to start with --node-labels in the kubernetes.io / k8s.io namespaces except
# these (kubernetes pkg/kubelet/apis/well_known_labels.go, IsKubeletLabel): node pools pass their
# labels to the kubelet, so a pool label elsewhere in those namespaces keeps its nodes from joining.
_KUBELET_LABEL_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")


def check_label_key(key: str, field: str) -> str:
    prefix, _, name = key.rpartition("/")
    if (
        not key
        or not (1 <= len(name) <= 63)
        or not _LABEL_NAME.match(name)
        or (prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)))
        or ("/" in key and not prefix)
    ):
        raise SpecError(
            f"{key!r} is not a Kubernetes label key (an optional DNS-subdomain prefix and '/', then "
            "1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)",
            field,
        )
    return key


def check_label_value(value: str, field: str) -> str:
    if len(value) > 63 or (value and not _LABEL_NAME.match(value)):
        raise SpecError(
            f"{value!r} is not a Kubernetes label value (at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit)",
            field,
        )
    return value


def check_node_label_key(key: str, field: str) -> str:
    """A label key a node pool may set: valid, and outside the namespaces the kubelet reserves."""
    check_label_key(key, field)
    prefix = key.rpartition("/")[0]
    reserved = prefix in ("kubernetes.io", "k8s.io") or prefix.endswith((".kubernetes.io", ".k8s.io"))
    if reserved and not any(prefix == ns or prefix.endswith("." + ns) for ns in _KUBELET_LABEL_NAMESPACES):
        raise SpecError(
            f"{key!r} is in a namespace the kubelet reserves (kubernetes.io, k8s.io): nodes would not "
            f"join; allowed there: {', '.join(n + '/...' for n in _KUBELET_LABEL_NAMESPACES)}",
            field,
        )
    return key


# Kubernetes resource quantities (apimachinery resource.Quantity): a decimal number and an
# optional binary (Ki..Ei), decimal (m, k, M..E) or exponent suffix.
_QUANTITY = re.compile(
    r"^(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?\d+)?$"
)
_SUFFIX = {
    "": Decimal(1), "m": Decimal("0.001"), "k": Decimal(10) ** 3, "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9, "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}  # fmt: skip


def quantity(value: str, field: str, what: str) -> Decimal:
    """A Kubernetes quantity's value (cores, bytes, ...); refused unless it is one and positive."""
    m = _QUANTITY.match(value)
    if m is None:
        raise SpecError(
            f"{value!r} is not a Kubernetes quantity for {what} (e.g. {'500m, 2' if what == 'CPU' else '512Mi, 8Gi'})",
            field,
        )
    suffix = m["suffix"] or ""
    try:
        scale = Decimal(10) ** int(suffix[1:]) if suffix[:1] in ("e", "E") else _SUFFIX[suffix]
        amount = Decimal(m["num"]) * scale
    except (InvalidOperation, OverflowError, ValueError):
        raise SpecError(f"{value!r} is out of range for {what}", field) from None
    if amount <= 0 or amount > Decimal(2) ** 63:
        raise SpecError(f"{value!r}: {what} must be positive and below 2^63", field)
    return amount


_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@(?P<domain>[^@\s]+)$")
_HOST_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def check_domain(value: str, field: str, what: str = "domain") -> str:
    """A lowercase DNS name of >= 2 labels (RFC 1123: labels <= 63, name <= 253)."""
    labels = value.split(".")
    if (
        len(value) > 253
        or len(labels) < 2
        or not all(len(lb) <= 63 and _HOST_LABEL.match(lb) for lb in labels)
        or labels[-1].isdigit()
    ):
        raise SpecError(
            f"{value!r} is not a {what} (lowercase DNS labels of letters, digits and '-' joined by '.', "
            "at least two labels, e.g. models.example.com)",
            field,
        )
    return value


def check_email(value: str, field: str) -> str:
    m = _EMAIL.match(value)
    if m is None or len(value) > 254 or len(value.split("@")[0]) > 64:
        raise SpecError(f"{value!r} is not an e-mail address (e.g. ml-platform@example.com)", field)
    check_domain(m["domain"].lower(), field, "domain of an e-mail address")
    return value


# --------------------------------------------------------------------------- network


class ExistingNetwork(_Model):
    """Bring your own network instead of creating one."""

    network_id: str = Field(description="Id of the existing VPC / VNet / network.")
    private_subnet_ids: list[str] = Field(
        min_length=1,
        description="Private subnets for nodes and endpoints (aws: >= 2, in different zones; gcp: the one "
        "regional node subnet).",
    )
    public_subnet_ids: list[str] = Field(
        default_factory=list, description="Public subnets for internet-facing load balancers (optional)."
    )

    @field_validator("private_subnet_ids", "public_subnet_ids")
    @classmethod
    def _unique_ids(cls, v: list[str]) -> list[str]:
        check_unique(v, "subnet id", "")
        return v


class NetworkSpec(_Model):
    cidr: str = Field(
        default="10.0.0.0/16", description="Address space of the platform network (/16 to /22)."
    )
    zone_count: int = Field(
        default=2,
        ge=2,
        le=6,
        description="Availability zones to spread subnets over (profile: 2 dev, 3 prod).",
    )
    private_subnet_cidrs: list[str] | None = Field(
        default=None, description="Private subnet CIDRs, one per zone; derived from `cidr` when empty."
    )
    public_subnet_cidrs: list[str] | None = Field(
        default=None,
        description="Public subnet CIDRs (NAT and load balancers only), one per zone; derived when empty.",
    )
    nat_gateways: Literal["single", "per_zone"] = Field(
        default="single",
        description="One NAT gateway (dev) or one per zone (prod, no cross-zone dependency).",
    )
    flow_logs: bool = Field(
        default=False, description="Capture network flow logs (profile: on in staging/prod)."
    )
    flow_log_retention_days: int = Field(default=90, ge=1, le=3653, description="Flow log retention in days.")
    service_cidr: str = Field(
        default="172.20.0.0/16", description="Kubernetes service CIDR; must not overlap the network."
    )
    existing: ExistingNetwork | None = Field(default=None, description="Use an existing network instead.")

    @field_validator("cidr", "service_cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        return str(_parse_cidr(v))

    @field_validator("private_subnet_cidrs", "public_subnet_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else [str(_parse_cidr(c)) for c in v]

    @model_validator(mode="after")
    def _layout(self) -> NetworkSpec:
        net = ipaddress.ip_network(self.cidr)
        if not 16 <= net.prefixlen <= 22:
            raise SpecError(f"cidr {self.cidr} must be between /16 and /22", "cidr")
        svc = ipaddress.ip_network(self.service_cidr)
        if net.overlaps(svc):
            raise SpecError(f"service_cidr {self.service_cidr} overlaps cidr {self.cidr}", "service_cidr")
        subnets: list[tuple[str, str, ipaddress.IPv4Network | ipaddress.IPv6Network]] = []
        for field in ("private_subnet_cidrs", "public_subnet_cidrs"):
            given = getattr(self, field)
            if given is None:
                continue
            if len(given) != self.zone_count:
                raise SpecError(f"{field} has {len(given)} entries; zone_count is {self.zone_count}", field)
            for i, c in enumerate(given):
                sub = ipaddress.ip_network(c)
                if not sub.subnet_of(net):  # type: ignore[arg-type]
                    raise SpecError(f"{c} is not inside cidr {self.cidr}", f"{field}.{i}")
                subnets.append((f"{field}.{i}", c, sub))
        for i, (_, a, na) in enumerate(subnets):
            for where, b, nb in subnets[i + 1 :]:
                if na.overlaps(nb):
                    raise SpecError(f"subnet CIDRs overlap: {a} and {b}", where)
        return self

    @field_validator("private_subnet_cidrs", "public_subnet_cidrs")
    @classmethod
    def _subnet_sizes(cls, v: list[str] | None) -> list[str] | None:
        # AWS, GCP and Azure all reserve addresses in every subnet; below /28 nothing is left.
        for i, c in enumerate(v or []):
            if ipaddress.ip_network(c).prefixlen > 28:
                raise SpecError(f"{c} is smaller than /28, the smallest subnet the clouds allow", str(i))
        return v

    def subnet_layout(self) -> tuple[list[str], list[str]]:
        """(private, public) subnet CIDRs per zone; derived from `cidr` when not given.

        Private subnets get the large blocks (pods use VPC addresses on EKS); public subnets
        hold only NAT gateways and load balancers, so they get small blocks at the top.
        """
        net = ipaddress.ip_network(self.cidr)
        private = self.private_subnet_cidrs
        public = self.public_subnet_cidrs
        if private is None:
            # Split into 8 blocks; the first zone_count (<= 6) are private.
            blocks = list(net.subnets(prefixlen_diff=3))
            private = [str(b) for b in blocks[: self.zone_count]]
        if public is None:
            last = list(net.subnets(prefixlen_diff=3))[-1]
            small = list(last.subnets(prefixlen_diff=3))
            public = [str(b) for b in small[: self.zone_count]]
        return list(private), list(public)


# RFC 1918 private address space (what `cluster.private_access_cidrs` may list).
RFC1918 = tuple(ipaddress.ip_network(c) for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def _parse_cidr(v: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(v, strict=True)
    except ValueError as e:
        raise ValueError(f"{v!r} is not a valid network CIDR ({e})") from None
    if not isinstance(net, ipaddress.IPv4Network):
        raise ValueError(f"{v!r}: only IPv4 CIDRs are supported")
    return net


# --------------------------------------------------------------------------- cluster


class NodePoolSize(_Model):
    min_nodes: int = Field(
        default=0, ge=0, le=1000, description="Minimum nodes (0 lets the pool scale to zero)."
    )
    desired_nodes: int = Field(default=0, ge=0, le=1000, description="Nodes at creation.")
    max_nodes: int = Field(default=1, ge=1, le=1000, description="Maximum nodes the autoscaler may add.")

    @model_validator(mode="after")
    def _order(self):
        if not (self.min_nodes <= self.desired_nodes <= self.max_nodes):
            raise ValueError(
                f"node counts must satisfy min_nodes <= desired_nodes <= max_nodes; "
                f"got min_nodes={self.min_nodes}, desired_nodes={self.desired_nodes}, max_nodes={self.max_nodes}"
            )
        return self


class SystemPoolSpec(NodePoolSize):
    """The small on-demand pool for cluster add-ons (CoreDNS, controllers, monitoring)."""

    machine_type: str | None = Field(
        default=None,
        description="Machine type of the system nodes; the profile fills the cloud's default "
        "(aws: m6i.large) when empty. The one place to set it, on every cloud.",
    )
    min_nodes: int = Field(default=2, ge=1, le=100, description="Minimum system nodes (>= 1).")
    desired_nodes: int = Field(default=2, ge=1, le=100, description="System nodes at creation.")
    max_nodes: int = Field(default=4, ge=1, le=100, description="Maximum system nodes.")
    disk_size_gb: int = Field(default=50, ge=20, le=1000, description="Root volume size in GiB.")


class ClusterSpec(_Model):
    kubernetes_version: str = Field(
        default=DEFAULT_KUBERNETES_VERSION,
        description=f"Pinned Kubernetes minor version; one of {', '.join(SUPPORTED_KUBERNETES_VERSIONS)}.",
    )
    api_access: ApiAccess = Field(
        default="private",
        description="How `pulumi up` and kubectl reach the Kubernetes API. "
        "public: dev only, a public endpoint limited to public_access_cidrs; one stack installs everything. "
        "private: a private endpoint only; the in-cluster layer is installed from inside the network. "
        "dns: gcp only, the IAM-gated DNS endpoint (private IP endpoint kept); one stack from anywhere. "
        "Default: dns on gcp, private on aws and azure.",
    )
    public_access_cidrs: list[str] = Field(
        default_factory=list,
        description="CIDRs allowed to reach the public endpoint (api_access: public; required then).",
    )
    private_access_cidrs: list[str] = Field(
        default_factory=list,
        description="Private (RFC 1918) ranges besides the cluster's own that may reach the private "
        "endpoint (api_access: private): the runner's subnet, VPN / Interconnect / peered ranges. "
        "gcp: master authorized networks (GKE admits only the node and pod ranges otherwise); "
        "refused on aws and azure.",
    )
    admin_principals: list[str] = Field(
        default_factory=list,
        description="Cloud principals (aws: IAM role ARNs) granted cluster-admin through access entries; "
        "not the identity that runs Pulumi, which is admin as the cluster's creator.",
    )
    version_support: Literal["standard", "extended"] = Field(
        default="standard",
        description="What happens when the Kubernetes minor leaves the provider's standard support: "
        "standard = the provider upgrades the cluster (no extended-support charges); extended = the "
        "cluster stays on its minor under paid extended support. "
        "aws: EKS upgrade_policy.support_type STANDARD | EXTENDED (EKS defaults to EXTENDED).",
    )
    log_retention_days: int = Field(default=90, ge=1, le=3653, description="Control-plane log retention.")
    system_pool: SystemPoolSpec = Field(default_factory=SystemPoolSpec, description="System node pool.")

    @field_validator("kubernetes_version")
    @classmethod
    def _version(cls, v: str) -> str:
        if v not in SUPPORTED_KUBERNETES_VERSIONS:
            raise ValueError(
                f"kubernetes_version {v!r} is not supported; allowed: {', '.join(SUPPORTED_KUBERNETES_VERSIONS)}"
            )
        return v

    @field_validator("public_access_cidrs")
    @classmethod
    def _public_cidrs(cls, v: list[str]) -> list[str]:
        out = []
        for c in v:
            net = _parse_cidr(c)
            if net.prefixlen == 0:
                raise ValueError("public_access_cidrs may not contain 0.0.0.0/0; list the office/VPN ranges")
            out.append(str(net))
        return out

    @field_validator("private_access_cidrs")
    @classmethod
    def _private_cidrs(cls, v: list[str]) -> list[str]:
        out = []
        for c in v:
            net = _parse_cidr(c)
            if not any(net.subnet_of(block) for block in RFC1918):
                raise ValueError(
                    f"private_access_cidrs: {c} is not inside a private range; allowed: inside "
                    f"{', '.join(str(b) for b in RFC1918)}"
                )
            out.append(str(net))
        check_unique(out, "CIDR", "")
        return out

    @field_validator("admin_principals")
    @classmethod
    def _unique_principals(cls, v: list[str]) -> list[str]:
        check_unique(v, "principal", "")
        return v

    @model_validator(mode="after")
    def _public_needs_cidrs(self):
        if self.api_access == "public" and not self.public_access_cidrs:
            raise ValueError("api_access is public but public_access_cidrs is empty; list the allowed CIDRs")
        if self.api_access != "public" and self.public_access_cidrs:
            raise ValueError(
                f"public_access_cidrs is set but api_access is {self.api_access!r}; "
                "they apply to api_access: public only"
            )
        if self.api_access != "private" and self.private_access_cidrs:
            raise ValueError(
                f"private_access_cidrs is set but api_access is {self.api_access!r}; "
                "they apply to api_access: private only"
            )
        return self


# --------------------------------------------------------------------------- GPU pools


class GpuPoolSpec(NodePoolSize):
    name: str = Field(description="Pool name (DNS label); becomes the `mlinfra.io/pool` node label.")
    machine_type: str = Field(
        description="GPU machine type from the cloud's GPU table (aws: g5.xlarge, ...)."
    )
    capacity_type: CapacityType = Field(default="on_demand", description="on_demand or spot capacity.")
    min_nodes: int = Field(default=0, ge=0, le=1000, description="Minimum nodes; 0 scales the pool to zero.")
    desired_nodes: int = Field(default=0, ge=0, le=1000, description="Nodes at creation.")
    max_nodes: int = Field(default=2, ge=1, le=1000, description="Maximum nodes.")
    disk_size_gb: int = Field(
        default=200, ge=50, le=4096, description="Encrypted root volume (images are large)."
    )
    time_slicing_replicas: int = Field(
        default=1, ge=1, le=48, description="Pods that may share one GPU via time-slicing (1 = no sharing)."
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Extra Kubernetes node labels.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _dns_label(v, "GPU pool name", 24)

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        return check_pool_labels(v)


# Node labels mlinfra sets on GPU nodes itself (mlinfra.k8s.scheduling: pool, accelerator, capacity
# type, GPU node; mlinfra.k8s.gpu: the device plugin's config selector); a pool may not set them.
RESERVED_LABEL_PREFIX = "mlinfra.io/"
RESERVED_NODE_LABELS = ("nvidia.com/device-plugin.config",)


def check_pool_labels(labels: Mapping[str, str], field: str = "") -> dict[str, str]:
    """Extra node labels of a GPU pool: valid Kubernetes labels the kubelet accepts, none reserved."""
    for key, value in labels.items():
        where = _join(field, key)
        check_node_label_key(key, where)
        check_label_value(value, where)
        if key.startswith(RESERVED_LABEL_PREFIX) or key in RESERVED_NODE_LABELS:
            raise SpecError(
                f"{key!r} is set by mlinfra and may not be overridden; reserved: "
                f"{RESERVED_LABEL_PREFIX}*, {', '.join(RESERVED_NODE_LABELS)}",
                where,
            )
    return dict(labels)


# --------------------------------------------------------------------------- storage, registry


class ArtifactsSpec(_Model):
    bucket_name: str | None = Field(
        default=None, description="Bucket name; `<name>-<environment>-artifacts` when empty."
    )
    noncurrent_version_expiration_days: int = Field(
        default=90, ge=1, le=3650, description="Delete noncurrent object versions after this many days."
    )
    abort_incomplete_multipart_days: int = Field(
        default=7, ge=1, le=365, description="Abort incomplete multipart uploads after this many days."
    )
    infrequent_access_after_days: int | None = Field(
        default=None, ge=30, le=3650, description="Move objects to the infrequent-access class after N days."
    )
    access_logging: bool = Field(default=False, description="Log object access to a log bucket (on in prod).")


class RegistrySpec(_Model):
    repositories: list[str] = Field(
        default_factory=lambda: ["models", "serving"], description="Image repositories to create."
    )
    untagged_expiry_days: int = Field(
        default=7, ge=1, le=365, description="Expire untagged images after N days."
    )
    keep_tagged_images: int = Field(default=50, ge=1, le=1000, description="Keep the last N tagged images.")


# --------------------------------------------------------------------------- in-cluster layer


class CanarySpec(_Model):
    """A new revision of a model, rolled out by weight before it replaces the stable one.

    Both revisions run side by side (their own pods, Service and PDB); the ingress sends
    `traffic_percent` of the requests to the canary. Promote by moving the new image /
    version into the model itself and removing `canary`.
    """

    traffic_percent: int = Field(ge=1, le=99, description="Share of requests sent to the canary (1-99).")
    image: str | None = Field(default=None, description="New model-server image (pinned), if it changes.")
    version: str | None = Field(
        default=None,
        description="New model version: a folder under the model's storage_prefix (e.g. 2026-11-20/).",
    )
    max_replicas: int = Field(default=1, ge=1, le=100, description="Maximum canary replicas.")

    @field_validator("version")
    @classmethod
    def _version(cls, v: str | None) -> str | None:
        return None if v is None else _relative_folder(v, "canary.version")

    @model_validator(mode="after")
    def _changes_something(self):
        if self.image is None and self.version is None:
            raise ValueError("a canary needs a new image or a new version")
        return self


def _relative_folder(v: str, what: str) -> str:
    if not v or v.startswith("/") or not v.endswith("/") or any(c in v for c in "*?") or ".." in v:
        raise ValueError(
            f"{what} {v!r} must be a relative folder ending in '/' (e.g. 2026-11-20/), without wildcards or '..'"
        )
    return v


# Upper bounds of numbers that have no natural one: past them a value is a typo.
MAX_LATENCY_SLO_MS = 600_000  # ten minutes
MAX_GPU_IDLE_MINUTES = 10_080  # a week
MAX_MONTHLY_BUDGET_USD = 100_000_000
MAX_QUOTA_COUNT = 100_000
_SLACK_CHANNEL = re.compile(r"^[#@]?[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")

# Image references (distribution/reference grammar): [host[:port]/]path[:tag][@sha256:digest].
_IMAGE = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::\d+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::(?P<tag>\w[\w.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


def check_image_pinned(image: str | None, field: str = "model.image") -> str:
    """Refuse an image that is not a valid reference pinned by a tag other than `latest` or by a digest."""
    if not image:
        raise SpecError("an image pinned by tag or digest is required", field)
    m = _IMAGE.match(image)
    if m is None or len(image) > 512:
        raise SpecError(
            f"{image!r} is not an image reference ([registry/]repository[:tag][@sha256:digest], lowercase)",
            field,
        )
    if not m["digest"] and (m["tag"] is None or m["tag"] == "latest"):
        raise SpecError(
            f"{image!r} must be pinned by a tag other than 'latest' (repo:1.2.3) or by a digest (repo@sha256:...)",
            field,
        )
    return image


# Model-server runtimes; the contract of each (image, command, port, probes, metrics, load metric)
# is one row of mlinfra/k8s/serving/runtimes.py.
Runtime = Literal["kserve", "vllm", "triton", "image"]
RUNTIMES: tuple[str, ...] = ("kserve", "vllm", "triton", "image")
# `runtime: deployment` (any image, no command) was replaced: its images got no command and
# read nothing from MODEL_STORAGE_URI. Old specs get an error naming the new values.
_RETIRED_RUNTIMES = {
    "deployment": "runtime 'deployment' was replaced: use vllm or triton (mlinfra runs the server with "
    "its command and loads the model from the artifact bucket), or image with an explicit command"
}
_PROM_METRIC = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


class ModelSpec(_Model):
    """One model served behind TLS.

    Only `name`, `runtime`, `version` and `gpu_pool` are needed: the runtime brings the pinned
    server image, its command, port, probes, metrics and the load metric it scales on.
    """

    name: str = Field(description="Model name (DNS label); the host is <name>.<serving.domain>.")
    runtime: Runtime = Field(
        default="kserve",
        description="kserve (KServe's Hugging Face server), vllm, triton, or image (any server image "
        "with an explicit command).",
    )
    image: str | None = Field(
        default=None,
        description="Model-server image pinned by tag or digest; the runtime's pinned image when empty "
        "(required for runtime image).",
    )
    command: list[str] | None = Field(
        default=None, description="Container command (runtime image only, required there)."
    )
    args: list[str] = Field(
        default_factory=list, description="Extra server arguments, appended after the runtime's own."
    )
    model_format: Literal["huggingface"] = Field(
        default="huggingface",
        description="KServe model format, read by runtime kserve (its ServingRuntime serves huggingface).",
    )
    storage_prefix: str = Field(
        default="", description="Prefix of the model inside the artifact bucket (defaults to models/<name>/)."
    )
    gpu_pool: str | None = Field(default=None, description="GPU pool to run on; None for CPU-only models.")
    gpus: int = Field(default=1, ge=0, le=8, description="GPUs per replica.")
    cpu: str = Field(default="2", description="CPU request and limit per replica.")
    memory: str = Field(default="8Gi", description="Memory request and limit per replica.")
    min_replicas: int = Field(
        default=1,
        ge=0,
        le=100,
        description="Minimum replicas; 0 scales the model to zero when idle (dev only, needs a load metric).",
    )
    max_replicas: int = Field(default=2, ge=1, le=100, description="Maximum replicas.")
    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Container port; the runtime's port when empty (image: 8080).",
    )
    health_path: str | None = Field(
        default=None,
        description="HTTP path of the liveness/readiness probes; the runtime's own when empty (image: /health).",
    )
    load_metric: str | None = Field(
        default=None,
        description="runtime image: a Prometheus gauge the server exports on /metrics (requests in flight "
        "or queued); the model then scales on it instead of CPU.",
    )
    load_target: float | None = Field(
        default=None,
        gt=0,
        description="Per-replica target of the runtime's load metric (kserve/vllm: requests in flight, "
        "triton: requests queued, image: load_metric); the runtime's default when empty. Refused where the "
        "model scales on CPU (image without load_metric, or monitoring disabled).",
    )
    version: str | None = Field(
        default=None,
        description="Folder under storage_prefix holding the served revision (e.g. 2026-10-01/).",
    )
    canary: CanarySpec | None = Field(
        default=None,
        description="A new revision served next to the stable one, taking a share of the traffic.",
    )
    latency_slo_ms: int = Field(default=500, ge=1, description="p99 latency SLO in milliseconds (alerting).")
    target_utilization_percent: int | None = Field(
        default=None,
        ge=1,
        le=100,
        description="CPU utilisation target (70 when empty) of a model that scales on CPU: runtime image "
        "without load_metric, or monitoring disabled. Refused where the model scales on a load metric.",
    )

    @field_validator("runtime", mode="before")
    @classmethod
    def _runtime(cls, v: Any) -> Any:
        if isinstance(v, str) and v in _RETIRED_RUNTIMES:
            raise ValueError(f"{_RETIRED_RUNTIMES[v]}; allowed: {', '.join(RUNTIMES)}")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _dns_label(v, "model name", 40)

    @property
    def prefix(self) -> str:
        """Where the model lives in the artifact bucket (its identity may read only there)."""
        return self.storage_prefix or f"models/{self.name}/"

    @property
    def storage_path(self) -> str:
        """The served revision: `<prefix><version>`, or the whole prefix without a version."""
        return self.prefix + (self.version or "")

    @property
    def canary_storage_path(self) -> str | None:
        """The canary revision's folder, when the canary brings a new version."""
        return self.prefix + self.canary.version if self.canary and self.canary.version else None

    @field_validator("version")
    @classmethod
    def _model_version(cls, v: str | None) -> str | None:
        return None if v is None else _relative_folder(v, "version")

    @field_validator("storage_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        return _relative_folder(v, "storage_prefix") if v else v

    @field_validator("image")
    @classmethod
    def _image(cls, v: str | None) -> str | None:
        return None if v is None else check_image_pinned(v, "")

    @field_validator("health_path")
    @classmethod
    def _health_path(cls, v: str | None) -> str | None:
        if v is not None and (not v.startswith("/") or any(c.isspace() for c in v) or len(v) > 1024):
            raise ValueError(
                f"health_path {v!r} must be an absolute HTTP path (e.g. /health), without spaces"
            )
        return v

    @field_validator("load_metric")
    @classmethod
    def _load_metric(cls, v: str | None) -> str | None:
        if v is not None and not _PROM_METRIC.match(v):
            raise ValueError(f"load_metric {v!r} is not a Prometheus metric name")
        return v

    @model_validator(mode="after")
    def _checks(self):
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) > max_replicas ({self.max_replicas})")
        if self.runtime == "image":
            if not self.image:
                raise ValueError("runtime 'image' needs an image")
            if not self.command:
                raise ValueError(
                    "runtime 'image' needs a command (the server's entrypoint and model path); "
                    "or use runtime vllm / triton / kserve, which bring their own"
                )
        else:
            if self.command is not None:
                raise ValueError(
                    f"command applies to runtime 'image' only; runtime {self.runtime!r} runs its own server "
                    "command (extra flags go in args)"
                )
            if self.load_metric is not None:
                raise ValueError(f"load_metric applies to runtime 'image' only; {self.runtime!r} has its own")
        if self.canary is not None:
            if self.canary.image is not None:
                self.canary.image = check_image_pinned(self.canary.image, "canary.image")
                if self.runtime == "kserve":
                    raise ValueError(
                        "canary.image: KServe takes the image from its ServingRuntime; use canary.version"
                    )
            if self.canary.version is not None:
                if self.version is None:
                    # Otherwise the stable revision's folder (the whole prefix) would contain the canary's.
                    raise ValueError(
                        "canary.version needs the model's own version, so both revisions are sibling folders"
                    )
                if self.canary.version == self.version:
                    raise ValueError(f"canary.version {self.canary.version!r} is the stable version")
        if self.gpu_pool is None and self.gpus:
            self.gpus = 0
        return self

    @model_validator(mode="before")
    @classmethod
    def _gpus_need_a_pool(cls, data: Any) -> Any:
        # `gpus` defaults to 1 and means nothing without a pool; set explicitly, it would be dropped.
        if isinstance(data, dict) and data.get("gpu_pool") is None:
            gpus = data.get("gpus")
            if isinstance(gpus, int) and not isinstance(gpus, bool) and gpus > 0:
                raise SpecError(
                    f"{gpus} GPU(s) per replica but no gpu_pool; name the GPU pool to run on", "gpus"
                )
        return data

    @model_validator(mode="after")
    def _gpu_pool_needs_gpus(self):
        if self.gpu_pool is not None and self.gpus == 0:
            raise SpecError(
                f"0 GPUs on GPU pool {self.gpu_pool!r}: the replica would hold a GPU node without using it; "
                "set gpus >= 1, or drop gpu_pool to run on the system nodes",
                "gpus",
            )
        return self

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, v: str) -> str:
        if quantity(v, "", "CPU") < Decimal("0.001"):
            raise SpecError(f"{v!r} is below 1m, the smallest CPU amount Kubernetes schedules", "")
        return v

    @field_validator("memory")
    @classmethod
    def _memory(cls, v: str) -> str:
        if quantity(v, "", "memory") < 2**20:
            raise SpecError(f"{v!r} is below 1Mi; a model server needs memory (e.g. 8Gi)", "")
        return v

    @field_validator("latency_slo_ms")
    @classmethod
    def _latency_slo(cls, v: int) -> int:
        if v > MAX_LATENCY_SLO_MS:
            raise SpecError(f"{v} ms is not a latency SLO; allowed: 1-{MAX_LATENCY_SLO_MS} ms", "")
        return v


class QuotaSpec(_Model):
    gpus: int = Field(default=4, ge=0, description="GPUs the serving namespace may request in total.")
    cpu: str = Field(default="32", description="CPU requests in total.")
    memory: str = Field(default="128Gi", description="Memory requests in total.")
    pods: int = Field(default=50, ge=1, description="Pods in total.")

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, v: str) -> str:
        quantity(v, "", "CPU")
        return v

    @field_validator("memory")
    @classmethod
    def _memory(cls, v: str) -> str:
        quantity(v, "", "memory")
        return v

    @field_validator("gpus", "pods")
    @classmethod
    def _sane_counts(cls, v: int) -> int:
        if v > MAX_QUOTA_COUNT:
            raise SpecError(f"{v} is not a sane quota; allowed: up to {MAX_QUOTA_COUNT}", "")
        return v


class ServingSpec(_Model):
    enabled: bool = Field(
        default=True, description="Install the serving stack (ingress, cert-manager, KServe)."
    )
    namespace: str = Field(default="serving", description="Namespace for model deployments.")
    domain: str = Field(default="models.example.com", description="DNS zone the model hosts live under.")
    internal_load_balancer: bool = Field(
        default=False, description="Ingress load balancer reachable only inside the network (on in prod)."
    )
    tls_issuer: Literal["letsencrypt", "letsencrypt-staging", "private-ca", "selfsigned"] = Field(
        default="letsencrypt-staging",
        description="cert-manager issuer for model hosts: Let's Encrypt (public ingress only, HTTP-01), "
        "a private CA (internal ingress), or self-signed (tests).",
    )
    acme_email: str = Field(
        default="platform@example.com", description="ACME account e-mail for Let's Encrypt."
    )
    quota: QuotaSpec = Field(default_factory=QuotaSpec, description="ResourceQuota of the serving namespace.")
    models: list[ModelSpec] = Field(default_factory=list, description="Models to deploy.")

    @field_validator("namespace")
    @classmethod
    def _ns(cls, v: str) -> str:
        return _dns_label(v, "namespace", 63)

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str) -> str:
        return check_domain(v, "")

    @field_validator("acme_email")
    @classmethod
    def _acme_email(cls, v: str) -> str:
        return check_email(v, "")

    @field_validator("models")
    @classmethod
    def _unique_models(cls, v: list[ModelSpec]) -> list[ModelSpec]:
        for i, m in enumerate(v):
            if any(other.name == m.name for other in v[:i]):
                raise SpecError(f"duplicate model name {m.name!r} (listed twice)", f"{i}.name")
        return v

    @model_validator(mode="after")
    def _hosts_are_dns_names(self):
        for i, m in enumerate(self.models):
            check_domain(f"{m.name}.{self.domain}", f"models.{i}.name", f"host name ({m.name}.<domain>)")
        return self

    @model_validator(mode="after")
    def _issuer_reachable(self):
        if self.internal_load_balancer and self.tls_issuer.startswith("letsencrypt"):
            raise ValueError(
                f"tls_issuer {self.tls_issuer!r} needs the ingress reachable from the internet (HTTP-01) but "
                "internal_load_balancer is on; allowed with an internal load balancer: private-ca, selfsigned"
            )
        return self


# The stack's secret config key (namespace mlinfra) holding each receiver's URL / routing key;
# read by PlatformSecrets.from_config, named in the monitoring stack's warnings.
RECEIVER_SECRET_KEYS = {
    "slack": "slackWebhookUrl",
    "pagerduty": "pagerdutyKey",
    "webhook": "alertWebhookUrl",
    "deadmansswitch": "deadMansSwitchUrl",
}


class AlertingSpec(_Model):
    slack_channel: str | None = Field(
        default=None,
        description="Slack channel; the webhook URL comes from the secret config `slackWebhookUrl`.",
    )
    pagerduty: bool = Field(
        default=False,
        description="Page through PagerDuty; the key comes from the secret config `pagerdutyKey`.",
    )
    webhook: bool = Field(
        default=False, description="Send to a webhook; URL from the secret config `alertWebhookUrl`."
    )
    dead_mans_switch: bool = Field(
        default=False,
        description="Send the always-firing Watchdog alert every minute to a dead man's switch (e.g. "
        "healthchecks.io, PagerDuty/Opsgenie heartbeat) that pages when it stops; URL from the secret "
        "config `deadMansSwitchUrl`.",
    )

    @field_validator("slack_channel")
    @classmethod
    def _slack_channel(cls, v: str | None) -> str | None:
        if v is not None and not _SLACK_CHANNEL.match(v):
            raise SpecError(
                f"{v!r} is not a Slack channel (#name: up to 80 letters, digits, '-', '_' or '.', or a channel id)",
                "",
            )
        return v


class MonitoringSpec(_Model):
    enabled: bool = Field(default=True, description="Install kube-prometheus-stack, DCGM metrics and alerts.")
    namespace: str = Field(default="monitoring", description="Namespace of the monitoring stack.")
    retention_days: int = Field(default=7, ge=1, le=365, description="Prometheus retention (profile-sized).")
    prometheus_storage_gb: int = Field(default=50, ge=10, le=10000, description="Prometheus volume size.")
    grafana_storage_gb: int = Field(default=10, ge=1, le=1000, description="Grafana volume size.")
    gpu_idle_minutes: int = Field(default=60, ge=5, description="Alert when GPU nodes idle this long (cost).")
    gpu_memory_saturation: float = Field(
        default=0.95, gt=0, le=1, description="GPU memory-used ratio that alerts."
    )
    error_ratio_threshold: float = Field(default=0.05, gt=0, le=1, description="5xx ratio that alerts.")
    alerting: AlertingSpec = Field(default_factory=AlertingSpec, description="Alertmanager receivers.")

    @field_validator("namespace")
    @classmethod
    def _ns(cls, v: str) -> str:
        # the node exporter runs in `<namespace>-node-exporter`, also a DNS label
        return _dns_label(v, "namespace", 63 - len("-node-exporter"))

    @field_validator("gpu_idle_minutes")
    @classmethod
    def _idle_minutes(cls, v: int) -> int:
        if v > MAX_GPU_IDLE_MINUTES:
            raise SpecError(
                f"{v} minutes is not an idle alert; allowed: 5-{MAX_GPU_IDLE_MINUTES} (a week)", ""
            )
        return v


# --------------------------------------------------------------------------- governance


# Tag keys every resource gets from the spec itself (PlatformSpec.required_tags).
REQUIRED_TAG_KEYS = ("owner", "cost-center", "environment", "managed-by")


class TagsSpec(_Model):
    owner: str = Field(description="Owning team or person (required on every taggable resource).")
    cost_center: str = Field(description="Cost center charged for the platform (required).")
    extra: dict[str, str] = Field(default_factory=dict, description="Further tags/labels.")

    @field_validator("owner", "cost_center")
    @classmethod
    def _nonempty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v

    @field_validator("owner", "cost_center")
    @classmethod
    def _label_value(cls, v: str) -> str:
        # owner and cost-center label every Kubernetes object (mlinfra.k8s.scheduling.standard_labels)
        return check_label_value(v, "")

    @field_validator("extra")
    @classmethod
    def _extra_keys(cls, v: dict[str, str]) -> dict[str, str]:
        for key in v:
            if key.lower() in REQUIRED_TAG_KEYS or key.lower() == "cost_center":
                raise SpecError(
                    f"{key!r} is set from the spec itself (owner, cost_center, environment, managed-by); "
                    "remove it from extra",
                    key,
                )
        return v


class BudgetSpec(_Model):
    monthly_limit_usd: float = Field(default=1000, gt=0, description="Monthly budget in USD.")
    alert_emails: list[str] = Field(
        default_factory=list, description="Who is told when a threshold is crossed."
    )
    thresholds_percent: list[int] = Field(
        default_factory=lambda: [50, 80, 100], description="Forecast/actual percentages that notify."
    )

    @field_validator("monthly_limit_usd")
    @classmethod
    def _sane_limit(cls, v: float) -> float:
        if v > MAX_MONTHLY_BUDGET_USD:
            raise SpecError(
                f"{v:g} USD is not a monthly budget; allowed: up to {MAX_MONTHLY_BUDGET_USD:,}", ""
            )
        return v

    @field_validator("alert_emails")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        for i, email in enumerate(v):
            check_email(email, str(i))
        check_unique(v, "e-mail address")
        return v

    @field_validator("thresholds_percent")
    @classmethod
    def _thresholds(cls, v: list[int]) -> list[int]:
        for i, pct in enumerate(v):
            if not 1 <= pct <= 1000:
                raise SpecError(f"{pct} is not a threshold; allowed: 1-1000 (percent of the limit)", str(i))
        check_unique(v, "threshold")
        return v


class EncryptionSpec(_Model):
    key_deletion_window_days: int = Field(
        default=30, ge=7, le=30, description="Waiting period before a customer-managed key is deleted (7-30)."
    )


class GuardrailsSpec(_Model):
    allow_spot_only_gpu: bool = Field(
        default=False, description="Explicit override: allow prod GPU capacity to be spot only."
    )
    override_reason: str | None = Field(
        default=None, description="Why a guardrail is overridden (required then)."
    )


_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+$")
# Key ARNs only: IAM authorizes KMS key operations against the key, an alias ARN in Resource grants
# nothing (KMS developer guide, "Using aliases to control access to KMS keys").
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]+$")
_BACKEND = re.compile(r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^?\s]*)?(\?[^\s]*)?|https://[^\s]+)$")


class AwsRunnerSpec(_Model):
    """The runner of a private cluster's in-cluster stack: a CodeBuild project in the private subnets
    (mlinfra.aws.runner). Only for `cluster.api_access: private`."""

    state_backend: str | None = Field(
        default=None,
        description="Pulumi backend the runner logs in to: s3://<bucket>[/<prefix>] (self-managed; the "
        "runner's role gets read/write on that prefix) or https://api.pulumi.com (Pulumi Cloud; needs "
        "PULUMI_ACCESS_TOKEN in secret_env). Unset: pass PULUMI_BACKEND_URL and credentials when starting a build.",
    )
    secrets_provider: str | None = Field(
        default=None,
        description="Secrets provider for `pulumi stack select --create` of the in-cluster stack "
        "(awskms://alias/<name>?region=<region>, or passphrase with PULUMI_CONFIG_PASSPHRASE in secret_env); "
        "the backend's default when unset.",
    )
    secret_env: dict[str, str] = Field(
        default_factory=dict,
        description="Environment variable -> Secrets Manager secret ARN, read by the build "
        "(PULUMI_ACCESS_TOKEN, PULUMI_CONFIG_PASSPHRASE); the runner's role may read exactly these.",
    )
    kms_key_arns: list[str] = Field(
        default_factory=list,
        description="KMS key ARNs (not aliases) the runner may use: the awskms secrets provider's key, "
        "an SSE-KMS state bucket's key.",
    )
    compute_type: Literal["BUILD_GENERAL1_SMALL", "BUILD_GENERAL1_MEDIUM", "BUILD_GENERAL1_LARGE"] = Field(
        default="BUILD_GENERAL1_SMALL", description="CodeBuild compute type (SMALL: 2 vCPU, 3 GiB)."
    )
    build_timeout_minutes: int = Field(
        default=180,
        ge=5,
        le=2160,
        description="CodeBuild build timeout (CodeBuild allows 5-2160 minutes); at least the in-cluster "
        "stack's slowest chain (charts, then models waiting for GPU nodes).",
    )

    @field_validator("state_backend")
    @classmethod
    def _backend(cls, v: str | None) -> str | None:
        if v is not None and not _BACKEND.match(v):
            raise ValueError(
                f"{v!r} is not a Pulumi backend URL; allowed: s3://<bucket>[/<prefix>], https://<host>"
            )
        return v

    @field_validator("secret_env")
    @classmethod
    def _secret_env(cls, v: dict[str, str]) -> dict[str, str]:
        for name, arn in v.items():
            if not _ENV_NAME.match(name):
                raise ValueError(f"{name!r} is not an environment variable name (A-Z, 0-9, _)")
            if not _SECRET_ARN.match(arn):
                raise ValueError(f"{name}: {arn!r} is not a Secrets Manager secret ARN")
        return v

    @field_validator("kms_key_arns")
    @classmethod
    def _kms(cls, v: list[str]) -> list[str]:
        for arn in v:
            if not _KMS_KEY_ARN.match(arn):
                raise ValueError(f"{arn!r} is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)")
        return v

    @model_validator(mode="after")
    def _cloud_backend_needs_token(self):
        if (self.state_backend or "").startswith("https://") and "PULUMI_ACCESS_TOKEN" not in self.secret_env:
            raise ValueError(
                "state_backend is a Pulumi Cloud URL but secret_env has no PULUMI_ACCESS_TOKEN; add its "
                "Secrets Manager ARN"
            )
        return self


class AwsOptions(_Model):
    """Options that only AWS has."""

    runner: AwsRunnerSpec = Field(
        default_factory=AwsRunnerSpec,
        description="The CodeBuild runner of the in-cluster stack (cluster.api_access: private only).",
    )

    workload_identity: Literal["irsa", "pod_identity"] = Field(
        default="irsa", description="How pods get IAM roles: IRSA (OIDC) or EKS Pod Identity."
    )

    @model_validator(mode="before")
    @classmethod
    def _moved_fields(cls, data: Any) -> Any:
        if isinstance(data, dict) and "system_machine_type" in data:
            raise ValueError(
                "system_machine_type was removed; set cluster.system_pool.machine_type "
                "(one field for every cloud)"
            )
        return data


GcpReleaseChannel = Literal["RAPID", "REGULAR", "STABLE", "EXTENDED"]
_GCP_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_GCP_ZONE = re.compile(r"^[a-z]+-[a-z]+\d+-[a-z]$")
_GKE_VERSION = re.compile(r"^\d+\.\d+\.\d+-gke\.\d+$")
_GCE_MACHINE_TYPE = re.compile(r"^[a-z][a-z0-9]*-[a-z0-9-]*[a-z0-9]$")
_BILLING_ACCOUNT = re.compile(r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$")


class GcpOptions(_Model):
    """Options that only GCP has (environment defaults: GCP_PROFILES)."""

    project: str = Field(description="Project ID every resource is created in (6-30 chars).")
    zones: list[str] | None = Field(
        default=None,
        description="Zones of the cluster's nodes, one per network.zone_count; the region's first zones "
        "(mlinfra.catalog.REGION_ZONES) when empty. GPU pools use those of them that offer their GPU.",
    )
    regional: bool = Field(
        default=True,
        description="Regional control plane, replicated across the zones (staging/prod); false: a zonal "
        "cluster whose control plane lives in the first zone (dev only; profile: zonal in dev).",
    )
    release_channel: GcpReleaseChannel = Field(
        default="REGULAR",
        description="GKE release channel (auto-upgrades within it); profile: REGULAR, STABLE in prod, "
        "EXTENDED with cluster.version_support: extended (the one channel with extended support).",
    )
    gke_version: str | None = Field(
        default=None,
        description="Exact GKE control-plane version (e.g. 1.33.5-gke.1201000) of cluster.kubernetes_version; "
        "resolved at deployment from the release channel when empty.",
    )
    pods_cidr: str = Field(
        default="10.64.0.0/14",
        description="Pod IP range (the subnet's secondary range `pods_range_name`); must not overlap the others.",
    )
    control_plane_cidr: str = Field(
        default="172.16.0.0/28",
        description="/28 the private control plane takes its addresses from (master_ipv4_cidr_block); the "
        "webhook firewall rule admits this range.",
    )
    pods_range_name: str = Field(default="pods", description="Name of the subnet's secondary range for pods.")
    services_range_name: str = Field(
        default="services", description="Name of the subnet's secondary range for services."
    )
    workload_identity: Literal["direct", "gsa"] = Field(
        default="direct",
        description="How a model's ServiceAccount reads its prefix: direct (the Kubernetes ServiceAccount's "
        "Workload Identity principal is granted on the prefix) or gsa (through a Google service account).",
    )
    key_rotation_days: int = Field(
        default=90,
        ge=2,
        le=90,
        description="Rotation period of the Cloud KMS keys: more than a day (pulumi-gcp CryptoKey.rotation_period) "
        "and at most 90 days (CKV_GCP_43).",
    )
    enable_apis: bool = Field(
        default=False,
        description="Enable the Google APIs the platform uses (mlinfra.gcp.platform.REQUIRED_APIS) from the "
        "stack, before anything else is created (never disabled on destroy); needs Service Usage Admin. "
        "False: enable them once per project beforehand (README, GCP).",
    )
    billing_account: str | None = Field(
        default=None,
        description="Billing account (XXXXXX-XXXXXX-XXXXXX) the budget is created in; required with a budget block "
        "(without both, GCP gets no budget).",
    )

    @field_validator("project")
    @classmethod
    def _project(cls, v: str) -> str:
        if not _GCP_PROJECT.match(v):
            raise ValueError(
                f"project {v!r} is not a project ID (6-30 lowercase letters, digits or '-', starting with a letter)"
            )
        return v

    @field_validator("zones")
    @classmethod
    def _zones(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        bad = [z for z in v if not _GCP_ZONE.match(z)]
        if bad:
            raise ValueError(f"zones {bad} are not zone names (e.g. us-central1-a)")
        if len(set(v)) != len(v):
            raise ValueError(f"zones has duplicates: {v}")
        return v

    @field_validator("gke_version")
    @classmethod
    def _gke_version(cls, v: str | None) -> str | None:
        if v is not None and not _GKE_VERSION.match(v):
            raise ValueError(f"gke_version {v!r} is not an exact GKE version (e.g. 1.33.5-gke.1201000)")
        return v

    @field_validator("pods_cidr")
    @classmethod
    def _pods_cidr(cls, v: str) -> str:
        # GKE refuses a Pod range smaller than /24 at node-pool level.
        net = _parse_cidr(v)
        if net.prefixlen > 24:
            raise ValueError(f"pods_cidr {v} is smaller than /24")
        return str(net)

    @field_validator("control_plane_cidr")
    @classmethod
    def _control_plane_cidr(cls, v: str) -> str:
        # "must be a /28 subnet" (pulumi-gcp ClusterPrivateClusterConfigArgs.master_ipv4_cidr_block).
        net = _parse_cidr(v)
        if net.prefixlen != 28 or not net.is_private:
            raise ValueError(f"control_plane_cidr {v} must be a private /28")
        return str(net)

    @field_validator("pods_range_name", "services_range_name")
    @classmethod
    def _range_name(cls, v: str) -> str:
        return _dns_label(v, "secondary range name", 63)

    @field_validator("billing_account")
    @classmethod
    def _billing(cls, v: str | None) -> str | None:
        if v is not None and not _BILLING_ACCOUNT.match(v):
            raise ValueError(f"billing_account {v!r} is not a billing account ID (XXXXXX-XXXXXX-XXXXXX)")
        return v

    @model_validator(mode="after")
    def _ranges(self) -> GcpOptions:
        pods, cp = ipaddress.ip_network(self.pods_cidr), ipaddress.ip_network(self.control_plane_cidr)
        if pods.overlaps(cp):
            raise ValueError(
                f"pods_cidr {self.pods_cidr} overlaps control_plane_cidr {self.control_plane_cidr}"
            )
        if self.pods_range_name == self.services_range_name:
            raise ValueError("pods_range_name and services_range_name must differ")
        return self


_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
# learn.microsoft.com azure-resource-manager/management/resource-name-rules (Microsoft.Resources
# resourcegroups): 1-90 of letters, digits, '_', '-', '.', '(' and ')', not ending in '.'.
_RESOURCE_GROUP = re.compile(r"^[-\w.()]{0,89}[-\w()]$")
_AZURE_VM_SIZE = re.compile(r"^Standard_[A-Za-z0-9_]+$")


# Principals in an Azure spec are `<kind>:<Entra ID object id>`; a role assignment names the type.
AZURE_PRINCIPAL_KINDS = ("user", "group", "serviceprincipal")


def _guid(v: str, what: str) -> str:
    if not _GUID.match(v):
        raise ValueError(f"{what} {v!r} is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")
    return v.lower()


class AzureOptions(_Model):
    """Options that only Azure has (cloud: azure); `AZURE_PROFILES` fills the per-environment ones."""

    subscription_id: str = Field(
        description="Subscription the platform is deployed into (GUID); the provider is pinned to it."
    )
    tenant_id: str = Field(
        description="Entra ID tenant of the subscription (GUID): Key Vault and AKS Entra ID integration."
    )
    resource_group: str | None = Field(
        default=None, description="Resource group of the platform; `<name>-<environment>` when empty."
    )
    existing_resource_group: bool = Field(
        default=False,
        description="Use `resource_group` as it is (created and owned by someone else) instead of creating it.",
    )
    system_vm_size: str = Field(
        default="Standard_D4ds_v5",
        description="VM size of the AKS system pool (tainted CriticalAddonsOnly: AKS add-ons only); "
        "cluster.system_pool (machine_type, sizes) is the `platform` pool that runs mlinfra's controllers.",
    )
    sku_tier: Literal["Free", "Standard", "Premium"] = Field(
        default="Standard",
        description="AKS tier: Free has no uptime SLA (profile: dev), Standard the SLA (staging, prod), "
        "Premium adds long-term support.",
    )
    pod_cidr: str = Field(
        default="10.244.0.0/16",
        description="Azure CNI Overlay pod address space (AKS's default); must not overlap the VNet or services.",
    )
    nodes_subnet_cidr: str | None = Field(
        default=None, description="Node subnet; the first quarter of network.cidr when empty."
    )
    endpoints_subnet_cidr: str | None = Field(
        default=None,
        description="Private-endpoint subnet; a /24 in the third quarter of network.cidr when empty.",
    )
    apiserver_subnet_cidr: str | None = Field(
        default=None,
        description="Delegated subnet for API server VNet integration (>= /28); the first /28 of the last "
        "quarter of network.cidr when empty.",
    )
    admin_group_object_ids: list[str] = Field(
        default_factory=list,
        description="Entra ID groups (object ids) that are cluster-admin through AKS's managed Entra integration.",
    )
    deployer_principal: str | None = Field(
        default=None,
        description="`<kind>:<Entra ID object id>` (kinds: user, group, serviceprincipal) granted "
        "'Azure Kubernetes Service RBAC Cluster Admin' so that it installs the in-cluster layer; only with "
        "`cluster.api_access: public` (a private cluster's layer is installed by the runner identity, people "
        "come from `cluster.admin_principals`). Empty: whoever runs `pulumi up` (the signed-in client), so "
        "the grant follows the last person or pipeline that ran it.",
    )
    encryption_at_host: bool = Field(
        default=True,
        description="Encrypt node temp disks and caches on the host; needs the subscription feature "
        "Microsoft.Compute/EncryptionAtHost registered (only settable when a pool is created).",
    )
    registry_name: str | None = Field(
        default=None,
        description="ACR name (5-50 letters and digits, globally unique); `<name><environment>` without "
        "dashes when empty.",
    )

    @field_validator("subscription_id", "tenant_id")
    @classmethod
    def _ids(cls, v: str, info) -> str:
        return _guid(v, info.field_name)

    @field_validator("deployer_principal")
    @classmethod
    def _deployer(cls, v: str | None) -> str | None:
        if v is None:
            return v
        kind, _, object_id = v.partition(":")
        if kind not in AZURE_PRINCIPAL_KINDS:
            raise ValueError(
                f"deployer_principal {v!r} is not '<kind>:<Entra ID object id>' (kinds: "
                f"{', '.join(AZURE_PRINCIPAL_KINDS)}): a role assignment must name the principal's type"
            )
        return f"{kind}:{_guid(object_id, 'deployer_principal object id')}"

    @field_validator("admin_group_object_ids")
    @classmethod
    def _groups(cls, v: list[str]) -> list[str]:
        out = [_guid(g, "admin_group_object_ids entry") for g in v]
        if len(set(out)) != len(out):
            raise ValueError("admin_group_object_ids contains duplicates")
        return out

    @field_validator("pod_cidr", "nodes_subnet_cidr", "endpoints_subnet_cidr", "apiserver_subnet_cidr")
    @classmethod
    def _cidr(cls, v: str | None) -> str | None:
        return None if v is None else str(_parse_cidr(v))

    @field_validator("resource_group")
    @classmethod
    def _rg(cls, v: str | None) -> str | None:
        if v is not None and not _RESOURCE_GROUP.match(v):
            raise ValueError(
                f"resource_group {v!r} must be 1-90 letters, digits, '_', '-', '.', '(' or ')', not ending in '.'"
            )
        return v

    @field_validator("system_vm_size")
    @classmethod
    def _vm_size(cls, v: str) -> str:
        if not _AZURE_VM_SIZE.match(v):
            raise ValueError(f"system_vm_size {v!r} is not an Azure VM size (e.g. Standard_D4ds_v5)")
        return v

    @model_validator(mode="after")
    def _existing_needs_name(self):
        if self.existing_resource_group and not self.resource_group:
            raise ValueError("existing_resource_group is true but resource_group is empty; name the group")
        return self

    def subnet_layout(self, network: NetworkSpec) -> dict[str, str]:
        """Node, private-endpoint and API server subnets: given, or derived from the VNet's quarters.

        Azure subnets span every zone of a region, so one node subnet serves all zones; with Azure
        CNI Overlay pods take addresses from `pod_cidr`, not from the subnet.
        """
        net = ipaddress.ip_network(network.cidr)
        quarters = list(net.subnets(prefixlen_diff=2))
        return {
            "nodes": self.nodes_subnet_cidr or str(quarters[0]),
            "endpoints": self.endpoints_subnet_cidr
            or str(next(quarters[2].subnets(new_prefix=max(24, quarters[2].prefixlen)))),
            "apiserver": self.apiserver_subnet_cidr or str(next(quarters[3].subnets(new_prefix=28))),
            # A private cluster's in-cluster layer is installed from a runner in this subnet.
            "runners": str(list(quarters[3].subnets(new_prefix=max(27, quarters[3].prefixlen)))[1]),
        }


# --------------------------------------------------------------------------- profiles

# Prod keeps network flow logs a year: PCI DSS v4.0 requirement 10.5.1 ("retain audit log history for
# at least 12 months, with at least the most recent three months immediately available"); flow logs
# are the network half of that audit trail. The spec may raise it, not lower it.
PROD_MIN_FLOW_LOG_RETENTION_DAYS = 365

# Defaults per environment, applied under what the spec sets (the spec wins).
PROFILES: dict[str, dict[str, Any]] = {
    "dev": {
        "network": {"zone_count": 2, "nat_gateways": "single", "flow_logs": False},
        "cluster": {
            "system_pool": {"min_nodes": 1, "desired_nodes": 2, "max_nodes": 3},
            "log_retention_days": 30,
        },
        "artifacts": {"access_logging": False, "noncurrent_version_expiration_days": 30},
        "serving": {"internal_load_balancer": False, "tls_issuer": "letsencrypt-staging"},
        "monitoring": {"retention_days": 3, "prometheus_storage_gb": 20, "gpu_idle_minutes": 30},
        "encryption": {"key_deletion_window_days": 7},
    },
    "staging": {
        "network": {"zone_count": 2, "nat_gateways": "single", "flow_logs": True},
        "cluster": {
            "system_pool": {"min_nodes": 2, "desired_nodes": 2, "max_nodes": 4},
            "log_retention_days": 90,
        },
        "artifacts": {"access_logging": False, "noncurrent_version_expiration_days": 60},
        "serving": {"internal_load_balancer": True, "tls_issuer": "private-ca"},
        "monitoring": {"retention_days": 15, "prometheus_storage_gb": 100, "gpu_idle_minutes": 60},
        "encryption": {"key_deletion_window_days": 14},
    },
    "prod": {
        "network": {
            "zone_count": 3,
            "nat_gateways": "per_zone",
            "flow_logs": True,
            "flow_log_retention_days": PROD_MIN_FLOW_LOG_RETENTION_DAYS,
        },
        "cluster": {
            "system_pool": {"min_nodes": 3, "desired_nodes": 3, "max_nodes": 6},
            "log_retention_days": 365,
        },
        "artifacts": {"access_logging": True, "noncurrent_version_expiration_days": 180},
        "serving": {"internal_load_balancer": True, "tls_issuer": "private-ca"},
        "monitoring": {"retention_days": 30, "prometheus_storage_gb": 500, "gpu_idle_minutes": 120},
        "encryption": {"key_deletion_window_days": 30},
    },
}


# Azure's share of the profiles: the `azure` block's per-environment defaults, and the cloud-neutral
# knobs whose profile value Azure cannot build. An Azure NAT gateway is zonal and a subnet takes one
# (learn.microsoft.com virtual-network/nat-gateway/nat-availability-zones), so "one NAT gateway per
# zone" would need a node subnet and a node pool per zone: the Azure profiles keep one gateway.
AZURE_PROFILES: dict[str, dict[str, Any]] = {
    "dev": {"azure": {"sku_tier": "Free"}},
    "staging": {"azure": {"sku_tier": "Standard"}},
    "prod": {"azure": {"sku_tier": "Standard"}},
}
for _env in AZURE_PROFILES:
    AZURE_PROFILES[_env]["network"] = {"nat_gateways": "single"}
# GCP knobs per environment (merged under the spec's `gcp` block for cloud gcp only): a zonal
# control plane in dev (the GKE free tier credits one zonal cluster per billing account,
# https://cloud.google.com/kubernetes-engine/pricing), regional HA control planes from staging on;
# STABLE channel in prod. The cloud-neutral knobs map as: network.nat_gateways -> Cloud NAT IPs
# (single: 1, per_zone: one per zone), encryption.key_deletion_window_days -> KMS
# destroy_scheduled_duration, network.flow_logs -> subnet flow logs, *_retention_days -> Cloud
# Logging bucket retention, artifacts.access_logging -> GCS usage logs.
GCP_PROFILES: dict[str, dict[str, Any]] = {
    "dev": {"regional": False, "release_channel": "REGULAR"},
    "staging": {"regional": True, "release_channel": "REGULAR"},
    "prod": {"regional": True, "release_channel": "STABLE"},
}


def _merge(defaults: Any, given: Any) -> Any:
    """Deep-merge `given` over `defaults` (dicts merge; anything else: given wins)."""
    if isinstance(defaults, dict) and isinstance(given, dict):
        out = copy.deepcopy(defaults)
        for k, v in given.items():
            out[k] = _merge(defaults.get(k), v) if k in defaults else v
        return out
    return copy.deepcopy(given)


# --------------------------------------------------------------------------- the spec


class PlatformSpec(_Model):
    name: str = Field(description="Platform name (DNS label, <= 20 chars); prefixes every resource name.")
    cloud: Cloud = Field(description="Target cloud: aws, gcp or azure.")
    region: str = Field(
        description="Cloud region, e.g. us-west-2 (aws), us-central1 (gcp), westeurope (azure)."
    )
    environment: Environment = Field(description="dev, staging or prod; picks the profile of defaults.")
    network: NetworkSpec = Field(default_factory=NetworkSpec, description="Network layout.")
    cluster: ClusterSpec = Field(default_factory=ClusterSpec, description="Kubernetes cluster.")
    gpu_pools: list[GpuPoolSpec] = Field(default_factory=list, description="GPU node pools.")
    artifacts: ArtifactsSpec = Field(default_factory=ArtifactsSpec, description="Artifact bucket.")
    registry: RegistrySpec = Field(default_factory=RegistrySpec, description="Container image registry.")
    serving: ServingSpec = Field(default_factory=ServingSpec, description="Model serving stack.")
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec, description="Monitoring and alerting.")
    tags: TagsSpec = Field(description="Required tags/labels: owner, cost_center (+ extra).")
    budget: BudgetSpec = Field(default_factory=BudgetSpec, description="Monthly cost budget and alerts.")
    encryption: EncryptionSpec = Field(default_factory=EncryptionSpec, description="Customer-managed keys.")
    guardrails: GuardrailsSpec = Field(
        default_factory=GuardrailsSpec, description="Explicit guardrail overrides."
    )
    aws: AwsOptions | None = Field(default=None, description="AWS-only options (cloud: aws).")
    gcp: GcpOptions | None = Field(default=None, description="GCP-only options (cloud: gcp).")
    azure: AzureOptions | None = Field(
        default=None, description="Azure-only options (cloud: azure; subscription_id and tenant_id required)."
    )

    @model_validator(mode="before")
    @classmethod
    def _apply_profile(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        env, cloud = data.get("environment"), data.get("cloud")
        if isinstance(env, str) and env in PROFILES:
            _refuse_ignored_network_fields(data.get("network"), PROFILES[env]["network"])
            profile = PROFILES[env]
            if cloud == "azure" and isinstance(data.get("azure"), dict):
                profile = _merge(profile, AZURE_PROFILES[env])
            data = _merge(profile, data)
            if cloud == "aws" and data.get("aws") is None:
                data["aws"] = {}
            if data.get("cloud") == "gcp" and isinstance(data.get("gcp") or {}, dict):
                gcp_defaults = dict(GCP_PROFILES[data["environment"]])
                cluster = data.get("cluster")
                if isinstance(cluster, dict) and cluster.get("version_support") == "extended":
                    gcp_defaults["release_channel"] = "EXTENDED"  # GKE's extended support is a channel
                data["gcp"] = _merge(gcp_defaults, data.get("gcp") or {})
            cluster = data.get("cluster")
            if (
                isinstance(cluster, dict)
                and "api_access" not in cluster
                and isinstance(cloud, str)
                and cloud in API_ACCESS_DEFAULT
            ):
                data["cluster"] = {**cluster, "api_access": API_ACCESS_DEFAULT[cloud]}
            cluster = data.get("cluster")
            default_type = SYSTEM_MACHINE_TYPE_DEFAULT.get(cloud) if isinstance(cloud, str) else None
            if isinstance(cluster, dict) and default_type is not None:
                pool = cluster.get("system_pool")
                if isinstance(pool, dict) and pool.get("machine_type") is None:
                    data["cluster"] = {**cluster, "system_pool": {**pool, "machine_type": default_type}}
        return data

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _dns_label(v, "name", 20)

    @model_validator(mode="after")
    def _cross_checks(self) -> PlatformSpec:
        """Every check that needs more than one section, in the order a reader meets the fields."""
        _check_region(self)
        _check_cloud_sections(self)
        _check_gpu_pools(self)
        _check_guardrails(self)
        _check_flow_log_retention(self)
        _check_api_access(self)
        _check_scale_to_zero(self)
        rules(self.cloud).check(self)
        check_in_cluster_layer(self.cloud, self.gpu_pools, self.serving, self.monitoring)
        return self

    # ------------------------------------------------------------------ derived values

    @property
    def prefix(self) -> str:
        """`<name>-<environment>`: the prefix of physical resource names."""
        return f"{self.name}-{self.environment}"

    @property
    def bucket_name(self) -> str:
        return self.artifacts.bucket_name or f"{self.prefix}-artifacts"

    @property
    def protect_stateful(self) -> bool:
        """Stateful resources get protect + retain_on_delete in prod."""
        return self.environment == "prod"

    @property
    def required_tags(self) -> dict[str, str]:
        """The tags every taggable resource carries (AWS spelling: `cost-center`)."""
        return {
            **self.tags.extra,
            "owner": self.tags.owner,
            "cost-center": self.tags.cost_center,
            "environment": self.environment,
            "managed-by": "mlinfra",
        }

    def gpu_type(self, pool: GpuPoolSpec) -> GpuMachineType:
        return gpu_machine_type(self.cloud, pool.machine_type)

    def gpu_pool(self, name: str) -> GpuPoolSpec:
        for p in self.gpu_pools:
            if p.name == name:
                return p
        raise KeyError(name)

    # ------------------------------------------------------------------ loading

    @classmethod
    def from_config(cls, key: str = "platform", namespace: str | None = "mlinfra") -> PlatformSpec:  # type: ignore[override]
        """Read the spec from the Pulumi config object `<namespace>:<key>`; field paths start at its root."""
        import pulumi

        cfg = pulumi.Config(namespace)
        full_key = cfg.full_key(key)
        data = _config_object(cfg.get(key), full_key)
        return cls.load(data, source=f"config {full_key}", config_key=full_key)


def _config_json(raw: str | None, full_key: str) -> Any:
    """A structured config value (Pulumi keeps it as JSON text), or a SpecError naming the key."""
    if raw is None:
        raise SpecError(
            f"config key {full_key} is not set; add it to Pulumi.<stack>.yaml (see stacks/aws/Pulumi.dev.yaml)",
            source=f"config {full_key}",
            config_key=full_key,
        )
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _config_object(raw: str | None, full_key: str) -> dict[str, Any]:
    """A structured config value that must be an object (a YAML mapping)."""
    data = _config_json(raw, full_key)
    if not isinstance(data, dict):
        raise SpecError(
            f"must be an object (a YAML mapping of fields), got {_describe_input(data)}",
            source=f"config {full_key}",
            config_key=full_key,
        )
    return data


def _refuse_ignored_network_fields(network: Any, profile: Mapping[str, Any] | None = None) -> None:
    """With `network.existing` nothing is created: the layout fields would be silently ignored; a
    flow-log retention without flow logs (`profile`: the environment's network defaults) too."""
    if (
        isinstance(network, dict)
        and "flow_log_retention_days" in network
        and network.get("existing") is None
        and network.get("flow_logs", (profile or {}).get("flow_logs")) is False
    ):
        raise SpecError(
            "a flow-log retention without flow logs keeps nothing; set network.flow_logs: true or remove it",
            "network.flow_log_retention_days",
        )
    if isinstance(network, dict) and network.get("existing") is not None:
        for key in (
            "cidr",
            "zone_count",
            "private_subnet_cidrs",
            "public_subnet_cidrs",
            "nat_gateways",
            "flow_logs",
            "flow_log_retention_days",
        ):
            if key in network:
                raise SpecError(
                    f"{key} describes a network mlinfra creates, but network.existing is set (nothing is "
                    "created); remove it",
                    f"network.{key}",
                )


# ------------------------------------------------------------------ cross-field checks


def _check_region(spec: PlatformSpec) -> None:
    # GCP names its zones in `gcp.zones` for a region outside the catalogue (gcp_zones checks them).
    own_zones = spec.gcp is not None and spec.gcp.zones is not None
    try:
        zones = None if own_zones else region_zones(spec.cloud, spec.region)
    except ValueError as e:
        hint = "; or set gcp.zones to the region's zones" if spec.cloud == "gcp" else ""
        raise SpecError(f"{e}{hint}", "region") from None
    if zones is None:  # no catalogue for this cloud yet, or zones given: at least the shape
        if not REGION_PATTERNS[spec.cloud].match(spec.region):
            raise SpecError(
                f"{spec.region!r} is not a {spec.cloud} region name (e.g. {REGION_EXAMPLES[spec.cloud]})",
                "region",
            )
        return
    if spec.network.existing is None and spec.network.zone_count > len(zones):
        raise SpecError(
            f"{spec.network.zone_count} zones but {spec.region} has {len(zones)} ({', '.join(zones)})",
            "network.zone_count",
        )


# Per-cloud option blocks of PlatformSpec; a block set for another cloud is refused.
CLOUD_SECTIONS = ("aws", "gcp", "azure")


def _check_cloud_sections(spec: PlatformSpec) -> None:
    for other in CLOUD_SECTIONS:
        if other != spec.cloud and getattr(spec, other, None) is not None:
            raise SpecError(f"section '{other}' is set but cloud is {spec.cloud!r}", other)


def _check_gpu_pools(spec: PlatformSpec) -> None:
    check_unique([p.name for p in spec.gpu_pools], "pool name", "gpu_pools")
    cap = GPU_POOL_MAX_NODES_CAP[spec.environment]
    for i, pool in enumerate(spec.gpu_pools):
        try:
            gpu_machine_type(spec.cloud, pool.machine_type)
        except ValueError as e:
            raise SpecError(str(e), f"gpu_pools.{i}.machine_type") from None
        if pool.max_nodes > cap:
            raise SpecError(
                f"max_nodes {pool.max_nodes} exceeds the {spec.environment} cap of {cap}",
                f"gpu_pools.{i}.max_nodes",
            )


def _check_guardrails(spec: PlatformSpec) -> None:
    spot_only = bool(spec.gpu_pools) and all(p.capacity_type == "spot" for p in spec.gpu_pools)
    if spec.environment == "prod" and spot_only and not spec.guardrails.allow_spot_only_gpu:
        raise SpecError(
            "prod GPU capacity is spot only; add an on_demand pool or set "
            "guardrails.allow_spot_only_gpu: true with guardrails.override_reason",
            "gpu_pools",
        )
    if spec.guardrails.allow_spot_only_gpu and not (spec.guardrails.override_reason or "").strip():
        raise SpecError("an override needs a reason", "guardrails.override_reason")


def _check_flow_log_retention(spec: PlatformSpec) -> None:
    if (
        spec.environment == "prod"
        and spec.network.flow_logs
        and spec.network.flow_log_retention_days < PROD_MIN_FLOW_LOG_RETENTION_DAYS
    ):
        raise SpecError(
            f"{spec.network.flow_log_retention_days} days is below the prod minimum; allowed: "
            f"{PROD_MIN_FLOW_LOG_RETENTION_DAYS}-3653 days (a year of network audit trail)",
            "network.flow_log_retention_days",
        )


def _check_api_access(spec: PlatformSpec) -> None:
    cloud, env = spec.cloud, spec.environment
    if spec.cluster.api_access == "public" and env != "dev":
        raise SpecError(
            f"a public API endpoint is only allowed in dev (environment is {env}); "
            f"allowed: {'dns, private' if cloud == 'gcp' else 'private'}",
            "cluster.api_access",
        )
    if spec.cluster.private_access_cidrs and cloud != "gcp":
        # EKS / AKS private endpoints are reached through the VPC / VNet's own routing and security
        # groups; mlinfra has no per-range control there yet, so the field would be ignored.
        raise SpecError(
            f"only GKE's master authorized networks take these ranges (cloud is {cloud}); remove it",
            "cluster.private_access_cidrs",
        )
    if spec.cluster.api_access == "dns" and cloud != "gcp":
        raise SpecError(
            f"the IAM-gated DNS endpoint is GKE's (cloud is {cloud}); allowed: public (dev), private",
            "cluster.api_access",
        )


def scales_on_load(model: ModelSpec, prometheus: bool) -> bool:
    """Whether a model autoscales on a load metric (KEDA): its runtime has one (every runtime but
    `image`, which has one only with `load_metric`) and Prometheus is there to read it. Otherwise
    it scales on CPU. (mlinfra.k8s.serving.runtimes: RUNTIME_TABLE[...].load_for; a test keeps the two
    in step.)"""
    return prometheus and (model.runtime != "image" or model.load_metric is not None)


def check_model_autoscaling(
    model: ModelSpec, prometheus: bool, field: str = "model", meaning: str | None = None
) -> None:
    """The autoscaling knobs a model may set, given whether it scales on load or on CPU
    (`meaning`: what the load metric counts, for the message)."""
    on_load = scales_on_load(model, prometheus)
    if on_load and model.target_utilization_percent is not None:
        raise SpecError(
            f"model {model.name!r} scales on {meaning or 'its runtime load metric'}, not CPU; set load_target instead",
            _join(field, "target_utilization_percent"),
        )
    if not on_load and model.load_target is not None:
        raise SpecError(
            f"model {model.name!r} has no load metric here (runtime {model.runtime!r}"
            f"{'' if prometheus else ', no Prometheus: monitoring is disabled'}): it scales on CPU; "
            "set target_utilization_percent instead",
            _join(field, "load_target"),
        )
    if model.min_replicas == 0 and not on_load:
        raise SpecError(
            f"model {model.name!r} cannot scale to zero without a load metric (a CPU HPA keeps >= 1 "
            "replica); needs Prometheus and a runtime with a load metric (image: load_metric)",
            _join(field, "min_replicas"),
        )


def _check_scale_to_zero(spec: PlatformSpec) -> None:
    for i, m in enumerate(spec.serving.models):
        if m.min_replicas == 0 and spec.environment != "dev":
            raise SpecError(
                f"scale to zero is for dev only (environment is {spec.environment}): a cold start waits for "
                "a GPU node, the image pull and the model load; allowed: 1 or more",
                f"serving.models.{i}.min_replicas",
            )


# Namespaces the in-cluster layer creates for itself, or that Kubernetes owns; a serving or
# monitoring namespace may not be one of them (mlinfra.k8s.serving / gpu constants; a test keeps
# this list in step with them).
RESERVED_NAMESPACES = (
    "default",
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "ingress-nginx",
    "cert-manager",
    "kserve",
    "keda",
    "gpu-system",
)


def check_in_cluster_layer(
    cloud: str,
    gpu_pools: Sequence[GpuPoolSpec],
    serving: ServingSpec,
    monitoring: MonitoringSpec,
    *,
    pools_field: str = "gpu_pools",
    serving_field: str = "serving",
    monitoring_field: str = "monitoring",
) -> None:
    """The cross-field checks of the in-cluster layer, for a platform spec and for the layer on an
    existing cluster alike (`mlinfra.k8s.layer.in_cluster_layer` calls this too).

    Models must name a pool, fit its nodes, fit the pools of their accelerator at max_replicas and,
    all together at min_replicas (plus one replica per canary), the pools and the serving quota.
    Capacity of a GPU model counts every pool of its pool's accelerator: model pods may land on
    any of them (scheduling by accelerator).
    """
    check_unique([p.name for p in gpu_pools], "pool name", pools_field)
    _check_namespaces(serving, monitoring, serving_field, monitoring_field)
    if not serving.enabled:
        return
    pools = {p.name: p for p in gpu_pools}
    machines = {p.name: _catalogued(cloud, p.machine_type) for p in gpu_pools}
    capacity: dict[str, int] = {}  # accelerator -> GPUs all its pools offer at max_nodes
    for p in gpu_pools:
        m = machines[p.name]
        if m is not None:
            capacity[m.gpu_model] = (
                capacity.get(m.gpu_model, 0) + p.max_nodes * m.gpus * p.time_slicing_replicas
            )
    quota = serving.quota
    q_cpu, q_mem = quantity(quota.cpu, "", "CPU"), quantity(quota.memory, "", "memory")
    at_min = {"pods": 0, "gpus": 0, "cpu": Decimal(0), "memory": Decimal(0)}
    gpus_at_min: dict[str, int] = {}
    allocatable = rules(cloud).node_allocatable
    for i, model in enumerate(serving.models):
        where = _join(serving_field, "models", i)
        check_model_autoscaling(model, monitoring.enabled, where)
        replicas_at_min = model.min_replicas + (1 if model.canary is not None else 0)
        cpu, mem = quantity(model.cpu, "", "CPU"), quantity(model.memory, "", "memory")
        at_min["pods"] += replicas_at_min
        at_min["gpus"] += replicas_at_min * model.gpus
        at_min["cpu"] += replicas_at_min * cpu
        at_min["memory"] += replicas_at_min * mem
        for what, need, have in (("CPU", cpu, q_cpu), ("memory", mem, q_mem)):
            if need > have:
                raise SpecError(
                    f"one replica asks for {what} {getattr(model, what.lower())} but the serving quota allows "
                    f"{getattr(quota, what.lower())} in total (LimitRange max per container)",
                    f"{where}.{what.lower()}",
                )
        if model.gpus > quota.gpus:
            raise SpecError(
                f"one replica asks for {model.gpus} GPU(s) but the serving quota allows {quota.gpus}"
                + (" (a GPU quota of 0 admits no GPU model)" if quota.gpus == 0 else ""),
                f"{serving_field}.quota.gpus",
            )
        if model.gpu_pool is None:
            continue
        if model.gpu_pool not in pools:
            raise SpecError(
                f"unknown pool {model.gpu_pool!r}; allowed: {', '.join(pools) or '(no GPU pools)'}",
                f"{where}.gpu_pool",
            )
        pool, machine = pools[model.gpu_pool], machines[model.gpu_pool]
        if machine is None:  # a machine type this cloud has no catalogue for (an existing cluster)
            continue
        per_node = machine.gpus * pool.time_slicing_replicas
        if model.gpus > per_node:
            raise SpecError(
                f"{model.gpus} GPUs per replica but pool {pool.name!r} offers {per_node} per node",
                f"{where}.gpus",
            )
        node = allocatable(machine)
        if node is not None:
            cpu_m, mem_mi = node
            if cpu * 1000 > cpu_m:
                raise SpecError(
                    f"{model.cpu} CPU per replica never fits a {machine.name} node of pool {pool.name!r} "
                    f"({cpu_m}m allocatable); allowed: up to {cpu_m}m",
                    f"{where}.cpu",
                )
            if mem > mem_mi * 2**20:
                raise SpecError(
                    f"{model.memory} memory per replica never fits a {machine.name} node of pool {pool.name!r} "
                    f"({mem_mi}Mi allocatable); allowed: up to {mem_mi}Mi",
                    f"{where}.memory",
                )
        acc = machine.gpu_model
        for what, replicas in (
            ("max_replicas", model.max_replicas),
            ("canary.max_replicas", _canary_max(model)),
        ):
            if replicas * model.gpus > capacity[acc]:
                raise SpecError(
                    f"{replicas} replicas x {model.gpus} GPU(s) exceed the {capacity[acc]} {acc} GPUs its "
                    f"pools offer at max_nodes; raise the pools' max_nodes or lower {what}",
                    f"{where}.{what}",
                )
        gpus_at_min[acc] = gpus_at_min.get(acc, 0) + replicas_at_min * model.gpus
        if gpus_at_min[acc] > capacity[acc]:
            raise SpecError(
                f"the models on {acc} need {gpus_at_min[acc]} GPUs at min_replicas (canaries: 1 replica) but "
                f"their pools offer {capacity[acc]} at max_nodes",
                f"{where}.min_replicas",
            )
    for what, need, have, shown in (
        ("pods", at_min["pods"], quota.pods, quota.pods),
        ("gpus", at_min["gpus"], quota.gpus, quota.gpus),
        ("cpu", at_min["cpu"], q_cpu, quota.cpu),
        ("memory", at_min["memory"], q_mem, quota.memory),
    ):
        if need > have:
            raise SpecError(
                f"the models need {_amount(what, need)} at min_replicas (canaries: 1 replica) but the quota "
                f"allows {shown}",
                f"{serving_field}.quota.{what}",
            )


def _check_namespaces(
    serving: ServingSpec, monitoring: MonitoringSpec, serving_field: str, monitoring_field: str
) -> None:
    used: dict[str, str] = {}
    for enabled, spec, field in (
        (monitoring.enabled, monitoring, monitoring_field),
        (serving.enabled, serving, serving_field),
    ):
        if not enabled:
            continue
        if spec.namespace in RESERVED_NAMESPACES:
            raise SpecError(
                f"{spec.namespace!r} is a namespace Kubernetes or the layer itself uses; reserved: "
                f"{', '.join(RESERVED_NAMESPACES)}",
                f"{field}.namespace",
            )
        if spec.namespace in used:
            raise SpecError(f"{spec.namespace!r} is also {used[spec.namespace]}", f"{field}.namespace")
        used[spec.namespace] = f"{field}.namespace"
        if spec is monitoring:
            used[f"{spec.namespace}-node-exporter"] = f"the node exporter's namespace ({monitoring_field})"


def _catalogued(cloud: str, machine_type: str) -> GpuMachineType | None:
    """The machine type from the cloud's table; on an existing cluster (cloud "kubernetes"), from any
    cloud's table (as mlinfra.k8s.layer.pool_accelerator looks it up); None when not catalogued."""
    tables = [GPU_MACHINE_TYPES[cloud]] if cloud in GPU_MACHINE_TYPES else list(GPU_MACHINE_TYPES.values())
    return next((t[machine_type] for t in tables if machine_type in t), None)


def _canary_max(model: ModelSpec) -> int:
    return model.canary.max_replicas if model.canary is not None else 0


def _amount(what: str, value: Decimal | int) -> str:
    if what == "cpu":
        return f"{value.normalize():f} CPU" if isinstance(value, Decimal) else f"{value} CPU"
    if what == "memory":
        return f"{(Decimal(value) / 2**30).quantize(Decimal('0.01')).normalize():f}Gi memory"
    return f"{value} {what}"


# ------------------------------------------------------------------ errors


def spec_errors(
    e: ValidationError, model: type[BaseModel] | None = None, at: str = ""
) -> list[tuple[str | None, str]]:
    """(field path, reason) of each of pydantic's errors, with the paths the user wrote."""
    out: list[tuple[str | None, str]] = []
    for err in e.errors():
        loc = list(err["loc"])
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, SpecError):
            field, reason = _join(at, *loc, cause.field), cause.reason
        else:
            field, reason = _join(at, *loc), _reason(err, model, loc)
        if (field or None, reason) not in out:
            out.append((field or None, reason))
    return out or [(at or None, str(e))]


def format_validation_error(e: ValidationError, source: str = "spec") -> str:
    errors = spec_errors(e)
    field, reason = errors[0]
    return str(SpecError(reason, field, source=source, errors=errors))


_KINDS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "an object (a mapping)",
    "model_type": "an object (a mapping)",
    "model_attributes_type": "an object (a mapping)",
}


_describe_input = describe


def quote_hint(text: str) -> str:
    """The hint on a number or boolean where a string belongs. From config the value's text is
    its JSON (`1.3`); the offline engine swaps in the text the YAML line holds (`1.30`)."""
    return f' (quote it in YAML: "{text}")'


def _reason(err: Mapping[str, Any], model: type[BaseModel] | None, loc: list[Any]) -> str:
    kind, msg, value = err["type"], err["msg"], err.get("input")
    if kind == "extra_forbidden":
        allowed = _fields_at(model, loc[:-1])
        return "unknown field" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
    if kind == "missing":
        return "field required"
    if kind == "literal_error":
        return f"{msg} (got {value!r})"
    if kind in _KINDS:
        reason = f"expected {_KINDS[kind]}, got {_describe_input(value)}"
        if kind == "string_type" and isinstance(value, int | float | bool):
            reason += quote_hint(json.dumps(value))
        elif kind in ("int_type", "float_type") and isinstance(value, str):
            reason += " (write it without quotes)"
        return reason
    if kind == "finite_number":
        return f"must be a finite number (got {value!r})"
    if kind in ("value_error", "assertion_error"):
        return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind.startswith(("greater_than", "less_than", "too_short", "too_long")):
        shown = f"{len(value)} entries" if isinstance(value, list | dict) else repr(value)
        return f"{msg} (got {shown})"
    return msg


def _fields_at(model: type[BaseModel] | None, loc: list[Any]) -> list[str]:
    """The field names of the model at `loc` under `model` (for "unknown field; allowed: ...")."""
    import typing

    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if (
            not (isinstance(current, type) and issubclass(current, BaseModel))
            or part not in current.model_fields
        ):
            return []
        current = _model_in(current.model_fields[part].annotation, typing)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _model_in(annotation: Any, typing: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg, typing)
        if found is not None:
            return found
    return None


# ------------------------------------------------------------------ rules per cloud
#
# Everything the spec checks differently per cloud lives in one CloudRules subclass per cloud,
# registered in CLOUD_RULES. `check()` runs them over a whole spec; components that can be used
# without a PlatformSpec (team stacks) call the same methods, so each rule is written once.
# A cloud without an entry gets the base class, which accepts everything.


class CloudRules:
    """What one cloud accepts. Methods raise SpecError(reason, field); the defaults accept."""

    cloud: ClassVar[str] = ""

    def check(self, spec: PlatformSpec) -> None:
        """Every per-cloud rule over a whole spec, in the order of the fields."""
        for i, principal in enumerate(spec.cluster.admin_principals):
            self.principal(principal, f"cluster.admin_principals.{i}")
        self.cloud_options(spec)
        self.system_pool(spec)
        for i, pool in enumerate(spec.gpu_pools):
            self.node_labels(pool.labels, f"gpu_pools.{i}.labels")
        self.service_cidr(spec.network.service_cidr, "network.service_cidr")
        self.log_retention(spec.cluster.log_retention_days, "cluster.log_retention_days")
        if spec.network.flow_logs and spec.network.existing is None:  # else no flow-log group exists
            self.log_retention(spec.network.flow_log_retention_days, "network.flow_log_retention_days")
        self.subnet_capacity(spec)
        self.bucket_name(spec.bucket_name, access_logging=spec.artifacts.access_logging)
        self.repositories(spec.prefix, spec.registry.repositories)
        self.key_deletion_window(
            spec.encryption.key_deletion_window_days, "encryption.key_deletion_window_days"
        )
        self.tags(spec.required_tags)
        self.budget(spec.budget)

    def principal(self, value: str, field: str) -> None:
        """A cloud principal granted cluster admin (aws: an IAM role or user ARN)."""

    def cloud_options(self, spec: PlatformSpec) -> None:
        """The cloud's own option block (`spec.aws`, ...) against the rest of the spec."""

    def system_pool(self, spec: PlatformSpec) -> None:
        """The system pool as the cloud builds it (machine type, node counts)."""

    def machine_type(self, value: str, field: str) -> None:
        """A (non-GPU) machine type name."""

    def node_labels(self, labels: Mapping[str, str], field: str) -> None:
        """A GPU pool's extra node labels, as the cloud carries them (e.g. in tags)."""

    def service_cidr(self, cidr: str, field: str) -> None:
        """The Kubernetes service CIDR (cloud-specific ranges)."""

    def log_retention(self, days: int, field: str) -> None:
        """A log retention in days (some clouds accept only listed values)."""

    def subnet_capacity(self, spec: PlatformSpec) -> None:
        """The private subnets hold every node at max_nodes."""

    def bucket_name(
        self, name: str, access_logging: bool = False, field: str = "artifacts.bucket_name"
    ) -> None:
        """The artifact bucket's name (and its log bucket's)."""

    def repository_name(self, name: str, field: str) -> None:
        """One full registry repository name."""

    def repositories(
        self, prefix: str, repositories: Sequence[str], field: str = "registry.repositories"
    ) -> None:
        """The registry's repositories: at least one, unique, valid with the prefix the component adds."""
        if not repositories:
            raise SpecError("at least one repository is required", field)
        check_unique(list(repositories), "repository", field)
        for i, repo in enumerate(repositories):
            self.repository_name(self.full_repository_name(prefix, repo), _join(field, i))

    def full_repository_name(self, prefix: str, repo: str) -> str:
        """The name the registry gives `registry.repositories` entry `repo` (aws: `<prefix>/<repo>`)."""
        return f"{prefix}/{repo}"

    def key_deletion_window(self, days: int, field: str = "key_deletion_window_days") -> None:
        """The waiting period before a customer-managed key is deleted."""

    def tags(self, tags: Mapping[str, str]) -> None:
        """The tags every resource carries (`PlatformSpec.required_tags`)."""

    def budget(self, budget: BudgetSpec) -> None:
        """The cost budget's notifications."""

    def node_allocatable(self, machine: GpuMachineType) -> tuple[int, int] | None:
        """(CPU millicores, memory MiB) pods can ever get on a node of this type; None: unknown."""
        return None


_S3_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_ECR_NAME = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")
# IAM role/user ARNs (any partition spelling); no wildcards.
PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")
EC2_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$")
S3_LOG_BUCKET_SUFFIX = "-logs"
_PRIVATE_RANGES = tuple(ipaddress.ip_network(c) for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
# CloudWatch Logs retention values (pulumi-aws cloudwatch.LogGroup retention_in_days; PutRetentionPolicy).
CLOUDWATCH_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)  # fmt: skip
_AWS_TAG = re.compile(r"^[\w\s.:/=+\-@]*$")


class AwsRules(CloudRules):
    cloud = "aws"
    # KMS ScheduleKeyDeletion PendingWindowInDays
    KEY_DELETION_WINDOW_DAYS = (7, 30)
    # Tag limits (https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html): 50 user tags
    # per resource, keys 1-128 and values 0-256 of letters, digits, spaces and _.:/=+-@; `aws:` is AWS's.
    MAX_TAGS, MAX_TAG_KEY, MAX_TAG_VALUE = 50, 128, 256
    # AWS Budgets quotas (https://docs.aws.amazon.com/cost-management/latest/userguide/budgets-limits.html):
    # 5 notifications per budget (the platform adds a FORECASTED 100% one), 10 e-mail subscribers each.
    MAX_BUDGET_NOTIFICATIONS, MAX_BUDGET_SUBSCRIBERS = 5, 10
    # Every node label of a GPU pool is also an Auto Scaling group tag for the cluster autoscaler's
    # scale-from-zero (mlinfra.aws.gpu_node_pool.node_template_tags): `<this prefix><label key>`.
    NODE_TEMPLATE_LABEL_PREFIX = "k8s.io/cluster-autoscaler/node-template/label/"
    # Node labels the AWS GPU pools set themselves (mlinfra.aws.gpu_node_pool.AWS_ACCELERATOR_LABEL).
    RESERVED_NODE_LABELS = ("k8s.amazonaws.com/accelerator",)

    def principal(self, value: str, field: str) -> None:
        if not isinstance(value, str) or not PRINCIPAL_ARN.match(value):
            raise SpecError(
                f"{value!r} is not an IAM role or user ARN (arn:aws:iam::<account>:role/<name>); "
                "wildcards are not allowed",
                field,
            )

    def cloud_options(self, spec: PlatformSpec) -> None:
        if spec.aws is not None and spec.aws.runner.model_fields_set and spec.cluster.api_access != "private":
            raise SpecError(
                f"the runner installs the in-cluster stack of a private cluster; api_access is "
                f"{spec.cluster.api_access!r}, whose platform stack installs the layer itself; "
                "remove aws.runner or set cluster.api_access: private",
                "aws.runner",
            )

    def system_pool(self, spec: PlatformSpec) -> None:
        pool = spec.cluster.system_pool
        if pool.machine_type is not None:  # the profile fills SYSTEM_MACHINE_TYPE_DEFAULT in
            self.machine_type(pool.machine_type, "cluster.system_pool.machine_type")
        zones = (
            len(spec.network.existing.private_subnet_ids)
            if spec.network.existing is not None
            else spec.network.zone_count
        )
        self.system_nodes_per_zone(pool.max_nodes, zones, "cluster.system_pool.max_nodes")

    def system_nodes_per_zone(self, max_nodes: int, zones: int, field: str) -> None:
        """One system node group per zone (zonal EBS volumes) needs at least one node in each."""
        if zones == 0 or max_nodes < zones:
            raise SpecError(
                f"{max_nodes} is below the {zones} zones: AWS runs one system node group per zone "
                f"(zonal EBS volumes); allowed: {zones}-100",
                field,
            )

    def machine_type(self, value: str, field: str) -> None:
        if not EC2_INSTANCE_TYPE.match(value):
            raise SpecError(f"{value!r} is not an EC2 instance type (e.g. m6i.large)", field)

    def node_labels(self, labels: Mapping[str, str], field: str) -> None:
        room = self.MAX_TAG_KEY - len(self.NODE_TEMPLATE_LABEL_PREFIX)
        for key in labels:
            if key in self.RESERVED_NODE_LABELS:
                raise SpecError(
                    f"{key!r} is set by mlinfra's AWS GPU pools (the cluster autoscaler reads it); reserved: "
                    f"{', '.join(self.RESERVED_NODE_LABELS)}",
                    _join(field, key),
                )
            if len(key) > room:
                raise SpecError(
                    f"{key!r} is {len(key)} characters; on AWS a pool label becomes the Auto Scaling tag "
                    f"{self.NODE_TEMPLATE_LABEL_PREFIX}<key> (tag keys <= {self.MAX_TAG_KEY}): at most {room}",
                    _join(field, key),
                )

    def service_cidr(self, cidr: str, field: str) -> None:
        # EKS: "within 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16, between /12 and /24"
        # (CreateCluster kubernetesNetworkConfig.serviceIpv4Cidr).
        try:
            net = ipaddress.ip_network(cidr)
        except ValueError as e:
            raise SpecError(f"{cidr!r} is not a CIDR ({e})", field) from None
        if (
            not isinstance(net, ipaddress.IPv4Network)
            or not 12 <= net.prefixlen <= 24
            or not any(net.subnet_of(r) for r in _PRIVATE_RANGES)
        ):
            raise SpecError(
                f"{cidr} must be an IPv4 /12 to /24 inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16", field
            )

    def log_retention(self, days: int, field: str) -> None:
        if days not in CLOUDWATCH_RETENTION_DAYS:
            near = min(CLOUDWATCH_RETENTION_DAYS, key=lambda d: (abs(d - days), d))
            raise SpecError(
                f"{days} days is not a CloudWatch Logs retention (nearest: {near}); allowed: "
                f"{', '.join(map(str, CLOUDWATCH_RETENTION_DAYS))}",
                field,
            )

    def subnet_capacity(self, spec: PlatformSpec) -> None:
        if spec.network.existing is not None:
            return  # sizes of someone else's subnets are not known here
        private, _ = spec.network.subnet_layout()
        # AWS reserves 5 addresses in every subnet.
        usable = sum(ipaddress.ip_network(c).num_addresses - 5 for c in private)
        system = spec.cluster.system_pool.machine_type or SYSTEM_MACHINE_TYPE_DEFAULT["aws"]
        need = spec.cluster.system_pool.max_nodes * eks_node_min_addresses(system)
        parts = [f"{spec.cluster.system_pool.max_nodes} x {system}"]
        for p in spec.gpu_pools:
            need += p.max_nodes * eks_node_min_addresses(p.machine_type)
            parts.append(f"{p.max_nodes} x {p.machine_type}")
        if need > usable:
            field = "network.private_subnet_cidrs" if spec.network.private_subnet_cidrs else "network.cidr"
            raise SpecError(
                f"the private subnets have {usable} usable addresses but the nodes at max_nodes "
                f"({', '.join(parts)}) hold at least {need} with the VPC CNI (primary + warm interface "
                "per node); use a larger network or fewer nodes",
                field,
            )

    def bucket_name(
        self, name: str, access_logging: bool = False, field: str = "artifacts.bucket_name"
    ) -> None:
        rule = (
            "3-63 chars of lowercase letters, digits, '.' and '-', starting and ending with a letter or digit"
        )
        if (
            not _S3_NAME.match(name)
            or ".." in name
            or re.match(r"^\d+\.\d+\.\d+\.\d+$", name)
            or name.startswith(("xn--", "sthree-", "amzn-s3-demo-"))
            or name.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"))
        ):
            raise SpecError(f"{name!r} is not a valid S3 bucket name ({rule}; no '..', no IP form)", field)
        if access_logging and len(name + S3_LOG_BUCKET_SUFFIX) > 63:
            raise SpecError(
                f"{name!r} is too long for its log bucket {name + S3_LOG_BUCKET_SUFFIX!r}: at most "
                f"{63 - len(S3_LOG_BUCKET_SUFFIX)} characters when access_logging is on",
                field,
            )

    def repository_name(self, name: str, field: str) -> None:
        if not 2 <= len(name) <= 256 or not _ECR_NAME.match(name):
            raise SpecError(
                f"{name!r} is not a valid ECR repository name (2-256 chars: lowercase letters, digits, "
                "and '.', '_', '-' or '/' between them)",
                field,
            )

    def key_deletion_window(self, days: int, field: str = "key_deletion_window_days") -> None:
        low, high = self.KEY_DELETION_WINDOW_DAYS
        if not low <= days <= high:
            raise SpecError(f"{days} is outside the KMS range; allowed: {low}-{high} days", field)

    def tags(self, tags: Mapping[str, str]) -> None:
        fields = {"owner": "tags.owner", "cost-center": "tags.cost_center"}
        if len(tags) > self.MAX_TAGS:
            raise SpecError(f"{len(tags)} tags; AWS allows {self.MAX_TAGS} per resource", "tags.extra")
        for key, value in tags.items():
            field = fields.get(key, f"tags.extra.{key}")
            if (
                not 1 <= len(key) <= self.MAX_TAG_KEY
                or not _AWS_TAG.match(key)
                or key.lower().startswith("aws:")
            ):
                raise SpecError(
                    f"tag key {key!r}: AWS allows 1-{self.MAX_TAG_KEY} letters, digits, spaces and _.:/=+-@, "
                    "not starting with 'aws:'",
                    field,
                )
            if len(value) > self.MAX_TAG_VALUE or not _AWS_TAG.match(value):
                raise SpecError(
                    f"tag value {value!r}: AWS allows up to {self.MAX_TAG_VALUE} letters, digits, spaces and _.:/=+-@",
                    field,
                )

    def budget(self, budget: BudgetSpec) -> None:
        if not budget.alert_emails:
            return  # no budget is created
        if len(budget.thresholds_percent) + 1 > self.MAX_BUDGET_NOTIFICATIONS:
            raise SpecError(
                f"{len(budget.thresholds_percent)} thresholds plus the forecast notification exceed the "
                f"{self.MAX_BUDGET_NOTIFICATIONS} notifications AWS Budgets allows; allowed: up to "
                f"{self.MAX_BUDGET_NOTIFICATIONS - 1} thresholds",
                "budget.thresholds_percent",
            )
        if len(budget.alert_emails) > self.MAX_BUDGET_SUBSCRIBERS:
            raise SpecError(
                f"{len(budget.alert_emails)} addresses; AWS Budgets allows {self.MAX_BUDGET_SUBSCRIBERS} per "
                "notification (use a distribution list)",
                "budget.alert_emails",
            )

    def node_allocatable(self, machine: GpuMachineType) -> tuple[int, int] | None:
        return eks_allocatable(machine)


CLOUD_RULES: dict[str, CloudRules] = {"aws": AwsRules()}


def rules(cloud: str) -> CloudRules:
    """The rules of `cloud` (the accepting base rules for a cloud without an entry yet)."""
    return CLOUD_RULES.get(cloud) or CloudRules()


# Kept for the components that import them.
def _check_bucket_name(cloud: str, name: str) -> None:
    rules(cloud).bucket_name(name)


def _check_repository_name(cloud: str, name: str, field: str) -> None:
    rules(cloud).repository_name(name, field)


# ------------------------------------------------------------------ GCP names and checks
# GCS bucket names (https://cloud.google.com/storage/docs/buckets#naming): 3-63 of [a-z0-9-_.],
# starting and ending with a letter or digit, not an IP address, no "goog" prefix and no
# "google" (or look-alike) anywhere. Names with dots need domain-ownership verification, which a
# stack cannot do: refused.
_GCS_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$")
_GOOGLE_LOOKALIKE = re.compile(r"g[o0][o0]g[l1]e")
# Artifact Registry repository IDs (https://cloud.google.com/artifact-registry/docs/repositories/create-repos):
# lowercase letters, digits and hyphens, starting with a letter, ending with a letter or digit, <= 63.
_GAR_REPOSITORY = re.compile(r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# Service account IDs (IAM API serviceAccounts.create: `[a-z]([-a-z0-9]*[a-z0-9])`, 6-30 chars).
_GCP_SA_ID = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
# Label keys and values (https://cloud.google.com/resource-manager/docs/labels-overview#requirements):
# keys start with a lowercase letter, both <= 63 of lowercase letters, digits, '_' and '-'.
_GCP_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_GCP_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
# IAM members an admin principal may be: Kubernetes RBAC names GKE users by their e-mail.
_GCP_ADMIN_MEMBER = re.compile(r"^(user|serviceAccount):[^@\s:]+@[^@\s:]+\.[a-z]{2,}$")
GCP_SYSTEM_POOL = "system"
GCP_LOG_BUCKET_SUFFIX = "-logs"


def _check_gcs_bucket_name(name: str, field: str) -> None:
    if (
        not _GCS_NAME.match(name)
        or name.startswith("goog")
        or _GOOGLE_LOOKALIKE.search(name)
        or re.match(r"^\d+\.\d+\.\d+\.\d+$", name)
    ):
        raise SpecError(
            f"{name!r} is not a valid GCS bucket name (3-63 chars of lowercase letters, digits, '-' and '_', "
            "starting and ending with a letter or digit; no dots, no 'goog' prefix, no 'google')",
            field,
        )


def gcp_service_account_id(prefix: str, role: str) -> str:
    """`<prefix>-<role>` when it fits the 30-character service-account ID, else shortened with a digest
    of the full name (stable per platform and role, unique between stacks that share a project)."""
    full = f"{prefix}-{role}"
    if len(full) <= 30:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:6]
    return f"{full[:23].rstrip('-')}-{digest}"


def gcp_repository_id(prefix: str, repo: str) -> str:
    """The Artifact Registry repository ID of `registry.repositories` entry `repo`."""
    return f"{prefix}-{repo}"


def gcp_zones(spec: PlatformSpec) -> list[str]:
    """The cluster's zones: `gcp.zones`, or the region's first `network.zone_count` catalogued zones."""
    assert spec.gcp is not None
    count = spec.network.zone_count
    if spec.gcp.zones is not None:
        if len(spec.gcp.zones) != count:
            raise SpecError(
                f"{len(spec.gcp.zones)} zones given but network.zone_count is {count}", "gcp.zones"
            )
        bad = [z for z in spec.gcp.zones if not z.startswith(f"{spec.region}-")]
        if bad:
            raise SpecError(f"zones {bad} are not in region {spec.region}", "gcp.zones")
        return list(spec.gcp.zones)
    known = REGION_ZONES["gcp"].get(spec.region)
    if known is None:
        raise SpecError(
            f"region {spec.region} has no zone list in mlinfra.catalog.REGION_ZONES; set gcp.zones "
            f"(catalogued regions: {', '.join(sorted(REGION_ZONES['gcp']))})",
            "gcp.zones",
        )
    if count > len(known):
        raise SpecError(
            f"region {spec.region} has {len(known)} zones; allowed: 2-{len(known)}", "network.zone_count"
        )
    return list(known[:count])


def gcp_pool_zones(spec: PlatformSpec, index: int) -> list[str]:
    """The cluster zones that offer GPU pool `index`'s accelerator (its node pool's node_locations)."""
    pool = spec.gpu_pools[index]
    accelerator = gke_accelerator(spec.gpu_type(pool))
    offered = accelerator_zones(accelerator, spec.region)
    field = f"gpu_pools.{index}.machine_type"
    if not offered:
        regions = sorted(GCP_ACCELERATOR_ZONES.get(accelerator, {}))
        raise SpecError(
            f"{pool.machine_type} needs {accelerator}, which mlinfra.catalog lists in no zone of "
            f"{spec.region}; regions with it: {', '.join(regions)}",
            field,
        )
    zones = [z for z in gcp_zones(spec) if z in offered]
    if not zones:
        raise SpecError(
            f"none of the cluster's zones {gcp_zones(spec)} offers {accelerator} ({pool.machine_type}); "
            f"zones with it: {', '.join(offered)} (set gcp.zones)",
            field,
        )
    return zones


def gcp_nodes_per_zone(desired: int, zones: int, field: str = "desired_nodes") -> int:
    """GKE creates a pool with `initial_node_count` nodes in each of its zones: the whole-pool
    `desired_nodes` must split evenly over them (else it could not be honoured as written)."""
    if desired % zones:
        raise SpecError(
            f"desired_nodes {desired} does not split over the pool's {zones} zones (GKE creates a pool with "
            f"the same number of nodes in each zone); allowed: a multiple of {zones}",
            field,
        )
    return desired // zones


def check_gce_machine_type(value: object, field: str) -> str:
    """A Compute Engine machine type's shape (e2-standard-4, n2-highmem-8, ...)."""
    if not isinstance(value, str) or not _GCE_MACHINE_TYPE.match(value):
        raise SpecError(f"{value!r} is not a Compute Engine machine type (e.g. e2-standard-4)", field)
    return value


def check_gke_channel(version_support: str, channel: str, field: str) -> None:
    """`cluster.version_support` on GKE: extended support exists only on the EXTENDED release channel
    (https://cloud.google.com/kubernetes-engine/docs/concepts/release-channels, "Extended channel": a
    minor stays up to 24 months, the months after standard support are charged); every other channel
    upgrades the cluster when standard support ends. The profile picks EXTENDED for `extended`; a
    channel written against the support type is refused."""
    if (version_support == "extended") != (channel == "EXTENDED"):
        raise SpecError(
            f"release channel {channel} with cluster.version_support {version_support}: GKE's extended "
            "support is the EXTENDED channel; allowed: EXTENDED with version_support extended, "
            "RAPID / REGULAR / STABLE with standard",
            field,
        )


def _check_gcp(spec: PlatformSpec) -> None:
    """What GCP refuses (or would silently not honour), before any resource is registered."""
    g = spec.gcp
    assert g is not None  # filled by _apply_profile for cloud gcp
    net = spec.network
    for f in ("private_subnet_cidrs", "public_subnet_cidrs"):
        if getattr(net, f) is not None:
            raise SpecError(
                "GCP subnets are regional: the platform has one node subnet spanning the zones (network.cidr); "
                "remove this field",
                f"network.{f}",
            )
    if net.existing is not None:
        if len(net.existing.private_subnet_ids) != 1:
            raise SpecError(
                "on GCP give the one regional node subnet (its secondary ranges are gcp.pods_range_name and "
                "gcp.services_range_name)",
                "network.existing.private_subnet_ids",
            )
        if net.existing.public_subnet_ids:
            raise SpecError(
                "GCP load balancers need no public subnets; remove this field",
                "network.existing.public_subnet_ids",
            )
        # The existing subnet's secondary ranges (gcp.pods_range_name / services_range_name) are the
        # pod and service ranges on GKE: these would describe ranges nobody creates.
        for given, field in (
            ("service_cidr" in net.model_fields_set, "network.service_cidr"),
            ("pods_cidr" in g.model_fields_set, "gcp.pods_cidr"),
        ):
            if given:
                raise SpecError(
                    "on GCP this is a secondary range of the node subnet mlinfra creates, but "
                    "network.existing is set (the existing subnet's ranges gcp.pods_range_name / "
                    "gcp.services_range_name are used); remove it",
                    field,
                )
    check_gce_machine_type(spec.cluster.system_pool.machine_type, "cluster.system_pool.machine_type")
    check_gke_channel(spec.cluster.version_support, g.release_channel, "gcp.release_channel")
    if not g.regional and spec.environment != "dev":
        raise SpecError(
            f"a zonal control plane lives in one zone (no HA); allowed in dev only (environment is "
            f"{spec.environment})",
            "gcp.regional",
        )
    node_net = ipaddress.ip_network(net.cidr)
    # Against the ranges mlinfra creates; an existing subnet's ranges are not known before deployment
    # (GKE refuses an overlapping control-plane range when the cluster is created).
    ranges = (
        ()
        if net.existing is not None
        else (("network.cidr", node_net), ("network.service_cidr", ipaddress.ip_network(net.service_cidr)))
    )
    for name, other in ranges:
        for f in ("pods_cidr", "control_plane_cidr"):
            mine = ipaddress.ip_network(getattr(g, f))
            if mine.overlaps(other):
                raise SpecError(f"{mine} overlaps {name} {other}", f"gcp.{f}")
    if g.gke_version is not None and not g.gke_version.startswith(f"{spec.cluster.kubernetes_version}."):
        raise SpecError(
            f"{g.gke_version} is not a {spec.cluster.kubernetes_version} version (cluster.kubernetes_version)",
            "gcp.gke_version",
        )
    zones = gcp_zones(spec)
    system = spec.cluster.system_pool
    gcp_nodes_per_zone(system.desired_nodes, len(zones), "cluster.system_pool.desired_nodes")
    for i, pool in enumerate(spec.gpu_pools):
        if pool.name == GCP_SYSTEM_POOL:
            raise SpecError(f"{pool.name!r} is the system node pool's name", f"gpu_pools.{i}.name")
        pool_zones = gcp_pool_zones(spec, i)
        gcp_nodes_per_zone(pool.desired_nodes, len(pool_zones), f"gpu_pools.{i}.desired_nodes")
    if len(set(spec.cluster.admin_principals)) != len(spec.cluster.admin_principals):
        raise SpecError("contains duplicates", "cluster.admin_principals")
    if "budget" in spec.model_fields_set and g.billing_account is None:
        # A GCP budget lives in a billing account, not in the project: without one the spec's
        # budget would silently not exist.
        raise SpecError(
            "the spec's budget is created in a billing account: set it (or remove budget)",
            "gcp.billing_account",
        )
    prefixes = [m.prefix for m in spec.serving.models]
    for i, model in enumerate(spec.serving.models):
        if prefixes.count(model.prefix) > 1:
            # Each model's prefix is a managed folder with its own reader; one folder cannot be two.
            raise SpecError(
                f"prefix {model.prefix!r} is another model's too", f"serving.models.{i}.storage_prefix"
            )
    accounts = [gcp_service_account_id(spec.prefix, "nodes")]
    if g.workload_identity == "gsa":
        accounts += [gcp_service_account_id(spec.prefix, f"m-{m.name}") for m in spec.serving.models]
    for sa in accounts:
        if not _GCP_SA_ID.match(sa):
            raise SpecError(f"derived service account ID {sa!r} is not valid (6-30 chars)", "name")


class GcpRules(CloudRules):
    cloud = "gcp"
    # "A maximum of 5 channels are allowed" (pulumi-gcp billing.Budget BudgetAllUpdatesRuleArgs).
    MAX_BUDGET_CHANNELS = 5

    def principal(self, value: str, field: str) -> None:
        if isinstance(value, str) and value.startswith("group:"):
            raise SpecError(
                "Google Groups for RBAC is not set up by mlinfra; list user: or serviceAccount: members",
                field,
            )
        if not isinstance(value, str) or not _GCP_ADMIN_MEMBER.match(value):
            raise SpecError(
                f"{value!r} is not an IAM member (user:alice@example.com or serviceAccount:<email>)", field
            )

    def cloud_options(self, spec: PlatformSpec) -> None:
        _check_gcp(spec)

    def machine_type(self, value: str, field: str) -> None:
        check_gce_machine_type(value, field)

    def bucket_name(
        self, name: str, access_logging: bool = False, field: str = "artifacts.bucket_name"
    ) -> None:
        _check_gcs_bucket_name(name, field)
        if access_logging:
            _check_gcs_bucket_name(name + GCP_LOG_BUCKET_SUFFIX, field)

    def repository_name(self, name: str, field: str) -> None:
        if not _GAR_REPOSITORY.match(name):
            raise SpecError(
                f"{name!r} is not a valid Artifact Registry repository ID (1-63 lowercase letters, digits and "
                "'-', starting with a letter, ending with a letter or digit; no '/': images nest inside a "
                "repository)",
                field,
            )

    def full_repository_name(self, prefix: str, repo: str) -> str:
        """Each repository is its own Artifact Registry repository `<prefix>-<name>`."""
        return gcp_repository_id(prefix, repo)

    def tags(self, tags: Mapping[str, str]) -> None:
        # Labels (https://cloud.google.com/resource-manager/docs/labels-overview#requirements).
        fields = {"owner": "tags.owner", "cost-center": "tags.cost_center", "environment": "environment"}
        for key, value in tags.items():
            if not _GCP_LABEL_KEY.match(key) or not _GCP_LABEL_VALUE.match(value):
                raise SpecError(
                    f"{key}={value!r} is not a GCP label (keys: lowercase letter first; keys and values <= 63 "
                    "lowercase letters, digits, '_' or '-')",
                    fields.get(key, f"tags.extra.{key}"),
                )

    def budget(self, budget: BudgetSpec) -> None:
        if len(budget.alert_emails) > self.MAX_BUDGET_CHANNELS:
            raise SpecError(
                f"a GCP budget notifies at most {self.MAX_BUDGET_CHANNELS} channels", "budget.alert_emails"
            )


CLOUD_RULES["gcp"] = GcpRules()


# ------------------------------------------------------------------ Azure: names and what Azure builds

# learn.microsoft.com azure-resource-manager/management/resource-name-rules:
#   Microsoft.Storage/storageAccounts 3-24 lowercase letters and digits (global);
#   Microsoft.ContainerRegistry/registries 5-50 letters and digits (global);
#   Microsoft.KeyVault/vaults 3-24 letters, digits and '-', starting with a letter, ending with a
#   letter or digit, no '--' (global; a purge-protected vault keeps its name reserved after delete).
# AKS node pools: 1-12 lowercase letters and digits starting with a letter (Linux),
#   learn.microsoft.com aks/create-node-pools "Limitations".
_AZURE_STORAGE_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")
_ACR_NAME = re.compile(r"^[a-zA-Z0-9]{5,50}$")
_AKS_POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
AZURE_SYSTEM_POOL = "system"
# The AKS system pool and the `platform` pool (cluster.system_pool) are mlinfra's; GPU pools take other names.
AZURE_RESERVED_POOLS = (AZURE_SYSTEM_POOL, "platform")
AZURE_ARTIFACTS_CONTAINER = "artifacts"
# The vault name is `<prefix, cut to 18>-<5 random characters>`: purge protection keeps a deleted
# vault's name for the soft-delete retention, so a recreated dev stack needs a fresh one.
AZURE_VAULT_SUFFIX_LENGTH = 5
_AZURE_VAULT_BASE_LENGTH = 24 - 1 - AZURE_VAULT_SUFFIX_LENGTH
# Flow-log retention of a VNet flow log: 0-365 days (learn.microsoft.com network-watcher
# vnet-flow-logs-cli, `--retention`); Log Analytics interactive retention: 30-730 days
# (learn.microsoft.com azure-monitor/logs/data-retention-configure).
AZURE_FLOW_LOG_RETENTION_MAX = 365
AZURE_LOG_RETENTION = (30, 730)
# Azure Storage discards uncommitted blocks (abandoned multipart uploads) after 7 days and has no
# lifecycle action for them (learn.microsoft.com rest/api/storageservices/put-block, "Remarks").
AZURE_UNCOMMITTED_BLOCK_DAYS = 7
# A consumption budget takes at most 5 notifications (learn.microsoft.com cost-management-billing/
# costs/tutorial-acm-create-budgets); mlinfra adds a forecast-100% one to the thresholds.
AZURE_BUDGET_MAX_NOTIFICATIONS = 5


def _alnum(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


@dataclass(frozen=True)
class AzureNames:
    """Physical names of an Azure platform, derived from the spec (checked by `_check_azure`)."""

    resource_group: str
    cluster: str
    node_resource_group: str
    storage_account: str
    container: str
    registry: str
    vault_base: str
    flow_log_account: str


def azure_names(spec: PlatformSpec) -> AzureNames:
    opts = spec.azure
    assert opts is not None
    prefix = spec.prefix
    return AzureNames(
        resource_group=opts.resource_group or prefix,
        cluster=prefix,
        node_resource_group=f"{prefix}-nodes",
        storage_account=_alnum(spec.bucket_name),
        container=AZURE_ARTIFACTS_CONTAINER,
        registry=opts.registry_name or _alnum(prefix),
        vault_base=prefix[:_AZURE_VAULT_BASE_LENGTH].rstrip("-"),
        flow_log_account=f"{_alnum(prefix)[:16]}flowlogs",
    )


def azure_platform_vm_size(spec: PlatformSpec) -> str:
    """VM size of the `platform` pool (cluster.system_pool): mlinfra's controllers and monitoring."""
    machine = spec.cluster.system_pool.machine_type
    assert machine is not None  # SYSTEM_MACHINE_TYPE_DEFAULT fills it for cloud azure
    return machine


def azure_private_endpoints(spec: PlatformSpec) -> bool:
    """Key Vault, storage and registry sit behind private endpoints exactly when the cluster API is
    private: whoever runs the in-cluster stack is inside the VNet anyway (hooks.md C); a public (dev)
    cluster keeps them on their firewalled public endpoints, reachable from public_access_cidrs."""
    return spec.cluster.api_access == "private"


def check_aks_pool_name(name: str, field: str) -> None:
    if not _AKS_POOL_NAME.match(name) or name in AZURE_RESERVED_POOLS:
        raise SpecError(
            f"{name!r} is not an AKS node pool name: 1-12 lowercase letters and digits starting with a "
            f"letter (no '-'), not {' or '.join(repr(p) for p in AZURE_RESERVED_POOLS)}",
            field,
        )


def _check_azure(spec: PlatformSpec) -> None:
    """Everything Azure refuses or cannot build, named by the spec field, before any registration."""
    # The region and network.zone_count are checked against REGION_ZONES["azure"] by _check_region.
    opts = spec.azure
    if opts is None:
        raise SpecError(
            "cloud is 'azure' but the azure section is missing (subscription_id, tenant_id)", "azure"
        )
    net = spec.network
    for field in ("private_subnet_cidrs", "public_subnet_cidrs"):
        if getattr(net, field) is not None:
            raise SpecError(
                "Azure subnets span every zone of a region (one node subnet, not one per zone); set "
                "azure.nodes_subnet_cidr / azure.endpoints_subnet_cidr / azure.apiserver_subnet_cidr instead",
                f"network.{field}",
            )
    if net.nat_gateways != "single":
        raise SpecError(
            "an Azure NAT gateway is zonal and a subnet takes one, so per-zone egress needs a node subnet "
            "and node pool per zone, which mlinfra does not build; allowed: single",
            "network.nat_gateways",
        )
    if net.existing is not None:
        if not 2 <= len(net.existing.private_subnet_ids) <= 3:
            raise SpecError(
                "on Azure give [nodes subnet, API server subnet (delegated to Microsoft.ContainerService/"
                "managedClusters)] and optionally a private-endpoint subnet",
                "network.existing.private_subnet_ids",
            )
        if net.existing.public_subnet_ids:
            raise SpecError(
                "Azure load balancers need no public subnet; leave it empty",
                "network.existing.public_subnet_ids",
            )
        if azure_private_endpoints(spec) and len(net.existing.private_subnet_ids) != 3:
            raise SpecError(
                "a private cluster puts Key Vault, storage and registry behind private endpoints: add the "
                "private-endpoint subnet as the third id",
                "network.existing.private_subnet_ids",
            )
    _check_azure_addresses(spec, opts)
    if spec.cluster.version_support == "extended" and opts.sku_tier != "Premium":
        # AKS long-term support (support_plan AKSLongTermSupport) is a Premium-tier feature
        # (learn.microsoft.com aks/long-term-support, "Enable long-term support").
        raise SpecError(
            f"AKS long-term support needs azure.sku_tier Premium (it is {opts.sku_tier}); allowed: standard, "
            "or extended with sku_tier Premium",
            "cluster.version_support",
        )
    if len(set(spec.cluster.admin_principals)) != len(spec.cluster.admin_principals):
        raise SpecError("contains duplicates", "cluster.admin_principals")
    if opts.deployer_principal is not None and spec.cluster.api_access != "public":
        # Only a stack that installs the in-cluster layer itself grants its deployer cluster-admin.
        raise SpecError(
            f"cluster.api_access is {spec.cluster.api_access}: the in-cluster stack's runner identity installs "
            "the layer and this stack grants no deployer; list people in cluster.admin_principals instead",
            "azure.deployer_principal",
        )
    for i, pool in enumerate(spec.gpu_pools):
        check_aks_pool_name(pool.name, f"gpu_pools.{i}.name")
    if spec.artifacts.abort_incomplete_multipart_days != AZURE_UNCOMMITTED_BLOCK_DAYS:
        raise SpecError(
            f"Azure Storage discards uncommitted blocks after {AZURE_UNCOMMITTED_BLOCK_DAYS} days and cannot be "
            f"told otherwise; allowed: {AZURE_UNCOMMITTED_BLOCK_DAYS}",
            "artifacts.abort_incomplete_multipart_days",
        )
    names = azure_names(spec)
    if not _ACR_NAME.match(names.registry):
        raise SpecError(
            f"{names.registry!r} is not an ACR name (5-50 letters and digits); set azure.registry_name",
            "azure.registry_name",
        )
    if "--" in names.vault_base or len(names.vault_base) < 3:
        raise SpecError(
            f"the Key Vault name is built from {spec.prefix!r}, which Key Vault refuses ('--', or shorter than 3)",
            "name",
        )
    if names.flow_log_account == names.storage_account:
        raise SpecError(
            f"{names.storage_account!r} is the flow-log storage account's name; choose another",
            "artifacts.bucket_name",
        )


def _check_azure_addresses(spec: PlatformSpec, opts: AzureOptions) -> None:
    """Subnets inside the VNet and apart; pod and service ranges apart from the VNet and each other."""
    vnet = ipaddress.ip_network(spec.network.cidr)
    service = ipaddress.ip_network(spec.network.service_cidr)
    pods = ipaddress.ip_network(opts.pod_cidr)
    if pods.overlaps(vnet) or pods.overlaps(service):
        raise SpecError(
            f"{opts.pod_cidr} overlaps network.cidr {vnet} or network.service_cidr {service}",
            "azure.pod_cidr",
        )
    if spec.network.existing is not None:
        return
    layout = opts.subnet_layout(spec.network)
    subnets = {role: ipaddress.ip_network(cidr) for role, cidr in layout.items()}
    for role, sub in subnets.items():
        if not sub.subnet_of(vnet):  # type: ignore[arg-type]
            raise SpecError(f"{sub} is not inside network.cidr {vnet}", f"azure.{role}_subnet_cidr")
    if subnets["apiserver"].prefixlen > 28:
        raise SpecError("API server VNet integration needs at least a /28", "azure.apiserver_subnet_cidr")
    roles = list(subnets)
    for i, a in enumerate(roles):
        for b in roles[i + 1 :]:
            if subnets[a].overlaps(subnets[b]):
                named = a if b == "runners" else b  # the runner subnet is derived, never given
                raise SpecError(
                    f"{subnets[a]} ({a}) overlaps {subnets[b]} ({b})", f"azure.{named}_subnet_cidr"
                )


class AzureRules(CloudRules):
    cloud = "azure"
    # AKS sets node labels under its own prefix and refuses user labels there
    # (learn.microsoft.com aks/use-labels, "Reserved system labels").
    RESERVED_NODE_LABEL_PREFIX = "kubernetes.azure.com/"

    def principal(self, value: str, field: str) -> None:
        kind, _, object_id = value.partition(":") if isinstance(value, str) else ("", "", "")
        if kind not in AZURE_PRINCIPAL_KINDS or not _GUID.match(object_id):
            raise SpecError(
                f"{value!r} is not '<kind>:<Entra ID object id>' (kinds: {', '.join(AZURE_PRINCIPAL_KINDS)}): "
                "a role assignment must name the principal's type",
                field,
            )

    def cloud_options(self, spec: PlatformSpec) -> None:
        _check_azure(spec)

    def system_pool(self, spec: PlatformSpec) -> None:
        machine = spec.cluster.system_pool.machine_type
        if machine is not None:  # the profile fills SYSTEM_MACHINE_TYPE_DEFAULT in
            self.machine_type(machine, "cluster.system_pool.machine_type")

    def machine_type(self, value: str, field: str) -> None:
        if not _AZURE_VM_SIZE.match(value):
            raise SpecError(f"{value!r} is not an Azure VM size (e.g. Standard_D4ds_v5)", field)

    def node_labels(self, labels: Mapping[str, str], field: str) -> None:
        for key in labels:
            if key.startswith(self.RESERVED_NODE_LABEL_PREFIX):
                raise SpecError(
                    f"{key!r} is under AKS's own label prefix; reserved: {self.RESERVED_NODE_LABEL_PREFIX}*",
                    _join(field, key),
                )

    def log_retention(self, days: int, field: str) -> None:
        # VNet flow logs keep 0-365 days; the Log Analytics workspace (control-plane logs) 30-730.
        if field == "network.flow_log_retention_days":
            if days > AZURE_FLOW_LOG_RETENTION_MAX:
                raise SpecError(
                    f"{days} days; VNet flow logs keep at most {AZURE_FLOW_LOG_RETENTION_MAX}", field
                )
            return
        low, high = AZURE_LOG_RETENTION
        if not low <= days <= high:
            raise SpecError(f"{days} days; a Log Analytics workspace keeps {low}-{high}", field)

    def bucket_name(
        self, name: str, access_logging: bool = False, field: str = "artifacts.bucket_name"
    ) -> None:
        if not _AZURE_STORAGE_ACCOUNT.match(_alnum(name)):
            raise SpecError(
                f"{name!r} gives the storage account name {_alnum(name)!r}: a storage account takes 3-24 "
                "lowercase letters and digits ('-' is dropped)",
                field,
            )

    def repository_name(self, name: str, field: str) -> None:
        # ACR repository names: lowercase letters, digits, '.', '_', '-' and '/' (learn.microsoft.com
        # container-registry/container-registry-concepts "Repository name"), the ECR shape.
        if not 2 <= len(name) <= 256 or not _ECR_NAME.match(name):
            raise SpecError(
                f"{name!r} is not a valid ACR repository name (2-256 chars: lowercase letters, digits, "
                "and '.', '_', '-' or '/' between them)",
                field,
            )

    def full_repository_name(self, prefix: str, repo: str) -> str:
        """The platform has its own registry: repositories are image paths named as given."""
        return repo

    def budget(self, budget: BudgetSpec) -> None:
        if budget.alert_emails and len(budget.thresholds_percent) + 1 > AZURE_BUDGET_MAX_NOTIFICATIONS:
            raise SpecError(
                f"an Azure budget takes {AZURE_BUDGET_MAX_NOTIFICATIONS} notifications (the thresholds plus a "
                f"forecast at 100%); allowed: at most {AZURE_BUDGET_MAX_NOTIFICATIONS - 1} thresholds",
                "budget.thresholds_percent",
            )


CLOUD_RULES["azure"] = AzureRules()
