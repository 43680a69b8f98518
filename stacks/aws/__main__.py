"""AWS ML platform stack: spec from config -> MlPlatform -> exports.

With `cluster.api_access: private` this stack registers no Kubernetes resource: the in-cluster
stack (../aws-in-cluster) installs the layer from inside the VPC, fed by the `kubeconfig` and
`in_cluster` outputs below (mlinfra.platform.KUBECONFIG_OUTPUT / IN_CLUSTER_OUTPUT).
"""

import pulumi

from mlinfra.platform import IN_CLUSTER_OUTPUT, KUBECONFIG_OUTPUT, MlPlatform, PlatformSecrets
from mlinfra.spec import PlatformSpec

spec = PlatformSpec.from_config()
platform = MlPlatform(spec.prefix, spec, PlatformSecrets.from_config())

pulumi.export("cluster_name", platform.cluster_name)
pulumi.export("cluster_endpoint", platform.cluster_endpoint)
pulumi.export(KUBECONFIG_OUTPUT, pulumi.Output.secret(platform.kubeconfig))
pulumi.export("oidc_issuer", platform.oidc_issuer)
pulumi.export("artifact_bucket", platform.bucket_name)
pulumi.export("registry_urls", platform.registry_urls)
# For the in-cluster stack (and team stacks that install into the cluster): the layer's dynamic values.
pulumi.export(IN_CLUSTER_OUTPUT, platform.in_cluster)
# api_access private: the CodeBuild project that runs the in-cluster stack from inside the VPC, and the
# runner's role and security group (for a self-hosted runner instead).
if platform.runner is not None:
    pulumi.export("runner_project", platform.runner.project_name)
    pulumi.export("runner_role_arn", platform.runner.role_arn)
    pulumi.export("runner_security_group_id", platform.runner.security_group_id)
# For team-owned stacks that add pools or buckets through a StackReference:
pulumi.export("vpc_id", platform.vpc_id)
pulumi.export("private_subnet_ids", platform.private_subnet_ids)
pulumi.export("node_volume_key_arn", platform.node_volume_key_arn)
