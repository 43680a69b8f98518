"""Cluster: private GKE with encrypted secrets, endpoint per api_access, webhook firewall, system pool,
admins' IAM access, no Kubernetes resource; refusals before any registration."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pytest
import yaml

from mlinfra.gcp.cluster import (
    AUTH_PLUGIN,
    WEBHOOK_PORTS,
    Cluster,
    ClusterArgs,
    build_kubeconfig,
    pick_gke_version,
)
from mlinfra.offline.mocks import gcp_project_number
from mlinfra.spec import SpecError, gcp_zones
from tests.gcp.support import (
    GCP_PROD_SPEC,
    KEY_RING,
    PROJECT,
    TAGS,
    gcp_spec,
    options_of,
    plan_gcp,
    refused_before_any_resource,
)

CHARTS = Path(__file__).resolve().parents[3] / "shared" / "charts"
GKE = "gcp:container/cluster:Cluster"
POOL = "gcp:container/nodePool:NodePool"
GRANT = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
NETWORK = "projects/acme/global/networks/acme-vpc"
SUBNET = "projects/acme/regions/us-central1/subnetworks/acme-nodes"


def _args(spec, **overrides) -> ClusterArgs:
    g = spec.gcp
    values = dict(
        spec=spec.cluster,
        cluster_name=spec.prefix,
        project=g.project,
        region=spec.region,
        zones=gcp_zones(spec),
        network=NETWORK,
        subnetwork=SUBNET,
        control_plane_cidr=g.control_plane_cidr,
        key_ring=KEY_RING,
        environment=spec.environment,
        protect=spec.protect_stateful,
        labels=TAGS,
        regional=g.regional,
        release_channel=g.release_channel,
        gke_version=g.gke_version,
    )
    values.update(overrides)
    return ClusterArgs(**values)


def _plan(spec, **overrides):
    def build(opts):
        c = Cluster("gke", _args(spec, **overrides), opts=opts)
        pulumi.export("kubeconfig", c.kubeconfig.apply(lambda k: k))  # secret: shown as [secret]
        pulumi.export("endpoint", c.endpoint)
        pulumi.export("oidc_issuer", c.oidc_issuer)
        pulumi.export("kubeconfig_plain", pulumi.Output.unsecret(c.kubeconfig))

    return plan_gcp(build, region=spec.region, project=spec.gcp.project)


@pytest.fixture(scope="module")
def dev():
    return gcp_spec(cluster={"api_access": "dns", "admin_principals": ["user:alice@acme.example"]})


@pytest.fixture(scope="module")
def dev_plan(dev):
    return _plan(dev)


@pytest.fixture(scope="module")
def prod():
    return gcp_spec(GCP_PROD_SPEC, cluster={"api_access": "private"})


@pytest.fixture(scope="module")
def prod_plan(prod):
    return _plan(prod)


def test_private_nodes_workload_identity_dataplane_v2_and_shielded_nodes(dev_plan):
    c = dev_plan.one(GKE).inputs
    assert c["privateClusterConfig"]["enablePrivateNodes"] is True
    assert c["privateClusterConfig"]["masterIpv4CidrBlock"] == "172.16.0.0/28"
    assert c["workloadIdentityConfig"] == {"workloadPool": f"{PROJECT}.svc.id.goog"}
    assert c["datapathProvider"] == "ADVANCED_DATAPATH"  # NetworkPolicies are enforced
    assert c["networkingMode"] == "VPC_NATIVE"
    assert c["ipAllocationPolicy"] == {
        "clusterSecondaryRangeName": "pods",
        "servicesSecondaryRangeName": "services",
    }
    assert c["enableShieldedNodes"] is True and c["enableLegacyAbac"] is False
    assert c["masterAuth"]["clientCertificateConfig"]["issueClientCertificate"] is False
    assert c["removeDefaultNodePool"] is True and c["initialNodeCount"] == 1
    default_pool = c["nodeConfig"]
    assert default_pool["workloadMetadataConfig"]["mode"] == "GKE_METADATA"
    assert default_pool["bootDiskKmsKey"].endswith("/cryptoKeys/acme-ml-dev-node-disks")
    assert default_pool["serviceAccount"] == f"acme-ml-dev-nodes@{PROJECT}.iam.gserviceaccount.com"
    assert c["resourceLabels"] == TAGS


def test_secrets_are_encrypted_with_a_key_the_gke_agent_was_granted_first(dev_plan):
    """Pitfall: the GKE service agent needs the key before the cluster is created."""
    c = dev_plan.one(GKE)
    assert c.inputs["databaseEncryption"]["state"] == "ENCRYPTED"
    assert c.inputs["databaseEncryption"]["keyName"].endswith("/cryptoKeys/acme-ml-dev-secrets")
    number = gcp_project_number(PROJECT)
    grants = {g.inputs["member"]: g for g in dev_plan.of_type(GRANT)}
    gke = grants[f"serviceAccount:service-{number}@container-engine-robot.iam.gserviceaccount.com"]
    compute = grants[f"serviceAccount:service-{number}@compute-system.iam.gserviceaccount.com"]
    assert gke.inputs["cryptoKeyId"].endswith("/cryptoKeys/acme-ml-dev-secrets")
    assert compute.inputs["cryptoKeyId"].endswith("/cryptoKeys/acme-ml-dev-node-disks")
    assert {gke.urn, compute.urn} <= set(c.dependencies)
    system = dev_plan.one(POOL)
    assert compute.urn in system.dependencies


def test_dns_access_uses_the_iam_gated_dns_endpoint_and_keeps_the_ip_endpoint_private(dev_plan):
    c = dev_plan.one(GKE).inputs
    assert c["privateClusterConfig"]["enablePrivateEndpoint"] is True
    assert c["controlPlaneEndpointsConfig"] == {
        "dnsEndpointConfig": {"allowExternalTraffic": True},
        "ipEndpointsConfig": {"enabled": True},
    }
    assert c["masterAuthorizedNetworksConfig"] == {"cidrBlocks": [], "gcpPublicCidrsAccessEnabled": False}
    kubeconfig = json.loads(dev_plan.outputs["kubeconfig_plain"])
    server = kubeconfig["clusters"][0]["cluster"]
    assert server["server"].startswith("https://gke-") and server["server"].endswith(".gke.goog")
    # The DNS endpoint presents a publicly-signed certificate: the cluster CA would not verify it.
    assert "certificate-authority-data" not in server
    assert kubeconfig["users"][0]["user"]["exec"]["command"] == AUTH_PLUGIN
    assert dev_plan.outputs["kubeconfig"] == "[secret]"
    assert dev_plan.outputs["endpoint"] == server["server"].removeprefix("https://")


def test_private_access_targets_the_private_ip_endpoint_with_the_cluster_ca(prod_plan):
    c = prod_plan.one(GKE).inputs
    assert c["privateClusterConfig"]["enablePrivateEndpoint"] is True
    assert c["controlPlaneEndpointsConfig"]["dnsEndpointConfig"] == {"allowExternalTraffic": False}
    server = json.loads(prod_plan.outputs["kubeconfig_plain"])["clusters"][0]["cluster"]
    assert server["server"] == "https://172.16.0.2"  # the control plane's range
    assert server["certificate-authority-data"]


def test_public_access_is_limited_to_listed_cidrs_in_dev():
    spec = gcp_spec(cluster={"api_access": "public", "public_access_cidrs": ["203.0.113.0/24"]})
    c = _plan(spec).one(GKE).inputs
    assert c["privateClusterConfig"]["enablePrivateEndpoint"] is False
    assert c["privateClusterConfig"]["enablePrivateNodes"] is True
    assert c["masterAuthorizedNetworksConfig"] == {
        "cidrBlocks": [{"cidrBlock": "203.0.113.0/24", "displayName": "allowed-0"}],
        "gcpPublicCidrsAccessEnabled": False,
    }
    assert c["controlPlaneEndpointsConfig"]["dnsEndpointConfig"] == {"allowExternalTraffic": False}


def test_zonal_dev_cluster_and_regional_prod_cluster(dev_plan, prod_plan):
    dev = dev_plan.one(GKE).inputs
    assert dev["location"] == "us-central1-a" and dev["nodeLocations"] == ["us-central1-b"]
    prod = prod_plan.one(GKE).inputs
    assert prod["location"] == "europe-west4"
    assert prod["nodeLocations"] == ["europe-west4-a", "europe-west4-b", "europe-west4-c"]


def test_release_channel_with_an_exact_version_of_the_pinned_minor(dev_plan, prod_plan):
    assert dev_plan.one(GKE).inputs["releaseChannel"] == {"channel": "REGULAR"}
    assert prod_plan.one(GKE).inputs["releaseChannel"] == {"channel": "STABLE"}
    version = dev_plan.one(GKE).inputs["minMasterVersion"]
    assert version.startswith("1.33.") and "-gke." in version  # exact, never the fuzzy "1.33"
    pinned = gcp_spec(gcp={"project": PROJECT, "gke_version": "1.33.4-gke.1350000"})
    assert _plan(pinned).one(GKE).inputs["minMasterVersion"] == "1.33.4-gke.1350000"


def test_pick_gke_version_never_silently_changes_the_minor():
    defaults = {"REGULAR": "1.34.1-gke.100", "STABLE": "1.33.5-gke.200"}
    latest = {"REGULAR": "1.34.2-gke.300", "STABLE": "1.33.6-gke.400"}
    assert pick_gke_version(defaults, latest, "STABLE", "1.33") == "1.33.5-gke.200"
    assert pick_gke_version({"REGULAR": "1.32.9-gke.1"}, latest, "REGULAR", "1.34") == "1.34.2-gke.300"
    with pytest.raises(SpecError, match="no 1.33 version") as e:
        pick_gke_version(defaults, latest, "REGULAR", "1.33")
    assert e.value.field == "cluster.kubernetes_version"


def test_deletion_protection_and_protect_follow_the_environment(dev_plan, prod_plan):
    dev, prod = dev_plan.one(GKE), prod_plan.one(GKE)
    assert dev.inputs["deletionProtection"] is False and not dev.protect
    assert prod.inputs["deletionProtection"] is True and prod.protect and prod.retain_on_delete
    assert all(k.protect for k in prod_plan.of_type("gcp:kms/cryptoKey:CryptoKey"))


def test_control_plane_logs_by_environment(dev_plan, prod_plan, prod):
    assert dev_plan.one(GKE).inputs["loggingConfig"]["enableComponents"] == ["SYSTEM_COMPONENTS", "APISERVER"]
    assert prod_plan.one(GKE).inputs["loggingConfig"]["enableComponents"] == [
        "SYSTEM_COMPONENTS",
        "APISERVER",
        "CONTROLLER_MANAGER",
        "SCHEDULER",
        "WORKLOADS",
    ]
    # dev keeps 30 days (the _Default bucket); prod routes them to a bucket with its retention.
    assert not dev_plan.of_type("gcp:logging/projectBucketConfig:ProjectBucketConfig")
    bucket = prod_plan.one("gcp:logging/projectBucketConfig:ProjectBucketConfig").inputs
    assert bucket["retentionDays"] == prod.cluster.log_retention_days == 365
    sink = prod_plan.one("gcp:logging/projectSink:ProjectSink").inputs
    assert 'resource.labels.cluster_name="acme-ml-prod"' in sink["filter"]


def test_webhook_firewall_admits_the_control_plane_to_the_webhook_ports(dev_plan):
    """Pitfall: a private control plane reaches nodes on 443/10250 only; other webhooks time out."""
    fw = dev_plan.one("gcp:compute/firewall:Firewall").inputs
    assert fw["direction"] == "INGRESS"
    assert fw["sourceRanges"] == ["172.16.0.0/28"]  # the control plane's range, never 0.0.0.0/0
    assert fw["targetServiceAccounts"] == [f"acme-ml-dev-nodes@{PROJECT}.iam.gserviceaccount.com"]
    assert fw["allows"] == [{"protocol": "tcp", "ports": ["6443", "8443", "9443"]}]
    assert fw["network"] == NETWORK


def _chart_values(chart: str, version: str) -> dict:
    return yaml.safe_load((CHARTS / chart / version / "values.yaml").read_text())


@pytest.mark.skipif(not CHARTS.is_dir(), reason="chart data not available")
def test_webhook_ports_are_those_the_charts_listen_on():
    """Against the upstream chart defaults: each webhook port the layer's charts use is either
    10250 (already open on GKE, said so by cert-manager and kube-prometheus-stack) or in the rule."""
    nginx = _chart_values("ingress-nginx", "4.14.3")
    assert nginx["controller"]["admissionWebhooks"]["port"] in WEBHOOK_PORTS
    keda = _chart_values("keda", "2.20.2")
    assert keda["service"]["portHttpsTarget"] in WEBHOOK_PORTS
    assert 9443 in WEBHOOK_PORTS  # KEDA webhooks.port default ("Default is 9443") and KServe webhook-server
    # Already open on GKE (443/10250), so not in the rule:
    kps = _chart_values("kube-prometheus-stack", "81.4.3")
    assert kps["prometheusOperator"]["tls"]["internalPort"] == 10250
    assert kps["prometheusOperator"]["admissionWebhooks"]["deployment"]["tls"]["internalPort"] == 10250
    assert _chart_values("cert-manager", "v1.18.2")["webhook"]["securePort"] == 10250
    assert not {443, 10250} & set(WEBHOOK_PORTS)


def test_system_pool_is_sized_in_totals_and_runs_as_the_node_service_account(dev_plan, dev):
    pool = dev_plan.one(POOL).inputs
    system = dev.cluster.system_pool
    assert pool["name"].startswith("system-") and len(pool["name"]) == len("system-") + 6
    assert pool["upgradeSettings"] == {"strategy": "SURGE", "maxSurge": 1, "maxUnavailable": 0}
    assert pool["autoscaling"] == {
        "totalMinNodeCount": system.min_nodes,
        "totalMaxNodeCount": system.max_nodes,
        "locationPolicy": "BALANCED",
    }
    assert "minNodeCount" not in pool["autoscaling"] and "maxNodeCount" not in pool["autoscaling"]
    assert pool["initialNodeCount"] == 1  # desired 2 over 2 zones, per zone
    assert pool["nodeLocations"] == ["us-central1-a", "us-central1-b"]
    config = pool["nodeConfig"]
    assert config["machineType"] == "e2-standard-4"
    assert config["labels"] == {"mlinfra.io/pool": "system"}
    assert config["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    assert config["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
    assert config["imageType"] == "COS_CONTAINERD"
    assert "taints" not in config
    assert pool["management"] == {"autoRepair": True, "autoUpgrade": True}
    assert "version" not in pool  # auto-upgrade keeps nodes at the control plane's version


def test_system_pool_machine_type_from_the_cluster_spec_wins():
    spec = gcp_spec(cluster={"api_access": "dns", "system_pool": {"machine_type": "n2-standard-4"}})
    assert _plan(spec).one(POOL).inputs["nodeConfig"]["machineType"] == "n2-standard-4"


def test_node_service_account_has_only_the_default_node_role(dev_plan):
    grants = [r for r in dev_plan.of_type("gcp:projects/iAMMember:IAMMember") if "nodes" in r.name]
    assert [g.inputs["role"] for g in grants] == ["roles/container.defaultNodeServiceAccount"]


def test_admins_get_a_role_with_exactly_credentials_and_the_dns_endpoint(dev_plan):
    """The DNS endpoint authorises on container.clusters.connect; get-credentials reads the cluster.
    What admins may do inside is RBAC, bound by the in-cluster layer (tests/gcp/test_in_cluster.py)."""
    role = dev_plan.one("gcp:projects/iAMCustomRole:IAMCustomRole")
    assert sorted(role.inputs["permissions"]) == ["container.clusters.connect", "container.clusters.get"]
    assert role.inputs["roleId"].startswith("acme_ml_dev_admin_access_")
    assert len(role.inputs["roleId"]) <= 64
    iam = next(r for r in dev_plan.of_type("gcp:projects/iAMMember:IAMMember") if "admin" in r.name)
    assert iam.inputs["member"] == "user:alice@acme.example"
    assert iam.inputs["role"] == f"projects/{PROJECT}/roles/{role.inputs['roleId']}"
    assert role.urn in iam.dependencies


def test_the_cluster_registers_no_kubernetes_resource(dev_plan):
    """A private cluster's platform stack runs outside the VPC: nothing in it may need the API."""
    assert not [
        r for r in dev_plan.resources if r.type.startswith(("kubernetes:", "pulumi:providers:kubernetes"))
    ]


def test_kubeconfig_shape():
    cfg = build_kubeconfig("acme-dev", "https://10.0.0.2", "Q0E=")
    assert cfg["clusters"][0]["cluster"] == {
        "server": "https://10.0.0.2",
        "certificate-authority-data": "Q0E=",
    }
    exec_ = cfg["users"][0]["user"]["exec"]
    assert exec_["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert exec_["command"] == "gke-gcloud-auth-plugin" and exec_["provideClusterInfo"] is True


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"environment": "prod"}, "spec.api_access"),  # public endpoint outside dev
        ({"regional": False, "environment": "staging"}, "regional"),
        ({"release_channel": "NIGHTLY"}, "release_channel"),
        ({"gke_version": "1.32.9-gke.100"}, "gke_version"),
        ({"zones": ["us-east1-b", "us-east1-c"]}, "zones"),
        ({"zones": ["us-central1-a"], "regional": False}, "zones"),
        ({"environment": "qa"}, "environment"),
        ({"release_channel": "EXTENDED"}, "release_channel"),  # extended support, version_support standard
    ],
)
def test_bad_input_is_refused_before_any_resource(overrides, field):
    public = {"api_access": "public", "public_access_cidrs": ["203.0.113.0/24"]}
    spec = gcp_spec(cluster=public if field == "spec.api_access" else {"api_access": "dns"})
    error, registered = refused_before_any_resource(
        lambda o: Cluster("gke", _args(spec, **overrides), opts=o)
    )
    assert error.field == field
    assert registered == []


def test_a_system_pool_size_that_does_not_split_over_the_zones_is_refused():
    """Pitfall: GKE sizes a new pool per zone; 2 nodes over 3 zones would become 3 (or 6)."""
    spec = gcp_spec(cluster={"api_access": "dns"})
    zones = gcp_zones(spec)
    cluster = spec.cluster.model_copy(
        update={
            "system_pool": spec.cluster.system_pool.model_copy(
                update={"desired_nodes": len(zones) + 1, "max_nodes": 9}
            )
        }
    )
    error, registered = refused_before_any_resource(
        lambda o: Cluster("gke", _args(spec.model_copy(update={"cluster": cluster})), opts=o)
    )
    assert error.field == "spec.system_pool.desired_nodes"
    assert "does not split" in str(error)
    assert registered == []


def test_a_group_admin_is_refused_by_the_spec():
    with pytest.raises(SpecError, match="Google Groups for RBAC") as e:
        gcp_spec(cluster={"api_access": "dns", "admin_principals": ["group:ml-admins@acme.example"]})
    assert e.value.field is None or "cluster.admin_principals.0" in str(e.value)


def test_security_posture_uses_no_retired_tier(dev_plan):
    """GKE removed the standard tier of workload vulnerability scanning on 2025-07-31 (posture-management
    deprecation table); VULNERABILITY_BASIC can no longer be enabled. Configuration auditing (mode
    BASIC) is not retired. Both values must be options the installed SDK documents."""
    import inspect
    import re

    from pulumi_gcp import container

    from mlinfra.gcp.cluster import RETIRED_VULNERABILITY_MODES

    posture = dev_plan.one(GKE).inputs["securityPostureConfig"]
    assert posture == {"mode": "BASIC", "vulnerabilityMode": "VULNERABILITY_DISABLED"}
    assert posture["vulnerabilityMode"] not in RETIRED_VULNERABILITY_MODES
    doc = inspect.getdoc(container.ClusterSecurityPostureConfigArgs.__init__) or ""
    options = {
        name: set(re.findall(r"`([A-Z_]+)`", re.search(rf"{name}: (.*)", doc).group(1)))
        for name in ("mode", "vulnerability_mode")
    }
    assert posture["mode"] in options["mode"]
    assert posture["vulnerabilityMode"] in options["vulnerability_mode"]


def test_private_access_admits_the_listed_private_ranges_to_the_private_endpoint():
    """With only the private endpoint GKE enables authorized networks and admits the cluster's own
    ranges; a runner in another subnet, a VPN or a peered network must be listed, or it times out."""
    spec = gcp_spec(
        GCP_PROD_SPEC,
        cluster={"api_access": "private", "private_access_cidrs": ["10.200.0.0/24", "192.168.8.0/22"]},
    )
    c = _plan(spec).one(GKE).inputs
    assert c["privateClusterConfig"]["enablePrivateEndpoint"] is True
    assert c["masterAuthorizedNetworksConfig"] == {
        "cidrBlocks": [
            {"cidrBlock": "10.200.0.0/24", "displayName": "private-0"},
            {"cidrBlock": "192.168.8.0/22", "displayName": "private-1"},
        ],
        "gcpPublicCidrsAccessEnabled": False,
    }


@pytest.mark.parametrize(
    ("cluster", "message"),
    [
        ({"api_access": "private", "private_access_cidrs": ["203.0.113.0/24"]}, "not inside a private range"),
        ({"api_access": "private", "private_access_cidrs": ["172.32.0.0/16"]}, "not inside a private range"),
        ({"api_access": "dns", "private_access_cidrs": ["10.200.0.0/24"]}, "api_access: private only"),
    ],
)
def test_private_access_cidrs_are_rfc1918_and_for_the_private_endpoint_only(cluster, message):
    with pytest.raises(SpecError) as e:
        gcp_spec(cluster=cluster)
    assert "private_access_cidrs" in str(e.value) and message in str(e.value)


def test_a_replaced_system_pool_comes_up_before_the_old_one_goes():
    """The system pool is the only CPU pool: deleting it first (a fixed name forces that) takes every
    add-on and admission webhook down. Its name changes with what replaces it, and it is created
    before the old pool is deleted; the label workloads select stays `system`."""
    [opts] = options_of(
        POOL, lambda o: Cluster("gke", _args(gcp_spec(cluster={"api_access": "dns"})), opts=o)
    )
    assert opts.delete_before_replace is False
    small = _plan(gcp_spec(cluster={"api_access": "dns"})).one(POOL).inputs
    large = (
        _plan(gcp_spec(cluster={"api_access": "dns", "system_pool": {"machine_type": "n2-standard-4"}}))
        .one(POOL)
        .inputs
    )
    again = _plan(gcp_spec(cluster={"api_access": "dns"})).one(POOL).inputs
    assert small["name"] != large["name"] and small["name"] == again["name"]
    assert small["nodeConfig"]["labels"] == large["nodeConfig"]["labels"] == {"mlinfra.io/pool": "system"}
