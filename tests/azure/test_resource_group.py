"""The platform's resource group: created, tagged and protected in prod, or an existing one by id."""

from __future__ import annotations

import pulumi

from mlinfra.azure.resource_group import resource_group
from tests.azure.support import LOCATION, SUBSCRIPTION, TAGS, azure_provider
from tests.conftest import plan_of


def _plan(existing: bool, protect: bool):
    def program():
        provider = azure_provider()
        parent = pulumi.ComponentResource("mlinfra:test:Parent", "p")
        group = resource_group(
            parent,
            "rg",
            group_name="acme-prod",
            location=LOCATION,
            subscription_id=SUBSCRIPTION,
            existing=existing,
            protect=protect,
            tags=TAGS,
            provider=provider,
        )
        pulumi.export("id", group.id)
        pulumi.export("name", group.name)

    return plan_of(program)


def test_created_group_is_tagged_on_the_explicit_provider_and_protected_in_prod():
    plan = _plan(existing=False, protect=True)
    group = plan.one("azure-native:resources:ResourceGroup")
    assert group.inputs == {"resourceGroupName": "acme-prod", "location": LOCATION, "tags": TAGS}
    assert group.protect and group.retain_on_delete
    assert group.provider.endswith("pulumi:providers:azure-native::azure")
    assert plan.outputs["id"] == f"/subscriptions/{SUBSCRIPTION}/resourceGroups/acme-prod"


def test_existing_group_is_referenced_not_created():
    plan = _plan(existing=True, protect=True)
    assert not plan.of_type("azure-native:resources:ResourceGroup")
    assert plan.outputs == {
        "id": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/acme-prod",
        "name": "acme-prod",
    }
