"""AWS building blocks (needs the `[aws]` extra). Import the blocks from their modules:
`from mlinfra.aws.gpu_node_pool import GpuNodePool, GpuNodePoolArgs`.
"""
