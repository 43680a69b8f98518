"""Azure ML platform stack: spec from config -> MlPlatform -> exports.

With `cluster.api_access: private` this stack registers no Kubernetes resource: the in-cluster
stack (../azure-in-cluster) installs the layer from the VNet's runners subnet, fed by the
`kubeconfig` and `in_cluster` outputs below (mlinfra.platform.KUBECONFIG_OUTPUT / IN_CLUSTER_OUTPUT).
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
# api_access private: where the runner of the in-cluster stack sits, and the identity it runs as.
if platform.runner_identity is not None:
    pulumi.export("runners_subnet_id", platform.runners_subnet_id)
    pulumi.export("runner_identity_id", platform.runner_identity_id)
    pulumi.export("runner_identity_client_id", platform.runner_identity_client_id)
# For team-owned stacks that add pools or storage through a StackReference:
pulumi.export("resource_group_name", platform.resource_group_name)
pulumi.export("vnet_id", platform.vnet_id)
pulumi.export("nodes_subnet_id", platform.nodes_subnet_id)
pulumi.export("disk_encryption_set_id", platform.disk_encryption_set_id)
