"""In-cluster stack of a private AWS platform: the shared program (mlinfra.platform.in_cluster_stack)."""

from mlinfra.platform import in_cluster_stack

in_cluster_stack()
