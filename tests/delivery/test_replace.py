"""The replace table against the installed provider SDKs: every type is a real resource class that
registers that type token, and every listed property is one of its inputs."""

from __future__ import annotations

import importlib
import inspect
import re

import pytest

from mlinfra.delivery.replace import REPLACE_TABLE, covers, replacing_paths

_PACKAGES = {
    "aws": "pulumi_aws",
    "gcp": "pulumi_gcp",
    "azure-native": "pulumi_azure_native",
    "kubernetes": "pulumi_kubernetes",
}


def _sdk_class(type_: str):
    package, module, cls = type_.split(":")
    mod = module.split("/")[0]  # aws:s3/bucket:Bucket -> pulumi_aws.s3
    if package == "kubernetes":  # kubernetes:core/v1:PersistentVolumeClaim -> pulumi_kubernetes.core.v1
        group, version = module.split("/")
        mod = f"{group.split('.')[0]}.{version}"
    return getattr(importlib.import_module(f"{_PACKAGES[package]}.{mod}"), cls)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@pytest.mark.parametrize("type_", sorted(REPLACE_TABLE))
def test_type_and_properties_are_real_inputs(type_):
    cls = _sdk_class(type_)
    assert type_ in inspect.getsource(cls), f"{cls} does not register {type_}"
    params = set(inspect.signature(cls._internal_init).parameters)
    rule = REPLACE_TABLE[type_]
    assert rule.source and rule.properties
    for prop in (*rule.properties, *(p for p, _ in rule.conditional)):
        top = prop.split(".")[0]
        assert _snake(top) in params, f"{type_}: {top} is not an input of {cls.__name__}"


def test_a_listed_property_covers_what_is_below_it():
    assert covers("encryptionConfigurations", "encryptionConfigurations[0].kmsKey")
    assert covers("vpcConfig", "vpcConfig.subnetIds")
    assert not covers("name", "nameSuffix")
    assert replacing_paths("aws:eks/cluster:Cluster", ["vpcConfig.subnetIds[0]", "roleArn"]) == ["roleArn"]
    assert replacing_paths("aws:iam/role:Role", ["name"]) == []


def test_a_gcp_subnetwork_range_replaces_only_when_it_does_not_grow():
    """terraform-provider-google resource_compute_subnetwork.go:
    customdiff.ForceNewIfChange("ip_cidr_range", IsShrinkageIpCidr)."""
    t = "gcp:compute/subnetwork:Subnetwork"

    def paths(old, new):
        return replacing_paths(t, ["ipCidrRange"], {"ipCidrRange": old}, {"ipCidrRange": new})

    assert paths("10.0.0.0/20", "10.0.0.0/19") == []  # expanded in place
    assert paths("10.0.0.0/19", "10.0.0.0/20") == ["ipCidrRange"]  # shrunk
    assert paths("10.0.0.0/20", "10.8.0.0/20") == ["ipCidrRange"]  # moved
    assert paths("10.0.0.0/20", "[unknown]") == ["ipCidrRange"]  # not known offline: the worst
