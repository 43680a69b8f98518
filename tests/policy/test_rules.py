"""Every rule, twice: a compliant fixture passes, and a mutation of exactly the guarded property is
flagged. The same table runs again through pulumi_policy's unknown-checking proxy (what CrossGuard
hands rules during preview), including with the guarded property unknown."""

from __future__ import annotations

import copy
import json
from collections import Counter
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from mlinfra.policy import catalogue
from mlinfra.policy.engine import run_rule
from mlinfra.policy.model import Res
from tests.policy.fixtures import CASES, DELETE, Case, R


def _set(props: dict[str, Any], path: tuple, value: Any) -> None:
    cur: Any = props
    for k in path[:-1]:
        cur = cur[k]
    if value is DELETE:
        del cur[path[-1]]
    else:
        cur[path[-1]] = value


def _resources(case: Case, value: Any = None, mutate: bool = False, proxy: bool = False) -> list[Res]:
    out = []
    for i, r in enumerate(case.resources):
        r = copy.deepcopy(r)
        if mutate and i == case.target:
            if case.attr == "protect":
                r.protect = value
            elif case.path == ("__type__",):
                r.type = value
            else:
                _set(r.props, case.path, value)
        out.append(_res(r, proxy))
    return out


def _res(r: R, proxy: bool) -> Res:
    props = unknown_checking_proxy(copy.deepcopy(r.props)) if proxy else r.props
    return Res(
        type=r.type, name=r.name, props=props, urn=r.urn, protect=r.protect, dependencies=list(r.dependencies)
    )


def _run(case: Case, resources: list[Res]) -> list[str]:
    return run_rule(case.rule, resources, case.env)


def _flagged_names(case: Case, resources: list[Res]) -> set[str]:
    from mlinfra.policy.engine import check_resources

    report = check_resources(resources, case.env)
    return {v.resource for v in report.violations if v.policy == case.rule}


IDS = [c.id for c in CASES]


def test_table_covers_every_rule():
    rules = {p.name for p in catalogue()}
    counted = Counter(c.rule for c in CASES)
    print(
        f"\n{len(rules)} rules, {len(CASES)} mutations: "
        + ", ".join(f"{r}={counted[r]}" for r in sorted(rules))
    )
    assert set(counted) == rules, f"rules without a case: {sorted(rules - set(counted))}"
    assert len(IDS) == len(set(IDS))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_compliant_fixture_passes(case: Case):
    assert _run(case, _resources(case)) == []


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_mutation_is_flagged_on_the_mutated_resource(case: Case):
    resources = _resources(case, case.value, mutate=True)
    messages = _run(case, resources)
    assert messages, f"{case.rule}: mutation {case.path}={case.value!r} not flagged"
    flagged = _flagged_names(case, resources)
    target = case.resources[case.target]
    # Stack rules that join side resources report on the bucket the side resource configures.
    joined = target.type.startswith("aws:s3/bucket") and target.type != "aws:s3/bucket:Bucket"
    # The bucket that a side resource configures (by name), else the first bucket of the fixture.
    if joined:
        name = target.props.get("targetBucket") or target.props.get("bucket")
        owner = [
            r.name for r in case.resources if r.type == "aws:s3/bucket:Bucket" and r.props["bucket"] == name
        ]
        expected = (owner or [case.resources[0].name])[0]
    else:
        expected = target.name
    if case.path == ("__type__",):
        expected = case.resources[0].name
    assert expected in flagged, (flagged, messages)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_under_unknown_checking_proxy(case: Case):
    assert _run(case, _resources(case, proxy=True)) == []
    assert _run(case, _resources(case, case.value, mutate=True, proxy=True))


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.attr == "props" and c.path != ("__type__",)], ids=lambda c: c.id
)
def test_unknown_guarded_property_neither_crashes_nor_flags(case: Case):
    resources = _resources(case, UNKNOWN_STRING_VALUE, mutate=True, proxy=True)
    assert _run(case, resources) == []


def test_catalogue_entries_are_complete():
    for p in catalogue():
        assert p.description.endswith(".") and p.description.count(". ") == 0, p.name
        assert p.severity in ("low", "medium", "high", "critical")
        assert len(p.remediation) > 20
        assert p.kind in ("resource", "stack")


def test_iam_semantics_operational_wildcards_pass():
    from tests.policy.fixtures import iam_policy

    ok = [
        {"Effect": "Allow", "Action": ["ec2:Describe*", "autoscaling:Describe*"], "Resource": "*"},
        {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::acme-prod-artifacts/*"},
        {"Effect": "Deny", "Action": "s3:*", "Resource": "*"},
    ]
    for st in ok:
        r = iam_policy(st)
        assert run_rule("iam-least-privilege", Res(r.type, r.name, r.props)) == [], st
    bad = {"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken", "ecr:BatchGetImage"], "Resource": "*"}
    r = iam_policy(bad)
    (msg,) = run_rule("iam-least-privilege", Res(r.type, r.name, {"policy": json.dumps({"Statement": bad})}))
    assert "ecr:BatchGetImage" in msg and "GetAuthorizationToken" not in msg


def test_tls_deny_statement_with_star_principal_is_allowed():
    from tests.policy.fixtures import s3_stack

    pol = s3_stack()[3]
    assert run_rule("no-wildcard-principal", Res(pol.type, pol.name, pol.props)) == []


def test_dev_allows_cidr_limited_public_endpoint_but_prod_does_not():
    from tests.policy.fixtures import eks

    c = eks()
    c.props["vpcConfig"].update(endpointPublicAccess=True, publicAccessCidrs=["203.0.113.0/24"])
    res = Res(c.type, c.name, c.props)
    assert run_rule("private-cluster-endpoint", res, "dev") == []
    assert run_rule("private-cluster-endpoint", res, "prod")
    del c.props["vpcConfig"]["publicAccessCidrs"]  # EKS default: 0.0.0.0/0
    assert run_rule("private-cluster-endpoint", Res(c.type, c.name, c.props), "dev")


def test_provider_default_tags_count_as_tags():
    from tests.policy.fixtures import TAGS, ecr

    r = ecr()
    del r.props["tags"]
    assert run_rule("required-tags", Res(r.type, r.name, r.props), "prod")
    provider = {"region": "us-east-1", "defaultTags": json.dumps({"tags": TAGS})}
    assert run_rule("required-tags", Res(r.type, r.name, r.props, provider_props=provider), "prod") == []


def test_untaggable_aws_types_are_not_checked():
    assert (
        run_rule("required-tags", Res("aws:s3/bucketPolicy:BucketPolicy", "p", {"bucket": "b"}), "prod") == []
    )
    assert run_rule("required-tags", Res("aws:kms/alias:Alias", "a", {"name": "alias/x"}), "prod") == []
    assert run_rule("required-tags", Res("aws:iam/role:Role", "r", {"assumeRolePolicy": "{}"}), "prod")


def test_patches_of_objects_someone_else_owns_are_not_tag_checked():
    # A NodePatch sets the device-plugin label on an existing node; the node's labels are its owner's.
    patch = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "ip-10-0-1-23.ec2.internal", "labels": {"a": "b"}},
    }
    assert run_rule("required-tags", Res("kubernetes:core/v1:NodePatch", "n", patch), "prod") == []
    assert run_rule("required-tags", Res("kubernetes:core/v1:ConfigMap", "c", patch), "prod")


def test_pod_security_exemption_annotation_needs_a_reason():
    from mlinfra.policy.engine import check_resources
    from mlinfra.policy.rules.kubernetes import POD_SECURITY_EXEMPT_ANNOTATION
    from tests.policy.fixtures import deployment

    d = deployment()
    d.props["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    d.props["metadata"]["annotations"] = {POD_SECURITY_EXEMPT_ANNOTATION: "  "}
    report = check_resources([Res(d.type, d.name, d.props, urn=d.urn)], "prod", packs=["kubernetes"])
    assert [v.policy for v in report.violations] == ["pod-security-restricted"]
    d.props["metadata"]["annotations"] = {
        POD_SECURITY_EXEMPT_ANNOTATION: "NVIDIA device plugin needs host paths"
    }
    report = check_resources([Res(d.type, d.name, d.props, urn=d.urn)], "prod", packs=["kubernetes"])
    assert report.violations == []
    assert report.exemptions == [
        (
            "pod-security-restricted",
            "llm",
            f"annotation {POD_SECURITY_EXEMPT_ANNOTATION}: NVIDIA device plugin needs host paths",
        )
    ]


def test_s3_join_falls_back_to_dependencies_when_names_are_unknown():
    from tests.policy.fixtures import s3_stack

    rs = s3_stack()
    for r in rs:
        r.props["bucket"] = UNKNOWN_STRING_VALUE
    resources = [_res(r, proxy=True) for r in rs]
    assert run_rule("storage-cmk-encryption", resources, "prod") == []
    assert run_rule("no-public-buckets", resources, "prod") == []
    resources[1].dependencies = []  # the SSE config no longer points at this bucket
    assert run_rule("storage-cmk-encryption", resources, "prod")


@pytest.mark.parametrize(
    "tls_hosts,flagged",
    [
        (["*.models.example.com"], False),  # one label below the wildcard: covered
        (["llama.models.example.com"], False),
        (["*.llama.models.example.com"], True),  # a wildcard never covers its own parent
        (["*.example.com"], True),  # nor two labels below it
    ],
)
def test_ingress_tls_wildcard_hosts(tls_hosts, flagged):
    from tests.policy.fixtures import ingress

    r = ingress()
    r.props["spec"]["tls"][0]["hosts"] = tls_hosts
    messages = run_rule("ingress-tls", _res(r, proxy=False))
    assert bool(messages) is flagged, messages
