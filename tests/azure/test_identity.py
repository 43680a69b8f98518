"""WorkloadIdentity: one service account, Storage Blob Data Reader limited to a prefix (ABAC), the
annotation AKS's webhook reads; role helpers."""

from __future__ import annotations

import pulumi
import pytest

from mlinfra.azure.identity import (
    ROLES,
    TOKEN_EXCHANGE_AUDIENCE,
    WORKLOAD_IDENTITY_CLIENT_ID,
    WorkloadIdentity,
    WorkloadIdentityArgs,
    blob_prefix_condition,
    role_definition_id,
)
from mlinfra.offline.mocks import guid
from mlinfra.spec import SpecError
from tests.azure.support import LOCATION, RG, SUBSCRIPTION, TAGS, plan_on_azure, refused_before_any_resource

ISSUER = "https://westus3.oic.prod-aks.azure.com/tenant/cluster/"
CONTAINER = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/a/blobServices/default/containers/artifacts"


def _args(**kw) -> WorkloadIdentityArgs:
    values = {
        "namespace": "serving",
        "service_account": "reranker",
        "oidc_issuer": ISSUER,
        "resource_group_name": RG,
        "location": LOCATION,
        "subscription_id": SUBSCRIPTION,
        "container_id": CONTAINER,
        "container_name": "artifacts",
        "prefix": "models/reranker/",
        "identity_name": "acme-dev-model-reranker",
        "tags": TAGS,
    }
    values.update(kw)
    return WorkloadIdentityArgs(**values)


def _plan(**kw):
    def build(opts):
        identity = WorkloadIdentity("wi", _args(**kw), opts=opts)
        pulumi.export("annotations", identity.service_account_annotations)

    return plan_on_azure(build)


def test_identity_trusts_exactly_one_service_account():
    plan = _plan()
    fic = plan.one("azure-native:managedidentity:FederatedIdentityCredential").inputs
    assert fic["subject"] == "system:serviceaccount:serving:reranker"
    assert fic["issuer"] == ISSUER and fic["audiences"] == [TOKEN_EXCHANGE_AUDIENCE]
    uai = plan.one("azure-native:managedidentity:UserAssignedIdentity")
    assert fic["resourceName"] == uai.inputs["resourceName"] == "acme-dev-model-reranker"
    # The offline mock's client id of that identity: the annotation carries the identity's own.
    assert plan.outputs["annotations"] == {WORKLOAD_IDENTITY_CLIENT_ID: guid("client", uai.id)}


def test_reader_role_is_limited_to_the_model_prefix():
    grant = _plan().one("azure-native:authorization:RoleAssignment").inputs
    assert grant["roleDefinitionId"].endswith(f"/roleDefinitions/{ROLES['Storage Blob Data Reader']}")
    assert grant["scope"] == CONTAINER and grant["principalType"] == "ServicePrincipal"
    assert grant["conditionVersion"] == "2.0"
    assert grant["condition"] == blob_prefix_condition("artifacts", "models/reranker/")


def test_condition_limits_reads_by_path_and_listings_by_prefix():
    condition = blob_prefix_condition("artifacts", "models/m/")
    assert "SubOperationMatches{'Blob.List'}" in condition
    assert "blobs:path] StringStartsWith 'models/m/'" in condition
    assert "blobs:prefix] StringStartsWith 'models/m/'" in condition
    assert condition.count("containers:name] StringEquals 'artifacts'") == 2


@pytest.mark.parametrize("prefix", ["models/m", "/models/m/", "models/*/", "models//m/"])
def test_bad_prefixes_are_refused(prefix):
    with pytest.raises(SpecError, match="prefix"):
        blob_prefix_condition("artifacts", prefix)


def test_role_definition_ids_and_unknown_roles():
    out = role_definition_id("s", "AcrPull")
    assert isinstance(out, pulumi.Output)
    with pytest.raises(SpecError, match="allowed: AcrPull"):
        role_definition_id("s", "Owner")


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"namespace": "Serving"}, "namespace"),
        ({"service_account": "a_b"}, "service_account"),
        ({"prefix": "models"}, "prefix"),
        ({"identity_name": "x"}, "identity_name"),
    ],
)
def test_bad_input_is_refused_before_any_resource(kw, field):
    error, registered = refused_before_any_resource(
        lambda opts: WorkloadIdentity("wi", _args(**kw), opts=opts)
    )
    assert error.field == field
    assert registered == []


def test_role_assignment_names_are_the_guid_of_scope_role_and_principal():
    """The ARM guid(scope, role, principal) idiom: a grant keeps its name across runs, so after lost
    state ARM answers for the same assignment instead of RoleAssignmentExists on a second one."""
    import uuid

    from mlinfra.azure.identity import ROLE_ASSIGNMENT_NAMESPACE
    from tests.test_stacks import planned

    first = {
        r.urn: r.inputs
        for r in planned("stacks/azure", "dev").of_type("azure-native:authorization:RoleAssignment")
    }
    assert first
    for inputs in first.values():
        triple = "|".join(str(inputs[k]).lower() for k in ("scope", "roleDefinitionId", "principalId"))
        assert inputs["roleAssignmentName"] == str(uuid.uuid5(ROLE_ASSIGNMENT_NAMESPACE, triple))
    assert len({i["roleAssignmentName"] for i in first.values()}) == len(first)
