"""The shipped Azure stacks: complete platforms, policy checked on the real plans (every rule that
reads Azure fires on a mutation of the real plan), named exemptions, environment differences."""

from __future__ import annotations

import copy
import json

import pytest
from typer.testing import CliRunner

from mlinfra.cli import app
from mlinfra.offline import Plan
from mlinfra.policy import check_plan
from mlinfra.policy.model import RULES
from tests.test_stacks import AZURE_STACKS, ROOT, _id, deployed, planned

MC = "azure-native:containerservice:ManagedCluster"
POOL = "azure-native:containerservice:AgentPool"
ACCOUNT = "azure-native:storage:StorageAccount"
# AWS's network/key ids for team stacks and its CodeBuild runner; Azure exports its own (resource
# group, VNet, nodes subnet, DES; the runners subnet and the runner identity).
AWS_ONLY_OUTPUTS = {
    "vpc_id",
    "private_subnet_ids",
    "node_volume_key_arn",
    "runner_project",
    "runner_role_arn",
    "runner_security_group_id",
}


@pytest.mark.parametrize("case", AZURE_STACKS, ids=_id)
def test_azure_stack_builds_the_whole_platform_in_the_shape_of_aws(case):
    """Same shape across clouds: every component the AWS stack of the environment has (each cloud
    block under mlinfra:azure:, the in-cluster layer's as they are), its outputs, plus Key Vault."""
    plan, aws = planned(*case), planned("stacks/aws", case[1])

    def components(plans: list[Plan]) -> set[str]:
        return {
            r.type.replace("mlinfra:aws:", "mlinfra:azure:")
            for p in plans
            for r in p.resources
            if r.type.startswith("mlinfra:")
        }

    # The whole deployment of the environment: the platform stack, plus the in-cluster stack of a
    # private cluster (AWS's runner is its CodeBuild component; Azure's runner brings its own compute).
    ours, theirs = components(deployed(case)), components(deployed(("stacks/aws", case[1])))
    assert ours - theirs == {"mlinfra:azure:KeyVault"}
    assert theirs - ours <= {"mlinfra:azure:InClusterRunner"}
    assert len(plan.of_type(POOL)) >= 2
    assert set(plan.outputs) >= {k for k in aws.outputs if k not in AWS_ONLY_OUTPUTS}
    assert plan.outputs["kubeconfig"] == "[secret]"
    assert plan.outputs["artifact_bucket"].startswith("https://") and plan.cloud == "azure"


def test_dev_has_a_spot_pool_and_a_public_api_and_prod_is_private():
    dev, prod = planned("stacks/azure", "dev"), planned("stacks/azure", "prod")
    assert "Spot" in {p.inputs["scaleSetPriority"] for p in dev.of_type(POOL)}
    assert sorted(p.inputs["scaleSetPriority"] for p in prod.of_type(POOL)) == ["Regular", "Spot"]
    dev_api = dev.one(MC).inputs["apiServerAccessProfile"]
    assert dev_api["enablePrivateCluster"] is False and dev_api["authorizedIPRanges"] == ["203.0.113.0/24"]
    # The private cluster's way in: the runner subnet and identity, exported for the runner's VM or
    # agent pool; the platform stack registers no Kubernetes resource (the in-cluster stack does).
    assert "runners_subnet_id" not in dev.outputs and "runner_identity_client_id" not in dev.outputs
    assert prod.outputs["runners_subnet_id"].endswith("/subnets/runners")
    assert prod.outputs["runner_identity_client_id"]
    assert dev.of_type("kubernetes:core/v1:Namespace") and not [
        r for r in prod.resources if r.type.startswith("kubernetes:")
    ]
    assert prod.one(MC).inputs["apiServerAccessProfile"]["enablePrivateCluster"] is True
    assert dev.one(MC).inputs["sku"]["tier"] == "Free" and prod.one(MC).inputs["sku"]["tier"] == "Standard"
    assert not dev.of_type("azure-native:network:FlowLog") and prod.of_type("azure-native:network:FlowLog")
    assert (
        not dev.of_type("azure-native:network:PrivateEndpoint")
        and len(prod.of_type("azure-native:network:PrivateEndpoint")) == 3
    )


def test_prod_protects_stateful_resources_and_dev_does_not():
    prod, dev = planned("stacks/azure", "prod"), planned("stacks/azure", "dev")
    for type_ in (
        ACCOUNT,
        "azure-native:keyvault:Vault",
        "azure-native:keyvault:Key",
        "azure-native:containerregistry:Registry",
        MC,
        "azure-native:resources:ResourceGroup",
        "azure-native:compute:DiskEncryptionSet",
    ):
        assert prod.of_type(type_) and all(r.protect and r.retain_on_delete for r in prod.of_type(type_)), (
            type_
        )
        assert not any(r.protect for r in dev.of_type(type_)), type_


@pytest.mark.parametrize("case", AZURE_STACKS, ids=_id)
def test_each_model_identity_trusts_exactly_the_models_service_account(case):
    plans = deployed(case)  # the ServiceAccounts are in the in-cluster stack of a private cluster
    accounts = {
        f"system:serviceaccount:{r.inputs['metadata']['namespace']}:{r.inputs['metadata']['name']}"
        for p in plans
        for r in p.of_type("kubernetes:core/v1:ServiceAccount")
        if "mlinfra:k8s:ModelDeployment" in r.urn
    }
    trusted = {
        r.inputs["subject"]
        for p in plans
        for r in p.of_type("azure-native:managedidentity:FederatedIdentityCredential")
    }
    assert accounts and trusted == accounts


def test_named_exemptions_are_reported_with_their_reasons():
    report = check_plan(planned("stacks/azure", "prod"))
    exempt = {(policy, reason.split(":")[0]) for policy, _, reason in report.exemptions}
    assert (
        "ecr-immutable-scanned",
        "Azure Container Registry cannot express registry-wide immutable tags or scan-on-push",
    ) in exempt
    assert ("kms-key-rotation", "AKS KMS key") in exempt
    assert ("no-public-buckets", "VNet flow-log sink") in exempt
    assert not report.violations


def _mutated(plan: Plan, type_: str, name_part: str, mutate) -> Plan:
    data = copy.deepcopy(plan.to_json())
    hits = [r for r in data["resources"] if r["type"] == type_ and name_part in r["name"]]
    assert hits, (type_, name_part)
    mutate(hits[0])
    return Plan.from_json(data)


def _set(*path, value):
    def mutate(record):
        cur = record["inputs"]
        for key in path[:-1]:
            cur = cur[key]
        if value is None:
            del cur[path[-1]]
        else:
            cur[path[-1]] = value

    return mutate


def _protect_off(record):
    record["protect"] = False


# Every rule that reads an Azure type fires on the real prod plan when the guarded property changes.
MUTATIONS = [
    (
        "storage-cmk-encryption",
        ACCOUNT,
        "artifacts-account",
        _set("encryption", "keySource", value="Microsoft.Storage"),
    ),
    ("storage-tls-only", ACCOUNT, "artifacts-account", _set("minimumTlsVersion", value="TLS1_3")),
    ("no-public-buckets", ACCOUNT, "artifacts-account", _set("allowSharedKeyAccess", value=True)),
    ("no-public-buckets", ACCOUNT, "flow-logs", _set("allowBlobPublicAccess", value=True)),
    (
        "registry-cmk-encryption",
        "azure-native:containerregistry:Registry",
        "registry",
        _set("encryption", "status", value="disabled"),
    ),
    (
        "acr-no-admin-or-anonymous",
        "azure-native:containerregistry:Registry",
        "registry",
        _set("adminUserEnabled", value=True),
    ),
    (
        "cluster-secrets-encryption",
        MC,
        "cluster",
        _set("securityProfile", "azureKeyVaultKms", "enabled", value=False),
    ),
    (
        "cluster-secrets-encryption",
        MC,
        "cluster",
        _set("securityProfile", "azureKeyVaultKms", "keyId", value="https://v.vault.azure.net/keys/k"),
    ),
    ("node-disk-encryption", MC, "cluster", _set("diskEncryptionSetID", value=None)),
    ("node-disk-encryption", POOL, "a100spot", _set("enableEncryptionAtHost", value=False)),
    (
        "kms-key-rotation",
        "azure-native:keyvault:Key",
        "disk-key",
        _set("properties", "rotationPolicy", value=None),
    ),
    (
        "kms-key-rotation",
        "azure-native:keyvault:Vault",
        "vault",
        _set("properties", "enablePurgeProtection", value=False),
    ),
    (
        "private-cluster-endpoint",
        MC,
        "cluster",
        _set("apiServerAccessProfile", "enablePrivateCluster", value=False),
    ),
    ("no-node-public-ip", POOL, "a100", _set("enableNodePublicIP", value=True)),
    ("aks-local-accounts-disabled", MC, "cluster", _set("disableLocalAccounts", value=False)),
    ("workload-identity", MC, "cluster", _set("oidcIssuerProfile", "enabled", value=False)),
    ("required-tags", "azure-native:network:NatGateway", "nat", _set("tags", value={"owner": "x"})),
    ("gpu-pool-max-nodes-cap", POOL, "a100spot", _set("maxCount", value=64)),
    ("no-spot-only-gpu-in-prod", POOL, "a100-pool", _set("scaleSetPriority", value="Spot")),
    ("protect-stateful-resources", "azure-native:keyvault:Vault", "vault", _protect_off),
]


@pytest.mark.parametrize(
    ("rule", "type_", "name", "mutate"), MUTATIONS, ids=[f"{m[0]}:{m[2]}" for m in MUTATIONS]
)
def test_rules_fire_on_a_mutation_of_the_real_prod_plan(rule, type_, name, mutate):
    plan = _mutated(planned("stacks/azure", "prod"), type_, name, mutate)
    flagged = {(v.policy, v.type) for v in check_plan(plan).violations}
    assert (rule, type_) in flagged, flagged


def test_every_rule_naming_an_azure_type_is_exercised_on_the_real_plans():
    covered = {m[0] for m in MUTATIONS} | {"ecr-immutable-scanned"}  # the ACR's named exemption
    plans = [planned(*case) for case in AZURE_STACKS]
    present = {r.type for p in plans for r in p.resources}
    for rule in RULES:
        azure_types = {t for t in (rule.types or ()) if t.startswith("azure-native:")}
        if azure_types:
            assert azure_types & present, f"{rule.name}: none of {azure_types} in the Azure plans"
            assert rule.name in covered, rule.name


def test_cli_plans_the_azure_dev_stack_with_cost(tmp_path):
    out = tmp_path / "plan.json"
    result = CliRunner().invoke(
        app, ["plan", str(ROOT / "stacks/azure"), "--stack", "dev", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["cloud"] == "azure" and data["cost"]["region"] == "westus3"
    assert (
        data["cost"]["monthly_max_usd"] >= data["cost"]["monthly_min_usd"] > 0
        and not data["cost"]["unpriced"]
    )
    assert not data["policy"]["violations"]
