"""GCP ML platform stack: spec from config -> MlPlatform -> exports.

With `cluster.api_access: private` this stack registers no Kubernetes resource: the in-cluster
stack (../gcp-in-cluster) installs the layer from inside the VPC, fed by the `kubeconfig` and
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
# For team-owned stacks that add pools or buckets through a StackReference:
pulumi.export("network_id", platform.network_id)
pulumi.export("subnetwork_id", platform.subnetwork_id)
pulumi.export("node_disk_key_id", platform.node_disk_key_id)
pulumi.export("node_service_account_email", platform.node_service_account_email)
