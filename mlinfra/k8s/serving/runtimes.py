"""The runtime contract: one row per model-server runtime.

A row says everything a model pod needs to serve: the pinned image (and where the tag comes
from), the command and arguments (the server's CLI), the HTTP port, the liveness and readiness
paths, where its Prometheus metrics are, the load metric the model autoscales on, and the
environment that points every cache at a writable emptyDir (the root filesystem is read-only).

The model's files are synced into `MODEL_DIR` before the server starts (download.py); every
runtime reads the model from there. A new runtime is one row here plus its test
(tests/k8s/test_runtimes.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from mlinfra.k8s import metrics as mt
from mlinfra.spec import RUNTIMES, ModelSpec

# Writable directories of every model pod (emptyDirs; the root filesystem is read-only).
MODEL_DIR = "/mnt/models"  # the synced model (KServe's convention for --model_dir)
CACHE_DIR = "/cache"  # HOME and every cache the server writes (compiled kernels, tokenizers)
TMP_DIR = "/tmp"

# The pod runs as RUN_AS_USER (1000), which a server image need not list in /etc/passwd (the vLLM
# image is built on nvidia/cuda ubuntu22.04 and runs as root). PyTorch resolves its inductor cache
# through getpass.getuser() (torch/_inductor/runtime/cache_dir_utils.py default_cache_dir), which
# raises `KeyError: getpwuid(): uid not found: 1000` without a passwd entry unless LOGNAME/USER is
# set (Python docs, getpass.getuser; vllm-project/vllm#44548, HabanaAI/vllm-fork#929): the server
# dies at start. USER answers getuser(); TORCHINDUCTOR_CACHE_DIR keeps the compile cache writable.
SERVER_USER = "model-server"

# Environment every runtime gets: a user name, a writable HOME and XDG cache under CACHE_DIR.
BASE_ENV: dict[str, str] = {
    "USER": SERVER_USER,
    "HOME": CACHE_DIR,
    "XDG_CACHE_HOME": f"{CACHE_DIR}/xdg",
    "TMPDIR": TMP_DIR,
    "TORCHINDUCTOR_CACHE_DIR": f"{CACHE_DIR}/torchinductor",
}

# vLLM (also inside KServe's Hugging Face server): vllm/envs.py reads VLLM_CACHE_ROOT (default
# ~/.cache/vllm: torch.compile and CUDA-graph caches) and huggingface_hub reads HF_HOME (tokenizer
# and config cache). The model is already in MODEL_DIR, so HF_HUB_OFFLINE=1 (huggingface_hub
# "Environment variables") keeps the server from reaching out to the Hub at all.
HF_ENV: dict[str, str] = {
    "HF_HOME": f"{CACHE_DIR}/huggingface",
    "HF_HUB_OFFLINE": "1",
    "VLLM_CACHE_ROOT": f"{CACHE_DIR}/vllm",
}


@dataclass(frozen=True)
class LoadMetric:
    """The load signal a runtime scales on: the sum of `metrics` over the model's pods.

    KEDA divides the sum by the per-replica target (`ModelSpec.load_target`, else
    `default_target`) to get the replica count, as an HPA `AverageValue` target does.
    `ingress_fallback`: where the server may export none of `metrics` (KServe's Hugging Face server
    exports vLLM's gauges only when the vLLM backend serves the model), the requests in flight at
    the ingress stand in for them, so such a model still scales on its load instead of sitting at
    its minimum (an empty query reads as 0 to KEDA).
    """

    metrics: tuple[str, ...]
    meaning: str
    default_target: float
    ingress_fallback: bool = False

    def query(self, selector: str, ingress_selector: str | None = None) -> str:
        """PromQL: the total over the pods `selector` matches (label matchers, without braces); with
        `ingress_fallback`, `or` the requests in flight at the ingress `ingress_selector` matches."""
        own = " + ".join(f"sum({name}{{{selector}}})" for name in self.metrics)
        if not self.ingress_fallback or ingress_selector is None:
            return own
        in_flight = (
            f"sum(rate({mt.NGINX_REQUEST_DURATION_SUM}{{{ingress_selector}}}[{mt.NGINX_RATE_WINDOW}]))"
        )
        return f"({own}) or {in_flight}"


@dataclass(frozen=True)
class Runtime:
    """One model-server runtime.

    image / cpu_image: pinned default images (GPU, and CPU-only models where the server ships a
        separate CPU build); `upstream` says where the tags and the CLI below come from.
    command: the container command (None: the image's ENTRYPOINT runs, as KServe's runtime does).
    args: (model, port) -> the server's arguments before the model's own `args`.
    port / live_path / ready_path: the HTTP port and probe paths the server answers on.
    metrics_port: where /metrics is served (None: on the HTTP port).
    load: the load metric it scales on (None: CPU utilisation through an HPA).
    env: cache locations under the writable CACHE_DIR.
    """

    name: str
    image: str | None
    upstream: str
    command: tuple[str, ...] | None
    args: Callable[[ModelSpec, int], list[str]]
    port: int
    live_path: str
    ready_path: str
    metrics_port: int | None
    load: LoadMetric | None
    cpu_image: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    # ---- what a given model gets from this row

    def image_for(self, model: ModelSpec) -> str:
        if model.image:
            return model.image
        image = self.cpu_image if model.gpus == 0 and self.cpu_image else self.image
        assert image is not None  # runtime "image" requires model.image (spec)
        return image

    def port_for(self, model: ModelSpec) -> int:
        return model.port or self.port

    def command_for(self, model: ModelSpec) -> list[str] | None:
        if model.command:
            return list(model.command)
        return list(self.command) if self.command else None

    def args_for(self, model: ModelSpec) -> list[str]:
        return [*self.args(model, self.port_for(model)), *model.args]

    def probe_paths(self, model: ModelSpec) -> tuple[str, str]:
        """(liveness, readiness) paths; `health_path` overrides both."""
        if model.health_path:
            return model.health_path, model.health_path
        return self.live_path, self.ready_path

    def load_for(self, model: ModelSpec) -> LoadMetric | None:
        if self.name == "image":
            if not model.load_metric:
                return None
            return LoadMetric((model.load_metric,), f"{model.load_metric} (from the spec)", 1.0)
        return self.load

    def env_for(self, model: ModelSpec) -> dict[str, str]:
        return {**BASE_ENV, **self.env}


def _kserve_args(model: ModelSpec, port: int) -> list[str]:
    # kserve@v0.15.2 python/huggingfaceserver/huggingfaceserver/__main__.py (--model_dir, default
    # /mnt/models) and python/kserve/kserve/model_server.py (--model_name, --http_port). The model
    # name is the stable model's for both revisions: the canary must answer to the name clients
    # use (the chart's runtime fills it from the InferenceService name, `<model>-canary`).
    return [f"--model_name={model.name}", f"--model_dir={MODEL_DIR}", f"--http_port={port}"]


def _vllm_args(model: ModelSpec, port: int) -> list[str]:
    # `vllm serve <model> --served-model-name --host --port` (vLLM docs, "vllm serve" CLI; the
    # vllm/vllm-openai image's ENTRYPOINT is `vllm serve`, repeated here so the contract does not
    # depend on it). The OpenAI API answers as the stable model name on both revisions.
    return [MODEL_DIR, "--served-model-name", model.name, "--host", "0.0.0.0", "--port", str(port)]


TRITON_METRICS_PORT = 8002  # tritonserver's default --metrics-port (docs/user_guide/metrics.md)


def _triton_args(model: ModelSpec, port: int) -> list[str]:
    # tritonserver flags per triton-inference-server/server@v2.61.0 (= 25.09)
    # docs/customization_guide/deploy.md: a fixed repository (`none`: no load/unload API),
    # readiness only once every model is loaded, exit on load errors; gRPC off (the Ingress is HTTP).
    return [
        f"--model-repository={MODEL_DIR}",
        f"--http-port={port}",
        f"--metrics-port={TRITON_METRICS_PORT}",
        "--allow-grpc=false",
        "--model-control-mode=none",
        "--strict-readiness=true",
        "--exit-on-error=true",
    ]


RUNTIME_TABLE: dict[str, Runtime] = {
    # KServe's Hugging Face server (vLLM backend where vLLM supports the architecture, else
    # transformers: __main__.py is_vllm_backend_enabled). Images per kserve@v0.15.2
    # .github/workflows/huggingface-docker-publish.yml (tag <version>-gpu) and
    # huggingface-cpu-docker-publish.yml (tag <version>); ENTRYPOINT `python3 -m huggingfaceserver`
    # (python/huggingface_server.Dockerfile, USER 1000). REST: /v2/health/live, /v2/health/ready
    # (python/kserve/kserve/protocol/rest/v2_endpoints.py) and /metrics (rest/server.py, the
    # process-wide prometheus_client registry, where the vLLM engine registers its gauges).
    "kserve": Runtime(
        name="kserve",
        image="kserve/huggingfaceserver:v0.15.2-gpu",
        cpu_image="kserve/huggingfaceserver:v0.15.2",
        upstream="kserve/kserve@v0.15.2",
        command=None,
        args=_kserve_args,
        port=8080,
        live_path="/v2/health/live",
        ready_path="/v2/health/ready",
        metrics_port=None,
        # vLLM's gauges on the vLLM backend; a model the Hugging Face backend serves (an encoder
        # vLLM does not support) exports neither, and KServe's own request_predict_seconds covers
        # only v1/v2 predict calls, not its OpenAI routes: the ingress's requests in flight then.
        load=LoadMetric(
            (mt.VLLM_REQUESTS_RUNNING, mt.VLLM_REQUESTS_WAITING),
            "requests in flight (running + waiting)",
            16,
            ingress_fallback=True,
        ),
        env=HF_ENV,
    ),
    # vLLM's OpenAI-compatible server: image vllm/vllm-openai:<release tag> (vLLM docs, "Using
    # Docker"); GET /health answers 200 once the engine is up (vllm/entrypoints/openai/api_server.py),
    # /metrics on the same port (docs "Production Metrics").
    "vllm": Runtime(
        name="vllm",
        image="vllm/vllm-openai:v0.11.0",
        upstream="vllm-project/vllm@v0.11.0",
        command=("vllm", "serve"),
        args=_vllm_args,
        port=8000,
        live_path="/health",
        ready_path="/health",
        metrics_port=None,
        load=LoadMetric(
            (mt.VLLM_REQUESTS_RUNNING, mt.VLLM_REQUESTS_WAITING), "requests in flight (running + waiting)", 16
        ),
        env=HF_ENV,
    ),
    # NVIDIA Triton: image nvcr.io/nvidia/tritonserver:25.09-py3 (server@v2.61.0 README);
    # KServe v2 health endpoints on the HTTP port, metrics on 8002 (docs/user_guide/metrics.md).
    # It scales on requests waiting for a backend (nv_inference_pending_request_count).
    "triton": Runtime(
        name="triton",
        image="nvcr.io/nvidia/tritonserver:25.09-py3",
        upstream="triton-inference-server/server@v2.61.0",
        command=("tritonserver",),
        args=_triton_args,
        port=8000,
        live_path="/v2/health/live",
        ready_path="/v2/health/ready",
        metrics_port=TRITON_METRICS_PORT,
        load=LoadMetric((mt.TRITON_PENDING_REQUESTS,), "requests queued for a backend", 4),
    ),
    # Any server image: command and args from the spec, /health on 8080 unless the spec says
    # otherwise; it scales on `load_metric` when the spec names one, else on CPU.
    "image": Runtime(
        name="image",
        image=None,
        upstream="the spec (image, command, args)",
        command=None,
        args=lambda model, port: [],
        port=8080,
        live_path="/health",
        ready_path="/health",
        metrics_port=None,
        load=None,
    ),
}

assert set(RUNTIME_TABLE) == set(RUNTIMES), "every spec runtime has exactly one row"


def runtime_of(model: ModelSpec) -> Runtime:
    return RUNTIME_TABLE[model.runtime]
