"""Cloud-agnostic model serving: one package, one file per responsibility.

- cluster.py      ServingCluster: ingress-nginx, cert-manager, KServe, KEDA, metrics-server, namespace
- controllers.py  the Helm values of those charts
- guardrails.py   quota, limits and NetworkPolicies of the serving namespace
- model.py        ModelDeployment: one model behind TLS (workload, Services, PDB, Ingress, autoscaler)
- pod.py          the model pod and server container
- runtimes.py     the runtime contract: one row per model server (kserve, vllm, triton, image)
- download.py     how model files get into the pod, one row per cloud (S3, GCS, Azure Blob)
- autoscaling.py  KEDA ScaledObjects on load metrics, CPU HPAs where none exists
"""

from mlinfra.k8s.metrics import MODEL_SERVER_LABEL, MODEL_SERVER_LABEL_VALUE
from mlinfra.k8s.serving.cluster import ServingCluster, ServingClusterArgs
from mlinfra.k8s.serving.common import (
    CERT_MANAGER_NAMESPACE,
    HTTP_PORT_NAME,
    INGRESS_CLASS,
    INGRESS_NAMESPACE,
    KSERVE_NAMESPACE,
    KSERVE_RUNTIME_NAME,
    PRIVATE_CA_SECRET,
    SERVING_CLOUDS,
    check_image_pinned,
)
from mlinfra.k8s.serving.model import (
    CANARY,
    STABLE,
    STARTUP_BUDGET_S,
    TRACK_LABEL,
    ModelDeployment,
    ModelDeploymentArgs,
    sa_name,
)
from mlinfra.k8s.serving.runtimes import RUNTIME_TABLE, Runtime, runtime_of

__all__ = [
    "CANARY",
    "CERT_MANAGER_NAMESPACE",
    "HTTP_PORT_NAME",
    "INGRESS_CLASS",
    "INGRESS_NAMESPACE",
    "KSERVE_NAMESPACE",
    "KSERVE_RUNTIME_NAME",
    "MODEL_SERVER_LABEL",
    "MODEL_SERVER_LABEL_VALUE",
    "PRIVATE_CA_SECRET",
    "RUNTIME_TABLE",
    "SERVING_CLOUDS",
    "STABLE",
    "STARTUP_BUDGET_S",
    "TRACK_LABEL",
    "ModelDeployment",
    "ModelDeploymentArgs",
    "Runtime",
    "ServingCluster",
    "ServingClusterArgs",
    "check_image_pinned",
    "runtime_of",
    "sa_name",
]
