"""Cluster: encrypted secrets, private endpoint, access entries, pinned add-ons, hardened nodes."""

from __future__ import annotations

import json
import re

import pulumi
import pulumi_aws as aws
import pytest

from mlinfra.aws.cluster import (
    ADDON_VERSIONS,
    CLUSTER_AUTOSCALER,
    STORAGE_CLASS,
    Cluster,
    ClusterArgs,
    build_kubeconfig,
)
from mlinfra.catalog import SUPPORTED_KUBERNETES_VERSIONS
from mlinfra.spec import ClusterSpec, PlatformSpec, SpecError
from tests.aws.support import export_outputs
from tests.conftest import PROD_SPEC, make_spec, plan_of

ACCOUNT = "123456789012"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/platform-admins"
EKS = "aws:eks/cluster:Cluster"
ADDON = "aws:eks/addon:Addon"
ROLE = "aws:iam/role:Role"
ATTACH = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
SUBNETS = ["subnet-a", "subnet-b", "subnet-c"]


def _args(platform: PlatformSpec, **kw) -> ClusterArgs:
    spec = platform
    base = dict(
        spec=spec.cluster,
        cluster_name=spec.prefix,
        vpc_id="vpc-0123",
        subnet_ids=SUBNETS,
        service_cidr=spec.network.service_cidr,
        environment=spec.environment,
        key_deletion_window_days=spec.encryption.key_deletion_window_days,
        protect=spec.protect_stateful,
        tags=spec.required_tags,
    )
    base.update(kw)
    return ClusterArgs(**base)


def _plan(spec: PlatformSpec, **kw):
    def program():
        provider = aws.Provider("aws", region=spec.region)
        c = Cluster("cluster", _args(spec, **kw), opts=pulumi.ResourceOptions(provider=provider))
        export_outputs(
            c,
            "kubeconfig",
            "oidc_provider_url",
            "oidc_issuer",
            "oidc_provider_arn",
            "secrets_key_arn",
            "node_volume_key_arn",
            "system_node_role_arn",
            "cluster_security_group_id",
            "storage_class",
            "region",
            "autoscaler_service_account_annotations",
        )

    return plan_of(program, region=spec.region)


@pytest.fixture(scope="module")
def dev_plan():
    return _plan(
        make_spec(
            cluster={
                "api_access": "public",
                "public_access_cidrs": ["203.0.113.0/24", "198.51.100.7/32"],
            }
        )
    )


@pytest.fixture(scope="module")
def prod_plan():
    spec = make_spec(PROD_SPEC, cluster={"admin_principals": [ADMIN]})
    return _plan(spec, workload_identity="pod_identity")


def _key_arn(plan, name: str) -> str:
    return plan.outputs[name]


def test_secrets_are_envelope_encrypted_with_a_rotating_cmk(prod_plan):
    cluster = prod_plan.one(EKS)
    key_arn = prod_plan.outputs["secrets_key_arn"]
    assert key_arn.startswith(f"arn:aws:kms:us-east-1:{ACCOUNT}:key/")
    assert cluster.inputs["encryptionConfig"] == {"resources": ["secrets"], "provider": {"keyArn": key_arn}}
    key = prod_plan.one("aws:kms/key:Key", "cluster-secrets-key")
    assert key.inputs["enableKeyRotation"] is True
    assert key.inputs["deletionWindowInDays"] == 30
    # the control plane may use exactly that key
    policy = json.loads(
        prod_plan.one("aws:iam/rolePolicy:RolePolicy", "cluster-cluster-secrets-key").inputs["policy"]
    )
    assert [s["Resource"] for s in policy["Statement"]] == [key_arn]


def test_prod_endpoint_is_private_only(prod_plan):
    vpc = prod_plan.one(EKS).inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True
    assert vpc["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in vpc
    assert vpc["subnetIds"] == SUBNETS


def test_dev_public_endpoint_is_limited_to_listed_cidrs(dev_plan):
    vpc = dev_plan.one(EKS).inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True
    assert vpc["endpointPublicAccess"] is True
    assert vpc["publicAccessCidrs"] == ["203.0.113.0/24", "198.51.100.7/32"]


def test_control_plane_logs_and_pre_created_log_group(dev_plan, prod_plan):
    dev = dev_plan.one(EKS)
    assert dev.inputs["enabledClusterLogTypes"] == ["api", "audit", "authenticator"]
    prod = prod_plan.one(EKS)
    assert {"api", "audit", "authenticator", "controllerManager", "scheduler"} == set(
        prod.inputs["enabledClusterLogTypes"]
    )
    group = prod_plan.one("aws:cloudwatch/logGroup:LogGroup")
    assert group.inputs["name"] == "/aws/eks/acme-prod/cluster"
    assert group.inputs["retentionInDays"] == 365
    assert group.urn in prod.dependencies
    assert dev_plan.one("aws:cloudwatch/logGroup:LogGroup").inputs["retentionInDays"] == 30


def test_cluster_shape(prod_plan):
    c = prod_plan.one(EKS).inputs
    assert c["name"] == "acme-prod"
    assert c["version"] == "1.33"
    assert c["accessConfig"]["authenticationMode"] == "API"
    assert c["kubernetesNetworkConfig"] == {"serviceIpv4Cidr": "172.20.0.0/16", "ipFamily": "ipv4"}
    assert c["bootstrapSelfManagedAddons"] is False
    assert c["deletionProtection"] is True


def test_admin_access_entries(prod_plan, dev_plan):
    (entry,) = prod_plan.of_type("aws:eks/accessEntry:AccessEntry")
    assert entry.inputs["principalArn"] == ADMIN
    assert entry.inputs["type"] == "STANDARD"
    assert entry.inputs["clusterName"] == "acme-prod"
    (assoc,) = prod_plan.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert assoc.inputs["principalArn"] == ADMIN
    assert assoc.inputs["policyArn"] == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    assert assoc.inputs["accessScope"] == {"type": "cluster"}
    assert entry.urn in assoc.dependencies
    assert dev_plan.of_type("aws:eks/accessEntry:AccessEntry") == []
    # no aws-auth ConfigMap is managed
    assert not [r for r in prod_plan.resources if r.type == "kubernetes:core/v1:ConfigMap"]


def test_cluster_role_has_only_the_cluster_policy(prod_plan):
    role = prod_plan.one(ROLE, "cluster-cluster-role")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    attached = {
        a.inputs["policyArn"] for a in prod_plan.of_type(ATTACH) if a.name.startswith("cluster-cluster-")
    }
    assert attached == {"arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"}


def test_oidc_provider(prod_plan):
    oidc = prod_plan.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    issuer = prod_plan.outputs["oidc_issuer"]
    assert issuer.startswith("https://oidc.eks.us-east-1.amazonaws.com/id/")
    assert oidc.inputs["url"] == issuer
    assert oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    assert prod_plan.outputs["oidc_provider_url"] == issuer.removeprefix("https://")
    assert prod_plan.outputs["oidc_provider_arn"] == f"arn:aws:iam::{ACCOUNT}:oidc-provider/{issuer[8:]}"


def _addons(plan) -> dict[str, dict]:
    return {r.inputs["addonName"]: r.inputs for r in plan.of_type(ADDON)}


def test_addons_are_pinned(dev_plan, prod_plan):
    dev, prod = _addons(dev_plan), _addons(prod_plan)
    assert set(dev) == {"vpc-cni", "kube-proxy", "coredns", "aws-ebs-csi-driver"}
    assert set(prod) == set(dev) | {"eks-pod-identity-agent"}
    for name, inputs in prod.items():
        assert inputs["addonVersion"] == ADDON_VERSIONS["1.33"][name]
        assert re.fullmatch(r"v\d+\.\d+\.\d+-eksbuild\.\d+", inputs["addonVersion"]), inputs
        assert inputs["resolveConflictsOnUpdate"] == "OVERWRITE"
        assert inputs["clusterName"] == "acme-prod"


@pytest.mark.parametrize("version", SUPPORTED_KUBERNETES_VERSIONS)
def test_version_tables_cover_every_supported_version(version):
    table = ADDON_VERSIONS[version]
    assert set(table) == {"vpc-cni", "kube-proxy", "coredns", "aws-ebs-csi-driver", "eks-pod-identity-agent"}
    for v in table.values():
        assert re.fullmatch(r"v\d+\.\d+\.\d+-eksbuild\.\d+", v)
    assert table["kube-proxy"].startswith(f"v{version}.")  # kube-proxy must match the minor
    chart, image = CLUSTER_AUTOSCALER[version]
    assert re.fullmatch(r"\d+\.\d+\.\d+", chart)
    assert image.startswith(f"v{version}.")  # the autoscaler is built per Kubernetes minor


def test_pins_are_the_ones_the_cited_sources_publish():
    """A change to a pin must come with a new source next to the table in cluster.py."""
    assert {v: t["kube-proxy"] for v, t in ADDON_VERSIONS.items()} == {
        "1.32": "v1.32.9-eksbuild.2",
        "1.33": "v1.33.5-eksbuild.2",
        "1.34": "v1.34.1-eksbuild.2",
    }
    assert {v: t["coredns"] for v, t in ADDON_VERSIONS.items()} == {
        "1.32": "v1.11.4-eksbuild.24",
        "1.33": "v1.12.4-eksbuild.1",
        "1.34": "v1.12.4-eksbuild.1",
    }
    for table in ADDON_VERSIONS.values():
        assert table["vpc-cni"] == "v1.20.4-eksbuild.3"
        assert table["aws-ebs-csi-driver"] == "v1.53.0-eksbuild.1"
        assert table["eks-pod-identity-agent"] == "v1.3.10-eksbuild.1"
    assert CLUSTER_AUTOSCALER == {
        "1.32": ("9.46.6", "v1.32.5"),
        "1.33": ("9.50.1", "v1.33.3"),
        "1.34": ("9.52.1", "v1.34.2"),
    }


def test_version_follows_spec():
    plan = _plan(make_spec(cluster={"kubernetes_version": "1.34"}))
    assert plan.one(EKS).inputs["version"] == "1.34"
    assert _addons(plan)["kube-proxy"]["addonVersion"] == ADDON_VERSIONS["1.34"]["kube-proxy"]
    assert {g.inputs["version"] for g in plan.of_type("aws:eks/nodeGroup:NodeGroup")} == {"1.34"}


def _trust_condition(plan, role_name: str) -> dict:
    role = plan.one(ROLE, role_name)
    (stmt,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert stmt["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert stmt["Principal"] == {"Federated": plan.outputs["oidc_provider_arn"]}
    return stmt["Condition"]


@pytest.mark.parametrize(
    ("role", "sa"),
    [
        ("cluster-vpc-cni-role", "aws-node"),
        ("cluster-ebs-csi-role", "ebs-csi-controller-sa"),
        ("cluster-cluster-autoscaler-role", "cluster-autoscaler"),
    ],
)
def test_irsa_roles_trust_exactly_one_service_account(prod_plan, role, sa):
    url = prod_plan.outputs["oidc_provider_url"]
    assert _trust_condition(prod_plan, role) == {
        "StringEquals": {
            f"{url}:sub": f"system:serviceaccount:kube-system:{sa}",
            f"{url}:aud": "sts.amazonaws.com",
        }
    }


def test_addon_roles_and_policies(prod_plan):
    addons = _addons(prod_plan)
    roles = {r.name: r for r in prod_plan.of_type(ROLE)}
    cni_arn = f"arn:aws:iam::{ACCOUNT}:role/{roles['cluster-vpc-cni-role'].id}"
    ebs_arn = f"arn:aws:iam::{ACCOUNT}:role/{roles['cluster-ebs-csi-role'].id}"
    assert addons["vpc-cni"]["serviceAccountRoleArn"] == cni_arn
    assert addons["aws-ebs-csi-driver"]["serviceAccountRoleArn"] == ebs_arn
    for name in ("kube-proxy", "coredns", "eks-pod-identity-agent"):
        assert "serviceAccountRoleArn" not in addons[name]
    attached = {a.name: a.inputs["policyArn"] for a in prod_plan.of_type(ATTACH)}
    assert attached["cluster-vpc-cni-AmazonEKS_CNI_Policy"] == "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"
    assert (
        attached["cluster-ebs-csi-AmazonEBSCSIDriverPolicy"]
        == "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
    )
    assert not any(n.startswith("cluster-cluster-autoscaler-") for n in attached)
    node_key = prod_plan.outputs["node_volume_key_arn"]
    ebs_policy = json.loads(
        prod_plan.one("aws:iam/rolePolicy:RolePolicy", "cluster-ebs-csi-policy").inputs["policy"]
    )
    actions = set()
    for stmt in ebs_policy["Statement"]:
        assert stmt["Resource"] == node_key
        actions |= set([stmt["Action"]] if isinstance(stmt["Action"], str) else stmt["Action"])
        if stmt["Action"] == "kms:CreateGrant":
            assert stmt["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    assert actions == {
        "kms:CreateGrant",
        "kms:Decrypt",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:ReEncrypt*",
        "kms:DescribeKey",
    }


def test_core_networking_addons_precede_nodes_and_deployments_follow(prod_plan):
    by_name = {r.inputs["addonName"]: r for r in prod_plan.of_type(ADDON)}
    groups = prod_plan.of_type("aws:eks/nodeGroup:NodeGroup")
    assert len(groups) == 3
    for ng in groups:
        for before in ("vpc-cni", "kube-proxy", "eks-pod-identity-agent"):
            assert by_name[before].urn in ng.dependencies
        for after in ("coredns", "aws-ebs-csi-driver"):
            assert ng.urn in by_name[after].dependencies


def test_node_volume_key_policy_admits_autoscaling_service_linked_role(prod_plan):
    key = prod_plan.one("aws:kms/key:Key", "cluster-node-volume-key")
    assert key.inputs["enableKeyRotation"] is True
    policy = {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}
    slr = (
        f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
    )
    assert policy["AccountAdministration"]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    use = policy["AutoScalingUseOfTheKey"]
    assert use["Principal"] == {"AWS": slr}
    assert set(use["Action"]) == {
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncrypt*",
        "kms:GenerateDataKey*",
        "kms:DescribeKey",
    }
    grant = policy["AutoScalingAttachmentOfPersistentResources"]
    assert grant["Principal"] == {"AWS": slr}
    assert grant["Action"] == "kms:CreateGrant"
    assert grant["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}


def test_one_system_node_group_per_zone(prod_plan):
    """The system pool holds zonal EBS volumes (Prometheus, Grafana, Alertmanager): one group per zone,
    balanced by the autoscaler (cluster-autoscaler AWS README, "Common Notes and Gotchas")."""
    groups = sorted(prod_plan.of_type("aws:eks/nodeGroup:NodeGroup"), key=lambda g: g.name)
    assert [g.name for g in groups] == [f"cluster-system-{s}" for s in SUBNETS]
    for group, subnet in zip(groups, SUBNETS, strict=True):
        ng = group.inputs
        assert ng["subnetIds"] == [subnet]
        assert ng["capacityType"] == "ON_DEMAND"
        assert ng["amiType"] == "AL2023_x86_64_STANDARD"
        assert ng["instanceTypes"] == ["m6i.large"]
        assert ng["labels"] == {"mlinfra.io/pool": "system"}
        # prod: 3/3/6 over three zones
        assert ng["scalingConfig"] == {"minSize": 1, "desiredSize": 1, "maxSize": 2}
        assert "diskSize" not in ng  # the launch template owns the root volume
        assert ng["nodeRoleArn"] == prod_plan.outputs["system_node_role_arn"]
    assert len(prod_plan.of_type("aws:ec2/launchTemplate:LaunchTemplate")) == 1  # shared, URN kept


def test_system_pool_sizes_are_split_across_zones_keeping_the_totals():
    spec = make_spec(cluster={"system_pool": {"min_nodes": 1, "desired_nodes": 2, "max_nodes": 3}})
    groups = sorted(
        _plan(spec, subnet_ids=SUBNETS[:2]).of_type("aws:eks/nodeGroup:NodeGroup"), key=lambda g: g.name
    )
    assert [g.inputs["scalingConfig"] for g in groups] == [
        {"minSize": 1, "desiredSize": 1, "maxSize": 2},
        {"minSize": 0, "desiredSize": 1, "maxSize": 1},
    ]


def test_every_system_group_tells_the_autoscaler_its_pool_label_for_scale_from_zero():
    """A zone group can stand at 0 nodes (here the second: min 0), and the system pods (monitoring with its
    zonal volume among them) select `mlinfra.io/pool: system`. The autoscaler reads a node-less group's
    labels from its ASG's node-template tags, and asks EKS only for a group that never had a node
    (cluster-autoscaler/cloudprovider/aws/README.md, eks:DescribeNodegroup note): each group's ASG carries
    the label tag."""
    spec = make_spec(cluster={"system_pool": {"min_nodes": 1, "desired_nodes": 2, "max_nodes": 3}})
    plan = _plan(spec, subnet_ids=SUBNETS[:2])
    tags = {
        t.inputs["autoscalingGroupName"]: t.inputs["tag"]
        for t in plan.of_type("aws:autoscaling/tag:Tag")
        if t.inputs["tag"]["key"] == "k8s.io/cluster-autoscaler/node-template/label/mlinfra.io/pool"
    }
    groups = plan.of_type("aws:eks/nodeGroup:NodeGroup")
    assert len(groups) == 2 and len(tags) == 2
    for group in groups:
        (asg,) = [a for a in tags if a.startswith(f"eks-{group.id.split(':')[-1]}-")]
        assert tags[asg] == {
            "key": "k8s.io/cluster-autoscaler/node-template/label/mlinfra.io/pool",
            "value": group.inputs["labels"]["mlinfra.io/pool"],
            "propagateAtLaunch": False,
        }


def test_fewer_system_nodes_than_zones_is_refused():
    with pytest.raises(SpecError, match=r"cluster\.system_pool\.max_nodes.*zones"):
        make_spec(PROD_SPEC, cluster={"system_pool": {"min_nodes": 1, "desired_nodes": 1, "max_nodes": 2}})


def test_slow_eks_operations_get_timeouts_longer_than_the_provider_defaults():
    """Cluster delete: 30m (default 15m, seen at 15-16m); node group update: 20 minutes per node the
    group may hold (EKS drains each node for up to 15 minutes), never below the 60m default."""
    seen: dict[str, pulumi.CustomTimeouts] = {}

    def capture(args: pulumi.ResourceTransformationArgs):
        seen[args.name] = args.opts.custom_timeouts
        return None

    spec = make_spec(
        PROD_SPEC, cluster={"system_pool": {"min_nodes": 3, "desired_nodes": 3, "max_nodes": 12}}
    )

    def program():
        provider = aws.Provider("aws", region=spec.region)
        Cluster(
            "cluster", _args(spec), opts=pulumi.ResourceOptions(provider=provider, transformations=[capture])
        )

    plan_of(program, region=spec.region)
    cluster = seen["cluster"]
    assert (cluster.create, cluster.update, cluster.delete) == ("30m", "60m", "30m")
    group = seen["cluster-system-subnet-a"]  # 12 nodes over 3 zones: 4 per group
    assert (group.create, group.update, group.delete) == ("60m", "80m", "60m")


def test_launch_template_requires_imdsv2_and_encrypts_root(prod_plan):
    lt = prod_plan.one("aws:ec2/launchTemplate:LaunchTemplate").inputs
    assert lt["metadataOptions"]["httpTokens"] == "required"
    assert lt["metadataOptions"]["httpPutResponseHopLimit"] == 1
    (bdm,) = lt["blockDeviceMappings"]
    assert bdm["deviceName"] == "/dev/xvda"
    assert bdm["ebs"]["encrypted"] == "true"
    assert bdm["ebs"]["volumeType"] == "gp3"
    assert bdm["ebs"]["volumeSize"] == 50
    assert bdm["ebs"]["kmsKeyId"] == prod_plan.outputs["node_volume_key_arn"]
    assert bdm["ebs"]["deleteOnTermination"] == "true"
    assert lt["metadataOptions"]["httpEndpoint"] == "enabled"
    assert sorted(t["resourceType"] for t in lt["tagSpecifications"]) == ["instance", "volume"]
    assert all(t["tags"]["Name"] == "acme-prod-system" for t in lt["tagSpecifications"])
    assert "monitoring" not in lt


def test_node_role_policies_are_exactly_worker_and_ecr_pull_only(prod_plan):
    role = prod_plan.one(ROLE, "cluster-node-role")
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {
        "Service": "ec2.amazonaws.com"
    }
    attached = {a.inputs["policyArn"] for a in prod_plan.of_type(ATTACH) if a.inputs["role"] == role.id}
    assert attached == {
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
    }
    assert not [p for p in prod_plan.of_type("aws:iam/rolePolicy:RolePolicy") if p.inputs["role"] == role.id]
    # The attachment keeps its pre-PullOnly resource name: renaming it would change its URN.
    assert prod_plan.one(ATTACH, "cluster-node-AmazonEC2ContainerRegistryReadOnly").inputs["policyArn"] == (
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly"
    )


def test_autoscaler_role_scales_only_this_clusters_groups(prod_plan):
    role = prod_plan.one(ROLE, "cluster-cluster-autoscaler-role")
    assert prod_plan.outputs["autoscaler_service_account_annotations"] == {
        "eks.amazonaws.com/role-arn": f"arn:aws:iam::{ACCOUNT}:role/{role.id}"
    }
    policy = json.loads(
        prod_plan.one("aws:iam/rolePolicy:RolePolicy", "cluster-cluster-autoscaler-policy").inputs["policy"]
    )
    statements = {s["Sid"]: s for s in policy["Statement"]}
    scale = statements["ScaleOwnedGroupsOnly"]
    assert set(scale["Action"]) == {
        "autoscaling:SetDesiredCapacity",
        "autoscaling:TerminateInstanceInAutoScalingGroup",
    }
    assert scale["Condition"] == {
        "StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/acme-prod": "owned"}
    }
    # nothing mutating outside that statement
    for sid, stmt in statements.items():
        if sid != "ScaleOwnedGroupsOnly":
            acts = [stmt["Action"]] if isinstance(stmt["Action"], str) else stmt["Action"]
            assert all(a.split(":")[1].startswith(("Describe", "Get")) for a in acts), sid
    assert (
        statements["DescribeOwnNodegroups"]["Resource"]
        == f"arn:aws:eks:us-east-1:{ACCOUNT}:nodegroup/acme-prod/*/*"
    )


def test_stateful_children_protected_in_prod_only(prod_plan, dev_plan):
    for name, type_ in (
        ("cluster", EKS),
        ("cluster-secrets-key", "aws:kms/key:Key"),
        ("cluster-node-volume-key", "aws:kms/key:Key"),
    ):
        prod = prod_plan.one(type_, name)
        assert prod.protect and prod.retain_on_delete, name
        dev = dev_plan.one(type_, name)
        assert not dev.protect and not dev.retain_on_delete, name
    assert dev_plan.one(EKS).inputs["deletionProtection"] is False


def test_registers_no_kubernetes_object_and_explicit_providers(prod_plan, dev_plan):
    """The cluster's Kubernetes objects are mlinfra.aws.in_cluster's: whoever reaches the API registers them."""
    for plan in (prod_plan, dev_plan):
        assert not [
            r for r in plan.resources if r.type.startswith(("kubernetes:", "pulumi:providers:kubernetes"))
        ]
        for r in plan.resources:
            if r.type.startswith("aws:"):
                assert r.provider is not None and r.provider.rsplit("::", 1)[-1] == "aws", r.name
        assert plan.warnings == []
        assert plan.outputs["kubeconfig"] == "[secret]"
        assert plan.outputs["storage_class"] == STORAGE_CLASS


def test_kubeconfig_uses_exec_auth():
    cfg = build_kubeconfig("acme-dev", "https://ABC.gr7.us-west-2.eks.amazonaws.com", "Q0E=", "us-west-2")
    (user,) = cfg["users"]
    exec_ = user["user"]["exec"]
    assert exec_["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert exec_["command"] == "aws"
    assert exec_["args"][:6] == ["eks", "get-token", "--cluster-name", "acme-dev", "--region", "us-west-2"]
    assert "token" not in json.dumps(user["user"]).replace("get-token", "")
    assert cfg["clusters"][0]["cluster"] == {
        "server": "https://ABC.gr7.us-west-2.eks.amazonaws.com",
        "certificate-authority-data": "Q0E=",
    }
    assert cfg["current-context"] == "acme-dev"


def _bad(**kw):
    return _args(make_spec(), **kw)


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"workload_identity": "kiam"}, "workload_identity"),
        ({"subnet_ids": []}, "subnet_ids"),
        ({"subnet_ids": ["subnet-a"]}, "subnet_ids"),
        ({"subnet_ids": "subnet-a"}, "subnet_ids"),
        ({"environment": "qa"}, "environment"),
        ({"environment": "prod"}, "spec.api_access"),
        ({"service_cidr": "172.20.0.0/8"}, "service_cidr"),
        ({"service_cidr": "nope"}, "service_cidr"),
        ({"cluster_name": "-bad"}, "cluster_name"),
        ({"key_deletion_window_days": 3}, "key_deletion_window_days"),
        (
            {"spec": ClusterSpec(system_pool={"machine_type": "large"})},
            "spec.system_pool.machine_type",
        ),
        ({"spec": ClusterSpec()}, "spec.system_pool.machine_type"),
        ({"spec": ClusterSpec(admin_principals=["platform-admins"])}, "spec.admin_principals.0"),
        (
            {"spec": ClusterSpec(log_retention_days=100, system_pool={"machine_type": "m6i.large"})},
            "spec.log_retention_days",
        ),
    ],
)
def test_bad_input_fails_before_registration(kw, field):
    with pytest.raises(ValueError, match="^" + re.escape(field) + ":"):
        Cluster("cluster", _bad(**kw))


def test_upgrade_policy_is_standard_unless_the_spec_asks_for_extended(prod_plan):
    """EKS defaults to EXTENDED support (paid) when upgrade_policy is omitted."""
    assert prod_plan.one(EKS).inputs["upgradePolicy"] == {"supportType": "STANDARD"}
    extended = _plan(make_spec(cluster={"version_support": "extended"}))
    assert extended.one(EKS).inputs["upgradePolicy"] == {"supportType": "EXTENDED"}


def test_vpc_cni_enforces_network_policies(prod_plan, dev_plan):
    """Without `enableNetworkPolicy` the VPC CNI ignores every NetworkPolicy (EKS user guide,
    cni-network-policy-configure); the feature needs VPC CNI >= 1.14 and Kubernetes >= 1.25."""
    for plan in (prod_plan, dev_plan):
        addons = _addons(plan)
        assert json.loads(addons["vpc-cni"]["configurationValues"]) == {"enableNetworkPolicy": "true"}
        assert all("configurationValues" not in a for n, a in addons.items() if n != "vpc-cni")
    for minor, table in ADDON_VERSIONS.items():
        major, min_, patch = (int(x) for x in table["vpc-cni"][1:].split("-")[0].split("."))
        assert (major, min_) >= (1, 14), table["vpc-cni"]
        assert tuple(int(x) for x in minor.split(".")) >= (1, 27)  # EKS AMIs mount the BPF FS from 1.27
