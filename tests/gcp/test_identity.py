"""WorkloadIdentity on GKE: one Kubernetes ServiceAccount reads one prefix (managed folder)."""

from __future__ import annotations

import pulumi
import pytest

from mlinfra.gcp.identity import GSA_ANNOTATION, WorkloadIdentity, WorkloadIdentityArgs, direct_principal
from tests.gcp.support import PROJECT, plan_gcp, refused_before_any_resource

NUMBER = "123456789012"
MEMBER = "gcp:storage/managedFolderIamMember:ManagedFolderIamMember"


def _args(**overrides) -> WorkloadIdentityArgs:
    values = dict(
        namespace="serving",
        service_account="reranker",
        project=PROJECT,
        project_number=NUMBER,
        bucket="acme-ml-dev-artifacts",
        prefix="models/reranker/",
    )
    values.update(overrides)
    return WorkloadIdentityArgs(**values)


def _plan(**overrides):
    def build(opts):
        wi = WorkloadIdentity("id", _args(**overrides), opts=opts)
        pulumi.export("annotations", wi.service_account_annotations)

    return plan_gcp(build)


def test_direct_principal_reads_only_the_models_folder():
    plan = _plan()
    folder = plan.one("gcp:storage/managedFolder:ManagedFolder").inputs
    assert folder == {
        **folder,
        "bucket": "acme-ml-dev-artifacts",
        "name": "models/reranker/",
        "forceDestroy": True,
    }
    grant = plan.one(MEMBER).inputs
    assert grant["role"] == "roles/storage.objectViewer"
    assert grant["managedFolder"] == "models/reranker/"
    assert grant["member"] == (
        f"principal://iam.googleapis.com/projects/{NUMBER}/locations/global/workloadIdentityPools/"
        f"{PROJECT}.svc.id.goog/subject/ns/serving/sa/reranker"
    )
    assert grant["member"] == direct_principal(NUMBER, PROJECT, "serving", "reranker")
    assert plan.outputs["annotations"] == {}
    assert not plan.of_type("gcp:serviceaccount/account:Account")
    assert not plan.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")  # never the whole bucket


def test_gsa_mode_impersonation_is_limited_to_the_one_service_account():
    plan = _plan(mode="gsa", account_id="acme-ml-dev-m-reranker")
    gsa = plan.one("gcp:serviceaccount/account:Account").inputs
    assert gsa["accountId"] == "acme-ml-dev-m-reranker"
    imp = plan.one("gcp:serviceaccount/iAMMember:IAMMember").inputs
    assert imp["role"] == "roles/iam.workloadIdentityUser"
    assert imp["member"] == f"serviceAccount:{PROJECT}.svc.id.goog[serving/reranker]"
    email = f"acme-ml-dev-m-reranker@{PROJECT}.iam.gserviceaccount.com"
    assert plan.one(MEMBER).inputs["member"] == f"serviceAccount:{email}"
    assert plan.outputs["annotations"] == {GSA_ANNOTATION: email}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"mode": "irsa"}, "mode"),
        ({"namespace": "Serving"}, "namespace"),
        ({"service_account": ""}, "service_account"),
        ({"prefix": "models/*"}, "prefix"),
        ({"prefix": "/models/x/"}, "prefix"),
        ({"prefix": "models/x"}, "prefix"),
        ({"mode": "gsa", "account_id": None}, "account_id"),
        ({"mode": "gsa", "account_id": "x"}, "account_id"),
    ],
)
def test_bad_input_is_refused_before_any_resource(overrides, field):
    error, registered = refused_before_any_resource(
        lambda o: WorkloadIdentity("id", _args(**overrides), opts=o)
    )
    assert error.field == field
    assert registered == []
