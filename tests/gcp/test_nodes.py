"""nodes.py: the node service account and the settings every node pool shares."""

from __future__ import annotations

import pulumi

from mlinfra.gcp.nodes import NODE_ROLES, node_config, node_service_account
from tests.gcp.support import PROJECT, plan_gcp


class _Holder(pulumi.ComponentResource):
    def __init__(self, name, build, opts=None):
        super().__init__("mlinfra:test:Holder", name, None, opts)
        build(self)
        self.register_outputs({})


def test_node_service_account_gets_only_the_default_node_role():
    plan = plan_gcp(
        lambda o: _Holder(
            "h",
            lambda h: node_service_account(
                h, "nodes", project=PROJECT, account_id="acme-dev-nodes", description="d"
            ),
            opts=o,
        )
    )
    account = plan.one("gcp:serviceaccount/account:Account").inputs
    assert account["accountId"] == "acme-dev-nodes"
    grants = plan.of_type("gcp:projects/iAMMember:IAMMember")
    assert (
        [g.inputs["role"] for g in grants]
        == list(NODE_ROLES)
        == ["roles/container.defaultNodeServiceAccount"]
    )
    assert grants[0].inputs["member"] == f"serviceAccount:acme-dev-nodes@{PROJECT}.iam.gserviceaccount.com"


def test_node_config_hardening():
    cfg = node_config(
        machine_type="e2-standard-4",
        disk_size_gb=50,
        service_account="sa@p.iam.gserviceaccount.com",
        boot_disk_kms_key="projects/p/locations/l/keyRings/r/cryptoKeys/k",
        labels={"mlinfra.io/pool": "system"},
        resource_labels={"owner": "x"},
    )
    assert cfg.workload_metadata_config.mode == "GKE_METADATA"
    assert (
        cfg.shielded_instance_config.enable_secure_boot
        and cfg.shielded_instance_config.enable_integrity_monitoring
    )
    assert cfg.image_type == "COS_CONTAINERD" and cfg.disk_type == "pd-balanced"
    assert cfg.oauth_scopes == ["https://www.googleapis.com/auth/cloud-platform"]
    assert cfg.metadata == {"disable-legacy-endpoints": "true"}
    assert cfg.spot is None and cfg.taints is None and cfg.guest_accelerators is None
