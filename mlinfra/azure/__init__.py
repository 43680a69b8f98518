"""Azure building blocks (needs the `[azure]` extra). Import the blocks from their modules:
`from mlinfra.azure.gpu_node_pool import GpuNodePool, GpuNodePoolArgs`.
"""
