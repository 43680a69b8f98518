"""Cloud-agnostic in-cluster layer: GPU enablement, serving, monitoring.

Installed on the cluster a cloud platform creates, or on any cluster given a kubeconfig.
"""
