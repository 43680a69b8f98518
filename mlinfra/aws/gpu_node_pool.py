"""A GPU node pool on EKS: a managed node group that scales to zero and only runs GPU work.

Nodes carry the taint `nvidia.com/gpu=true:NoSchedule` and the mlinfra pool labels, so
only pods that tolerate the taint (see `GpuNodePool.scheduling()`) land there. The
cluster autoscaler owns the node count after creation; it can scale a pool up from zero
nodes only if it knows, without a node to look at, what a node would offer: the
node-template tags on the Auto Scaling group tell it (labels, taint, GPU count, disk).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_aws import eks

from mlinfra.aws.nodes import (
    CA_PREFIX,
    NODE_TEMPLATE_PREFIX,
    autoscaling_group_name,
    node_group_timeouts,
    node_launch_template,
    node_role,
    node_template_label_tags,
    tag_autoscaling_group,
)
from mlinfra.catalog import GpuMachineType
from mlinfra.components import child
from mlinfra.k8s.gpu import device_plugin_node_labels
from mlinfra.k8s.scheduling import (
    GPU_RESOURCE,
    GPU_TAINT_EFFECT,
    GPU_TAINT_KEY,
    GPU_TAINT_VALUE,
    Scheduling,
    gpu_node_labels,
    gpu_scheduling,
)
from mlinfra.nodepools import API_TAINT_EFFECT, check_gpu_pool
from mlinfra.spec import GpuPoolSpec

# Amazon Linux 2023 with the NVIDIA driver and container toolkit, x86-64 (EKS API spelling).
# Pinned: the AMI *type* fixes the OS family and driver stack; EKS picks the release of that
# type that matches the node group's Kubernetes version.
AMI_TYPE = "AL2023_x86_64_NVIDIA"

_CAPACITY = {"on_demand": "ON_DEMAND", "spot": "SPOT"}
# The label the Cluster Autoscaler's AWS provider reads to know a node has a GPU before the device
# plugin advertises `nvidia.com/gpu` (kubernetes/autoscaler cluster-autoscaler-chart-9.50.1,
# cluster-autoscaler/cloudprovider/aws/README.md, "Special note on GPU instances": without it the
# autoscaler treats a new GPU node as GPU-less and scales out again; ">= 1.15:
# k8s.amazonaws.com/accelerator=<gpu-type>"). Set as a node label at join (the node group's labels)
# and as the matching node-template tag on the ASG, so scale-from-zero sees it too.
AWS_ACCELERATOR_LABEL = "k8s.amazonaws.com/accelerator"
# Reserved (a pool may not set it): mlinfra.spec AwsRules.RESERVED_NODE_LABELS.


@dataclass
class GpuNodePoolArgs:
    """Inputs of a GPU node pool.

    pool: the pool's static settings (machine type, capacity type, sizes, disk, labels).
    cluster_name: the EKS cluster to join.
    kubernetes_version: pinned minor version of the nodes (the cluster's version).
    subnet_ids: private subnets for the nodes (nodes never get public IPs).
    volume_kms_key_arn: CMK for the encrypted root volume; the AWS-managed EBS key when None.
        The key policy must let the Auto Scaling service-linked role use it, or instances
        fail to launch.
    tags: tags for the node group, launch template, instances and volumes.
    node_prerequisites: what must exist before a node can become Ready: the cluster's networking
        add-ons (vpc-cni, kube-proxy, the Pod Identity agent; `Cluster.node_prerequisites`). With
        `bootstrap_self_managed_addons=False` the cluster has no CNI until the vpc-cni add-on is
        ACTIVE; a node group created before it waits for NotReady nodes and fails.
    """

    pool: GpuPoolSpec
    cluster_name: pulumi.Input[str]
    kubernetes_version: str
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    volume_kms_key_arn: pulumi.Input[str] | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    node_prerequisites: Sequence[pulumi.Resource] = ()


def node_template_tags(labels: Mapping[str, str], gpus: int, disk_size_gb: int) -> dict[str, str]:
    """Cluster-autoscaler node-template tags: what a node of this pool offers, for scale-from-zero."""
    tags = node_template_label_tags(labels)
    tags[f"{NODE_TEMPLATE_PREFIX}/taint/{GPU_TAINT_KEY}"] = f"{GPU_TAINT_VALUE}:{GPU_TAINT_EFFECT}"
    tags[f"{NODE_TEMPLATE_PREFIX}/resources/{GPU_RESOURCE}"] = str(gpus)
    tags[f"{NODE_TEMPLATE_PREFIX}/resources/ephemeral-storage"] = f"{disk_size_gb}Gi"
    return tags


class GpuNodePool(pulumi.ComponentResource):
    """An EKS managed node group of one GPU machine type, tainted for GPU work only."""

    node_group_name: pulumi.Output[str]
    node_role_arn: pulumi.Output[str]
    node_role_name: pulumi.Output[str]
    launch_template_id: pulumi.Output[str]
    autoscaling_group_name: pulumi.Output[str]
    machine_type: GpuMachineType
    labels: dict[str, str]

    def __init__(self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None):
        # Validate everything static before the first registration.
        pool = args.pool
        machine = check_gpu_pool("aws", pool, args.kubernetes_version)

        super().__init__("mlinfra:aws:GpuNodePool", name, None, opts)
        self.machine_type = machine
        self.pool = pool
        tags = dict(args.tags)
        # The device-plugin config label selects the pool's time-slicing config (none when unshared).
        self.labels = {
            **gpu_node_labels(pool.name, machine.gpu_model, pool.capacity_type, dict(pool.labels)),
            **device_plugin_node_labels(pool),
            AWS_ACCELERATOR_LABEL: machine.gpu_model,
        }
        # With time-slicing the device plugin advertises gpus x replicas `nvidia.com/gpu` per node;
        # the template must say the same or the autoscaler refuses pods that would fit.
        advertised_gpus = machine.gpus * pool.time_slicing_replicas
        template_tags = node_template_tags(self.labels, advertised_gpus, pool.disk_size_gb)

        # ---- node role (least privilege, see nodes.NODE_ROLE_POLICIES) and launch template
        # (IMDSv2 only, encrypted root volume); the same building blocks as the system nodes.
        node = node_role(
            self,
            f"{name}-node-role",
            description=f"EKS GPU node pool {pool.name}",
            tags=tags,
            attachment_name=lambda policy: f"{name}-{policy.lower()}",
        )
        role, attachments = node.role, node.attachments
        lt = node_launch_template(
            self,
            f"{name}-lt",
            description=f"EKS GPU node pool {pool.name} ({pool.machine_type})",
            disk_size_gb=pool.disk_size_gb,
            volume_kms_key_arn=args.volume_kms_key_arn,
            tags=tags,
            name_tag=pulumi.Output.concat(args.cluster_name, "-", pool.name),
            # 1-minute instance metrics: GPU nodes are the expensive ones to watch.
            detailed_monitoring=True,
        )

        # ---- the node group. Spot pools keep one instance type so that every node offers the
        # same GPU (the pool label promises a model); diversify across pools (e.g. a g5 and a g6
        # spot pool) to ride out capacity shortages of one type.
        node_group = eks.NodeGroup(
            f"{name}-ng",
            cluster_name=args.cluster_name,
            version=args.kubernetes_version,
            node_role_arn=role.arn,
            subnet_ids=args.subnet_ids,
            ami_type=AMI_TYPE,
            capacity_type=_CAPACITY[pool.capacity_type],
            instance_types=[pool.machine_type],
            scaling_config=eks.NodeGroupScalingConfigArgs(
                min_size=pool.min_nodes, desired_size=pool.desired_nodes, max_size=pool.max_nodes
            ),
            update_config=eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            launch_template=eks.NodeGroupLaunchTemplateArgs(
                id=lt.id, version=lt.latest_version.apply(lambda v: str(v))
            ),
            labels=self.labels,
            taints=[
                eks.NodeGroupTaintArgs(
                    key=GPU_TAINT_KEY, value=GPU_TAINT_VALUE, effect=API_TAINT_EFFECT[GPU_TAINT_EFFECT]
                )
            ],
            tags=pulumi.Output.from_input(args.cluster_name).apply(
                lambda cluster: {
                    **tags,
                    f"{CA_PREFIX}/enabled": "true",
                    f"{CA_PREFIX}/{cluster}": "owned",
                    **template_tags,
                }
            ),
            # The autoscaler owns the desired size after creation; a later `pulumi up` must not
            # reset it (that would kill running GPU jobs or strand pending pods).
            opts=child(
                self,
                depends_on=[*attachments, *args.node_prerequisites],
                ignore_changes=["scalingConfig.desiredSize"],
                custom_timeouts=node_group_timeouts(pool.max_nodes),
            ),
        )

        # EKS does not copy node-group tags to the Auto Scaling group: tag the ASG itself.
        asg_name = autoscaling_group_name(node_group)
        tag_autoscaling_group(self, name, asg_name, template_tags)

        self.node_group_name = node_group.node_group_name
        self.node_role_arn = role.arn
        self.node_role_name = role.name
        self.launch_template_id = lt.id
        self.autoscaling_group_name = asg_name
        self.register_outputs(
            {
                "node_group_name": self.node_group_name,
                "node_role_arn": self.node_role_arn,
                "node_role_name": self.node_role_name,
                "launch_template_id": self.launch_template_id,
                "autoscaling_group_name": self.autoscaling_group_name,
            }
        )

    def scheduling(self) -> Scheduling:
        """Tolerations and node selector that put a pod on this pool."""
        return gpu_scheduling(self.pool.name)
