"""The model pod: restricted security context, writable emptyDirs, the model download init
container and the server container built from the runtime contract (runtimes.py)."""

from __future__ import annotations

from typing import Any

from mlinfra.k8s.metrics import METRICS_PORT_NAME
from mlinfra.k8s.scheduling import GPU_RESOURCE, Scheduling
from mlinfra.k8s.serving.common import (
    FS_GROUP,
    HTTP_PORT_NAME,
    RESTRICTED_CONTAINER,
    RUN_AS_GROUP,
    RUN_AS_USER,
)
from mlinfra.k8s.serving.download import SyncTool, download_container
from mlinfra.k8s.serving.runtimes import CACHE_DIR, MODEL_DIR, TMP_DIR, Runtime
from mlinfra.spec import ModelSpec

TMP_SIZE_LIMIT = "2Gi"
CACHE_SIZE_LIMIT = "20Gi"  # compiled kernels (torch.compile, CUDA graphs), tokenizers
MODEL_SIZE_LIMIT = "100Gi"  # the synced weights; emptyDir on the node's (encrypted) root volume
SHM_SIZE_LIMIT = "1Gi"  # PyTorch/NCCL shared memory; counts against the memory limit

# The startup probe allows a slow model load this long before liveness may restart the server
# (the download runs before, in the init container).
STARTUP_PROBE_MAX_SECONDS = 1800
PROBE_PERIOD_S = 10

VOLUMES: list[dict[str, Any]] = [
    {"name": "tmp", "emptyDir": {"sizeLimit": TMP_SIZE_LIMIT}},
    {"name": "cache", "emptyDir": {"sizeLimit": CACHE_SIZE_LIMIT}},
    {"name": "models", "emptyDir": {"sizeLimit": MODEL_SIZE_LIMIT}},
    {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": SHM_SIZE_LIMIT}},
]


def pod_fields(
    selector: dict[str, str],
    service_account: str,
    scheduling: Scheduling | None,
    download: tuple[SyncTool, Any] | None,
) -> dict[str, Any]:
    """Pod-level fields of a model pod; `download` = (tool, source URI) adds the sync init container."""
    pod: dict[str, Any] = {
        "serviceAccountName": service_account,
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_USER,
            "runAsGroup": RUN_AS_GROUP,
            "fsGroup": FS_GROUP,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumes": [dict(v) for v in VOLUMES],
        # Spread replicas over zones and nodes, but never leave a replica pending for it:
        # a GPU pool may have capacity in one zone only.
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": key,
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": dict(selector)},
            }
            for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
        ],
    }
    if download is not None:
        tool, source = download
        pod["initContainers"] = [download_container(tool, source, RESTRICTED_CONTAINER)]
    if scheduling is not None:
        pod.update(scheduling.pod_spec_fields())
    return pod


def server_container(model: ModelSpec, runtime: Runtime, image: str) -> dict[str, Any]:
    """The model-server container (without a name: KServe names its own `kserve-container`).

    `model` is the stable model's spec: a canary serves under the same name, port and probes.
    """
    amounts = {"cpu": model.cpu, "memory": model.memory}
    if model.gpus > 0:
        amounts[GPU_RESOURCE] = str(model.gpus)
    port = runtime.port_for(model)
    ports = [{"name": HTTP_PORT_NAME, "containerPort": port, "protocol": "TCP"}]
    if runtime.metrics_port is not None:
        ports.append({"name": METRICS_PORT_NAME, "containerPort": runtime.metrics_port, "protocol": "TCP"})
    live, ready = runtime.probe_paths(model)

    def probe(path: str, period: int, failures: int) -> dict[str, Any]:
        return {
            "httpGet": {"path": path, "port": HTTP_PORT_NAME},
            "periodSeconds": period,
            "timeoutSeconds": 5,
            "failureThreshold": failures,
        }

    container: dict[str, Any] = {"image": image, "imagePullPolicy": "IfNotPresent"}
    command = runtime.command_for(model)
    if command:
        container["command"] = command
    container.update(
        {
            "args": runtime.args_for(model),
            "ports": ports,
            "env": [{"name": k, "value": v} for k, v in runtime.env_for(model).items()],
            # requests == limits: Guaranteed QoS, and GPUs must be equal anyway
            "resources": {"requests": dict(amounts), "limits": dict(amounts)},
            "securityContext": dict(RESTRICTED_CONTAINER),
            "volumeMounts": [
                {"name": "tmp", "mountPath": TMP_DIR},
                {"name": "cache", "mountPath": CACHE_DIR},
                {"name": "models", "mountPath": MODEL_DIR, "readOnly": True},
                {"name": "dshm", "mountPath": "/dev/shm"},
            ],
            "startupProbe": probe(live, PROBE_PERIOD_S, STARTUP_PROBE_MAX_SECONDS // PROBE_PERIOD_S),
            "readinessProbe": probe(ready, PROBE_PERIOD_S, 3),
            "livenessProbe": probe(live, 20, 3),
        }
    )
    return container
