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
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlinfra.catalog import (
    DEFAULT_KUBERNETES_VERSION,
    GCP_ACCELERATOR_ZONES,
    GPU_POOL_MAX_NODES_CAP,
    REGION_EXAMPLES,
    REGION_PATTERNS,
    REGION_ZONES,
    SUPPORTED_KUBERNETES_VERSIONS,
    GpuMachineType,
    accelerator_zones,
    gke_accelerator,
    gpu_machine_type,
)

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
SYSTEM_MACHINE_TYPE_DEFAULT: dict[str, str] = {"aws": "m6i.large", "gcp": "e2-standard-4"}

_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


class SpecError(ValueError):
    """A spec that cannot be built, with the field path and the allowed values."""

    def __init__(self, message: str, field: str | None = None):
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, frozen=False)


def _dns_label(value: str, what: str, max_len: int = 40) -> str:
    if not (1 <= len(value) <= max_len) or not _DNS_LABEL.match(value):
        raise ValueError(
            f"{what} {value!r} must be 1-{max_len} lowercase letters, digits or '-', "
            "starting with a letter and not ending with '-'"
        )
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
            raise ValueError(f"cidr {self.cidr} must be between /16 and /22")
        svc = ipaddress.ip_network(self.service_cidr)
        if net.overlaps(svc):
            raise ValueError(f"service_cidr {self.service_cidr} overlaps cidr {self.cidr}")
        subnets: list[tuple[str, ipaddress.IPv4Network | ipaddress.IPv6Network]] = []
        for field in ("private_subnet_cidrs", "public_subnet_cidrs"):
            given = getattr(self, field)
            if given is None:
                continue
            if len(given) != self.zone_count:
                raise ValueError(f"{field} has {len(given)} entries; zone_count is {self.zone_count}")
            for c in given:
                sub = ipaddress.ip_network(c)
                if not sub.subnet_of(net):  # type: ignore[arg-type]
                    raise ValueError(f"{field}: {c} is not inside cidr {self.cidr}")
                subnets.append((c, sub))
        for i, (a, na) in enumerate(subnets):
            for b, nb in subnets[i + 1 :]:
                if na.overlaps(nb):
                    raise ValueError(f"subnet CIDRs overlap: {a} and {b}")
        return self

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

    @model_validator(mode="after")
    def _public_needs_cidrs(self):
        if self.api_access == "public" and not self.public_access_cidrs:
            raise ValueError("api_access is public but public_access_cidrs is empty; list the allowed CIDRs")
        if self.api_access != "public" and self.public_access_cidrs:
            raise ValueError(
                f"public_access_cidrs is set but api_access is {self.api_access!r}; "
                "they apply to api_access: public only"
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
        "triton: requests queued, image: load_metric); the runtime's default when empty.",
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
    target_utilization_percent: int = Field(
        default=70,
        ge=1,
        le=100,
        description="CPU utilisation target, used only where no load metric exists (image without "
        "load_metric, or monitoring disabled).",
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
        if v is None:
            return v
        if "@sha256:" in v:
            return v
        tail = v.rsplit("/", 1)[-1]
        if ":" not in tail or tail.endswith(":latest"):
            raise ValueError(f"image {v!r} must be pinned by a tag other than 'latest' or by digest")
        return v

    @field_validator("health_path")
    @classmethod
    def _health_path(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("/"):
            raise ValueError(f"health_path {v!r} must be an absolute HTTP path (e.g. /health)")
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
                self.canary.image = self._image(self.canary.image)
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


class QuotaSpec(_Model):
    gpus: int = Field(default=4, ge=0, description="GPUs the serving namespace may request in total.")
    cpu: str = Field(default="32", description="CPU requests in total.")
    memory: str = Field(default="128Gi", description="Memory requests in total.")
    pods: int = Field(default=50, ge=1, description="Pods in total.")


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


# --------------------------------------------------------------------------- governance


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


class BudgetSpec(_Model):
    monthly_limit_usd: float = Field(default=1000, gt=0, description="Monthly budget in USD.")
    alert_emails: list[str] = Field(
        default_factory=list, description="Who is told when a threshold is crossed."
    )
    thresholds_percent: list[int] = Field(
        default_factory=lambda: [50, 80, 100], description="Forecast/actual percentages that notify."
    )


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

    @model_validator(mode="before")
    @classmethod
    def _apply_profile(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("environment") in PROFILES:
            data = _merge(PROFILES[data["environment"]], data)
            if data.get("cloud") == "aws" and data.get("aws") is None:
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
                and data.get("cloud") in API_ACCESS_DEFAULT
            ):
                data["cluster"] = {**cluster, "api_access": API_ACCESS_DEFAULT[data["cloud"]]}
            cluster = data.get("cluster")
            default_type = SYSTEM_MACHINE_TYPE_DEFAULT.get(str(data.get("cloud")))
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
        cloud, env = self.cloud, self.environment
        # region shape
        if not REGION_PATTERNS[cloud].match(self.region):
            raise SpecError(
                f"{self.region!r} is not a {cloud} region name (e.g. {REGION_EXAMPLES[cloud]})", "region"
            )
        # cloud-specific sections
        for other in ("aws", "gcp"):
            if other != cloud and getattr(self, other) is not None:
                raise SpecError(f"section '{other}' is set but cloud is {cloud!r}", other)
        existing = self.network.existing
        if cloud == "aws" and existing is not None and len(existing.private_subnet_ids) < 2:
            raise SpecError(
                "EKS needs private subnets in at least two zones", "network.existing.private_subnet_ids"
            )
        # GPU pools
        names = [p.name for p in self.gpu_pools]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise SpecError(f"duplicate pool names {dupes}", "gpu_pools")
        cap = GPU_POOL_MAX_NODES_CAP[env]
        for i, pool in enumerate(self.gpu_pools):
            try:
                gpu_machine_type(cloud, pool.machine_type)
            except ValueError as e:
                raise SpecError(str(e), f"gpu_pools.{i}.machine_type") from None
            if pool.max_nodes > cap:
                raise SpecError(
                    f"max_nodes {pool.max_nodes} exceeds the {env} cap of {cap}", f"gpu_pools.{i}.max_nodes"
                )
        spot_only = bool(self.gpu_pools) and all(p.capacity_type == "spot" for p in self.gpu_pools)
        if env == "prod" and spot_only and not self.guardrails.allow_spot_only_gpu:
            raise SpecError(
                "prod GPU capacity is spot only; add an on_demand pool or set "
                "guardrails.allow_spot_only_gpu: true with guardrails.override_reason",
                "gpu_pools",
            )
        if self.guardrails.allow_spot_only_gpu and not self.guardrails.override_reason:
            raise SpecError("an override needs a reason", "guardrails.override_reason")
        if (
            env == "prod"
            and self.network.flow_logs
            and self.network.flow_log_retention_days < PROD_MIN_FLOW_LOG_RETENTION_DAYS
        ):
            raise SpecError(
                f"{self.network.flow_log_retention_days} days is below the prod minimum; allowed: "
                f"{PROD_MIN_FLOW_LOG_RETENTION_DAYS}-3653 days (a year of network audit trail)",
                "network.flow_log_retention_days",
            )
        if cloud == "aws":
            zones = (
                len(self.network.existing.private_subnet_ids)
                if self.network.existing is not None
                else self.network.zone_count
            )
            if self.cluster.system_pool.max_nodes < zones:
                raise SpecError(
                    f"{self.cluster.system_pool.max_nodes} is below the {zones} zones: AWS runs one system node "
                    f"group per zone (zonal EBS volumes); allowed: {zones}-100",
                    "cluster.system_pool.max_nodes",
                )
        # endpoint exposure
        if self.aws is not None and self.aws.runner.model_fields_set and self.cluster.api_access != "private":
            raise SpecError(
                f"the runner installs the in-cluster stack of a private cluster; api_access is "
                f"{self.cluster.api_access!r}, whose platform stack installs the layer itself; "
                "remove aws.runner or set cluster.api_access: private",
                "aws.runner",
            )
        if self.cluster.api_access == "public" and env != "dev":
            raise SpecError(
                f"a public API endpoint is only allowed in dev (environment is {env}); "
                f"allowed: {'dns, private' if cloud == 'gcp' else 'private'}",
                "cluster.api_access",
            )
        if self.cluster.api_access == "dns" and cloud != "gcp":
            raise SpecError(
                f"the IAM-gated DNS endpoint is GKE's (cloud is {cloud}); allowed: public (dev), private",
                "cluster.api_access",
            )
        # serving models must name existing pools
        for i, m in enumerate(self.serving.models):
            if m.gpu_pool is not None and m.gpu_pool not in names:
                raise SpecError(
                    f"unknown pool {m.gpu_pool!r}; allowed: {', '.join(names) or '(no GPU pools)'}",
                    f"serving.models.{i}.gpu_pool",
                )
            if m.gpu_pool is not None:
                pool = self.gpu_pools[names.index(m.gpu_pool)]
                per_node = gpu_machine_type(cloud, pool.machine_type).gpus * pool.time_slicing_replicas
                if m.gpus > per_node:
                    raise SpecError(
                        f"{m.gpus} GPUs per replica but pool {pool.name!r} offers {per_node} per node",
                        f"serving.models.{i}.gpus",
                    )
            if m.min_replicas == 0 and env != "dev":
                raise SpecError(
                    f"scale to zero is for dev only (environment is {env}): a cold start waits for a GPU "
                    "node, the image pull and the model load; allowed: 1 or more",
                    f"serving.models.{i}.min_replicas",
                )
        # names the cloud accepts
        _check_bucket_name(cloud, self.bucket_name)
        for i, repo in enumerate(self.registry.repositories):
            _check_repository_name(cloud, repo, f"registry.repositories.{i}")
        if cloud == "gcp":
            _check_gcp(self)
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
    def load(cls, data: dict[str, Any], source: str = "spec") -> PlatformSpec:
        """Validate a dict, turning pydantic's errors into one `SpecError` naming the field."""
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            raise SpecError(format_validation_error(e, source)) from None

    @classmethod
    def from_config(cls, key: str = "platform", namespace: str = "mlinfra") -> PlatformSpec:
        """Read the spec from the Pulumi config object `<namespace>:<key>`."""
        import pulumi

        data = pulumi.Config(namespace).require_object(key)
        return cls.load(data, source=f"config {namespace}:{key}")


def format_validation_error(e: ValidationError, source: str = "spec") -> str:
    lines = []
    for err in e.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "literal_error":
            msg = f"{msg} (got {err.get('input')!r})"
        elif err["type"] == "missing":
            msg = "field required"
        msg = msg.removeprefix("Value error, ")
        lines.append(f"{loc}: {msg}" if loc else msg)
    head = f"invalid {source}: " if len(lines) == 1 else f"invalid {source} ({len(lines)} errors):\n  "
    return head + "\n  ".join(lines)


# ------------------------------------------------------------------ naming rules per cloud

_S3_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_ECR_NAME = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")


def _check_bucket_name(cloud: str, name: str) -> None:
    field = "artifacts.bucket_name"
    if cloud == "gcp":
        _check_gcs_bucket_name(name, field)
    if cloud == "aws":
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


def _check_repository_name(cloud: str, name: str, field: str) -> None:
    if cloud == "aws" and (not 2 <= len(name) <= 256 or not _ECR_NAME.match(name)):
        raise SpecError(
            f"{name!r} is not a valid ECR repository name (2-256 chars: lowercase letters, digits, "
            "and '.', '_', '-' or '/' between them)",
            field,
        )
    if cloud == "gcp" and not _GAR_REPOSITORY.match(name):
        raise SpecError(
            f"{name!r} is not a valid Artifact Registry repository name (lowercase letters, digits and '-', "
            "starting with a letter, ending with a letter or digit; no '/': images nest inside a repository)",
            field,
        )


def check_repositories(spec: RegistrySpec) -> None:
    """At least one repository, each named once (every cloud's registry checks this first)."""
    if not spec.repositories:
        raise SpecError("at least one repository is required", "registry.repositories")
    dupes = sorted({r for r in spec.repositories if spec.repositories.count(r) > 1})
    if dupes:
        raise SpecError(f"duplicate repositories {dupes}", "registry.repositories")


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
    check_gce_machine_type(spec.cluster.system_pool.machine_type, "cluster.system_pool.machine_type")
    check_gke_channel(spec.cluster.version_support, g.release_channel, "gcp.release_channel")
    if not g.regional and spec.environment != "dev":
        raise SpecError(
            f"a zonal control plane lives in one zone (no HA); allowed in dev only (environment is "
            f"{spec.environment})",
            "gcp.regional",
        )
    node_net = ipaddress.ip_network(net.cidr)
    for name, other in (
        ("network.cidr", node_net),
        ("network.service_cidr", ipaddress.ip_network(net.service_cidr)),
    ):
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
    for i, member in enumerate(spec.cluster.admin_principals):
        field = f"cluster.admin_principals.{i}"
        if member.startswith("group:"):
            raise SpecError(
                "Google Groups for RBAC is not set up by mlinfra; list user: or serviceAccount: members",
                field,
            )
        if not _GCP_ADMIN_MEMBER.match(member):
            raise SpecError(
                f"{member!r} is not an IAM member (user:alice@example.com or serviceAccount:<email>)", field
            )
    if len(set(spec.cluster.admin_principals)) != len(spec.cluster.admin_principals):
        raise SpecError("contains duplicates", "cluster.admin_principals")
    if len(spec.budget.alert_emails) > 5:
        # "A maximum of 5 channels are allowed" (pulumi-gcp BudgetAllUpdatesRuleArgs).
        raise SpecError("a GCP budget notifies at most 5 channels", "budget.alert_emails")
    if "budget" in spec.model_fields_set and g.billing_account is None:
        # A GCP budget lives in a billing account, not in the project: without one the spec's
        # budget would silently not exist.
        raise SpecError(
            "the spec's budget is created in a billing account: set it (or remove budget)",
            "gcp.billing_account",
        )
    fields = {"owner": "tags.owner", "cost-center": "tags.cost_center", "environment": "environment"}
    for key, value in spec.required_tags.items():
        field = fields.get(key, f"tags.extra.{key}")
        if not _GCP_LABEL_KEY.match(key) or not _GCP_LABEL_VALUE.match(value):
            raise SpecError(
                f"{key}={value!r} is not a GCP label (keys: lowercase letter first; keys and values <= 63 "
                "lowercase letters, digits, '_' or '-')",
                field,
            )
    if spec.artifacts.access_logging:
        _check_gcs_bucket_name(spec.bucket_name + GCP_LOG_BUCKET_SUFFIX, "artifacts.bucket_name")
    for i, repo in enumerate(spec.registry.repositories):
        repo_id = gcp_repository_id(spec.prefix, repo)
        if not _GAR_REPOSITORY.match(repo_id):
            raise SpecError(
                f"repository ID {repo_id!r} is longer than 63 characters", f"registry.repositories.{i}"
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
