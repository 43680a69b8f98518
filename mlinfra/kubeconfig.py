"""A kubeconfig whose user authenticates through an exec credential plugin, for every cloud.

No static credential is ever written: each cloud's CLI plugin (`aws eks get-token`,
`gke-gcloud-auth-plugin`, `kubelogin`) mints a short-lived token from the caller's own identity,
so the kubeconfig may be exported (as a secret) and shared with whoever may use the cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"


def exec_kubeconfig(name: str, server: str, ca_data: str | None, exec_: Mapping[str, Any]) -> dict[str, Any]:
    """One cluster, context and user named `name`; `exec_` is the user's exec block without its
    apiVersion. `ca_data` None trusts the system roots (an endpoint with a publicly-signed
    certificate, e.g. GKE's DNS endpoint)."""
    cluster: dict[str, Any] = {"server": server}
    if ca_data is not None:
        cluster["certificate-authority-data"] = ca_data
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "preferences": {},
        "users": [{"name": name, "user": {"exec": {"apiVersion": EXEC_API_VERSION, **exec_}}}],
    }
