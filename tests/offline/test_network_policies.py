"""The NetworkPolicy evaluator follows the Kubernetes semantics (docs, "Network Policies")."""

from __future__ import annotations

import pytest

from mlinfra.offline.network_policies import Endpoint, PolicySet, selector_matches

WEB = Endpoint("web", "10.0.1.5", "shop", {"app": "web"}, {"http": 8080}, node="n1")
DB = Endpoint("db", "10.0.1.6", "shop", {"app": "db"}, {"pg": 5432}, node="n2")
OTHER = Endpoint("other", "10.0.2.7", "tools", {"app": "web"}, node="n2")
NODE2 = Endpoint("node n2", "10.0.0.2", node="n2")
INTERNET = Endpoint("internet", "93.184.216.34")


def _policy(name: str, namespace: str, spec: dict) -> dict:
    return {"metadata": {"name": name, "namespace": namespace}, "spec": spec}


DENY_ALL = _policy("deny", "shop", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})


def test_no_policy_means_everything_passes():
    assert PolicySet([], {}).connect(WEB, DB, 5432)


def test_isolation_needs_a_rule_in_each_direction():
    allow_db_in = _policy(
        "db-in",
        "shop",
        {
            "podSelector": {"matchLabels": {"app": "db"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}],
        },
    )
    policies = PolicySet([DENY_ALL, allow_db_in], {})
    verdict = policies.connect(WEB, DB, 5432)
    assert not verdict and "egress isolated by deny" in verdict.reason  # web's egress is closed too
    allow_web_out = _policy(
        "web-out",
        "shop",
        {
            "podSelector": {"matchLabels": {"app": "web"}},
            "policyTypes": ["Egress"],
            "egress": [{"ports": [{"port": "pg"}]}],
        },
    )
    assert PolicySet([DENY_ALL, allow_db_in, allow_web_out], {}).connect(WEB, DB, 5432)
    # the named port resolves against the destination's container ports
    assert not PolicySet([DENY_ALL, allow_db_in, allow_web_out], {}).connect(WEB, DB, 5433)


def test_peers_namespace_and_pod_selectors_and_or():
    both = {
        "namespaceSelector": {"matchLabels": {"team": "tools"}},
        "podSelector": {"matchLabels": {"app": "web"}},
    }
    ns = {"tools": {"team": "tools"}}
    in_same_peer = _policy("p", "shop", {"podSelector": {}, "ingress": [{"from": [both]}]})
    assert PolicySet([in_same_peer], ns).connect(OTHER, DB, 5432)  # web pods of team=tools namespaces
    assert not PolicySet([in_same_peer], ns).connect(WEB, DB, 5432)  # web of another namespace
    pod_only = _policy(
        "p",
        "shop",
        {"podSelector": {}, "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}]},
    )
    assert PolicySet([pod_only], ns).connect(WEB, DB, 5432)
    assert not PolicySet([pod_only], ns).connect(OTHER, DB, 5432)  # podSelector alone: the policy's namespace
    by_name = _policy(
        "p",
        "shop",
        {
            "podSelector": {},
            "ingress": [
                {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "tools"}}}]}
            ],
        },
    )
    assert PolicySet([by_name], {}).connect(OTHER, DB, 5432)  # the automatic name label


def test_ip_blocks_ports_ranges_and_protocols():
    egress = _policy(
        "out",
        "shop",
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}],
                    "ports": [{"port": 443}],
                },
                {"ports": [{"port": 30000, "endPort": 30010, "protocol": "UDP"}]},
            ],
        },
    )
    policies = PolicySet([egress], {})
    assert policies.connect(WEB, INTERNET, 443)
    assert not policies.connect(WEB, INTERNET, 80)
    assert not policies.connect(WEB, Endpoint("imds", "169.254.169.254"), 443)
    assert policies.connect(WEB, INTERNET, 30005, "UDP")
    assert not policies.connect(WEB, INTERNET, 30005, "TCP")


def test_own_node_always_passes_and_host_network_is_never_isolated():
    policies = PolicySet([DENY_ALL], {})
    assert policies.connect(NODE2, DB, 5432)  # kubelet probe from db's node
    assert not policies.connect(Endpoint("node n1", "10.0.0.1", node="n1"), DB, 5432)
    host = Endpoint("host-agent", "10.0.0.2", "shop", {}, node="n2", host_network=True)
    assert policies.connect(host, INTERNET, 80)


def test_policy_types_default_to_ingress_plus_egress_when_egress_rules_exist():
    only_ingress_rules = _policy("p", "shop", {"podSelector": {}, "ingress": []})
    policies = PolicySet([only_ingress_rules], {})
    assert policies.connect(WEB, INTERNET, 80)  # egress not isolated
    assert not policies.connect(OTHER, WEB, 8080)  # ingress isolated, nothing admitted


@pytest.mark.parametrize(
    ("expr", "labels", "expected"),
    [
        ({"key": "a", "operator": "In", "values": ["1", "2"]}, {"a": "2"}, True),
        ({"key": "a", "operator": "In", "values": ["1"]}, {}, False),
        ({"key": "a", "operator": "NotIn", "values": ["1"]}, {}, True),
        ({"key": "a", "operator": "NotIn", "values": ["1"]}, {"a": "1"}, False),
        ({"key": "a", "operator": "Exists"}, {"a": ""}, True),
        ({"key": "a", "operator": "DoesNotExist"}, {"a": "x"}, False),
    ],
)
def test_match_expressions(expr, labels, expected):
    assert selector_matches({"matchExpressions": [expr]}, labels) is expected
