"""In-cluster stack of a private GCP platform: the shared program (mlinfra.platform.in_cluster_stack)."""

from mlinfra.platform import in_cluster_stack

in_cluster_stack()
