"""What every EKS managed node group is built from: the node role and the launch template.

The system node group (cluster.py) and each GPU pool (gpu_node_pool.py) use these two
functions, so both get the same least-privilege role and the same hardened instances.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pulumi
from pulumi_aws import autoscaling, ec2, eks, iam

from mlinfra.aws.identity import aws_managed_policy_arn, service_trust_policy
from mlinfra.components import child

# The node role gets only what the kubelet needs: join the cluster / describe EC2, and pull
# images. AmazonEC2ContainerRegistryPullOnly is the narrower successor of ...ReadOnly (no
# DescribeRepositories / ListImages) that the EKS user guide recommends for nodes
# (create-node-role). The VPC CNI gets its permissions through IRSA on its own role, not
# here; no SSM agent policy: nodes are replaced, not logged into.
NODE_ROLE_POLICIES: tuple[str, ...] = ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly")

ROOT_DEVICE = "/dev/xvda"  # Amazon Linux 2023 (standard and NVIDIA AMI types)

# Cluster Autoscaler tags (cluster-autoscaler/cloudprovider/aws/README.md, "Auto-Discovery Setup" and
# the node-template tags of "Scaling a node group to 0").
CA_PREFIX = "k8s.io/cluster-autoscaler"
NODE_TEMPLATE_PREFIX = f"{CA_PREFIX}/node-template"


@dataclass
class NodeRole:
    role: iam.Role
    attachments: list[iam.RolePolicyAttachment]


def node_role(
    parent: pulumi.Resource,
    name: str,
    *,
    description: str,
    tags: Mapping[str, str],
    attachment_name: Callable[[str], str],
) -> NodeRole:
    """An EC2-assumable role with exactly NODE_ROLE_POLICIES attached.

    `name` is the role's resource name; `attachment_name(policy)` names each attachment
    (the callers' names predate this helper and are part of their URNs).
    """
    role = iam.Role(
        name,
        description=description,
        assume_role_policy=service_trust_policy("ec2.amazonaws.com"),
        tags=dict(tags),
        opts=child(parent),
    )
    # The role ARN carries the partition: no extra lookup, and aws-cn / aws-us-gov just work.
    partition = role.arn.apply(lambda arn: arn.split(":")[1])
    attachments = [
        iam.RolePolicyAttachment(
            attachment_name(policy),
            role=role.name,
            policy_arn=aws_managed_policy_arn(partition, policy),
            opts=child(parent),
        )
        for policy in NODE_ROLE_POLICIES
    ]
    return NodeRole(role, attachments)


def node_launch_template(
    parent: pulumi.Resource,
    name: str,
    *,
    description: str,
    disk_size_gb: int,
    volume_kms_key_arn: pulumi.Input[str] | None,
    tags: Mapping[str, str],
    name_tag: pulumi.Input[str],
    detailed_monitoring: bool = False,
) -> ec2.LaunchTemplate:
    """Launch template of a managed node group: IMDSv2 only with hop limit 1 (pods cannot
    borrow the node's credentials; they use IRSA / Pod Identity), an encrypted gp3 root volume
    (under `volume_kms_key_arn`, or the AWS-managed EBS key when None), instances and volumes
    tagged, and nothing else: no AMI (EKS picks the one of the node group's AMI type), no SSH
    key, no network interfaces (the node group places nodes in its private subnets).
    """
    tag_specs: Sequence[ec2.LaunchTemplateTagSpecificationArgs] = [
        ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags={**tags, "Name": name_tag})
        for kind in ("instance", "volume")
    ]
    return ec2.LaunchTemplate(
        name,
        description=description,
        update_default_version=True,
        metadata_options=ec2.LaunchTemplateMetadataOptionsArgs(
            http_endpoint="enabled",
            http_tokens="required",  # no IMDSv1: no SSRF path to the node role
            http_put_response_hop_limit=1,
            instance_metadata_tags="disabled",
        ),
        block_device_mappings=[
            ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name=ROOT_DEVICE,
                ebs=ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=disk_size_gb,
                    volume_type="gp3",
                    encrypted="true",
                    kms_key_id=volume_kms_key_arn,
                    delete_on_termination="true",
                ),
            )
        ],
        monitoring=ec2.LaunchTemplateMonitoringArgs(enabled=True) if detailed_monitoring else None,
        tag_specifications=tag_specs,
        tags=dict(tags),
        opts=child(parent),
    )


# Managed node group timeouts. The provider's defaults are 60 minutes for create, update and delete
# (terraform-provider-aws internal/service/eks/node_group.go, as bridged by pulumi-aws v7). An
# update (new AMI release, launch-template version, Kubernetes minor) replaces nodes `max_unavailable`
# (1) at a time, and EKS gives each node's pods up to 15 minutes to leave before the update fails
# with PodEvictionFailure (EKS user guide, "Understand each phase of node updates", upgrade phase);
# with the new node's launch and join that is up to ~20 minutes per node, so a pool of N nodes can
# take N x 20 minutes. Deleting drains every node at once (15 minutes each), plus termination.
MINUTES_PER_NODE_UPDATE = 20
PROVIDER_DEFAULT_MINUTES = 60


def node_group_timeouts(max_nodes: int) -> pulumi.CustomTimeouts:
    """Custom timeouts of a managed node group that may hold `max_nodes` nodes (never below the
    provider's 60-minute defaults)."""
    update = max(PROVIDER_DEFAULT_MINUTES, max_nodes * MINUTES_PER_NODE_UPDATE)
    return pulumi.CustomTimeouts(
        create=f"{PROVIDER_DEFAULT_MINUTES}m", update=f"{update}m", delete=f"{PROVIDER_DEFAULT_MINUTES}m"
    )


def split_evenly(total: int, parts: int) -> list[int]:
    """`total` over `parts` groups, the first groups taking the remainder: [2, 1] for 3 over 2."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def node_template_label_tags(labels: Mapping[str, str]) -> dict[str, str]:
    """`k8s.io/cluster-autoscaler/node-template/label/<label>: <value>` for each node label."""
    return {f"{NODE_TEMPLATE_PREFIX}/label/{k}": v for k, v in labels.items()}


def _tag_slugs(tags: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Resource-name slugs for tag keys. Named after the key (not an index), so adding a label
    does not rename the other tag resources; a digest separates keys that slug alike."""
    out: dict[str, tuple[str, str]] = {}
    for key, value in sorted(tags.items()):
        slug = re.sub(r"[^a-z0-9]+", "-", key.removeprefix(NODE_TEMPLATE_PREFIX + "/").lower()).strip("-")
        if slug in out:
            slug = f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:6]}"
        out[slug] = (key, value)
    return out


def autoscaling_group_name(node_group: eks.NodeGroup) -> pulumi.Output[str]:
    """The Auto Scaling group EKS created for a managed node group."""
    return node_group.resources.apply(lambda r: r[0].autoscaling_groups[0].name)


def tag_autoscaling_group(
    parent: pulumi.Resource, name: str, asg_name: pulumi.Input[str], tags: Mapping[str, str]
) -> list[autoscaling.Tag]:
    """Tag a managed node group's Auto Scaling group, one `<name>-asg-<slug>` resource per tag.

    EKS does not copy node-group tags to the Auto Scaling group, where the Cluster Autoscaler reads the
    node templates of a group with no node; not propagated to instances (the launch template tags those).
    """
    return [
        autoscaling.Tag(
            f"{name}-asg-{slug}",
            autoscaling_group_name=asg_name,
            tag=autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
            opts=child(parent),
        )
        for slug, (key, value) in _tag_slugs(tags).items()
    ]
