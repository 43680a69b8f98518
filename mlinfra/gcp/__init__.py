"""GCP building blocks (needs the `[gcp]` extra: pulumi-gcp 10.x). Import the blocks from their
modules: `from mlinfra.gcp.gpu_node_pool import GpuNodePool, GpuNodePoolArgs`.

Every class and argument used here exists in pulumi-gcp 10.2.0 (checked with the SDK tools beside
`../shared/reference/gcp-azure-build-sheet.md`); the pin in pyproject.toml is `>=10,<11`.
"""
