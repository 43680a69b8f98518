"""AWS's part of the in-cluster deployment path (`mlinfra.platform`, IN_CLUSTER_PLUGINS["aws"]).

- `layer_hooks(spec)`: the static hooks of the in-cluster layer on EKS.
- `cloud_values(...)`: the dynamic values AwsPlatform exports under `in_cluster.cloud`.
- `cluster_objects(name, spec, values, opts)`: the Kubernetes objects EKS itself needs, built from
  those values: the default encrypted gp3 StorageClass and the Cluster Autoscaler (pinned chart,
  priority expander preferring on-demand GPU node groups over spot).

The same functions run in the one-stack path (api_access public) and in the in-cluster stack
(api_access private), so both register the same objects.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlinfra.aws.cluster import CLUSTER_AUTOSCALER, CLUSTER_AUTOSCALER_SA, STORAGE_CLASS, SYSTEM_POOL
from mlinfra.k8s.charts import CLUSTER_AUTOSCALER as CLUSTER_AUTOSCALER_CHARTS
from mlinfra.k8s.objects import chart_labels, helm_release
from mlinfra.k8s.scheduling import POOL_LABEL, standard_labels
from mlinfra.spec import PlatformSpec

# Priority expander (kubernetes/autoscaler cluster-autoscaler-chart-9.50.1,
# cluster-autoscaler/expander/priority/readme.md): the highest priority whose regexes match a node
# group (for AWS: the ASG name) wins; a group that matches no regex is never expanded, hence the
# catch-all. On-demand GPU groups first; spot groups when the on-demand ones are at max_nodes or
# cannot launch (the autoscaler backs a failing group off and takes the next option); everything
# else (the system groups, or a GPU group renamed by a replacement before this stack re-ran) at the
# catch-all's priority, where `least-waste` (the second expander) decides.
PRIORITY_ON_DEMAND = 50
PRIORITY_SPOT = 10
PRIORITY_ANY = 1
EXPANDERS = "priority,least-waste"  # --expander takes a list (CA >= 1.23), tried in order
# The zone ID label EKS puts on every node from Kubernetes 1.30 (EKS user guide,
# kubernetes-versions-standard, 1.30: "the topology.k8s.aws/zone-id label is added to worker nodes").
# Its value differs between the per-zone system node groups, and the AWS node-group comparator of the
# pinned autoscaler images (v1.32.5, v1.33.3, v1.34.2) does not ignore it: it joined the ignored labels
# only in cluster-autoscaler 1.32.6 / 1.33.4 / 1.34.3 (kubernetes/autoscaler#8910,
# processors/nodegroupset/aws_nodegroups.go). Without `--balancing-ignore-label` for it no two zone
# groups are "similar" and --balance-similar-node-groups never balances them.
ZONE_ID_LABEL = "topology.k8s.aws/zone-id"


def layer_hooks(spec: PlatformSpec) -> dict[str, Any]:
    """The layer on EKS: the StorageClass `cluster_objects` creates, the NVIDIA device plugin
    installed by the layer (EKS does not manage it), controllers on the system node groups."""
    return {
        "storage_class": STORAGE_CLASS,
        "install_device_plugin": True,
        "system_node_selector": {POOL_LABEL: SYSTEM_POOL},
    }


def cloud_values(
    *,
    region: str,
    cluster_name: pulumi.Input[str],
    node_volume_key_arn: pulumi.Input[str],
    autoscaler_service_account_annotations: pulumi.Input[Mapping[str, str]],
    gpu_node_groups: Sequence[Mapping[str, pulumi.Input[str]]],
) -> dict[str, Any]:
    """What `cluster_objects` reads, as the platform exports it.

    gpu_node_groups: one `{"pool", "capacity_type", "autoscaling_group"}` per GPU pool.
    """
    return {
        "region": region,
        "cluster_name": cluster_name,
        "node_volume_key_arn": node_volume_key_arn,
        "autoscaler_service_account_annotations": autoscaler_service_account_annotations,
        "gpu_node_groups": [dict(g) for g in gpu_node_groups],
    }


def expander_priorities(gpu_node_groups: Sequence[Mapping[str, str]]) -> dict[str, list[str]]:
    """`expanderPriorities` chart value: priority (a string key: Helm values are JSON) -> ASG regexes."""
    by_priority: dict[int, list[str]] = {PRIORITY_ANY: [".*"]}
    for group in gpu_node_groups:
        priority = PRIORITY_ON_DEMAND if group["capacity_type"] == "on_demand" else PRIORITY_SPOT
        by_priority.setdefault(priority, []).append(f"^{re.escape(group['autoscaling_group'])}$")
    return {str(p): sorted(r) for p, r in sorted(by_priority.items(), reverse=True)}


def cluster_objects(
    name: str, spec: PlatformSpec, values: pulumi.Output[Mapping[str, Any]], opts: pulumi.ResourceOptions
) -> list[pulumi.Resource]:
    """The default StorageClass and the Cluster Autoscaler; `opts` carries parent, provider, aliases."""
    version = spec.cluster.kubernetes_version
    labels = standard_labels("cluster", spec.tags.owner, spec.tags.cost_center, spec.environment)

    # Default StorageClass: every PVC is an encrypted gp3 volume under the node-volume CMK, bound in
    # the zone of the pod that uses it. Retained in protected (prod) platforms so deleting a PVC by
    # mistake does not delete the data.
    storage_class = k8s.storage.v1.StorageClass(
        f"{name}-cluster-{STORAGE_CLASS}",
        metadata={
            "name": STORAGE_CLASS,
            "labels": labels,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        provisioner="ebs.csi.aws.com",
        parameters={
            "type": "gp3",
            "encrypted": "true",
            "kmsKeyId": values.apply(lambda v: v["node_volume_key_arn"]),
        },
        reclaim_policy="Retain" if spec.protect_stateful else "Delete",
        volume_binding_mode="WaitForFirstConsumer",
        allow_volume_expansion=True,
        opts=opts,
    )

    pin = CLUSTER_AUTOSCALER_CHARTS[version]
    _, image_tag = CLUSTER_AUTOSCALER[version]
    autoscaler = helm_release(
        opts.parent,
        f"{name}-cluster-cluster-autoscaler",
        release_name="cluster-autoscaler",
        pin=pin,
        namespace="kube-system",
        values={
            "cloudProvider": "aws",
            "awsRegion": values.apply(lambda v: v["region"]),
            "autoDiscovery": {"clusterName": values.apply(lambda v: v["cluster_name"])},
            "image": {"tag": image_tag},
            "rbac": {
                "create": True,
                "serviceAccount": {
                    "create": True,
                    "name": CLUSTER_AUTOSCALER_SA,
                    "annotations": values.apply(lambda v: v["autoscaler_service_account_annotations"]),
                },
            },
            "extraArgs": {
                # One node group per zone for the pools with zonal (EBS) volumes: keep them even
                # (cluster-autoscaler FAQ, "I'm running cluster with nodes in multiple zones for HA
                # purposes"; AWS README, "Common Notes and Gotchas": an ASG per AZ with
                # --balance-similar-node-groups for persistent volumes).
                "balance-similar-node-groups": "true",
                # Added to the comparator's ignored labels (main.go: CreateAwsNodeInfoComparator(
                # BalancingExtraIgnoredLabels, ...)), see ZONE_ID_LABEL.
                "balancing-ignore-label": ZONE_ID_LABEL,
                # Otherwise a kube-system pod or an emptyDir model cache pins an idle (and
                # expensive) GPU node forever and the pool never scales back to zero.
                "skip-nodes-with-system-pods": "false",
                "skip-nodes-with-local-storage": "false",
                "expander": EXPANDERS,
                "scale-down-unneeded-time": "10m",
                "scale-down-delay-after-add": "10m",
            },
            # Rendered into the `cluster-autoscaler-priority-expander` ConfigMap when extraArgs.expander
            # lists `priority` (chart templates/priority-expander-configmap.yaml).
            "expanderPriorities": values.apply(lambda v: expander_priorities(v["gpu_node_groups"])),
            "nodeSelector": {POOL_LABEL: SYSTEM_POOL},
            # CPU and memory requests and limits (kubernetes pack, resource-requests-limits)
            "resources": {
                "requests": {"cpu": "100m", "memory": "300Mi"},
                "limits": {"cpu": "1", "memory": "600Mi"},
            },
            # The chart writes app.kubernetes.io/{name,instance,managed-by} itself (templates/_helpers.tpl
            # "cluster-autoscaler.labels"): a second copy is a duplicate YAML key Helm refuses.
            "additionalLabels": chart_labels(labels),
        },
        opts=pulumi.ResourceOptions(provider=opts.provider, aliases=opts.aliases, depends_on=opts.depends_on),
        atomic=True,
        cleanup_on_fail=True,
        max_history=5,
    )
    return [storage_class, autoscaler]
