"""Every Helm chart mlinfra installs, pinned in one table with the upstream tag it was checked against.

A real `pulumi up` fetches exactly these versions (Pulumi's `helm.v3.Release` embeds Helm v3),
so a version that was never published fails the first deployment. Each pin names the upstream
release tag whose default values, values schema and CRDs the upstream-chart tests check the
rendered values and custom resources against (`../shared/charts/<name>/<version>/`, or the
directory `mlinfra charts pull` writes). Bump a pin deliberately: the new version's data must
be in that directory, and the tests say which values keys it no longer reads.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChartPin:
    """One pinned chart.

    name: the chart's name (its directory in the chart data, and `published/<name>.txt`).
    chart: what `helm.v3.Release(chart=...)` gets: the chart name, or a full `oci://` reference.
    repo: the classic (index.yaml) repository URL; None for OCI charts.
    version: the pinned chart version, exactly as published.
    upstream: `<github repo>@<tag>`: the release tag the pin and its chart data come from.
    """

    name: str
    chart: str
    repo: str | None
    version: str
    upstream: str

    @property
    def oci(self) -> bool:
        return self.chart.startswith("oci://")


# ingress-nginx chart 4.14.3 = controller v1.14.3 (kubernetes/ingress-nginx tag helm-chart-4.14.3).
INGRESS_NGINX = ChartPin(
    "ingress-nginx",
    "ingress-nginx",
    "https://kubernetes.github.io/ingress-nginx",
    "4.14.3",
    "kubernetes/ingress-nginx@helm-chart-4.14.3",
)
# cert-manager v1.18.2; `crds.enabled`/`crds.keep` replace the deprecated `installCRDs` (>= v1.15).
CERT_MANAGER = ChartPin(
    "cert-manager",
    "cert-manager",
    "https://charts.jetstack.io",
    "v1.18.2",
    "cert-manager/cert-manager@v1.18.2",
)
# KServe charts are published as OCI artifacts only; CRDs and controller share one version.
KSERVE_CRD = ChartPin(
    "kserve-crd",
    "oci://ghcr.io/kserve/charts/kserve-crd",
    None,
    "v0.15.2",
    "kserve/kserve@v0.15.2 (charts/kserve-crd)",
)
KSERVE = ChartPin(
    "kserve",
    "oci://ghcr.io/kserve/charts/kserve",
    None,
    "v0.15.2",
    "kserve/kserve@v0.15.2 (charts/kserve-resources)",
)
# kube-prometheus-stack 81.4.3: tags go 81.4.3 -> 81.5.0 (81.4.5 was only an unmerged pull request).
KUBE_PROMETHEUS_STACK = ChartPin(
    "kube-prometheus-stack",
    "kube-prometheus-stack",
    "https://prometheus-community.github.io/helm-charts",
    "81.4.3",
    "prometheus-community/helm-charts@kube-prometheus-stack-81.4.3",
)
NVIDIA_DEVICE_PLUGIN = ChartPin(
    "nvidia-device-plugin",
    "nvidia-device-plugin",
    "https://nvidia.github.io/k8s-device-plugin",
    "0.18.2",
    "NVIDIA/k8s-device-plugin@v0.18.2",
)
# dcgm-exporter chart 4.8.2 (tag 4.5.3-4.8.2: DCGM 4.5.3, exporter 4.8.2); the chart index ends
# at 4.8.2 (4.8.3 was never published).
DCGM_EXPORTER = ChartPin(
    "dcgm-exporter",
    "dcgm-exporter",
    "https://nvidia.github.io/dcgm-exporter/helm-charts",
    "4.8.2",
    "NVIDIA/dcgm-exporter@4.5.3-4.8.2",
)

# metrics-server chart 3.13.1 (tag metrics-server-helm-chart-3.13.1; app v0.8.1): the resource
# metrics API (metrics.k8s.io) CPU HPAs read. GKE and AKS run their own (layer arg
# `install_metrics_server=False` there).
METRICS_SERVER = ChartPin(
    "metrics-server",
    "metrics-server",
    "https://kubernetes-sigs.github.io/metrics-server/",
    "3.13.1",
    "kubernetes-sigs/metrics-server@metrics-server-helm-chart-3.13.1",
)
# KEDA 2.20.2 (kedacore/charts tag v2.20.2): ScaledObjects that scale models on Prometheus queries.
KEDA = ChartPin(
    "keda",
    "keda",
    "https://kedacore.github.io/charts",
    "2.20.2",
    "kedacore/charts@v2.20.2",
)

# Cluster Autoscaler must match the Kubernetes minor (AWS only: GKE and AKS run their own).
# Chart tags cluster-autoscaler-chart-<version> in kubernetes/autoscaler.
CLUSTER_AUTOSCALER_REPO = "https://kubernetes.github.io/autoscaler"
CLUSTER_AUTOSCALER: dict[str, ChartPin] = {
    minor: ChartPin(
        "cluster-autoscaler",
        "cluster-autoscaler",
        CLUSTER_AUTOSCALER_REPO,
        version,
        f"kubernetes/autoscaler@cluster-autoscaler-chart-{version}",
    )
    for minor, version in {"1.32": "9.46.6", "1.33": "9.50.1", "1.34": "9.52.1"}.items()
}

# Every pin, for `mlinfra charts list|pull` and the upstream-chart tests.
ALL_PINS: tuple[ChartPin, ...] = (
    INGRESS_NGINX,
    CERT_MANAGER,
    KSERVE_CRD,
    KSERVE,
    KUBE_PROMETHEUS_STACK,
    NVIDIA_DEVICE_PLUGIN,
    DCGM_EXPORTER,
    METRICS_SERVER,
    KEDA,
    *CLUSTER_AUTOSCALER.values(),
)
