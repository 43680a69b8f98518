"""WorkloadIdentity: one Kubernetes ServiceAccount may read one prefix of the artifact bucket.

GKE Workload Identity gives a pod Google credentials for its Kubernetes ServiceAccount through the
GKE metadata server. The prefix becomes a Cloud Storage *managed folder* (IAM on a managed folder
"applies to any object that has the managed folder's name as a prefix", Cloud Storage "About
managed folders"; needs uniform bucket-level access), and exactly one principal is granted
`roles/storage.objectViewer` on it:
- `direct` (default): the ServiceAccount's own federated principal
  `principal://iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/<project>.svc.id.goog/subject/ns/<ns>/sa/<sa>`
  (the form accelerated-platforms binds, platforms/gke/base/core/huggingface/hub_downloader/iam.tf);
  no Google service account, no annotation.
- `gsa`: a Google service account the ServiceAccount may impersonate
  (`roles/iam.workloadIdentityUser` for `serviceAccount:<project>.svc.id.goog[<ns>/<sa>]`), named in
  the ServiceAccount's `iam.gke.io/gcp-service-account` annotation; for clients that cannot use a
  federated principal.
A pod elsewhere in the cluster (another namespace or ServiceAccount) gets nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import pulumi
from pulumi_gcp import serviceaccount, storage

from mlinfra.components import child
from mlinfra.spec import SpecError

GSA_ANNOTATION = "iam.gke.io/gcp-service-account"
WORKLOAD_IDENTITY_MODES = ("direct", "gsa")
READ_ROLE = "roles/storage.objectViewer"
IMPERSONATE_ROLE = "roles/iam.workloadIdentityUser"
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_PREFIX = re.compile(r"^[A-Za-z0-9!\-_.()'/]+/$")
_SA_ID = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")


@dataclass
class WorkloadIdentityArgs:
    """Inputs of a WorkloadIdentity.

    namespace / service_account: the one Kubernetes ServiceAccount granted access.
    project: the cluster's project (its workload identity pool is `<project>.svc.id.goog`).
    project_number: that project's number (direct principals name it).
    bucket: the artifact bucket; prefix: the folder it may read (`models/<name>/`, ends with '/').
    mode: "direct" or "gsa"; account_id: the Google service account's ID (gsa mode only).
    """

    namespace: str
    service_account: str
    project: str
    project_number: pulumi.Input[str]
    bucket: pulumi.Input[str]
    prefix: str
    mode: Literal["direct", "gsa"] = "direct"
    account_id: str | None = None


def direct_principal(project_number: str, project: str, namespace: str, service_account: str) -> str:
    """The Workload Identity Federation principal of one Kubernetes ServiceAccount."""
    return (
        f"principal://iam.googleapis.com/projects/{project_number}/locations/global/workloadIdentityPools/"
        f"{project}.svc.id.goog/subject/ns/{namespace}/sa/{service_account}"
    )


def _validate(args: WorkloadIdentityArgs) -> None:
    if args.mode not in WORKLOAD_IDENTITY_MODES:
        raise SpecError(
            f"{args.mode!r} is not supported; allowed: {', '.join(WORKLOAD_IDENTITY_MODES)}", "mode"
        )
    for fname in ("namespace", "service_account"):
        value = getattr(args, fname)
        if not isinstance(value, str) or not (1 <= len(value) <= 63) or not _K8S_NAME.match(value):
            raise SpecError(f"{value!r} is not a Kubernetes name (lowercase letters, digits and '-')", fname)
    if args.prefix.startswith("/") or "//" in args.prefix or not _PREFIX.match(args.prefix):
        raise SpecError(
            f"{args.prefix!r} must be an object prefix ending in '/', without a leading '/' or wildcards",
            "prefix",
        )
    if args.mode == "gsa" and (args.account_id is None or not _SA_ID.match(args.account_id)):
        raise SpecError(f"{args.account_id!r} is not a service account ID (6-30 chars)", "account_id")


class WorkloadIdentity(pulumi.ComponentResource):
    """Read access to one bucket prefix for exactly one Kubernetes ServiceAccount."""

    member: pulumi.Output[str]
    service_account_annotations: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: WorkloadIdentityArgs, opts: pulumi.ResourceOptions | None = None):
        _validate(args)
        super().__init__("mlinfra:gcp:WorkloadIdentity", name, None, opts)

        # Deleting a managed folder leaves its objects in place (pulumi-gcp ManagedFolder.force_destroy:
        # "objects within the folder will remain"), so the grant can go without touching the data.
        folder = storage.ManagedFolder(
            f"{name}-folder", bucket=args.bucket, name=args.prefix, force_destroy=True, opts=child(self)
        )
        if args.mode == "direct":
            member = pulumi.Output.from_input(args.project_number).apply(
                lambda number: direct_principal(number, args.project, args.namespace, args.service_account)
            )
            annotations: pulumi.Output[dict[str, str]] = pulumi.Output.from_input({})
        else:
            gsa = serviceaccount.Account(
                f"{name}-gsa",
                account_id=args.account_id,
                display_name=f"{args.namespace}/{args.service_account} (mlinfra model)",
                project=args.project,
                opts=child(self),
            )
            serviceaccount.IAMMember(
                f"{name}-impersonate",
                service_account_id=gsa.name,
                role=IMPERSONATE_ROLE,
                member=f"serviceAccount:{args.project}.svc.id.goog[{args.namespace}/{args.service_account}]",
                opts=child(self),
            )
            member = gsa.member
            annotations = gsa.email.apply(lambda email: {GSA_ANNOTATION: email})
        storage.ManagedFolderIamMember(
            f"{name}-read",
            bucket=folder.bucket,
            managed_folder=folder.name,
            role=READ_ROLE,
            member=member,
            opts=child(self),
        )

        self.member = member
        self.service_account_annotations = annotations
        self.register_outputs({"member": self.member, "service_account_annotations": annotations})
