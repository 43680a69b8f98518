"""Azure ML platform stack: spec from config -> MlPlatform -> exports."""

import pulumi

from mlinfra.platform import MlPlatform, PlatformSecrets
from mlinfra.spec import PlatformSpec

spec = PlatformSpec.from_config()
platform = MlPlatform(spec.prefix, spec, PlatformSecrets.from_config())

pulumi.export("cluster_name", platform.cluster_name)
pulumi.export("cluster_endpoint", platform.cluster_endpoint)
pulumi.export("kubeconfig", pulumi.Output.secret(platform.kubeconfig))
pulumi.export("oidc_issuer", platform.oidc_issuer)
pulumi.export("artifact_bucket", platform.bucket_name)
pulumi.export("registry_urls", platform.registry_urls)
# api_access private: where the runner that installs the in-cluster layer must sit (README "Azure").
if platform.runners_subnet_id is not None:
    pulumi.export("runners_subnet_id", platform.runners_subnet_id)
# For team-owned stacks that add pools or storage through a StackReference:
pulumi.export("resource_group_name", platform.resource_group_name)
pulumi.export("vnet_id", platform.vnet_id)
pulumi.export("nodes_subnet_id", platform.nodes_subnet_id)
pulumi.export("disk_encryption_set_id", platform.disk_encryption_set_id)
