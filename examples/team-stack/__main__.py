"""A team-owned stack: import single mlinfra components into a stack the team owns.

The platform team's stack (stacks/aws) exports the cluster and network; this stack adds a
dedicated spot L4 pool and a team bucket on top, through a StackReference.
"""

import pulumi
from pulumi_aws import Provider

from mlinfra.aws.artifact_bucket import ArtifactBucket, ArtifactBucketArgs
from mlinfra.aws.gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from mlinfra.spec import ArtifactsSpec, GpuPoolSpec

cfg = pulumi.Config()
platform = pulumi.StackReference(cfg.require("platformStack"))
owner_tags = {"owner": "team-recsys", "cost-center": "cc-5150", "environment": pulumi.get_stack()}

aws = Provider("aws", region=cfg.require("region"), default_tags={"tags": owner_tags})
on_aws = pulumi.ResourceOptions(providers={"aws": aws})

pool = GpuNodePool(
    "recsys-l4",
    GpuNodePoolArgs(
        pool=GpuPoolSpec(
            name="recsys-l4", machine_type="g6.xlarge", capacity_type="spot", min_nodes=0, max_nodes=2
        ),
        cluster_name=platform.require_output("cluster_name"),
        kubernetes_version=cfg.require("kubernetesVersion"),
        subnet_ids=platform.require_output("private_subnet_ids"),
        volume_kms_key_arn=platform.require_output("node_volume_key_arn"),
        tags=owner_tags,
    ),
    opts=on_aws,
)
bucket = ArtifactBucket(
    "recsys-features",
    ArtifactBucketArgs(
        spec=ArtifactsSpec(noncurrent_version_expiration_days=30),
        bucket_name=f"acme-recsys-features-{pulumi.get_stack()}",
        key_deletion_window_days=7,
        protect=False,
        tags=owner_tags,
    ),
    opts=on_aws,
)

pulumi.export("node_group", pool.node_group_name)
pulumi.export("scheduling", pool.scheduling().pod_spec_fields())
pulumi.export("bucket", bucket.bucket_name)
